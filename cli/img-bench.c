// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img bench: qemu-img bench's requests and output. COUNT requests of
 * BUFFER_SIZE bytes, DEPTH of them in flight, the first at OFFSET, each
 * next one STEP_SIZE further, wrapping as qemu-img 7.2 does; reads, or writes
 * of PATTERN with -w, with a flush every FLUSH_INTERVAL requests (after
 * the ones in flight complete, unless --no-drain).
 *
 * The requests go through the block backend `vmkit run` serves disks with
 * (vmm/block/), over the image the library opened: the -i engine
 * (io_uring unless told; qemu-img's default is threads), the -t cache mode
 * on every file of the chain (-n: native AIO), qcow2's hot path and its
 * library path as a guest's requests would take them. So this measures
 * what a VM's disk gets, minus the device.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "img.h"
#include "vmkit/blk-backend.h"
#include "vmkit/evloop.h"

enum { OPT_FLUSH_INTERVAL = 256, OPT_NO_DRAIN, OPT_PATTERN };

struct bench {
	uint64_t count, depth, bufsize, step, offset, flush_interval;
	unsigned int pattern;
	bool write, drain;
	enum disk_aio aio;
	enum disk_cache cache;
	bool native;
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

/* The run: requests kept DEPTH deep from their completions, on one loop. */
struct run {
	const struct bench *b;
	struct blk_backend *bb;
	struct evloop *loop;
	int stop_efd;
	uint64_t size, off, submitted, completed, flushed_at;
	unsigned int in_flight;
	bool flushing;
	int error;
	struct slot *slots;
	struct slot *free_slots;
};

struct slot {
	struct run *run;
	struct iovec iov;
	struct slot *next;
};

static void pump(struct run *r);

static void stop(struct run *r)
{
	eventfd_write(r->stop_efd, 1);
}

static void request_done(void *opaque, int res)
{
	struct slot *s = opaque;
	struct run *r = s->run;

	r->in_flight--;
	r->completed++;
	if (res < 0 && !r->error)
		r->error = res;
	s->next = r->free_slots;
	r->free_slots = s;
	pump(r);
}

static void flush_done(void *opaque, int res)
{
	struct run *r = opaque;

	r->flushing = false;
	if (res < 0 && !r->error)
		r->error = res;
	pump(r);
}

/*
 * qemu-img 7.2's next offset: wrapped at the image's size (a request that
 * then runs past the end fails, as there; later QEMU wraps one buffer
 * earlier).
 */
static void advance(struct run *r)
{
	r->off = r->size ? (r->off + r->b->step) % r->size : 0;
}

/* Submit what may go now; stop the loop once everything is done (or failed and drained). */
static void pump(struct run *r)
{
	const struct bench *b = r->b;
	struct slot *s;
	int e;

	while (!r->error && !r->flushing && r->submitted < b->count && r->in_flight < b->depth) {
		if (b->flush_interval && r->submitted && r->submitted % b->flush_interval == 0 &&
		    r->flushed_at != r->submitted) {
			if (b->drain && r->in_flight)
				break;		/* the flush waits for what is in flight */
			r->flushed_at = r->submitted;
			r->flushing = b->drain;
			e = blk_flush(r->bb, flush_done, r);
			if (e < 0) {
				r->error = e;
				r->flushing = false;
			}
			continue;
		}
		s = r->free_slots;
		r->free_slots = s->next;
		s->iov.iov_len = b->bufsize;
		e = b->write ? blk_pwritev(r->bb, &s->iov, 1, r->off, request_done, s) :
			       blk_preadv(r->bb, &s->iov, 1, r->off, request_done, s);
		if (e < 0) {
			r->error = e;
			s->next = r->free_slots;
			r->free_slots = s;
			break;
		}
		r->submitted++;
		r->in_flight++;
		advance(r);
	}
	if (!r->in_flight && !r->flushing && (r->error || r->completed == b->count))
		stop(r);
}

static int on_stop(void *opaque, int fd, uint32_t events)
{
	eventfd_t v;

	eventfd_read(fd, &v);
	return 1;
}

static void final_flush_done(void *opaque, int res)
{
	struct run *r = opaque;

	if (res < 0 && !r->error)
		r->error = res;
	stop(r);
}

/* VMKIT_BENCH_STATS=1: where the requests went (bench/ shows it beside the figures). */
static void print_stats(const struct blk_backend *bb)
{
	struct blk_image_stats st;

	blk_image_stats(bb, &st);
	fprintf(stderr, "vmkit: hot path %llu requests in %llu pieces, %llu allocating, library path %llu\n",
		(unsigned long long)st.fast, (unsigned long long)st.pieces, (unsigned long long)st.alloc,
		(unsigned long long)st.slow);
}

/* Takes bs (closed here, with the backend). */
static int run(const struct bench *b, struct vk_blk *bs, struct vk_err *err)
{
	struct run r = { .b = b, .stop_efd = -1, .off = b->offset };
	bool wt = blk_cache_writethrough(b->cache);
	uint64_t i;
	int e;

	r.size = vk_blk_length(bs);
	r.slots = calloc(b->depth, sizeof(*r.slots));
	e = r.slots ? evloop_new(&r.loop) : -ENOMEM;
	if (!e) {
		r.stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		e = r.stop_efd < 0 ? -errno : evloop_add(r.loop, r.stop_efd, EPOLLIN, on_stop, &r);
	}
	for (i = 0; !e && i < b->depth; i++) {
		/* Aligned for O_DIRECT, as qemu_blockalign's are. */
		if (posix_memalign(&r.slots[i].iov.iov_base, BLK_ALIGN_DIRECT, MAX(b->bufsize, 1))) {
			e = -ENOMEM;
			break;
		}
		memset(r.slots[i].iov.iov_base, (int)b->pattern, b->bufsize);
		r.slots[i].run = &r;
		r.slots[i].next = r.free_slots;
		r.free_slots = &r.slots[i];
	}
	if (e) {
		vk_fail(err, e, "%s", strerror(-e));
		vk_blk_close(bs);
	} else {
		e = blk_backend_from_image(bs, b->aio, wt, r.loop, (unsigned int)b->depth, &r.bb, err);
		if (e)
			vk_blk_close(bs);
	}
	if (!e) {
		pump(&r);
		evloop_run(r.loop);
		/* qemu-img flushes when it closes the image: part of the time. */
		if (!r.error && b->write && !blk_flush(r.bb, final_flush_done, &r))
			evloop_run(r.loop);
		if (r.error)
			e = vk_fail(err, -EIO, "Failed request: %s", strerror(EIO));
		if (getenv("VMKIT_BENCH_STATS"))
			print_stats(r.bb);
		blk_backend_close(r.bb);
	}
	for (i = 0; r.slots && i < b->depth; i++)
		free(r.slots[i].iov.iov_base);
	free(r.slots);
	if (r.stop_efd >= 0)
		close(r.stop_efd);
	evloop_free(r.loop);
	return e;
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
		case 'n': b->native = true; break;
		case 'i':
			if ((v = (uint64_t)blk_aio_parse(optarg)) == (uint64_t)-1) {
				img_error("Invalid aio option: %s", optarg);
				return -1;
			}
			b->aio = (enum disk_aio)v;
			break;
		case 'o': if (parse_sz(optarg, "offset", INT64_MAX, &b->offset) < 0) return -1; break;
		case 'q': break;	/* qemu-img bench prints its lines even with -q */
		case 's': if (parse_sz(optarg, "buffer size", INT32_MAX, &b->bufsize) < 0) return -1; break;
		case 'S': if (parse_sz(optarg, "step_size", INT32_MAX, &b->step) < 0) return -1; break;
		case 't':
			if ((v = (uint64_t)blk_cache_parse(optarg)) == (uint64_t)-1) {
				img_error("Invalid cache mode");
				return -1;
			}
			b->cache = (enum disk_cache)v;
			break;
		case 'w': b->write = true; *flags |= VK_BLK_RDWR; break;
		case 'U': *flags |= VK_BLK_FORCE_SHARE; break;
		case OPT_FLUSH_INTERVAL:
			if (parse_num(optarg, "flush interval", 0, &b->flush_interval) < 0)
				return -1;
			break;
		case OPT_NO_DRAIN: b->drain = false; break;
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
	struct bench b = { .count = 75000, .depth = 64, .bufsize = 4096, .drain = true,
			   .cache = CACHE_WRITEBACK };
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
	if (b.native && b.aio == AIO_DEFAULT)
		b.aio = AIO_NATIVE;
	if (b.aio == AIO_NATIVE && b.cache != CACHE_NONE && b.cache != CACHE_DIRECTSYNC) {
		img_error("Could not open '%s': aio=native was specified, but it requires cache.direct=on, which was not specified.",
			  argv[optind]);
		return 1;
	}
	if (img_open(argv[optind], fmt, flags | blk_cache_image_flags(b.cache), &bs) < 0)
		return 1;
	printf("Sending %d %s requests, %d bytes each, %d in parallel (starting at offset %llu, step size %d)\n",
	       (int)b.count, b.write ? "write" : "read", (int)b.bufsize, (int)b.depth,
	       (unsigned long long)b.offset, (int)b.step);
	if (b.flush_interval)
		printf("Sending flush every %d requests\n", (int)b.flush_interval);
	fflush(stdout);
	gettimeofday(&t1, NULL);
	r = run(&b, bs, &err);		/* closes bs */
	gettimeofday(&t2, NULL);
	if (r < 0) {
		img_error("%s", err.msg);
		return 1;
	}
	printf("Run completed in %3.3f seconds.\n",
	       (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_usec - t1.tv_usec) / 1e6);
	return 0;
}
