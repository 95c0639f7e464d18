// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit img create, and the -o option parsing convert shares. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "img-opts.h"

/* vk_parse_kv hands out values in a buffer it reuses: keep copies of the strings we hold. */
static const char *keep(struct img_create_opts *c, const char *val)
{
	char *copy;

	if (c->nkeep >= (int)ARRAY_SIZE(c->keep) || !(copy = strdup(val)))
		return NULL;
	c->keep[c->nkeep++] = copy;
	return copy;
}

/*
 * qemu-img checks options in two steps, and says so differently: the syntax of
 * each (a known key, a number, on/off) while parsing -o, before "Formatting
 * ...", and the values of the enumerations (version, preallocation,
 * compression type) only when the driver creates the image, after it. create
 * names the file in both; convert only in the second ("error while converting").
 */
static int opt_error(struct img_create_opts *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int opt_error(struct img_create_opts *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->prefix)
		img_error("%s: %s", c->prefix, msg);
	else
		img_error("%s", msg);
	return -EINVAL;
}

/*
 * Is key one of the format's own options (its driver's list), rather than
 * the file protocol's (size, preallocation off/falloc/full, extent_size_hint)?
 */
static bool own_opt(const struct img_create_opts *c, const char *key)
{
	return vk_blk_format_has_opt(c->drv, key);
}

static int set_opt(void *opaque, const char *key, const char *val)
{
	struct img_create_opts *c = opaque;
	uint64_t v;
	int mode;

	if (!c->no_help && (!strcmp(key, "help") || !strcmp(key, "?"))) {
		c->help = true;
	} else if (!strcmp(key, "size")) {
		if (img_parse_size(val, &v) < 0)
			goto bad_size;
		c->o.size = v;
		c->have_size = true;
	} else if (!strcmp(key, "cluster_size") && own_opt(c, key)) {
		if (img_parse_size(val, &v) < 0)
			goto bad_size;
		/* Values out of range (0 too) are refused by the driver, in its words. */
		c->o.cluster_size = v;
		c->o.cluster_size_given = true;
	} else if (!strcmp(key, "compat") && own_opt(c, key)) {
		c->o.compat_str = keep(c, val);
		if (!strcmp(val, "0.10") || !strcmp(val, "v2"))
			c->o.compat = 2;
		else if (!strcmp(val, "1.1") || !strcmp(val, "v3"))
			c->o.compat = 3;
		else
			c->bad_compat = c->o.compat_str;
	} else if (!strcmp(key, "lazy_refcounts") && own_opt(c, key)) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return opt_error(c, "Parameter 'lazy_refcounts' expects 'on' or 'off'");
		c->o.lazy_refcounts = !strcmp(val, "on");
	} else if (!strcmp(key, "preallocation")) {
		c->o.prealloc_str = keep(c, val);
		mode = vk_blk_prealloc_parse(val);
		c->bad_prealloc = mode < 0 ? c->o.prealloc_str : NULL;
		if (mode >= 0)
			c->o.prealloc = (enum vk_prealloc)mode;
		if (!own_opt(c, "preallocation") && c->o.prealloc == VK_PREALLOC_METADATA)
			c->bad_prealloc = c->o.prealloc_str;
	} else if (!strcmp(key, "refcount_bits") && own_opt(c, key)) {
		if (vk_parse_uint(val + (val[0] == '-'), 0, UINT64_MAX, &v) < 0)
			return opt_error(c, "Parameter 'refcount_bits' expects a number");
		/* Widths out of range (0, -1, 128) are refused when the image is made, in its words. */
		c->o.refcount_bits = v > 64 || !v || val[0] == '-' ? 3 : (unsigned int)v;
		c->refcount_str = keep(c, val);
	} else if (!strcmp(key, "compression_type") && own_opt(c, key)) {
		c->compression_str = keep(c, val);
		c->o.compression_type = !strcmp(val, "zstd") ? 1 : strcmp(val, "zlib") ? -1 : 0;
		if (c->o.compression_type < 0)
			c->bad_compression = c->compression_str;
	} else if (!strcmp(key, "extent_size_hint")) {
		if (img_parse_size(val, &v) < 0)
			goto bad_size;
		c->o.extent_size_hint = v;
		c->have_extent_size_hint = true;
		c->o.extent_size_hint_given = true;
	} else if (!strcmp(key, "backing_file") && own_opt(c, key)) {
		c->o.backing_file = keep(c, val);
	} else if (!strcmp(key, "backing_fmt") && own_opt(c, key)) {
		c->o.backing_fmt = keep(c, val);
	} else if (!strcmp(key, "data_file") && own_opt(c, key)) {
		c->o.data_file = keep(c, val);
	} else if (!strcmp(key, "data_file_raw") && own_opt(c, key)) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return opt_error(c, "Parameter '%s' expects 'on' or 'off'", key);
		c->o.data_file_raw = !strcmp(val, "on");
		c->data_file_raw_str = keep(c, val);
	} else {
		return opt_error(c, "Invalid parameter '%s'", key);
	}
	return 0;
