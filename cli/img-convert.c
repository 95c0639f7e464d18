// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img convert: copy an image (its whole backing chain) into a new
 * raw or qcow2 image, skipping what reads as zeros: ranges the source
 * reports as zero, and -S sized blocks of zeros in the data (default 4k).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img-opts.h"

#define BUF_SIZE (2 * MiB)

struct convert {
	struct vk_blk *src, *dst;
	uint64_t sparse;	/* 0: write everything */
	bool need_zero;		/* -n: the target may hold old data */
	uint8_t *buf;
	struct img_progress prog;
};

static bool all_zero(const uint8_t *p, uint64_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

static int write_zeroes(struct convert *c, uint64_t off, uint64_t n, struct vk_err *err)
{
	return c->need_zero ? vk_blk_pwrite_zeroes(c->dst, off, n, err) : 0;
}

/* Write buf (n bytes at off), leaving out aligned blocks of -S zeros. */
static int write_sparse(struct convert *c, uint64_t off, uint64_t n, struct vk_err *err)
{
	uint64_t pos = 0, end, run;
	bool zero;
	int r;

	if (!c->sparse)
		return vk_blk_pwrite(c->dst, c->buf, off, n, err);
	while (pos < n) {
		end = MIN(n, ALIGN_DOWN(off + pos, c->sparse) + c->sparse - off);
		zero = all_zero(c->buf + pos, end - pos);
		run = end;
		while (run < n) {
			uint64_t e2 = MIN(n, run + c->sparse);

			if (all_zero(c->buf + run, e2 - run) != zero)
				break;
			run = e2;
		}
		if (zero)
			r = write_zeroes(c, off + pos, run - pos, err);
		else
			r = vk_blk_pwrite(c->dst, c->buf + pos, off + pos, run - pos, err);
		if (r < 0)
			return r;
		pos = run;
	}
	return 0;
}

static int copy(struct convert *c, struct vk_err *err)
{
	uint64_t len = vk_blk_length(c->src), off, n;
	struct img_status st;
	int r;

	img_progress(&c->prog, 0.0);
	for (off = 0; off < len; off += n) {
		r = img_chain_status(c->src, off, MIN(len - off, BUF_SIZE), &st, err);
		if (r < 0)
			return r;
		n = st.pnum;
		if (st.flags & VK_BS_ZERO) {
			r = write_zeroes(c, off, n, err);
		} else {
			r = vk_blk_pread(c->src, c->buf, off, n, err);
			if (!r)
				r = write_sparse(c, off, n, err);
		}
		if (r < 0)
			return r;
		img_progress(&c->prog, (double)(off + n) * 100.0 / (double)len);
	}
	r = vk_blk_flush(c->dst, err);
	img_progress_end(&c->prog);
	return r;
}

static int create_target(const char *fmt, const char *name, struct img_create_opts *co,
			 uint64_t size, bool quiet)
{
	struct vk_err err = { 0 };

	co->o.size = size;
	if (co->o.backing_file) {
		img_error("backing_file is not supported by convert");
		return -EINVAL;
	}
	if (vk_blk_create(fmt, name, &co->o, &err) < 0) {
		img_error("%s: error while converting %s: %s", name, fmt, err.msg);
		return -EIO;
	}
	return 0;
}

static const struct option convert_long[] = {
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int img_convert(int argc, char **argv)
{
	const char *fmt = NULL, *ofmt = "raw", *opts[8];
	struct img_create_opts co = { 0 };
	struct convert c = { .sparse = 4096 };
	struct vk_err err = { 0 };
	unsigned int flags = 0;
	bool quiet = false;
	int ch, nopts = 0, i, ret = 1;
	uint64_t v;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:O:o:pnqS:U", convert_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'O': ofmt = optarg; break;
		case 'o': if (nopts < 8) opts[nopts++] = optarg; break;
		case 'p': c.prog.on = true; break;
		case 'n': c.need_zero = true; break;
		case 'q': quiet = true; break;
		case 'U': flags |= VK_BLK_FORCE_SHARE; break;
		case 'S':
			if (img_parse_size(optarg, &v) < 0 || (v && v < 512) || v % 512 || v > 2 * MiB) {
				img_error("Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 2M; 0 disables");
				return 1;
			}
			c.sparse = v;
			break;
		default: img_error("Invalid option or missing argument"); return 1;
		}
	}
	if (optind != argc - 2) {
		img_error("Expecting one source and one target image name");
		return 1;
	}
	if (quiet)
		c.prog.on = false;
	if (strcmp(ofmt, "raw") && strcmp(ofmt, "qcow2")) {
		img_error("Unknown file format '%s'", ofmt);
		return 1;
	}
	for (i = 0; i < nopts; i++)
		if (img_parse_create_opts(&co, ofmt, opts[i]) < 0)
			goto out;
	if (nopts && c.need_zero) {
		img_error("-o cannot be used with -n");
		goto out;
	}
	c.buf = malloc(BUF_SIZE);
	if (!c.buf || img_open(argv[optind], fmt, flags, &c.src) < 0)
		goto out;
	if (!c.need_zero &&
	    create_target(ofmt, argv[optind + 1], &co, vk_blk_length(c.src), quiet) < 0)
		goto out;
	if (img_open(argv[optind + 1], ofmt, VK_BLK_RDWR, &c.dst) < 0)
		goto out;
	if (vk_blk_length(c.dst) < vk_blk_length(c.src)) {
		img_error("%s: target image is smaller than the source", argv[optind + 1]);
		goto out;
	}
	if (copy(&c, &err) < 0) {
		img_error("error while converting: %s", err.msg);
		goto out;
	}
	ret = 0;
out:
	vk_blk_close(c.dst);
	vk_blk_close(c.src);
	free(c.buf);
	img_free_create_opts(&co);
	return ret;
}
