// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The writer of tests/img/test_crash.py: opens a qcow2 image through the
 * image library and writes to it at random until it is killed. Before each
 * operation it tells stdout what it is about to do, and after each flush
 * that the flush completed, one line per write(2) (atomic on a pipe):
 *
 *   R                      opened, starting
 *   W <off> <len> <gen>    data write of pattern(gen) (see below)
 *   Z <off> <len>          write zeroes
 *   D <off> <len>          discard (whole clusters drop to the backing file)
 *   C <off> <gen>          one compressed cluster of pattern(gen)
 *   F                      every operation above has been flushed
 *
 * pattern(gen) at image offset o (512-byte aligned sector): the sector is
 * the 16 bytes (gen, o) little-endian, 32 times over.
 *
 * usage: crash-writer IMAGE SEED [MAX_OPS] [ENGINE CACHE]
 *
 * With ENGINE (io_uring, native, threads) and CACHE (a --disk cache mode),
 * the operations go through the block backend a VM's disk uses (the image
 * engine: hot path and library path), up to 32 in flight; no compressed
 * writes there (a guest cannot make any). An operation that overlaps one
 * in flight first waits for everything in flight, and a flush first
 * drains, so "F" still means every operation announced before it is on
 * disk, and the order of overlapping operations is the order announced.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/evloop.h"

#define MAX_LEN (128 * 1024)

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (vk_write_full(1, line, (size_t)n) < 0)
		exit(3);
}

static void fill(uint8_t *buf, uint64_t off, uint64_t len, uint64_t gen)
{
	uint64_t i, k, v[2];

	for (i = 0; i < len; i += 512) {
		v[0] = htole64(gen);
		v[1] = htole64(off + i);
		for (k = 0; k < 512; k += 16)
			memcpy(buf + i + k, v, 16);
	}
}

static int one_op(struct vk_blk *bs, uint8_t *buf, uint64_t size, uint32_t cs, uint64_t gen,
		  struct vk_err *err)
{
	uint64_t kind = next() % 100, sectors = size / 512;
	uint64_t off = (next() % sectors) * 512, len = (1 + next() % (MAX_LEN / 512)) * 512;

	len = MIN(len, size - off);
	if (kind < 50) {
		fill(buf, off, len, gen);
		say("W %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", off, len, gen);
		return vk_blk_pwrite(bs, buf, off, len, err);
	}
	if (kind < 60) {
		say("Z %" PRIu64 " %" PRIu64 "\n", off, len);
		return vk_blk_pwrite_zeroes(bs, off, len, err);
	}
	if (kind < 70) {
		say("D %" PRIu64 " %" PRIu64 "\n", off, len);
		return vk_blk_discard(bs, off, len, err);
	}
	if (kind < 82) {
		off = ALIGN_DOWN(off, cs);
		len = MIN(cs, size - off);
		fill(buf, off, len, gen);
		say("C %" PRIu64 " %" PRIu64 "\n", off, gen);
		return vk_blk_pwrite_compressed(bs, off, buf, len, NULL, 0, err);
	}
	if (kind < 97)
		return 1;	/* flush */
	return 0;
}

/* ---- through the block backend, many in flight ---- */

#define DEPTH 32

struct engine_run {
	struct blk_backend *bb;
	struct evloop *loop;
	int efd;
	unsigned int in_flight, waiting_for;
	int error;
	struct { uint64_t off, len; bool busy; uint8_t *buf; struct iovec iov; } slot[DEPTH];
};

static int on_efd(void *opaque, int fd, uint32_t events)
{
	eventfd_t v;

	eventfd_read(fd, &v);
	return 1;
}

struct tag {
	struct engine_run *e;
	int i;
};

static void op_done(void *opaque, int res)
{
	struct tag *t = opaque;
	struct engine_run *e = t->e;

	if (res < 0 && !e->error)
		e->error = res;
	if (t->i >= 0)
		e->slot[t->i].busy = false;
	e->in_flight--;
	if (e->in_flight <= e->waiting_for)
		eventfd_write(e->efd, 1);
}

/* Run the loop until at most n operations are in flight. */
static void wait_until(struct engine_run *e, unsigned int n)
{
	e->waiting_for = n;
	while (e->in_flight > n)
		evloop_run(e->loop);
}

static bool overlaps(struct engine_run *e, uint64_t off, uint64_t len)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (e->slot[i].busy && off < e->slot[i].off + e->slot[i].len &&
		    e->slot[i].off < off + len)
			return true;
	return false;
}

static int free_slot(struct engine_run *e)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (!e->slot[i].busy)
			return i;
	return -1;
}