bad_size:
	opt_error(c, "Parameter '%s' expects a non-negative number below 2^64", key);
	img_size_suffix_hint();
	return -EINVAL;
}

void img_default_extent_hint(struct img_create_opts *c)
{
	if (!c->have_extent_size_hint)
		c->o.extent_size_hint = 1 * MiB;
}

int img_parse_create_opts(struct img_create_opts *c, const char *fmt, const char *opts)
{
	c->drv = vk_blk_find_driver(fmt);
	if (!opts)
		return 0;
	return vk_parse_kv(opts, set_opt, c);
}

/* The value qemu's driver refuses first (in the order of its create options), or NULL. */
const char *img_create_opts_value_error(const struct img_create_opts *c, char *buf, size_t n)
{
	if (c->bad_compat)
		snprintf(buf, n, "Parameter 'version' does not accept value '%s'", c->bad_compat);
	else if (c->bad_prealloc && !own_opt(c, "preallocation") &&
		 !strcmp(c->bad_prealloc, "metadata"))
		snprintf(buf, n, "Unsupported preallocation mode: metadata");
	else if (c->bad_prealloc && !own_opt(c, "preallocation"))
		snprintf(buf, n, "invalid parameter value: %s", c->bad_prealloc);
	else if (c->bad_prealloc)
		snprintf(buf, n, "Parameter 'preallocation' does not accept value '%s'", c->bad_prealloc);
	else if (c->bad_compression)
		snprintf(buf, n, "Parameter 'compression-type' does not accept value '%s'",
			 c->bad_compression);
	else
		return NULL;
	return buf;
}

/* A string option as QemuOpts prints it: commas doubled, so the line reads back as options. */
static void print_escaped(const char *key, const char *val)
{
	printf("%s=", key);
	for (; *val; val++)
		printf(*val == ',' ? ",," : "%c", *val);
}

/* The file protocol's option comes last: QEMU appends the protocol's options to the format's. */
static void print_extent_hint(const struct img_create_opts *c)
{
	if (c->have_extent_size_hint)
		printf(" extent_size_hint=%llu", (unsigned long long)c->o.extent_size_hint);
}

/*
 * An option's value as the "Formatting ..." line shows it, if -o gave it:
 * numbers as parsed, strings as given (QemuOpts doubles their commas).
 */
