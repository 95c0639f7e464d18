// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The generic layer of the image library: the driver table, probing, the
 * backing chain, and request checks shared by every driver.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "name.h"
#include "vmkit/block.h"

/* Probed in order of score; raw scores 1 so it only wins when nothing else does. */
static const struct vk_blk_driver *const drivers[] = {
	&vk_blk_qcow2,
	&vk_blk_vmdk,
	&vk_blk_vpc,
	&vk_blk_vdi,
	&vk_blk_vhdx,
	&vk_blk_raw,
};

/* Protocols qemu-img lets -f/-O name as a format: never probed, never a layer's format. */
static const struct vk_blk_driver *const protocol_formats[] = {
	&vk_blk_null,
};

#define MAX_CHAIN 256

const struct vk_blk_driver *vk_blk_find_driver(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(drivers); i++)
		if (!strcmp(drivers[i]->name, name))
			return drivers[i];
	return NULL;
}

/* A format's driver, or a protocol's that -f/-O names. */
static const struct vk_blk_driver *find_any(const char *name)
{
	const struct vk_blk_driver *drv = vk_blk_find_driver(name);
	size_t i;

	for (i = 0; !drv && i < ARRAY_SIZE(protocol_formats); i++)
		if (!strcmp(protocol_formats[i]->name, name))
			drv = protocol_formats[i];
	return drv;
}

int vk_blk_prealloc_parse(const char *name)
{
	static const char *const names[] = {
		[VK_PREALLOC_OFF] = "off", [VK_PREALLOC_METADATA] = "metadata",
		[VK_PREALLOC_FALLOC] = "falloc", [VK_PREALLOC_FULL] = "full",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(name, names[i]))
			return (int)i;
	return -EINVAL;
}

bool vk_blk_format_has_opt(const struct vk_blk_driver *drv, const char *opt)
{
	const struct vk_blk_create_opt *o;

	for (o = drv ? drv->create_opts : NULL; o && o->name; o++)
		if (!strcmp(o->name, opt))
			return true;
	return false;
}

bool vk_blk_format_creatable(const char *format)
{
	const struct vk_blk_driver *drv = vk_blk_find_driver(format);

	return drv && drv->create_opts && drv->create;
}

bool vk_blk_format_writable(const char *format)
{
	const struct vk_blk_driver *drv = find_any(format);

	return drv && drv->pwrite && drv->pwrite != vk_blk_pwrite_read_only;
}

bool vk_blk_format_compresses(const char *format)
{
	const struct vk_blk_driver *drv = find_any(format);

	return drv && (drv->compress || drv->discards);
}

int vk_blk_format_create_check(const char *format, struct vk_err *err)
{
	const struct vk_blk_driver *drv = find_any(format);

	if (!drv)
		return vk_fail(err, -ENOENT, "Unknown file format '%s'", format);
	if (vk_blk_format_creatable(format))
		return 0;
	if (vk_blk_format_writable(format))
		return vk_fail(err, -ENOTSUP, "Format driver '%s' does not support image creation",
			       format);
	/* vmdk, vpc, vdi, vhdx: read (convert imports them), never written. */
	return vk_fail(err, -ENOTSUP, "vmkit reads %s images but cannot create them", format);
}

/* "a, b or c": the table's formats (those with create options only, if creatable). */
static const char *format_list(char *list, size_t size, bool creatable)
{
	size_t i, n = 0, count = 0, left;

	if (list[0])
		return list;
	for (i = 0; i < ARRAY_SIZE(drivers); i++)
		count += !creatable || drivers[i]->create_opts;
	for (i = 0; i < ARRAY_SIZE(drivers) && n < size; i++) {
		if (creatable && !drivers[i]->create_opts)
			continue;
		left = --count;
		n += snprintf(list + n, size - n, "%s%s", drivers[i]->name,
			      !left ? "" : left == 1 ? " or " : ", ");
	}
	return list;
}

const char *vk_blk_creatable_formats(void)
{
	static char list[128];

	return format_list(list, sizeof(list), true);
}

