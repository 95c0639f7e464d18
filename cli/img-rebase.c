// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img rebase: point an image at a new backing file.
 *
 * Safe mode (the default) keeps what the image reads: wherever the image
 * itself holds nothing and the old and new backing files differ, the old
 * content is copied into the image first; only then does the header change
 * (lib/block/qcow2-header.c says how that change survives a crash).
 * -b "" removes the backing file, so everything it provided is copied in.
 * -u (unsafe) only rewrites the header.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img.h"

#define CHUNK (2 * MiB)

struct rebase {
	struct vk_blk *bs, *newb;
	uint64_t cs;
	uint8_t *old, *new;
	struct img_progress prog;
};

/* Content of the new backing file: zeros past its end (or without one). */
static int read_new(struct rebase *rb, uint64_t off, uint64_t n, struct vk_err *err)
{
	uint64_t blen = rb->newb ? vk_blk_length(rb->newb) : 0, k = 0;
	int r;

	if (off < blen) {
		k = MIN(n, blen - off);
		r = vk_blk_pread(rb->newb, rb->new, off, k, err);
		if (r < 0)
			return r;
	}
	memset(rb->new + k, 0, n - k);
	return 0;
}

/* Write the clusters of [off, off+n) where old and new backing content differ. */
static int copy_diff(struct rebase *rb, uint64_t off, uint64_t n, struct vk_err *err)
{
	uint64_t pos = 0, end, run;
	int r;

	r = vk_blk_pread(rb->bs, rb->old, off, n, err);
	if (!r)
		r = read_new(rb, off, n, err);
	if (r < 0)
		return r;
	while (pos < n) {
		end = MIN(n, ALIGN_DOWN(off + pos, rb->cs) + rb->cs - off);
		if (!memcmp(rb->old + pos, rb->new + pos, end - pos)) {
			pos = end;
			continue;
		}
		for (run = end; run < n; run = MIN(n, run + rb->cs)) {
			uint64_t e2 = MIN(n, run + rb->cs);

			if (!memcmp(rb->old + run, rb->new + run, e2 - run))
				break;
		}
		r = vk_blk_pwrite(rb->bs, rb->old + pos, off + pos, run - pos, err);
		if (r < 0)
			return r;
		pos = run;
	}
	return 0;
}

static int copy_differences(struct rebase *rb, struct vk_err *err)
{
	uint64_t len = vk_blk_length(rb->bs), off, n, map;
	int st, r;

	img_progress(&rb->prog, 0.0);
	for (off = 0; off < len; off += n) {
		st = vk_blk_block_status(rb->bs, off, MIN(len - off, CHUNK), &n, &map, err);
		if (st < 0)
			return st;
		/* Only what the image does not hold itself reads from a backing file. */
		if (!(st & VK_BS_ALLOCATED)) {
			r = copy_diff(rb, off, n, err);
			if (r < 0)
				return r;
		}
		img_progress(&rb->prog, (double)(off + n) * 100.0 / (double)len);
	}
	return vk_blk_flush(rb->bs, err);
}

static int open_new_backing(struct rebase *rb, const char *name, const char *fmt)
{
	_cleanup_free_ char *path = vk_blk_resolve_backing(rb->bs->filename, name);
	struct vk_blk_opts o = { .format = fmt, .flags = VK_BLK_FORCE_SHARE | img_global_flags };
	struct vk_err err = { 0 };

	if (!path)
		return -ENOMEM;
	if (vk_blk_open(path, &o, &rb->newb, &err) < 0) {
		img_error("Could not open new backing file '%s': %s", name, err.msg);
		return -EINVAL;
	}
	return 0;
}

static const struct option rebase_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int img_rebase(int argc, char **argv)
{
	const char *fmt = NULL, *backing = NULL, *bfmt = NULL;
	struct rebase rb = { 0 };
	struct vk_err err = { 0 };
	bool unsafe = false, quiet = false;
	unsigned int iopts = 0;
	int ch, ret = 1, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":hf:F:b:upt:T:qU", rebase_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: iopts |= VK_BLK_IMAGE_OPTS; break;
		case 'F': bfmt = optarg; break;
		case 'b': backing = optarg; break;
		case 'u': unsafe = true; break;
		case 'p': rb.prog.on = true; break;
		case 'q': quiet = true; break;
		case 't': case 'T': case 'U': break;	/* cache modes; the image is written anyway */
		case 'h': printf("usage: vmkit img rebase [-q] [-f FMT] [-p] [-u] -b BACKING [-F FMT] FILE\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (quiet)
		rb.prog.on = false;
	if (optind != argc - 1) {
		img_error_try("Expecting one image file name");
		return 1;
	}
	if (!unsafe && !backing) {
		img_error_try("Must specify backing file (-b) or use unsafe mode (-u)");
		return 1;
	}
	if (backing && !*backing)
		backing = NULL;
	if (backing && !bfmt) {
		img_error("Could not change the backing file to '%s': backing format must be specified",
			  backing);
		return 1;
	}
	if (bfmt && !vk_blk_find_driver(bfmt)) {
		img_error("Invalid format name: '%s'", bfmt);
		return 1;
	}
	if (img_open(argv[optind], fmt, VK_BLK_RDWR | iopts | (unsafe ? VK_BLK_NO_BACKING : 0),
		     &rb.bs) < 0)
		return 1;
	if (!unsafe) {
		rb.cs = vk_blk_cluster_size(rb.bs);
		rb.cs = rb.cs ? rb.cs : 65536;
		rb.old = malloc(CHUNK);
		rb.new = malloc(CHUNK);
		if (!rb.old || !rb.new) {
			img_error("out of memory");
			goto out;
		}
		if (backing && open_new_backing(&rb, backing, bfmt) < 0)
			goto out;
		if (copy_differences(&rb, &err) < 0) {
			img_error("Could not rebase: %s", err.msg);
			goto out;
		}
	}
	r = vk_blk_set_backing(rb.bs, backing, bfmt, &err);
	if (r < 0) {
		/* qemu-img names only the errno here (raw: "Operation not supported"). */
		img_error("Could not change the backing file to '%s': %s", backing ? backing : "",
			  strerror(-r));
		goto out;
	}
	img_progress_end(&rb.prog);
	ret = 0;
out:
	vk_blk_close(rb.newb);
	vk_blk_close(rb.bs);
	free(rb.old);
	free(rb.new);
	return ret;
}
