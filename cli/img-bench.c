// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img bench: qemu-img bench's requests and output. COUNT requests of
 * BUFFER_SIZE bytes, the first at OFFSET, each next one STEP_SIZE further,
 * wrapping at the image's end; reads, or writes of PATTERN with -w, with a
 * flush every FLUSH_INTERVAL requests.
 *
 * The image library is synchronous, so the requests run one after the
 * other: -d (queue depth), -i (AIO engine), -n and -t (cache modes) are
 * checked as qemu-img checks them and otherwise accepted; I/O is buffered,
 * as with qemu-img's default -t writeback.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "img.h"

enum { OPT_FLUSH_INTERVAL = 256, OPT_NO_DRAIN, OPT_PATTERN };

struct bench {
	uint64_t count, depth, bufsize, step, offset, flush_interval;
	unsigned int pattern;
	bool write;
};

static int parse_num(const char *arg, const char *what, uint64_t min, uint64_t *out)
{
	uint64_t v;

	if (vk_parse_uint(arg, 0, UINT64_MAX, &v) < 0 || v < min || v > INT32_MAX) {
		img_error("Invalid %s specified", what);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_sz(const char *arg, const char *what, uint64_t max, uint64_t *out)
{
	if (img_parse_size(arg, out) < 0 || *out > max) {
		img_bad_size(what);
		return -EINVAL;
	}
	return 0;
}

static int run(struct bench *b, struct vk_blk *bs, struct vk_err *err)
{
	uint64_t size = vk_blk_length(bs), off = b->offset, i;
	_cleanup_free_ uint8_t *buf = malloc(b->bufsize ? b->bufsize : 1);
	int r;

	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	memset(buf, (int)b->pattern, b->bufsize);
	for (i = 0; i < b->count; i++) {
		if (b->write)
			r = vk_blk_pwrite(bs, buf, off, b->bufsize, err);
		else
			r = vk_blk_pread(bs, buf, off, b->bufsize, err);
		if (r < 0)
			return vk_fail(err, -EIO, "Failed request: %s", strerror(EIO));
		if (b->flush_interval && (i + 1) % b->flush_interval == 0) {
			r = vk_blk_flush(bs, err);
			if (r < 0)
				return vk_fail(err, r, "Failed flush request: %s", strerror(-r));
		}
		off = size ? (off + b->step) % size : 0;
	}
	return 0;
}

static const struct option bench_long[] = {
	{ "flush-interval", required_argument, NULL, OPT_FLUSH_INTERVAL },
	{ "no-drain", no_argument, NULL, OPT_NO_DRAIN },
	{ "pattern", required_argument, NULL, OPT_PATTERN },
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int parse(int argc, char **argv, struct bench *b, const char **fmt, unsigned int *flags)
{
	uint64_t v;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU", bench_long, NULL)) != -1) {
		switch (ch) {
		case 'c': if (parse_num(optarg, "request count", 0, &b->count) < 0) return -1; break;
		case 'd': if (parse_num(optarg, "queue depth", 1, &b->depth) < 0) return -1; break;
		case 'f': *fmt = optarg; break;
		case 'n': break;	/* native AIO: synchronous requests here */
		case 'i':
			if (strcmp(optarg, "threads") && strcmp(optarg, "native") &&
			    strcmp(optarg, "io_uring")) {
				img_error("Invalid aio option: %s", optarg);
				return -1;
			}
			break;
		case 'o': if (parse_sz(optarg, "offset", INT64_MAX, &b->offset) < 0) return -1; break;
		case 'q': break;	/* qemu-img bench prints its lines even with -q */
		case 's': if (parse_sz(optarg, "buffer size", INT32_MAX, &b->bufsize) < 0) return -1; break;
		case 'S': if (parse_sz(optarg, "step_size", INT32_MAX, &b->step) < 0) return -1; break;
		case 't':
			if (strcmp(optarg, "none") && strcmp(optarg, "writeback") &&
			    strcmp(optarg, "writethrough") && strcmp(optarg, "directsync") &&
			    strcmp(optarg, "unsafe")) {
				img_error("Invalid cache mode");
				return -1;
			}
			break;
		case 'w': b->write = true; *flags |= VK_BLK_RDWR; break;
		case 'U': *flags |= VK_BLK_FORCE_SHARE; break;
		case OPT_FLUSH_INTERVAL:
			if (parse_num(optarg, "flush interval", 0, &b->flush_interval) < 0)
				return -1;
			break;
		case OPT_NO_DRAIN: break;	/* nothing is in flight at a flush here */
		case OPT_PATTERN:
			if (vk_parse_uint(optarg, 0, 255, &v) < 0) {
				img_error("Invalid pattern byte specified");
				return -1;
			}
			b->pattern = (unsigned int)v;
			break;
		case 'h': printf("usage: vmkit img bench [-c COUNT] [-d DEPTH] [-f FMT] [--flush-interval=N] [-i AIO] [-n] [--no-drain] [-o OFFSET] [--pattern=N] [-q] [-s SIZE] [-S STEP] [-t CACHE] [-w] [-U] FILE\n"); return 1;
		default: img_bad_option(ch, argv); return -1;
		}
	}
	if (optind != argc - 1) {
		img_error_try("Expecting one image file name");
		return -1;
	}
	if (b->flush_interval && !b->write) {
		img_error("--flush-interval is only available in write tests");
		return -1;
	}
	if (b->flush_interval && b->flush_interval < b->depth) {
		img_error("Flush interval can't be smaller than depth");
		return -1;
	}
	return 0;
}

int img_bench(int argc, char **argv)
{
	struct bench b = { .count = 75000, .depth = 64, .bufsize = 4096 };
	struct vk_blk *bs = NULL;
	struct vk_err err = { 0 };
	struct timeval t1, t2;
	const char *fmt = NULL;
	unsigned int flags = 0;
	int r;

	r = parse(argc, argv, &b, &fmt, &flags);
	if (r)
		return r < 0;
	if (!b.step)
		b.step = b.bufsize;
	if (img_open(argv[optind], fmt, flags, &bs) < 0)
		return 1;
	printf("Sending %d %s requests, %d bytes each, %d in parallel (starting at offset %llu, step size %d)\n",
	       (int)b.count, b.write ? "write" : "read", (int)b.bufsize, (int)b.depth,
	       (unsigned long long)b.offset, (int)b.step);
	if (b.flush_interval)
		printf("Sending flush every %d requests\n", (int)b.flush_interval);
	fflush(stdout);
	gettimeofday(&t1, NULL);
	r = run(&b, bs, &err);
	if (!r && b.write)
		r = vk_blk_flush(bs, &err);	/* qemu-img flushes when it closes the image */
	gettimeofday(&t2, NULL);
	if (r < 0) {
		img_error("%s", err.msg);
		vk_blk_close(bs);
		return 1;
	}
	printf("Run completed in %3.3f seconds.\n",
	       (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_usec - t1.tv_usec) / 1e6);
	vk_blk_close(bs);
	return 0;
}