static bool shown_value(const struct img_create_opts *c, const char *name, char *buf, size_t n,
			bool *escape)
{
	const struct vk_blk_create_opts *o = &c->o;
	const char *given = NULL;

	*escape = false;
	if (!strcmp(name, "size")) {
		snprintf(buf, n, "%llu", (unsigned long long)o->size);
		return true;
	}
	if (!strcmp(name, "cluster_size") && (o->cluster_size || o->cluster_size_given)) {
		snprintf(buf, n, "%llu", (unsigned long long)o->cluster_size);
		return true;
	}
	if (!strcmp(name, "lazy_refcounts") && o->lazy_refcounts) {
		snprintf(buf, n, "on");
		return true;
	}
	if (!strcmp(name, "preallocation"))
		given = o->prealloc_str;
	else if (!strcmp(name, "compression_type"))
		given = c->compression_str;
	else if (!strcmp(name, "compat"))
		given = o->compat_str;
	else if (!strcmp(name, "refcount_bits"))
		given = c->refcount_str;
	else if (!strcmp(name, "data_file_raw"))
		given = c->data_file_raw_str;
	else if (!strcmp(name, "backing_file"))
		given = o->backing_file, *escape = true;
	else if (!strcmp(name, "backing_fmt"))
		given = o->backing_fmt, *escape = true;
	else if (!strcmp(name, "data_file"))
		given = o->data_file, *escape = true;
	if (!given)
		return false;
	snprintf(buf, n, "%s", given);
	return true;
}

/* The format's options in its driver's order and defaults; then the file protocol's. */
void img_print_formatting(const char *filename, const char *fmt, const struct img_create_opts *c)
{
	const struct vk_blk_shown_opt *f = c->drv ? c->drv->formatting : NULL;
	const char *sep = "";
	char val[4096];
	bool escape;

	printf("Formatting '%s', fmt=%s ", filename, fmt);
	for (; f && f->name; f++) {
		if (!shown_value(c, f->name, val, sizeof(val), &escape)) {
			if (!f->deflt)
				continue;
			snprintf(val, sizeof(val), "%s", f->deflt);
		}
		printf("%s", sep);
		if (escape)
			print_escaped(f->name, val);
		else
			printf("%s=%s", f->name, val);
		sep = " ";
	}
	print_extent_hint(c);
	printf("\n");
}

void img_free_create_opts(struct img_create_opts *c)
{
	while (c->nkeep)
		free(c->keep[--c->nkeep]);
}

/*
 * qemu-img's answer to -b without -F: the backing file is probed only to say
 * what it would have been, or why it does not open.
 */
static int backing_without_format(const char *filename, const char *backing)
{
	struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING | img_global_flags };
	struct vk_err e = { 0 };
	struct vk_blk_info info;
	struct vk_blk *bs;
	char *path = vk_blk_resolve_backing(filename, backing);

	if (!path)
		return -ENOMEM;
	if (vk_blk_open(path, &o, &bs, &e)) {
		img_error("%s: Could not open '%s': %s", filename, backing, strerror(-e.code));
		fprintf(stderr, "Could not open backing image.\n");
	} else {
		img_error("%s: Backing file specified without backing format", filename);
		vk_blk_get_info(bs, &info);
		/* Without a newline: qemu-img 7.2 prints its hint so. */
		fprintf(stderr, "Detected format of %s.", info.format);
		vk_blk_close(bs);
	}
	free(path);
	return -EINVAL;
}

/* The backing file must open (with its format); its size is the default size. */
static int check_backing(const char *filename, struct img_create_opts *c)
{
	struct vk_blk_opts o = { .format = c->o.backing_fmt,
				 .flags = VK_BLK_FORCE_SHARE | img_global_flags };
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	char *path;
	int r;

	if (!c->o.backing_file)
		return 0;
	if (!c->o.backing_fmt)
		return backing_without_format(filename, c->o.backing_file);
	/* A backing name with a protocol (json:, null-co://) is not relative to the image. */
	path = strchr(c->o.backing_file, ':') && !strncmp(c->o.backing_file, "json:", 5) ?
	       strdup(c->o.backing_file) : vk_blk_resolve_backing(filename, c->o.backing_file);
	if (!path)
		return -ENOMEM;
	r = vk_blk_open(path, &o, &bs, &err);
	img_qemu_assert(r, &err);
	/* qemu-img's words: the new image's name, the cause, then a second line. */
	if (r < 0) {
		img_error("%s: %s", filename, img_without_name(err.msg, path));
		fprintf(stderr, "Could not open backing image.\n");
	}
	free(path);
	if (r < 0)
		return r;
	if (!c->have_size) {
		c->o.size = vk_blk_length(bs);
		c->have_size = true;
	}
	vk_blk_close(bs);
	return 0;
}

