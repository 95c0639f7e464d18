// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img commit: write what the image (and the layers between it and the
 * base) holds into its backing file, or into BASE further down the chain
 * (-b, which implies -d as in qemu-img), then empty the image so it reads
 * through to the updated backing file again, unless -d.
 *
 * The layers above the base are opened without their backing chain and
 * linked by hand, so that the base alone is opened for writing.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "img.h"

#define CHUNK (2 * MiB)

struct commit {
	struct vk_blk *top, *base;
	int depth;		/* layers above the base */
	bool drop;
	struct img_progress prog;
};

/* Is file the image bs, by name as recorded or by inode? */
static bool same_image(struct vk_blk *bs, const char *name)
{
	struct stat a, b;

	if (bs->backing_file && !strcmp(bs->backing_file, name))
		return true;
	return bs->full_backing && !stat(bs->full_backing, &a) && !stat(name, &b) &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Find the base in top's chain: how many layers above it, its path and format. */
static int find_base(const char *filename, const char *fmt, const char *base, int *depth,
		     char **path, char **bfmt)
{
	struct vk_blk *top, *bs;
	int d = 1, r = -ENOENT;

	if (img_open(filename, fmt, VK_BLK_FORCE_SHARE, &top) < 0)
		return -EINVAL;
	img_warn_probed(top);	/* qemu-img opens the top for writing */
	if (!top->backing_file) {
		if (base)	/* qemu-img looks for -b first, and so words it */
			img_error("Did not find '%s' in the backing chain of '%s'", base, filename);
		else
			img_error("Image does not have a backing file");
		goto out;
	}
	for (bs = top; bs->backing; bs = bs->backing, d++)
		if (!base || same_image(bs, base))
			break;
	if (!bs->backing) {
		img_error("Did not find '%s' in the backing chain of '%s'", base, filename);
		goto out;
	}
	*depth = d;
	*path = strdup(bs->full_backing);
	*bfmt = strdup(bs->backing->drv->name);
	r = *path && *bfmt ? 0 : -ENOMEM;
out:
	vk_blk_close(top);
	return r;
}

/* Open the base for writing and the layers above it without their backing chains, linked. */
static int open_chain(struct commit *c, const char *filename, const char *fmt, const char *bpath,
		      const char *bfmt)
{
	struct vk_blk *bs = NULL, *layer;
	const char *name = filename, *f = fmt;
	int i;

	if (img_open(bpath, bfmt, VK_BLK_RDWR, &c->base) < 0)
		return -EINVAL;
	for (i = 0; i < c->depth; i++) {
		unsigned int flags = VK_BLK_NO_BACKING | (i == 0 && !c->drop ? VK_BLK_RDWR : 0);

		if (img_open(name, f, flags, &layer) < 0)
			return -EINVAL;
		if (bs)
			bs->backing = layer;
		else
			c->top = layer;
		bs = layer;
		name = bs->full_backing;
		f = bs->backing_fmt;
	}
	bs->backing = c->base;
	c->base = NULL;		/* closed with the chain now */
	return 0;
}

/* Does a layer above the base decide [off, off+len)? *zero: it reads as zeros. */
static int allocated_above(struct commit *c, uint64_t off, uint64_t len, uint64_t *pnum,
			   bool *alloc, bool *zero, struct vk_err *err)
{
	struct vk_blk *bs = c->top;
	uint64_t map;
	int i, st;

	*alloc = false;
	for (i = 0; i < c->depth; i++, bs = bs->backing) {
		st = vk_blk_block_status(bs, off, len, pnum, &map, err);
		if (st < 0)
			return st;
		len = *pnum;
		if (st & VK_BS_ALLOCATED) {
			*alloc = true;
			*zero = st & VK_BS_ZERO;
			return 0;
		}
	}
	return 0;
}

static int copy_down(struct commit *c, struct vk_blk *base, struct vk_err *err)
{
	uint64_t len = vk_blk_length(c->top), off, n;
	_cleanup_free_ uint8_t *buf = malloc(CHUNK);
	bool alloc, zero;
	int r;

	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	img_progress(&c->prog, 0.0);
	for (off = 0; off < len; off += n) {
		r = allocated_above(c, off, MIN(len - off, CHUNK), &n, &alloc, &zero, err);
		if (r < 0)
			return r;
		if (alloc && zero) {
			r = vk_blk_pwrite_zeroes(base, off, n, err);
		} else if (alloc) {
			r = vk_blk_pread(c->top, buf, off, n, err);
			if (!r)
				r = vk_blk_pwrite(base, buf, off, n, err);
		}
		if (r < 0)
			return r;
		img_progress(&c->prog, (double)(off + n) * 100.0 / (double)len);
	}
	return vk_blk_flush(base, err);
}

static int run(struct commit *c, struct vk_err *err)
{
	struct vk_blk *base = c->top;
	int i, r;

	for (i = 0; i < c->depth; i++)
		base = base->backing;
	/* An overlay grown past its base: the base grows first, as QEMU's commit job does. */
	if (vk_blk_length(base) < vk_blk_length(c->top)) {
		r = vk_blk_truncate(base, vk_blk_length(c->top), VK_PREALLOC_OFF, err);
		if (r < 0)
			return r;
	}
	r = copy_down(c, base, err);
	if (r < 0 || c->drop)
		return r;
	/* The base holds it all now: the image reads through to it again. */
	r = vk_blk_make_empty(c->top, err);
	if (!r)
		r = vk_blk_flush(c->top, err);
	return r;
}

static const struct option commit_long[] = {
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int img_commit(int argc, char **argv)
{
	const char *fmt = NULL, *base = NULL;
	struct commit c = { 0 };
	struct vk_err err = { 0 };
	_cleanup_free_ char *bpath = NULL, *bfmt = NULL;
	bool quiet = false;
	int ch, ret = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:ht:b:dpqr:", commit_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 't': break;	/* cache mode: buffered I/O, flushed before the image is emptied */
		case 'r': break;	/* rate limit: no limit */
		case 'b': base = optarg; c.drop = true; break;	/* -b implies -d */
		case 'd': c.drop = true; break;
		case 'p': c.prog.on = true; break;
		case 'q': quiet = true; break;
		case 'h': printf("usage: vmkit img commit [-q] [-f FMT] [-t CACHE] [-b BASE] [-d] [-p] FILE\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (optind != argc - 1) {
		img_error_try("Expecting one image file name");
		return 1;
	}
	if (quiet)
		c.prog.on = false;
	if (find_base(argv[optind], fmt, base, &c.depth, &bpath, &bfmt) < 0)
		return 1;
	if (open_chain(&c, argv[optind], fmt, bpath, bfmt) < 0)
		goto out;
	if (run(&c, &err) < 0) {
		img_error("%s", err.msg);
		goto out;
	}
	img_progress_end(&c.prog);
	if (!quiet)
		printf("Image committed.\n");
	ret = 0;
out:
	vk_blk_close(c.base);
	vk_blk_close(c.top);
	return ret;
}