const char *vk_blk_formats(void)
{
	static char list[128];

	return format_list(list, sizeof(list), false);
}

bool vk_blk_format_plain(const char *format)
{
	const struct vk_blk_driver *drv = vk_blk_find_driver(format);

	return drv && drv->plain;
}

bool vk_blk_format_can_measure(const char *format)
{
	const struct vk_blk_driver *drv = vk_blk_find_driver(format);

	return drv && drv->measure;
}

/* A format records a backing file when it can be told one (set_backing). */
bool vk_blk_format_has_backing(const char *format)
{
	const struct vk_blk_driver *drv = vk_blk_find_driver(format);

	return drv && drv->set_backing;
}

const char *vk_blk_probe_magic(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(drivers); i++)
		if (drivers[i] != &vk_blk_raw && drivers[i]->probe(buf, len) > 0)
			return drivers[i]->name;
	return vk_blk_probe_foreign(buf, len, NULL, 0, NULL);
}

/* The file's last 512 bytes (fixed VHD and dmg keep their magic there); none if shorter. */
static size_t read_tail(struct vk_blk *bs, uint8_t *buf, size_t len)
{
	struct stat st;
	ssize_t n;

	if (fstat(bs->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 2 * (off_t)len)
		return 0;
	n = vk_blk_file_read_some(bs, buf, (uint64_t)st.st_size - len, len);
	return n < 0 ? 0 : (size_t)n;
}

/* A driver whose magic is at the end of the file (a fixed VHD's footer). */
static const struct vk_blk_driver *probe_tail(const uint8_t *tail, size_t len)
{
	size_t i;

	for (i = 0; len && i < ARRAY_SIZE(drivers); i++)
		if (drivers[i]->probe_tail && drivers[i]->probe_tail(tail, len) > 0)
			return drivers[i];
	return NULL;
}

/*
 * The driver scoring best on the first sector, or on the last bytes for a
 * format that keeps its magic there (QEMU probes a fixed VHD as raw: its
 * footer would then read as the disk's last sector, vmkit reads it as vpc).
 * Raw wins only when nothing else matches, and never over a format we know
 * by its magic but cannot read: that is refused by name.
 */
static int probe(struct vk_blk *bs, const struct vk_blk_driver **out, struct vk_err *err)
{
	uint8_t buf[512], tail[512];
	const char *foreign, *what;
	ssize_t n;
	int best = 0, score;
	size_t i, tlen;

	n = vk_blk_file_read_some(bs, buf, 0, sizeof(buf));
	if (n < 0)
		return vk_fail(err, (int)n, "%s: %s", bs->filename, strerror((int)-n));
	for (i = 0; i < ARRAY_SIZE(drivers); i++) {
		score = drivers[i]->probe(buf, (size_t)n);
		if (score > best) {
			best = score;
			*out = drivers[i];
		}
	}
	if (*out != &vk_blk_raw)
		return 0;
	tlen = read_tail(bs, tail, sizeof(tail));
	if (probe_tail(tail, tlen)) {
		*out = probe_tail(tail, tlen);
		return 0;
	}
	foreign = vk_blk_probe_foreign(buf, (size_t)n, tail, tlen, &what);
	if (foreign)
		return vk_fail(err, -ENOTSUP,
			       "%s: image format '%s' (%s) is not supported",
			       bs->filename, foreign, what);
	bs->probed = true;
	return 0;
}

/* "proto:rest" names a protocol, as QEMU reads names: a colon with no '/' before it. */
static bool has_protocol(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon && !memchr(name, '/', (size_t)(colon - name));
}

/*
 * The file a name means, as QEMU parses it: "file:" (or "host_device:",
 * "host_cdrom:") is taken off, and what remains gets "./" if it would
 * itself read as a protocol ("file:a:b" is "./a:b", the name QEMU prints).
 * Other protocols (nbd:, http:, json:, ...) are not ours.
 */
int vk_blk_name_path(const char *name, char **out, struct vk_err *err)
{
	static const char *const local[] = { "file:", "host_device:", "host_cdrom:" };
	const char *rest = name;
	size_t i, n;

	if (has_protocol(name)) {
		for (i = 0; i < ARRAY_SIZE(local); i++)
			if (!strncmp(name, local[i], strlen(local[i])))
				break;
		/* Only create reaches here with it: opening null-co:// is name.c's. */
		if (i == ARRAY_SIZE(local) && !strncmp(name, "null-co:", 8))
			return vk_fail(err, -ENOTSUP,
				       "Protocol driver 'null-co' does not support image creation");
		if (i == ARRAY_SIZE(local))
			return vk_fail(err, -ENOENT, "Unknown protocol '%.*s'",
				       (int)(strchr(name, ':') - name), name);
		rest = name + strlen(local[i]);
		if (!*rest)
			return vk_fail(err, -EINVAL, "The '%.*s' block driver requires a file name",
				       (int)strlen(local[i]) - 1, local[i]);
	}
	n = strlen(rest) + 3;
	*out = malloc(n);
	if (!*out)
		return vk_fail(err, -ENOMEM, "out of memory");
	snprintf(*out, n, "%s%s", has_protocol(rest) ? "./" : "", rest);
	return 0;
}

char *vk_blk_resolve_backing(const char *image, const char *backing)
{
	char *copy, *dir, *out;
	size_t len;

	if (backing[0] == '/' || !strchr(image, '/'))
		return strdup(backing);
	copy = strdup(image);
	if (!copy)
		return NULL;
	dir = dirname(copy);
	len = strlen(dir) + strlen(backing) + 2;
	out = malloc(len);
	if (out)
		snprintf(out, len, "%s/%s", dir, backing);
	free(copy);
	return out;
}

struct chain {
	dev_t dev[MAX_CHAIN];
	ino_t ino[MAX_CHAIN];
	int depth;
};

static int open_layer(const char *filename, const struct vk_blk_opts *o, struct chain *ch,
		      struct vk_blk **out, struct vk_err *err);

/* msg without a leading "name: " (a layer's own messages start with its name). */
static const char *without_name(const char *msg, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(msg, name, n) && !strncmp(msg + n, ": ", 2) ? msg + n + 2 : msg;
}

static int open_backing(struct vk_blk *bs, struct chain *ch, struct vk_err *err)
{
	struct vk_blk_opts bo = {
		.format = bs->backing_fmt,
		.flags = (bs->flags & ~(VK_BLK_RDWR | VK_BLK_IMAGE_OPTS)),
		.cache_size = bs->cache_size,
	};
	struct vk_err inner = { 0 };
	int r;

	/* A backing name with a protocol ("file:b.qcow2") is not relative to the overlay, as in QEMU. */
	bs->full_backing = has_protocol(bs->backing_file) ? strdup(bs->backing_file) :
			   vk_blk_resolve_backing(bs->filename, bs->backing_file);
	if (!bs->full_backing)
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	if (bo.format && !vk_blk_spec_known_driver(bo.format))
		return vk_fail(err, -ENOTSUP, "Could not open backing file: Unknown driver '%s'",
			       bo.format);
	if (bs->flags & VK_BLK_NO_BACKING)
		return 0;
	r = open_layer(bs->full_backing, &bo, ch, &bs->backing, &inner);
	if (r == -ENOTRECOVERABLE) {	/* where QEMU asserts, its words are not nested */
		*err = inner;
		return r;
	}
	/* QEMU's words, nested as its layers nest them (the top's name comes last, from the caller). */
	if (r < 0)
		return vk_fail(err, r, "Could not open backing file: %s",
			       without_name(inner.msg, bs->full_backing));
	return 0;
}

static int chain_add(struct vk_blk *bs, struct chain *ch, struct vk_err *err)
{
	struct stat st;
	int i;

	if (fstat(bs->fd, &st) < 0)
		return vk_fail(err, -errno, "%s: %s", bs->filename, strerror(errno));
	for (i = 0; i < ch->depth; i++)
		if (ch->dev[i] == st.st_dev && ch->ino[i] == st.st_ino)
			return vk_fail(err, -ELOOP, "Backing file '%s' creates an infinite loop.",
				       bs->filename);
	if (ch->depth >= MAX_CHAIN)
		return vk_fail(err, -ELOOP, "%s: backing chain deeper than %d", bs->filename,
			       MAX_CHAIN);
	ch->dev[ch->depth] = st.st_dev;
	ch->ino[ch->depth] = st.st_ino;
	ch->depth++;
	return 0;
}

static int open_file(struct vk_blk *bs, const char *filename, const struct vk_blk_opts *o,
		     struct vk_err *err)
{
	bs->fd = -1;
	bs->flags = o->flags;
	bs->read_only = !(o->flags & VK_BLK_RDWR);
	bs->cache_size = o->cache_size;
	bs->filename = strdup(filename);
	if (!bs->filename)
		return vk_fail(err, -ENOMEM, "out of memory");
	return vk_blk_file_open(bs, filename, err);	/* with the cache mode's flags */
}

/* The protocols' own checks on the file: file wants a regular one, host_device a device. */
static int check_proto_file(struct vk_blk *bs, const char *proto, struct vk_err *err)
{
	struct stat st;

	if (fstat(bs->fd, &st) < 0)
		return vk_fail(err, -errno, "%s: %s", bs->filename, strerror(errno));
	if (!strcmp(proto, "file") && S_ISREG(st.st_mode))
		return 0;
	if (!strcmp(proto, "file"))
		return vk_fail(err, -EINVAL, "'file' driver requires '%s' to be a regular file",
			       bs->filename);
	if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode))
		return vk_fail(err, -EINVAL,
			       "'%s' driver requires '%s' to be either a character or block device",
			       proto, bs->filename);
	return 0;
}

