// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img convert: copy an image (its whole backing chain) into a new
 * raw or qcow2 image, skipping what reads as zeros: ranges the source
 * reports as zero, and -S sized blocks of zeros in the data (default 4k).
 * -B (or -o backing_file=) makes the target an overlay and writes only the
 * clusters whose content differs from that backing file. -c compresses
 * clusters on -m threads (default 8). Otherwise a writer thread writes the
 * target while the next chunk of the source is read (img-wpipe.c), unless
 * -m 1. -W (out-of-order writes) is accepted: the writes are issued in order
 * by one thread, which qemu-img's -W allows.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img-opts.h"

#define BUF_SIZE (2 * MiB)
#define WPIPE_BUFS 4	/* chunks in flight between the reader and the writer thread */
#define WPIPE_CHUNK (512 * KiB)

struct convert {
	struct vk_blk *src, *dst;
	uint64_t sparse;	/* 0: write everything */
	bool need_zero;		/* -n: the target may hold old data (unless --target-is-zero) */
	bool target_exists;	/* -n: written into, not created */
	bool compress;		/* -c */
	bool has_backing;	/* -B: the target reads its backing file where not written */
	bool data_file;		/* the target keeps its data in an external data file */
	bool msg_whole;		/* err.msg is qemu-img's whole line, not a cause */
	unsigned int threads;	/* compression threads (-m, at most the CPUs) */
	uint64_t cs;		/* target cluster size (-c, -B) */
	uint8_t *buf, *bbuf;
	struct img_zpool *zpool;	/* -c */
	struct img_wpipe *wpipe;	/* plain copies: the writer thread */
	uint64_t chunk;			/* largest read */
	struct img_progress prog;
};

static int write_zeroes(struct convert *c, uint64_t off, uint64_t n, struct vk_err *err)
{
	return c->need_zero ? vk_blk_pwrite_zeroes(c->dst, off, n, err) : 0;
}

/* Write buf (n bytes at off), leaving out aligned blocks of -S zeros. */
static int write_sparse(struct convert *c, const uint8_t *buf, uint64_t off, uint64_t n,
			struct vk_err *err)
{
	uint64_t pos = 0, end, run;
	bool zero;
	int r;

	if (!c->sparse)
		return vk_blk_pwrite(c->dst, buf, off, n, err);
	while (pos < n) {
		end = MIN(n, ALIGN_DOWN(off + pos, c->sparse) + c->sparse - off);
		zero = vk_buf_is_zero(buf + pos, end - pos);
		run = end;
		while (run < n) {
			uint64_t e2 = MIN(n, run + c->sparse);

			if (vk_buf_is_zero(buf + run, e2 - run) != zero)
				break;
			run = e2;
		}
		if (zero)
			r = write_zeroes(c, off + pos, run - pos, err);
		else
			r = vk_blk_pwrite(c->dst, buf + pos, off + pos, run - pos, err);
		if (r < 0)
			return r;
		pos = run;
	}
	return 0;
}

/* -B: write the clusters of buf (n bytes at off) that differ from what the target reads now. */
static int write_diff(struct convert *c, uint64_t off, uint64_t n, struct vk_err *err)
{
	uint64_t pos = 0, end, run;
	int r;

	r = vk_blk_pread(c->dst, c->bbuf, off, n, err);
	if (r < 0)
		return r;
	while (pos < n) {
		end = MIN(n, ALIGN_DOWN(off + pos, c->cs) + c->cs - off);
		if (!memcmp(c->buf + pos, c->bbuf + pos, end - pos)) {
			pos = end;
			continue;
		}
		for (run = end; run < n; run = MIN(n, run + c->cs)) {
			uint64_t e2 = MIN(n, run + c->cs);

			if (!memcmp(c->buf + run, c->bbuf + run, e2 - run))
				break;
		}
		r = vk_blk_pwrite(c->dst, c->buf + pos, off + pos, run - pos, err);
		if (r < 0)
			return r;
		pos = run;
	}
	return 0;
}