/* A name with a protocol we cannot write ("image:x") fails before "Formatting ...", as in qemu-img. */
static int check_name(const char *filename)
{
	struct vk_err err = { 0 };
	char *path = NULL;
	int r = vk_blk_name_path(filename, &path, &err);

	if (r < 0)
		img_error("%s: %s", filename, err.msg);
	free(path);
	return r;
}

static const struct option create_long[] = {
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int img_create(int argc, char **argv)
{
	struct img_create_opts c = { 0 };
	const char *fmt = "raw", *opts[8], *backing = NULL, *backing_fmt = NULL;
	struct vk_err err = { 0 };
	int ch, nopts = 0, r, i;
	bool quiet = false, unsafe = false;
	char msg[256];
	uint64_t size;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":F:b:f:ho:qu", create_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'b': backing = optarg; break;
		case 'F': backing_fmt = optarg; break;
		case 'o': if (nopts < 8) opts[nopts++] = optarg; break;
		case 'q': quiet = true; break;
		case 'u': unsafe = true; break;
		case 'h': printf("usage: vmkit img create [-q] [-f FMT] [-b BACKING [-F FMT]] [-u] [-o OPTS] FILE [SIZE]\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	for (i = 0; i < nopts; i++) {
		if (img_opts_want_help(opts[i])) {
			if (!vk_blk_format_creatable(fmt))
				return img_error("Unknown file format '%s'", fmt), 1;
			img_print_create_help(fmt, optind < argc);
			return 0;
		}
	}
	if (optind >= argc)
		return img_error_try("Expecting image file name");
	if (optind + 2 < argc)
		return img_error_try("Unexpected argument: %s", argv[optind + 2]);
	if (vk_blk_format_create_check(fmt, &err) < 0) {
		img_error("%s: %s", argv[optind], err.msg);
		return 1;
	}
	c.drv = vk_blk_find_driver(fmt);
	c.prefix = argv[optind];
	for (i = 0; i < nopts; i++)
		if (img_parse_create_opts(&c, fmt, opts[i]) < 0)
			goto fail;
	if (backing)
		c.o.backing_file = backing;
	if (backing_fmt)
		c.o.backing_fmt = backing_fmt;
	if (optind + 1 < argc) {
		r = img_parse_size(argv[optind + 1], &size);
		if (r == -ERANGE || (!r && size > INT64_MAX)) {
			img_error("Invalid image size specified. Must be between 0 and %lld.",
				  (long long)INT64_MAX);
			goto fail;
		}
		if (r < 0) {
			img_bad_size("image size");
			goto fail;
		}
		c.o.size = size;
		c.have_size = true;
	}
	if (check_name(argv[optind]) < 0 || (!unsafe && check_backing(argv[optind], &c) < 0))
		goto fail;
	if (!c.have_size) {
		img_error("%s: Image creation needs a size parameter", argv[optind]);
		goto fail;
	}
	if (!quiet)
		img_print_formatting(argv[optind], fmt, &c);
	fflush(stdout);
	if (img_create_opts_value_error(&c, msg, sizeof(msg))) {
		img_error("%s: %s", argv[optind], msg);
		goto fail;
	}
	img_default_extent_hint(&c);
	r = vk_blk_create(fmt, argv[optind], &c.o, &err);
	/* qemu-img words -EFBIG itself; formats with a cluster size get a hint. */
	if (r == -EFBIG)
		img_error("%s: The image size is too large for file format '%s'%s", argv[optind], fmt,
			  own_opt(&c, "cluster_size") ? " (try using a larger cluster size)" : "");
	else if (r < 0)
		img_error("%s: %s", argv[optind], img_without_name(err.msg, argv[optind]));
	if (r < 0)
		goto fail;
	img_free_create_opts(&c);
	return 0;
fail:
	img_free_create_opts(&c);
	return 1;
}