/* null-co: no file, nothing locked; /dev/null stands behind bs->fd for fstat. */
static int open_null(struct vk_blk *bs, const struct vk_blk_spec *spec,
		     const struct vk_blk_opts *o, struct vk_err *err)
{
	struct vk_blk_opts no = *o;

	no.flags &= ~(VK_BLK_CACHE_DIRECT | VK_BLK_CACHE_DSYNC);
	bs->null_size = spec->null_size;
	bs->null_zeroes = spec->null_zeroes;
	if (open_file(bs, "/dev/null", &no, err) < 0)
		return err->code;
	free(bs->filename);
	bs->filename = strdup("null-co://");
	return bs->filename ? 0 : vk_fail(err, -ENOMEM, "out of memory");
}

static const char *static_name(const char *name)
{
	static const char *const names[] = { "file", "host_device", "host_cdrom", "null-co",
					     "raw" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(name, names[i]))
			return names[i];
	return NULL;
}

/* The driver for the layer: the protocol alone, the named format, or probing. */
static int pick_driver(struct vk_blk *bs, const struct vk_blk_spec *spec,
		       const struct vk_blk_driver **drv, struct vk_err *err)
{
	bool null = !strcmp(spec->proto, "null-co");

	if (spec->bare) {
		*drv = null ? &vk_blk_null : &vk_blk_raw;
		bs->format_name = static_name(spec->proto);
		return 0;
	}
	if (spec->format) {
		*drv = vk_blk_find_driver(spec->format);
		if (!*drv)
			return vk_fail(err, -ENOTSUP, "Unknown driver '%s'", spec->format);
		/* What their header checks say of null-co's zeros. */
		if (null && *drv == &vk_blk_qcow2)
			return vk_fail(err, -EINVAL, "Image is not in qcow2 format");
		if (null && *drv != &vk_blk_raw)
			return vk_fail(err, -EINVAL, "invalid VMDK image descriptor");
	} else if (!null) {
		return probe(bs, drv, err);
	} else {
		bs->probed = true;
		*drv = &vk_blk_raw;
	}
	if (null) {
		*drv = &vk_blk_null;
		bs->format_name = static_name("raw");
	}
	return 0;
}