/* -c: n bytes at cluster-aligned off, one cluster at a time into the compression pipeline. */
static int write_compressed(struct convert *c, uint64_t off, uint64_t n, struct vk_err *err)
{
	uint64_t i, len;
	int r;

	/* A data file maps clusters one to one: none can be compressed (qemu-img fails here). */
	if (c->data_file) {
		c->msg_whole = true;
		return vk_fail(err, -ENOTSUP, "error while writing at byte %llu: %s",
			       (unsigned long long)off, strerror(ENOTSUP));
	}
	for (i = 0; i < n; i += len) {
		len = MIN(c->cs, n - i);
		r = img_zpool_queue(c->zpool, off + i, c->buf + i, len, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_data(struct convert *c, uint64_t off, uint64_t n, struct vk_err *err)
{
	if (c->has_backing)
		return write_diff(c, off, n, err);
	if (c->compress)
		return write_compressed(c, off, n, err);
	return write_sparse(c, c->buf, off, n, err);
}

/* The writer thread's half of a plain copy. */
static int wpipe_write(void *ctx, const uint8_t *buf, uint64_t off, uint64_t n, bool zero,
		       struct vk_err *err)
{
	struct convert *c = ctx;

	return zero ? write_zeroes(c, off, n, err) : write_sparse(c, buf, off, n, err);
}

/* One chunk of a plain copy: read into the pipe's next buffer, queue it for the writer. */
static int copy_chunk_piped(struct convert *c, uint64_t off, uint64_t n, bool zero,
			    struct vk_err *err)
{
	uint8_t *buf;
	int r;

	if (zero && !c->need_zero)
		return 0;	/* the new target reads zeros there already */
	buf = img_wpipe_buf(c->wpipe, err);
	if (!buf)
		return err->code ? err->code : -EIO;
	if (!zero) {
		r = vk_blk_pread(c->src, buf, off, n, err);
		if (r < 0)
			return r;
	}
	return img_wpipe_queue(c->wpipe, off, n, zero, err);
}

/* Zeros in the source: the target already reads zeros unless it may hold data or a backing file. */
static int write_zero_range(struct convert *c, uint64_t off, uint64_t n, struct vk_err *err)
{
	uint64_t done, k;
	int r;

	if (!c->has_backing)
		return write_zeroes(c, off, n, err);
	for (done = 0; done < n; done += k) {
		k = MIN(n - done, BUF_SIZE);
		memset(c->buf, 0, k);
		r = write_diff(c, off + done, k, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int copy(struct convert *c, struct vk_err *err)
{
	uint64_t len = vk_blk_length(c->src), off, n;
	struct vk_blk_status st;
	int r;

	img_progress(&c->prog, 0.0);
	for (off = 0; off < len; off += n) {
		r = vk_blk_chain_status(c->src, off, MIN(len - off, c->chunk), &st, err);
		if (r < 0)
			return r;
		n = st.pnum;
		/* Compressed writes take whole clusters: round the data run to them. */
		if (c->compress && (!(st.flags & VK_BS_ZERO) || (off & (c->cs - 1)) ||
				    n < c->cs)) {
			n = MIN(len, ALIGN_UP(off + n, c->cs)) - off;
			st.flags &= ~VK_BS_ZERO;
		} else if (c->compress) {
			n = ALIGN_DOWN(n, c->cs);
		}
		if (c->wpipe) {
			r = copy_chunk_piped(c, off, n, st.flags & VK_BS_ZERO, err);
		} else if (st.flags & VK_BS_ZERO) {
			r = write_zero_range(c, off, n, err);
		} else {
			r = vk_blk_pread(c->src, c->buf, off, n, err);
			if (!r)
				r = write_data(c, off, n, err);
		}
		if (r < 0)
			return r;
		img_progress(&c->prog, (double)(off + n) * 100.0 / (double)len);
	}
	r = c->zpool ? img_zpool_drain(c->zpool, err) : 0;
	if (!r && c->wpipe)
		r = img_wpipe_finish(c->wpipe, err);
	if (!r)
		r = vk_blk_flush(c->dst, err);
	img_progress_end(&c->prog);
	return r;
}

static int create_target(const char *fmt, const char *name, struct img_create_opts *co,
			 uint64_t size, bool quiet)
{
	struct vk_err err = { 0 };
	char *path = NULL, msg[256];

	if (vk_blk_format_create_check(fmt, &err) < 0) {
		img_error("%s", err.msg);
		return -ENOTSUP;
	}
	/* A target protocol we cannot write is refused before anything, in qemu-img's words. */
	if (vk_blk_name_path(name, &path, &err) < 0) {
		img_error("%s", err.msg);
		return -EINVAL;
	}
	free(path);
	co->o.size = size;
	if (img_create_opts_value_error(co, msg, sizeof(msg))) {
		img_error("%s: error while converting %s: %s", name, fmt, msg);
		return -EINVAL;
	}
	img_default_extent_hint(co);
	if (vk_blk_create(fmt, name, &co->o, &err) < 0) {
		img_error("%s: error while converting %s: %s", name, fmt, err.msg);
		return -EIO;
	}
	return 0;
}

enum { OPT_BITMAPS = 512, OPT_SKIP_BROKEN };	/* above IMG_OPT_IMAGE_OPTS */

static const struct option convert_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "force-share", no_argument, NULL, 'U' },
	{ "target-is-zero", no_argument, NULL, 'Z' },
	{ "help", no_argument, NULL, 'h' },
	{ "bitmaps", no_argument, NULL, OPT_BITMAPS },
	{ "skip-broken-bitmaps", no_argument, NULL, OPT_SKIP_BROKEN },
	{ 0 }
};

/* Can bs hold persistent bitmaps (qcow2 version 3)? */
static bool has_bitmaps(struct vk_blk *bs)
{
	struct vk_blk_info i = { 0 };

	return !vk_blk_get_info(bs, &i) && i.is_qcow2 && i.qcow2_version >= 3;
}

/* --bitmaps, before the target is made: the source's bitmaps must all be copyable. */
static int check_bitmaps(struct vk_blk *src, bool skip_broken)
{
	struct vk_blk_bitmap *b = NULL;
	struct vk_err err = { 0 };
	unsigned int n = 0, i;
	int r = 0;

	if (!has_bitmaps(src)) {
		img_error("Source lacks bitmap support");
		return -ENOTSUP;
	}
	if (vk_blk_bitmap_list(src, &b, &n, &err) < 0) {
		img_error("%s", err.msg);
		return -EINVAL;
	}
	/* QEMU walks them newest first: the last one in the directory is named. */
	for (i = n; !skip_broken && i-- > 0 && !r;) {
		if (b[i].in_use) {
			img_error("Cannot copy inconsistent bitmap '%s'", b[i].name);
			fprintf(stderr, "Try --skip-broken-bitmaps, or use 'qemu-img bitmap --remove' to delete it\n");
			r = -EINVAL;
		}
	}
	vk_blk_bitmap_list_free(b, n);
	return r;
}

static int copy_one_bitmap(struct convert *c, const struct vk_blk_bitmap *b)
{
	struct vk_err err = { 0 };

	if (vk_blk_bitmap_add(c->dst, b->name, b->granularity, &err) < 0 ||
	    (!b->autom && vk_blk_bitmap_enable(c->dst, b->name, false, &err) < 0)) {
		img_error("Failed to create bitmap %s: %s", b->name, err.msg);
		return -EINVAL;
	}
	if (vk_blk_bitmap_merge(c->dst, b->name, c->src, b->name, &err) < 0) {
		img_error("Failed to populate bitmap %s: %s", b->name, err.msg);
		vk_blk_bitmap_remove(c->dst, b->name, NULL);
		return -EINVAL;
	}
	return 0;
}

/* After the data: each source bitmap, in QEMU's order (newest first), into the target. */
static int copy_bitmaps(struct convert *c, bool skip_broken)
{
	struct vk_blk_bitmap *b = NULL;
	struct vk_err err = { 0 };
	unsigned int n = 0, i;
	int r = 0;

	if (vk_blk_bitmap_list(c->src, &b, &n, &err) < 0) {
		img_error("%s", err.msg);
		return -EINVAL;
	}
	for (i = n; i-- > 0 && !r;) {
		if (skip_broken && b[i].in_use) {
			img_error("warning: Skipping inconsistent bitmap '%s'", b[i].name);
			continue;
		}
		r = copy_one_bitmap(c, &b[i]);
	}
	vk_blk_bitmap_list_free(b, n);
	return r;
}

static int parse_threads(const char *arg, unsigned int *out)
{
	uint64_t v;

	if (vk_parse_uint(arg, 1, 16, &v) < 0) {
		img_error("Invalid number of coroutines. Allowed number of coroutines is between 1 and 16");
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

/* -B/-F and -o backing_file/backing_fmt are one thing; qemu-img 7.2 wants the format named. */
static int set_backing(struct img_create_opts *co, const char *b, const char *bf, bool quiet)
{
	if (b && co->o.backing_file) {
		img_error("-B and -o backing_file are mutually exclusive");
		return -EINVAL;
	}
	if (b)
		co->o.backing_file = b;
	if (bf)
		co->o.backing_fmt = bf;
	if (co->o.backing_file && !co->o.backing_fmt) {
		img_error("Use of backing file requires explicit backing format");
		return -EINVAL;
	}
	return 0;
}

static int setup_buffers(struct convert *c, const char *ofmt)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct vk_blk_info info;

	c->cs = vk_blk_cluster_size(c->dst);
	if ((c->compress || c->has_backing) && !c->cs)
		c->cs = 512;
	if (c->compress && !vk_blk_format_compresses(ofmt)) {
		img_error("Compression not supported for this file format");
		return -ENOTSUP;
	}
	c->data_file = vk_blk_get_info(c->dst, &info) == 0 && info.has_data_file;
	/*
	 * -m threads, as qemu-img runs -m coroutines whose compression goes to a
	 * thread pool: on a busy host more threads also get a fairer share of it.
	 * One when there is a single CPU.
	 */
	if (ncpu <= 1)
		c->threads = 1;
	c->chunk = BUF_SIZE;
	/* Smaller chunks for the writer thread keep its ring (4 x 512 KiB) in the CPU's caches. */
	if (!c->compress && !c->has_backing && c->threads > 1)
		c->chunk = WPIPE_CHUNK;
	/* A block of -S zeros is judged whole: chunks hold at least one (-S goes up to 16 MiB). */
	c->chunk = MAX(c->chunk, c->sparse);
	c->buf = malloc(MAX(BUF_SIZE, c->chunk));
	c->bbuf = malloc(MAX(BUF_SIZE, c->chunk));
	if (!c->buf || !c->bbuf ||
	    (c->compress && img_zpool_start(&c->zpool, c->dst, c->threads, c->cs,
					    c->need_zero) < 0) ||
	    (!c->compress && !c->has_backing && c->threads > 1 &&
	     img_wpipe_start(&c->wpipe, WPIPE_BUFS, c->chunk, wpipe_write, c) < 0)) {
		img_error("out of memory");
		return -ENOMEM;
	}
	return 0;
}

int img_convert(int argc, char **argv)
{
	const char *fmt = NULL, *ofmt = "raw", *opts[8], *backing = NULL, *backing_fmt = NULL;
	struct img_create_opts co = { 0 };
	struct convert c = { .sparse = 4096, .threads = 8 };
	struct vk_err err = { 0 };
	unsigned int flags = 0;
	bool quiet = false, unsafe = true, created = false, target_is_zero = false;
	bool bitmaps = false, skip_broken = false;
	int ch, nopts = 0, i, r, ret = 1;
	uint64_t v;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:O:o:pnqS:UcB:F:Wm:t:T:C", convert_long,
				 NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: flags |= VK_BLK_IMAGE_OPTS; break;
		case 'O': ofmt = optarg; break;
		case 'o': if (nopts < 8) opts[nopts++] = optarg; break;
		case 'p': c.prog.on = true; break;
		case 'n': c.target_exists = true; break;
		case 'Z': target_is_zero = true; break;
		case 'q': quiet = true; break;
		case 'U': flags |= VK_BLK_FORCE_SHARE; break;
		case 'c': c.compress = true; break;
		case 'B': backing = optarg; break;
		case 'F': backing_fmt = optarg; break;
		case 'W': break;	/* out-of-order writes allowed; ours are in order */
		case 't':
			/* qemu-img convert's default is unsafe: no fdatasync at the end. */
			if (img_cache_unsafe(optarg, &unsafe) < 0)
				return 1;
			break;
		case 'T':		/* source cache mode: checked; reads are buffered */
			if (!img_cache_mode_known(optarg)) {
				img_error("Invalid source cache option: %s", optarg);
				return 1;
			}
			break;
		case 'C': break;	/* copy offloading: plain reads and writes here */
		case OPT_BITMAPS: bitmaps = true; break;
		case OPT_SKIP_BROKEN: skip_broken = true; break;
		case 'm':
			if (parse_threads(optarg, &c.threads) < 0)
				return 1;
			break;
		case 'S':
			if (img_parse_size(optarg, &v) < 0 || v % 512 || v > 16 * MiB) {
				img_error("Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates output).");
				return 1;
			}
			c.sparse = v;
			break;
		default: return img_bad_option(ch, argv);
		}
	}
	for (i = 0; i < nopts; i++) {
		if (img_opts_want_help(opts[i])) {
			if (!vk_blk_format_creatable(ofmt))
				return img_error("Unknown file format '%s'", ofmt), 1;
			img_print_create_help(ofmt, optind < argc);
			return 0;
		}
	}
	if (skip_broken && !bitmaps) {
		img_error("Use of --skip-broken-bitmaps requires --bitmaps");
		return 1;
	}
	if (optind > argc - 2) {
		img_error("Must specify image file name");
		return 1;
	}
	if (optind < argc - 2) {
		img_error("Converting more than one source image is not supported");
		return 1;
	}
	if (quiet)
		c.prog.on = false;
	/* A format that takes writes but cannot be created (null-co) is fine with -n. */
	r = vk_blk_format_create_check(ofmt, &err);
	if (r == -ENOENT || (r < 0 && !vk_blk_format_writable(ofmt))) {
		if (r == -ENOENT)
			img_error("%s", err.msg);
		else
			img_error("%s: %s", argv[argc - 1], err.msg);
		return 1;
	}
	err = (struct vk_err){ 0 };
	if (target_is_zero && !c.target_exists) {
		img_error("--target-is-zero requires use of -n flag");
		goto out;
	}
	c.need_zero = c.target_exists && !target_is_zero;
	if (nopts && c.target_exists) {
		img_error("-o has no effect when skipping image creation");
		goto out;
	}
	/* qemu-img opens the source before it looks at the target's options. */
	if (img_open(argv[optind], fmt, flags, &c.src) < 0)
		goto out;
	for (i = 0; i < nopts; i++)
		if (img_parse_create_opts(&co, ofmt, opts[i]) < 0)
			goto out;
	if ((backing || co.o.backing_file) && !vk_blk_format_has_backing(ofmt)) {
		img_error("Backing file not supported for file format '%s'", ofmt);
		goto out;
	}
	if (set_backing(&co, backing, backing_fmt, quiet) < 0)
		goto out;
	c.has_backing = co.o.backing_file != NULL;
	if (c.compress && !vk_blk_format_compresses(ofmt)) {
		img_error("Compression not supported for this file format");
		goto out;
	}
	if (bitmaps && check_bitmaps(c.src, skip_broken) < 0)
		goto out;
	if (!c.target_exists &&
	    create_target(ofmt, argv[optind + 1], &co, vk_blk_length(c.src), quiet) < 0)
		goto out;
	created = !c.target_exists;
	if (img_open(argv[optind + 1], ofmt, VK_BLK_RDWR | (unsafe ? VK_BLK_CACHE_UNSAFE : 0),
		     &c.dst) < 0)
		goto out;
	if (bitmaps && !has_bitmaps(c.dst)) {
		/* qemu-img leaves the target it made in this case. */
		img_error("Format driver '%s' does not support bitmaps", c.dst->drv->name);
		created = false;
		goto out;
	}
	if (vk_blk_length(c.dst) < vk_blk_length(c.src)) {
		img_error("output file is smaller than input file");	/* qemu-img's words */
		goto out;
	}
	if (setup_buffers(&c, ofmt) < 0)
		goto out;
	if (copy(&c, &err) < 0) {
		if (c.msg_whole)
			img_error("%s", err.msg);
		else
			img_error("error while converting: %s", err.msg);
		goto out;
	}
	if (bitmaps && copy_bitmaps(&c, skip_broken) < 0)
		goto out;
	ret = 0;
out:
	img_zpool_free(c.zpool);	/* its threads use the target: before it closes */
	img_wpipe_free(c.wpipe);
	vk_blk_close(c.dst);
	vk_blk_close(c.src);
	if (ret && created) {
		img_remove_partial(argv[optind + 1]);
		/* Its data file too: create made it (or emptied it) for this image. */
		if (co.o.data_file)
			img_remove_partial(co.o.data_file);
	}
	free(c.buf);
	free(c.bbuf);
	img_free_create_opts(&co);
	return ret;
}