static int engine_main(const char *img, uint64_t max_ops, uint64_t gen0, const char *engine,
		       const char *cache)
{
	struct disk_config cfg = { .path = img, .format = "qcow2" };
	static struct tag tags[DEPTH + 1];
	struct engine_run e = { .efd = -1 };
	struct vk_err err = { 0 };
	uint64_t size, gen, i;
	int r, s;

	int aio = blk_aio_parse(engine), mode = blk_cache_parse(cache);

	if (aio < 0 || mode < 0) {
		fprintf(stderr, "crash-writer: bad engine or cache mode\n");
		return 2;
	}
	cfg.aio = (enum disk_aio)aio;
	cfg.cache = (enum disk_cache)mode;
	if (evloop_new(&e.loop) < 0)
		return 1;
	e.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e.efd < 0 || evloop_add(e.loop, e.efd, EPOLLIN, on_efd, &e) < 0)
		return 1;
	if (blk_backend_open(&cfg, e.loop, DEPTH, &e.bb, &err) < 0) {
		fprintf(stderr, "crash-writer: %s\n", err.msg);
		return 1;
	}
	size = blk_backend_length(e.bb);
	for (s = 0; s < DEPTH; s++) {
		if (posix_memalign((void **)&e.slot[s].buf, 4096, MAX_LEN))
			return 1;
		tags[s] = (struct tag){ &e, s };
	}
	tags[DEPTH] = (struct tag){ &e, -1 };
	say("R\n");
	gen = gen0;
	for (i = 0; i < max_ops && !e.error; i++) {
		uint64_t kind = next() % 100, sectors = size / 512;
		uint64_t off = (next() % sectors) * 512, len = (1 + next() % (MAX_LEN / 512)) * 512;

		len = MIN(len, size - off);
		if (kind >= 85) {		/* flush, after what is in flight */
			wait_until(&e, 0);
			e.in_flight++;
			if (blk_flush(e.bb, op_done, &tags[DEPTH]) < 0)
				return 1;
			wait_until(&e, 0);
			if (!e.error)
				say("F\n");
			continue;
		}
		if (overlaps(&e, off, len))
			wait_until(&e, 0);
		if (e.in_flight >= DEPTH)
			wait_until(&e, DEPTH - 1);
		s = free_slot(&e);
		e.slot[s].off = off;
		e.slot[s].len = len;
		e.slot[s].busy = true;
		e.in_flight++;
		if (kind < 60) {
			fill(e.slot[s].buf, off, len, ++gen);
			e.slot[s].iov = (struct iovec){ e.slot[s].buf, len };
			say("W %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", off, len, gen);
			r = blk_pwritev(e.bb, &e.slot[s].iov, 1, off, op_done, &tags[s]);
		} else if (kind < 72) {
			say("Z %" PRIu64 " %" PRIu64 "\n", off, len);
			r = blk_write_zeroes(e.bb, off, len, false, op_done, &tags[s]);
		} else {
			say("D %" PRIu64 " %" PRIu64 "\n", off, len);
			r = blk_discard(e.bb, off, len, op_done, &tags[s]);
		}
		if (r < 0) {
			fprintf(stderr, "crash-writer: submit: %s\n", strerror(-r));
			return 1;
		}
	}
	wait_until(&e, 0);
	if (e.error) {
		fprintf(stderr, "crash-writer: %s\n", strerror(-e.error));
		return 1;
	}
	blk_backend_close(e.bb);
	return 0;
}

int main(int argc, char **argv)
{
	/*
	 * cache=unsafe: a SIGKILL cannot lose what the page cache holds, so the
	 * fdatasync calls (the flush's, and the barriers that order metadata
	 * for a host crash) change nothing this test sees; they would only cut
	 * the operations done before the kill to a few where syncs are slow.
	 * Flushes still write every cached table, which is what is tested.
	 */
	struct vk_blk_opts o = { .format = "qcow2", .flags = VK_BLK_RDWR | VK_BLK_CACHE_UNSAFE };
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	uint64_t size, gen, max_ops = UINT64_MAX, i;
	uint8_t *buf;
	uint32_t cs;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: crash-writer IMAGE SEED [MAX_OPS] [ENGINE CACHE]\n");
		return 2;
	}
	rng = strtoull(argv[2], NULL, 0) * 2654435761u + 1;
	if (argc > 3)
		max_ops = strtoull(argv[3], NULL, 0);
	if (argc > 5)
		return engine_main(argv[1], max_ops, strtoull(argv[2], NULL, 0) << 32, argv[4],
				   argv[5]);
	if (vk_blk_open(argv[1], &o, &bs, &err) < 0) {
		fprintf(stderr, "crash-writer: %s\n", err.msg);
		return 1;
	}
	size = vk_blk_length(bs);
	cs = vk_blk_cluster_size(bs);
	buf = malloc(MAX(MAX_LEN, cs));
	if (!buf || size < 512)
		return 1;
	say("R\n");
	gen = strtoull(argv[2], NULL, 0) << 32;
	for (i = 0; i < max_ops; i++) {
		r = one_op(bs, buf, size, cs, ++gen, &err);
		if (r == 1) {
			r = vk_blk_flush(bs, &err);
			if (!r)
				say("F\n");
		}
		if (r < 0) {
			fprintf(stderr, "crash-writer: %s\n", err.msg);
			return 1;
		}
	}
	r = vk_blk_flush(bs, &err);
	if (!r)
		say("F\n");
	vk_blk_close(bs);
	return r < 0;
}