/* Options QEMU checks once the node is open, so that a missing file is reported first. */
static int check_options(struct vk_blk *bs, const struct vk_blk_spec *spec,
			 const struct vk_blk_driver *drv, struct vk_err *err)
{
	const char *name = bs->format_name ? bs->format_name : drv->name;
	_cleanup_free_ char *bad = NULL;

	if (spec->bad_proto_opt)
		return vk_fail(err, -EINVAL, "Block protocol '%s' doesn't support the option '%s'",
			       spec->proto, spec->bad_proto_opt);
	if (vk_blk_spec_bad_format_opt(spec, name, &bad) < 0)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (bad)
		return vk_fail(err, -EINVAL, "Block format '%s' does not support the option '%s'",
			       name, bad);
	bs->display = vk_blk_spec_display(spec, bs->format_name ? bs->format_name : drv->name);
	return bs->display ? 0 : vk_fail(err, -ENOMEM, "out of memory");
}

static int open_host(struct vk_blk *bs, const struct vk_blk_spec *spec,
		     const struct vk_blk_opts *o, struct chain *ch, struct vk_err *err)
{
	int r = open_file(bs, spec->path, o, err);

	if (r < 0)
		return r;
	/* A plain name opened with a format reads any file, as QEMU's file protocol. */
	if (spec->bare || strcmp(spec->proto, "file")) {
		r = check_proto_file(bs, spec->proto, err);
		if (r < 0)
			return r;
	}
	r = chain_add(bs, ch, err);	/* a loop is named before our own lock could hide it */
	if (r < 0)
		return r;
	if (!(o->flags & (VK_BLK_NO_LOCK | VK_BLK_INACTIVE)))
		r = vk_blk_lock(bs, err);
	return r;
}

