// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit img create, and the -o option parsing convert shares. */
#include <errno.h>
#include <getopt.h>
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

/* create names the image first (the driver checks the value); convert does not. */
static int bad_bool(const struct img_create_opts *c, const char *key)
{
	if (c->filename)
		img_error("%s: Parameter '%s' expects 'on' or 'off'", c->filename, key);
	else
		img_error("Parameter '%s' expects 'on' or 'off'", key);
	return -EINVAL;
}

static int set_opt(void *opaque, const char *key, const char *val)
{
	struct img_create_opts *c = opaque;
	uint64_t v;

	if (!strcmp(key, "size")) {
		if (img_parse_size(val, &v) < 0)
			goto bad_size;
		c->o.size = v;
		c->have_size = true;
	} else if (!strcmp(key, "cluster_size")) {
		if (img_parse_size(val, &v) < 0 || v > UINT32_MAX)
			goto bad_size;
		c->o.cluster_size = (uint32_t)v;
	} else if (!strcmp(key, "compat")) {
		if (!strcmp(val, "0.10") || !strcmp(val, "v2"))
			c->o.compat = 2;
		else if (!strcmp(val, "1.1") || !strcmp(val, "v3"))
			c->o.compat = 3;
		else
			return img_error("Invalid parameter '%s'", val), -EINVAL;
		c->compat_str = keep(c, val);
	} else if (!strcmp(key, "lazy_refcounts")) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return bad_bool(c, key);
		c->o.lazy_refcounts = !strcmp(val, "on");
	} else if (!strcmp(key, "preallocation")) {
		if (strcmp(val, "off") && (strcmp(val, "metadata") || !c->qcow2))
			return img_error("Invalid parameter '%s'", val), -EINVAL;
		c->o.prealloc_metadata = !strcmp(val, "metadata");
		c->prealloc_str = keep(c, val);
	} else if (!strcmp(key, "refcount_bits")) {
		if (vk_parse_uint(val, 1, 64, &v) < 0)
			return img_error("Invalid parameter '%s'", val), -EINVAL;
		c->o.refcount_bits = (unsigned int)v;
	} else if (!strcmp(key, "compression_type") && c->qcow2) {
		c->compression_str = keep(c, val);
		c->o.compression_type = !strcmp(val, "zstd") ? 1 : strcmp(val, "zlib") ? -1 : 0;
	} else if (!strcmp(key, "backing_file")) {
		c->o.backing_file = keep(c, val);
	} else if (!strcmp(key, "backing_fmt")) {
		c->o.backing_fmt = keep(c, val);
	} else if (!strcmp(key, "data_file") && c->qcow2) {
		c->o.data_file = keep(c, val);
	} else if (!strcmp(key, "data_file_raw") && c->qcow2) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return bad_bool(c, key);
		c->o.data_file_raw = !strcmp(val, "on");
		c->data_file_raw_str = keep(c, val);
	} else {
		/* create's words name the image (the format refuses the key); convert's do not */
		if (c->filename)
			img_error("%s: Invalid parameter '%s'", c->filename, key);
		else
			img_error("Invalid parameter '%s'", key);
		return -EINVAL;
	}
	return 0;
bad_size:
	img_error("Parameter '%s' expects a non-negative number below 2^64", key);
	return -EINVAL;
}

int img_parse_create_opts(struct img_create_opts *c, const char *fmt, const char *opts)
{
	c->qcow2 = !strcmp(fmt, "qcow2");
	if (!opts)
		return 0;
	return vk_parse_kv(opts, set_opt, c);
}

void img_print_formatting(const char *filename, const char *fmt, const struct img_create_opts *c)
{
	const struct vk_blk_create_opts *o = &c->o;

	printf("Formatting '%s', fmt=%s ", filename, fmt);
	if (!c->qcow2) {
		printf("size=%llu", (unsigned long long)o->size);
		if (c->prealloc_str)
			printf(" preallocation=%s", c->prealloc_str);
		printf("\n");
		return;
	}
	printf("cluster_size=%u extended_l2=off ", o->cluster_size ? o->cluster_size : 65536);
	if (c->prealloc_str)
		printf("preallocation=%s ", c->prealloc_str);
	printf("compression_type=%s size=%llu ", c->compression_str ? c->compression_str : "zlib",
	       (unsigned long long)o->size);
	if (c->compat_str)
		printf("compat=%s ", c->compat_str);
	if (o->backing_file)
		printf("backing_file=%s ", o->backing_file);
	if (o->backing_fmt)
		printf("backing_fmt=%s ", o->backing_fmt);
	if (o->data_file)
		printf("data_file=%s ", o->data_file);
	if (c->data_file_raw_str)
		printf("data_file_raw=%s ", c->data_file_raw_str);
	printf("lazy_refcounts=%s refcount_bits=%u\n", o->lazy_refcounts ? "on" : "off",
	       o->refcount_bits ? o->refcount_bits : 16);
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
	struct vk_blk *bs;
	char *path;
	int r;

	if (!c->o.backing_file)
		return 0;
	if (!c->o.backing_fmt)
		return backing_without_format(filename, c->o.backing_file);
	path = vk_blk_resolve_backing(filename, c->o.backing_file);
	if (!path)
		return -ENOMEM;
	r = img_open(path, c->o.backing_fmt, VK_BLK_FORCE_SHARE, &bs);
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
	if (optind >= argc)
		return img_error_try("Expecting image file name");
	if (optind + 2 < argc)
		return img_error_try("Unexpected argument: %s", argv[optind + 2]);
	if (strcmp(fmt, "raw") && strcmp(fmt, "qcow2")) {
		img_error("%s: Unknown file format '%s'", argv[optind], fmt);
		return 1;
	}
	c.qcow2 = !strcmp(fmt, "qcow2");
	c.filename = argv[optind];
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
			img_error("Invalid image size specified. You may use k, M, G, T, P or E suffixes for");
			img_error("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
			goto fail;
		}
		c.o.size = size;
		c.have_size = true;
	}
	if (check_name(argv[optind]) < 0 || (!unsafe && check_backing(argv[optind], &c) < 0))
		goto fail;
	if (!c.have_size) {
		img_error("Image creation needs a size parameter");
		goto fail;
	}
	if (!quiet)
		img_print_formatting(argv[optind], fmt, &c);
	fflush(stdout);
	r = vk_blk_create(fmt, argv[optind], &c.o, &err);
	/* qemu-img words -EFBIG itself; formats with a cluster size get a hint. */
	if (r == -EFBIG)
		img_error("%s: The image size is too large for file format '%s'%s", argv[optind], fmt,
			  c.qcow2 ? " (try using a larger cluster size)" : "");
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
