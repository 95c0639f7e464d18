// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img dd: copy bs-sized blocks from an image into a new image, as
 * qemu-img dd does (and with its quirk: count limits the input to
 * count * bs bytes from its start, skip then starts inside that).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img.h"

struct dd {
	const char *in, *out;
	uint64_t bs, count, skip;
	bool has_count, has_skip;
};

static int parse_operand(struct dd *d, const char *arg)
{
	const char *eq = strchr(arg, '=');
	uint64_t v;

	if (!eq) {
		img_error("unrecognized operand %s", arg);
		return -EINVAL;
	}
	if (!strncmp(arg, "if=", 3)) {
		d->in = eq + 1;
	} else if (!strncmp(arg, "of=", 3)) {
		d->out = eq + 1;
	} else if (!strncmp(arg, "bs=", 3)) {
		if (img_parse_size(eq + 1, &v) < 0)
			return img_bad_size("bs"), -EINVAL;
		if (!v || v > INT32_MAX) {
			img_error("Invalid bs specified. Must be between 1 and 2147483647.");
			return -EINVAL;
		}
		d->bs = v;
	} else if (!strncmp(arg, "count=", 6)) {
		if (img_parse_size(eq + 1, &v) < 0 || v > INT64_MAX)
			return img_bad_size("count"), -EINVAL;
		d->count = v;
		d->has_count = true;
	} else if (!strncmp(arg, "skip=", 5)) {
		if (img_parse_size(eq + 1, &v) < 0 || v > INT64_MAX)
			return img_bad_size("skip"), -EINVAL;
		d->skip = v;
		d->has_skip = true;
	} else {
		img_error("unrecognized operand %.*s", (int)(eq - arg), arg);
		return -EINVAL;
	}
	return 0;
}

static int copy_blocks(struct dd *d, struct vk_blk *src, struct vk_blk *dst, uint64_t size,
		       struct vk_err *err)
{
	_cleanup_free_ uint8_t *buf = malloc(d->bs);
	uint64_t in = d->skip * d->bs, out = 0, n;
	int r;

	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (; in < size; in += n, out += n) {
		n = MIN(d->bs, size - in);
		r = vk_blk_pread(src, buf, in, n, err);
		if (!r)
			r = vk_blk_pwrite(dst, buf, out, n, err);
		if (r < 0)
			return r;
	}
	return vk_blk_flush(dst, err);
}

static const struct option dd_long[] = {
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int img_dd(int argc, char **argv)
{
	struct dd d = { .bs = 512 };
	const char *fmt = NULL, *ofmt = "raw";
	struct vk_blk_create_opts co = { 0 };
	struct vk_blk *src = NULL, *dst = NULL;
	struct vk_err err = { 0 };
	unsigned int flags = 0;
	uint64_t size;
	int ch, i, ret = 1;
	bool created = false;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":hf:O:U", dd_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'O': ofmt = optarg; break;
		case 'U': flags |= VK_BLK_FORCE_SHARE; break;
		case 'h': printf("usage: vmkit img dd [-U] [-f FMT] [-O FMT] [bs=N] [count=N] [skip=N] if=IN of=OUT\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	for (i = optind; i < argc; i++)
		if (parse_operand(&d, argv[i]) < 0)
			return 1;
	if (!d.in || !d.out) {
		img_error("Must specify both input and output files");
		return 1;
	}
	if (!vk_blk_find_driver(ofmt)) {
		img_error("Unknown file format '%s'", ofmt);
		return 1;
	}
	if (img_open(d.in, fmt, flags, &src) < 0)
		return 1;
	size = vk_blk_length(src);
	if (d.has_count && d.count <= INT64_MAX / d.bs && d.count * d.bs < size)
		size = d.count * d.bs;
	if (d.has_skip && (d.skip > INT64_MAX / d.bs || size < d.bs * d.skip)) {
		co.size = 0;
		/* qemu-img says so, still creates an empty target and succeeds. */
		img_error("%s: cannot skip to specified offset", d.in);
		d.skip = size / d.bs + 1;
	} else {
		co.size = size - d.bs * d.skip;
	}
	if (vk_blk_create(ofmt, d.out, &co, &err) < 0) {
		img_error("%s: %s", d.out, err.msg);
		goto out;
	}
	created = true;
	if (img_open(d.out, ofmt, VK_BLK_RDWR, &dst) < 0)
		goto out;
	if (copy_blocks(&d, src, dst, size, &err) < 0) {
		img_error("%s", err.msg);
		goto out;
	}
	ret = 0;
out:
	vk_blk_close(dst);
	vk_blk_close(src);
	if (ret && created)
		img_remove_partial(d.out);
	return ret;
}