static int open_layer(const char *filename, const struct vk_blk_opts *o, struct chain *ch,
		      struct vk_blk **out, struct vk_err *err)
{
	const struct vk_blk_driver *drv = NULL;
	struct vk_blk_spec spec;
	struct vk_blk *bs;
	int r;

	r = vk_blk_spec_parse(filename, o->format, o->flags & VK_BLK_IMAGE_OPTS, &spec, err);
	if (r < 0)
		return r;
	bs = calloc(1, sizeof(*bs));
	if (!bs) {
		vk_blk_spec_free(&spec);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	if (!strcmp(spec.proto, "null-co"))
		r = open_null(bs, &spec, o, err);
	else
		r = open_host(bs, &spec, o, ch, err);
	if (r < 0)
		goto fail;
	r = pick_driver(bs, &spec, &drv, err);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	bs->opaque = calloc(1, drv->state_size ? drv->state_size : 1);
	if (!bs->opaque) {
		vk_fail(err, r, "out of memory");
		goto fail;
	}
	bs->open_opts = spec.format_opts;
	if (o->flags & VK_BLK_INACTIVE)
		bs->read_only = true;	/* until vk_blk_activate */
	r = drv->open(bs, err);
	bs->open_opts = NULL;
	if (r < 0)
		goto fail;
	bs->drv = drv;
	r = check_options(bs, &spec, drv, err);
	if (r < 0)
		goto fail;
	if (spec.no_backing)
		bs->flags |= VK_BLK_NO_BACKING;
	vk_blk_spec_free(&spec);
	if (bs->backing_file) {
		r = open_backing(bs, ch, err);
		if (r < 0)
			goto fail;
	}
	*out = bs;
	return 0;
fail:
	/* The file's own messages name it; under a json: name QEMU's do not. */
	if ((!strncmp(filename, "json:", 5) || (o->flags & VK_BLK_IMAGE_OPTS)) && bs->filename)
		memmove(err->msg, without_name(err->msg, bs->filename),
			strlen(without_name(err->msg, bs->filename)) + 1);
	vk_blk_spec_free(&spec);
	vk_blk_close(bs);
	return r;
}

int vk_blk_open(const char *filename, const struct vk_blk_opts *o, struct vk_blk **out,
		struct vk_err *err)
{
	struct vk_blk_opts def = { 0 };
	struct chain *ch;
	int r;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = open_layer(filename, o ? o : &def, ch, out, err);
	free(ch);
	return r;
}

void vk_blk_close(struct vk_blk *bs)
{
	if (!bs)
		return;
	if (bs->drv && bs->drv->close)
		bs->drv->close(bs);
	vk_blk_close(bs->backing);
	if (bs->fd >= 0)
		close(bs->fd);
	free(bs->opaque);
	free(bs->filename);
	free(bs->backing_file);
	free(bs->backing_fmt);
	free(bs->full_backing);
	free(bs->display);
	free(bs);
}

/*
 * The driver's state made anew from the file, read-only or not: what it
 * parses at open (the backing names too) is dropped first. The chain
 * below stays open as it is.
 */
static int reopen_driver(struct vk_blk *bs, bool read_only, struct vk_err *err)
{
	bs->drv->close(bs);
	memset(bs->opaque, 0, bs->drv->state_size ? bs->drv->state_size : 1);
	free(bs->backing_file);
	free(bs->backing_fmt);
	bs->backing_file = bs->backing_fmt = NULL;
	bs->read_only = read_only;
	/* On failure the image must not be used again: the callers stop the VM. */
	return bs->drv->open(bs, err);
}

int vk_blk_inactivate(struct vk_blk *bs, struct vk_err *err)
{
	int r;

	if ((bs->flags & VK_BLK_INACTIVE) || bs->read_only || !bs->drv)
		return 0;
	r = bs->drv->flush(bs, err);
	if (r < 0)
		return r;
	r = reopen_driver(bs, true, err);
	if (r < 0)
		return r;
	vk_blk_unlock(bs);
	bs->flags |= VK_BLK_INACTIVE;
	return 0;
}

int vk_blk_activate(struct vk_blk *bs, struct vk_err *err)
{
	int r;

	if (!(bs->flags & VK_BLK_INACTIVE))
		return 0;
	/* The lock asks for what the image is opened for; the driver's view is still read-only. */
	bs->read_only = !(bs->flags & VK_BLK_RDWR);
	r = bs->flags & VK_BLK_NO_LOCK ? 0 : vk_blk_lock(bs, err);
	bs->read_only = true;
	if (r < 0)
		return r;
	r = reopen_driver(bs, !(bs->flags & VK_BLK_RDWR), err);
	if (r < 0)
		return r;
	bs->flags &= ~VK_BLK_INACTIVE;
	return 0;
}

uint64_t vk_blk_length(struct vk_blk *bs)
{
	return bs->drv->length(bs);
}

static int check_request(struct vk_blk *bs, uint64_t off, uint64_t len, bool write,
			 struct vk_err *err)
{
	uint64_t size = vk_blk_length(bs);

	if (write && bs->read_only)
		return vk_fail(err, -EROFS, "%s: image is read-only", bs->filename);
	if (off > size || len > size - off)
		return vk_fail(err, -EINVAL, "%s: request at %llu+%llu past the end (%llu)",
			       bs->filename, (unsigned long long)off, (unsigned long long)len,
			       (unsigned long long)size);
	return 0;
}

int vk_blk_pread(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err)
{
	int r = check_request(bs, off, len, false, err);

	if (r < 0 || !len)
		return r;
	return bs->drv->pread(bs, buf, off, len, err);
}

int vk_blk_map_io(struct vk_blk *bs, uint64_t off, uint64_t len, bool write,
		  struct vk_blk_mapping *m)
{
	uint64_t n, host, blen;
	int fd, r;

	if (!len || check_request(bs, off, len, write, NULL) < 0)
		return -EAGAIN;
	for (;;) {
		if (!bs->drv->map_io)
			return -EAGAIN;
		r = bs->drv->map_io(bs, off, len, write, &n, &fd, &host);
		if (r < 0)
			return r;
		m->len = MIN(n, len);
		if (r != VK_MAP_BACKING) {
			m->kind = r;
			m->fd = fd;
			m->host = host;
			return 0;
		}
		/* Unallocated here: the backing file's bytes, zeros past its end or without one. */
		if (write)
			return -EAGAIN;
		if (bs->backing_file && !bs->backing)
			return -EAGAIN;		/* opened without its chain: the driver says what */
		blen = bs->backing ? vk_blk_length(bs->backing) : 0;
		if (off >= blen) {
			m->kind = VK_MAP_ZERO;
			return 0;
		}
		len = MIN(m->len, blen - off);
		bs = bs->backing;
	}
}

int vk_blk_alloc_io(struct vk_blk *bs, uint64_t off, uint64_t len, unsigned int flags,
		    struct vk_blk_mapping *m)
{
	uint64_t n;
	int r;

	if (!len || !bs->drv->alloc_io || check_request(bs, off, len, true, NULL) < 0)
		return -EAGAIN;
	r = bs->drv->alloc_io(bs, off, len, flags, &n, &m->fd, &m->host);
	if (r < 0)
		return r;
	m->kind = VK_MAP_DATA;
	m->len = n;
	return 0;
}

int vk_blk_alloc_commit(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t host,
			struct vk_err *err)
{
	return bs->drv->alloc_commit(bs, off, len, host, err);
}

void vk_blk_alloc_abort(struct vk_blk *bs, uint64_t host, uint64_t len)
{
	bs->drv->alloc_abort(bs, host, len);
}

int vk_blk_pwrite(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		  struct vk_err *err)
{
	int r = check_request(bs, off, len, true, err);

	if (r < 0 || !len)
		return r;
	return bs->drv->pwrite(bs, buf, off, len, err);
}

int vk_blk_pwrite_zeroes(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err)
{
	const size_t chunk = 1 * MiB;
	_cleanup_free_ void *zero = NULL;
	int r = check_request(bs, off, len, true, err);

	if (r < 0 || !len)
		return r;
	if (bs->drv->pwrite_zeroes)
		return bs->drv->pwrite_zeroes(bs, off, len, err);
	zero = calloc(1, chunk);
	if (!zero)
		return vk_fail(err, -ENOMEM, "out of memory");
	while (len) {
		size_t n = MIN(len, chunk);

		r = bs->drv->pwrite(bs, zero, off, n, err);
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

int vk_blk_flush(struct vk_blk *bs, struct vk_err *err)
{
	if (bs->read_only)
		return 0;
	return bs->drv->flush(bs, err);
}

int vk_blk_get_info(struct vk_blk *bs, struct vk_blk_info *info)
{
	struct stat st;

	memset(info, 0, sizeof(*info));
	info->format = bs->format_name ? bs->format_name : bs->drv->name;
	info->filename = bs->display ? bs->display : bs->filename;
	info->virtual_size = vk_blk_length(bs);
	info->actual_size = fstat(bs->fd, &st) < 0 ? -1 : (int64_t)st.st_blocks * 512;
	info->backing_file = bs->backing_file;
	info->backing_fmt = bs->backing_fmt;
	info->full_backing = bs->full_backing;
	info->no_dirty = bs->drv == &vk_blk_null;
	return bs->drv->get_info ? bs->drv->get_info(bs, info) : 0;
}

int vk_blk_each_file_under(struct vk_blk *bs, int (*fn)(void *opaque, const char *file),
			   void *opaque)
{
	struct vk_blk_info info;
	struct vk_blk *b;
	unsigned int i;
	int r = 0;

	for (b = bs; b && !r; b = b->backing) {
		if (b != bs)
			r = fn(opaque, b->filename);
		if (r || vk_blk_get_info(b, &info))
			continue;
		for (i = 0; i < info.vmdk_nb_extents && !r; i++)
			if (strcmp(info.vmdk_extents[i].filename, b->filename))
				r = fn(opaque, info.vmdk_extents[i].filename);
	}
	return r;
}

int vk_blk_block_status(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			uint64_t *map, struct vk_err *err)
{
	uint64_t n, fnum;
	int st, fst;

	st = check_request(bs, off, len, false, err);
	if (st < 0)
		return st;
	st = bs->drv->block_status(bs, off, len, &n, map, err);
	if (st < 0)
		return st;
	/* Data clusters over holes of the host file read as zeros: say so, as QEMU does. */
	if ((st & VK_BS_RECURSE) && (st & VK_BS_OFFSET_VALID) && (st & VK_BS_DATA) &&
	    !(st & VK_BS_ZERO)) {
		fst = vk_blk_file_status(bs->drv->map_fd ? bs->drv->map_fd(bs, off) : bs->fd, *map,
					 n, &fnum);
		if (fst < 0)
			return vk_fail(err, fst, "%s: %s", bs->filename, strerror(-fst));
		n = fnum;
		st |= fst;
	}
	st &= ~VK_BS_RECURSE;
	*pnum = n;
	return st;
}

int vk_blk_chain_status(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_blk_status *st,
			struct vk_err *err)
{
	uint64_t pnum, map;
	int depth = 0, r;

	for (;;) {
		r = vk_blk_block_status(bs, off, len, &pnum, &map, err);
		if (r < 0)
			return r;
		len = pnum;
		if ((r & (VK_BS_ZERO | VK_BS_DATA)) || !bs->backing)
			break;
		bs = bs->backing;
		depth++;
	}
	/* Unallocated down to the last layer: nothing decides, the range reads as zeros. */
	st->flags = (r & (VK_BS_ZERO | VK_BS_DATA)) ? (unsigned int)r : 0;
	st->pnum = pnum;
	st->map = map;
	st->depth = depth;
	st->file = bs;
	return 0;
}

int vk_blk_check(struct vk_blk *bs, struct vk_blk_check *res, unsigned int fix,
		 struct vk_err *err)
{
	if (!bs->drv->check)
		return vk_fail(err, -ENOTSUP, "This image format does not support checks");
	if (fix && bs->read_only)
		return vk_fail(err, -EROFS, "%s: image is read-only", bs->filename);
	return bs->drv->check(bs, res, fix, err);
}

int vk_blk_measure(const char *format, const struct vk_blk_create_opts *o, struct vk_blk *in,
		   struct vk_blk_measure *res, struct vk_err *err)
{
	const struct vk_blk_driver *drv = vk_blk_find_driver(format);

	if (!drv)
		return vk_fail(err, -ENOTSUP, "Unknown file format '%s'", format);
	if (!drv->measure)
		return vk_fail(err, -ENOTSUP, "Block driver '%s' does not support size measurement",
			       format);
	return drv->measure(o, in, res, err);
}

int vk_blk_create(const char *format, const char *filename, const struct vk_blk_create_opts *o,
		  struct vk_err *err)
{
	const struct vk_blk_driver *drv = vk_blk_find_driver(format);
	struct vk_blk_create_opts so = *o;
	_cleanup_free_ char *path = NULL;
	int r;

	if (!drv)
		return vk_fail(err, -ENOTSUP, "Unknown file format '%s'", format);
	if (!drv->create_opts || !drv->create)
		return vk_fail(err, -ENOTSUP, "%s: vmkit reads %s images but cannot create them",
			       filename, format);
	/* The file protocol's check, before the file exists: a bad hint leaves nothing behind. */
	if (so.extent_size_hint > UINT32_MAX)
		return vk_fail(err, -EINVAL, "Extent size hint is too large");
	r = vk_blk_name_path(filename, &path, err);
	if (r < 0)
		return r;
	/* QEMU's drivers round the size up to whole sectors: 1234 bytes make 1536. */
	if (so.size > UINT64_MAX - 511)
		return vk_fail(err, -EFBIG, "Image size too large");
	so.size = ALIGN_UP(so.size, 512);
	return drv->create(path, &so, err);
}

const char *vk_blk_map_filename(struct vk_blk *bs, uint64_t off)
{
	return bs->drv->map_filename ? bs->drv->map_filename(bs, off) : bs->filename;
}

int vk_blk_pwrite_read_only(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
			    struct vk_err *err)
{
	return vk_fail(err, -EROFS, "%s: %s images are read-only in vmkit", bs->filename,
		       bs->drv->name);
}

int vk_blk_flush_nothing(struct vk_blk *bs, struct vk_err *err)
{
	return 0;
}
