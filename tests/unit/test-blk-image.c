// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The image engine (vmm/block/image.c): qcow2 disks on io_uring, Linux AIO
 * and the thread pool, many requests in flight.
 *
 * - A random workload (4 KiB and multi-cluster requests, reads and writes,
 *   32 at once) checked against a model of the disk, for each engine and
 *   cache mode; both paths are taken (first writes allocate through the
 *   library, rewrites and reads go on the hot path); the image then reads
 *   back the same through the library and checks clean.
 * - A backing chain: unallocated reads come from the raw base on the hot
 *   path; the base is never written.
 * - Discards freeing clusters while hot-path reads of them are in flight,
 *   and allocating writes that may be given the freed clusters: a read
 *   returns the old data or zeros, never another block's.
 * - A hostile L2 entry pointing a data cluster at the refcount block: the
 *   write is refused, the image marked corrupt, the metadata left whole.
 * - Preallocated clusters read as zeros; so does the tail of a raw backing
 *   file's last sector, which lies past the file's end (a short read).
 * - A discard waits, before freeing clusters, for hot-path reads of them
 *   that are still in flight.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/evloop.h"

#define DISK		(8 * MiB)
#define BLOCK		4096
#define NBLOCKS		(DISK / BLOCK)
#define DEPTH		32
#define CLUSTER		65536

struct ctx {
	struct evloop *loop;
	int stop_efd;
	unsigned int want, got;
};

struct slot {
	struct ctx *c;
	int result;
	struct iovec iov[4];
	uint8_t *buf;
};

static char dir[] = "/tmp/vmkit-test-img-XXXXXX";
static char img[256], base[256];
static uint8_t *model;

static int on_stop(void *opaque, int fd, uint32_t events)
{
	eventfd_t v;

	eventfd_read(fd, &v);
	return 1;
}

static void done(void *opaque, int result)
{
	struct slot *s = opaque;

	s->result = result;
	if (++s->c->got == s->c->want)
		eventfd_write(s->c->stop_efd, 1);
}

static void wait_all(struct ctx *c)
{
	if (c->got < c->want)
		assert_int_equal(evloop_run(c->loop), 1);
	assert_int_equal(c->got, c->want);
	c->got = c->want = 0;
}

static struct blk_backend *open_disk(struct ctx *c, const char *path, enum disk_aio aio,
				     enum disk_cache cache)
{
	struct disk_config cfg = { .path = path, .cache = cache, .aio = aio,
				   .format = "qcow2" };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };

	memset(c, 0, sizeof(*c));
	assert_int_equal(evloop_new(&c->loop), 0);
	c->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(evloop_add(c->loop, c->stop_efd, EPOLLIN, on_stop, c), 0);
	if (blk_backend_open(&cfg, c->loop, 256, &bb, &err))
		fail_msg("open %s: %s", path, err.msg);
	assert_int_equal(bb->ops, &blk_image_ops);
	return bb;
}

static void close_disk(struct ctx *c, struct blk_backend *bb)
{
	blk_backend_close(bb);
	evloop_free(c->loop);
	close(c->stop_efd);
}

static void make_qcow2(const char *path, const char *backing, enum vk_prealloc prealloc)
{
	struct vk_blk_create_opts o = { .size = DISK, .backing_file = backing,
					.backing_fmt = backing ? "raw" : NULL, .prealloc = prealloc };
	struct vk_err err = { 0 };

	if (vk_blk_create("qcow2", path, &o, &err))
		fail_msg("create %s: %s", path, err.msg);
}

static uint8_t *aligned(size_t len)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, BLOCK, len), 0);
	return p;
}

/* Submit a read or write of len bytes at off, its buffer in up to three iovecs. */
static void submit(struct ctx *c, struct blk_backend *bb, struct slot *s, bool write,
		   uint64_t off, size_t len)
{
	size_t a = len >= 3 * BLOCK ? BLOCK : len, b = len >= 3 * BLOCK ? len - 2 * BLOCK : 0;
	int n = 1;

	s->c = c;
	s->result = -12345;
	s->iov[0] = (struct iovec){ s->buf, a };
	if (b) {	/* split unevenly across iovecs, as a guest's scatter list is */
		s->iov[1] = (struct iovec){ s->buf + a, b };
		s->iov[2] = (struct iovec){ s->buf + a + b, len - a - b };
		n = 3;
	}
	c->want++;
	assert_int_equal(write ? blk_pwritev(bb, s->iov, n, off, done, s) :
				 blk_preadv(bb, s->iov, n, off, done, s), 0);
}

static uint64_t rnd(uint64_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return *st;
}

/*
 * Rounds of DEPTH requests on distinct ranges (so that what each returns is
 * defined), mixed sizes and directions; every read is checked against the
 * model, which every write updates.
 */
static void workload_sizes(struct ctx *c, struct blk_backend *bb, uint64_t seed,
			   unsigned int rounds, const size_t *sizes, size_t nsizes, uint64_t align);

static void workload(struct ctx *c, struct blk_backend *bb, uint64_t seed, unsigned int rounds)
{
	static const size_t sizes[] = { BLOCK, BLOCK, BLOCK, 3 * BLOCK, 128 * 1024, 256 * 1024 };

	workload_sizes(c, bb, seed, rounds, sizes, ARRAY_SIZE(sizes), BLOCK);
}

/* The same with offsets a multiple of align (whole clusters: allocating writes on the hot path). */
static void workload_sizes(struct ctx *c, struct blk_backend *bb, uint64_t seed,
			   unsigned int rounds, const size_t *sizes, size_t nsizes, uint64_t align)
{
	static struct slot slots[DEPTH];
	uint64_t off[DEPTH], st = seed;
	size_t len[DEPTH];
	bool wr[DEPTH], used[NBLOCKS];
	unsigned int r, i, k;

	for (i = 0; i < DEPTH; i++)
		slots[i].buf = aligned(256 * 1024);
	for (r = 0; r < rounds; r++) {
		memset(used, 0, sizeof(used));
		for (i = 0; i < DEPTH; i++) {
			bool free_range;

			do {
				len[i] = sizes[rnd(&st) % nsizes];
				off[i] = (rnd(&st) % ((DISK - len[i]) / align + 1)) * align;
				free_range = true;
				for (k = 0; k < len[i] / BLOCK; k++)
					free_range &= !used[off[i] / BLOCK + k];
			} while (!free_range);
			for (k = 0; k < len[i] / BLOCK; k++)
				used[off[i] / BLOCK + k] = true;
			wr[i] = rnd(&st) & 1;
			if (wr[i]) {
				for (k = 0; k < len[i]; k += 8) {
					uint64_t v = rnd(&st);

					memcpy(slots[i].buf + k, &v, 8);
				}
				memcpy(model + off[i], slots[i].buf, len[i]);
			} else {
				memset(slots[i].buf, 0xa5, len[i]);
			}
			submit(c, bb, &slots[i], wr[i], off[i], len[i]);
		}
		wait_all(c);
		for (i = 0; i < DEPTH; i++) {
			assert_int_equal(slots[i].result, (int)len[i]);
			if (!wr[i] && memcmp(slots[i].buf, model + off[i], len[i]))
				fail_msg("round %u: read of %zu bytes at %#llx differs from what was written",
					 r, len[i], (unsigned long long)off[i]);
		}
	}
	for (i = 0; i < DEPTH; i++)
		free(slots[i].buf);
}

static void flush(struct ctx *c, struct blk_backend *bb)
{
	struct slot s = { .c = c };

	c->want = 1;
	assert_int_equal(blk_flush(bb, done, &s), 0);
	wait_all(c);
	assert_int_equal(s.result, 0);
}

/* The image through the library: the model's bytes, and check finds nothing. */
static void verify(const char *path)
{
	struct vk_blk_opts o = { .format = "qcow2" };
	struct vk_blk_check res = { 0 };
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	uint8_t *buf = malloc(DISK);

	assert_non_null(buf);
	if (vk_blk_open(path, &o, &bs, &err))
		fail_msg("reopen: %s", err.msg);
	assert_int_equal(vk_blk_pread(bs, buf, 0, DISK, &err), 0);
	assert_int_equal(memcmp(buf, model, DISK), 0);
	assert_int_equal(vk_blk_check(bs, &res, 0, &err), 0);
	assert_int_equal(res.corruptions, 0);
	assert_int_equal(res.leaks, 0);
	vk_blk_close(bs);
	free(buf);
}

static void run(enum disk_aio aio, enum disk_cache cache)
{
	struct ctx c;
	struct blk_backend *bb;
	struct blk_image_stats st;

	make_qcow2(img, NULL, VK_PREALLOC_OFF);
	memset(model, 0, DISK);
	bb = open_disk(&c, img, aio, cache);
	workload(&c, bb, 0x1234567 + aio * 7 + cache, 60);
	flush(&c, bb);
	blk_image_stats(bb, &st);
	/* Allocation went through the library; rewrites and reads did not. */
	assert_true(st.slow > 0);
	assert_true(st.fast > st.slow);
	close_disk(&c, bb);
	verify(img);
	unlink(img);
}

/*
 * Write the last cluster (through the library: it makes the image's one L2
 * table, which stays cached), so that later allocations can be on the hot path.
 */
static void make_l2_table(struct ctx *c, struct blk_backend *bb, int fill)
{
	struct slot first = { .buf = aligned(CLUSTER) };

	memset(first.buf, fill, CLUSTER);
	memset(model + DISK - CLUSTER, fill, CLUSTER);
	submit(c, bb, &first, true, DISK - CLUSTER, CLUSTER);
	wait_all(c);
	assert_int_equal(first.result, CLUSTER);
	free(first.buf);
}

/*
 * First writes of whole clusters, many at once: allocated on the hot path
 * (data in flight, then a commit), mixed with partial writes (the library's
 * path, which holds allocation off while in flight) and reads.
 */
static void run_alloc(enum disk_aio aio, enum disk_cache cache)
{
	static const size_t whole[] = { CLUSTER, CLUSTER, 2 * CLUSTER, 4 * CLUSTER };
	static const size_t mixed[] = { CLUSTER, 2 * CLUSTER, BLOCK, 3 * BLOCK };
	struct ctx c;
	struct blk_backend *bb;
	struct blk_image_stats st;

	make_qcow2(img, NULL, VK_PREALLOC_OFF);
	memset(model, 0, DISK);
	bb = open_disk(&c, img, aio, cache);
	make_l2_table(&c, bb, 9);
	workload_sizes(&c, bb, 777 + aio + cache, 4, whole, ARRAY_SIZE(whole), CLUSTER);
	blk_image_stats(bb, &st);
	assert_true(st.alloc >= 20);
	workload_sizes(&c, bb, 778 + aio + cache, 30, mixed, ARRAY_SIZE(mixed), BLOCK);
	flush(&c, bb);
	close_disk(&c, bb);
	verify(img);
	unlink(img);
}

static void test_alloc_io_uring_none(void **state) { run_alloc(AIO_IO_URING, CACHE_NONE); }
static void test_alloc_threads_writethrough(void **state) { run_alloc(AIO_THREADS, CACHE_WRITETHROUGH); }
static void test_alloc_io_uring_writeback(void **state) { run_alloc(AIO_IO_URING, CACHE_WRITEBACK); }

/*
 * A write over a cluster whose allocation is in flight waits for its
 * commit: submitted after the allocating write, it lands after it (the
 * library would otherwise allocate the cluster a second time and one of
 * the two would leak).
 */
static void test_write_waits_for_alloc(void **state)
{
	static struct slot a[8], b[8];
	struct blk_image_stats st;
	struct ctx c;
	struct blk_backend *bb;
	unsigned int i;

	make_qcow2(img, NULL, VK_PREALLOC_OFF);
	memset(model, 0, DISK);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_WRITEBACK);
	make_l2_table(&c, bb, 1);
	for (i = 0; i < 8; i++) {
		a[i].buf = aligned(CLUSTER);
		b[i].buf = aligned(BLOCK);
		memset(a[i].buf, 0x20 + i, CLUSTER);
		memset(b[i].buf, 0x60 + i, BLOCK);
		memset(model + i * CLUSTER, 0x20 + i, CLUSTER);
		memset(model + i * CLUSTER + BLOCK, 0x60 + i, BLOCK);
		submit(&c, bb, &a[i], true, (uint64_t)i * CLUSTER, CLUSTER);
		submit(&c, bb, &b[i], true, (uint64_t)i * CLUSTER + BLOCK, BLOCK);
	}
	wait_all(&c);
	for (i = 0; i < 8; i++) {
		assert_int_equal(a[i].result, CLUSTER);
		assert_int_equal(b[i].result, BLOCK);
		free(a[i].buf);
		free(b[i].buf);
	}
	blk_image_stats(bb, &st);
	assert_true(st.alloc >= 1);
	flush(&c, bb);
	close_disk(&c, bb);
	verify(img);
	unlink(img);
}

/*
 * A read in many pieces (clusters written in reverse order lie backwards
 * in the file) with many iovecs (a guest's scatter list of 4 KiB pages):
 * more than the hot path's iovec array holds, so the library does it.
 */
static void test_many_pieces_many_iovecs(void **state)
{
	enum { CL = 12, IOV = 2048, IOVS = CL * CLUSTER / IOV };	/* 12 pieces, 384 iovecs */
	static struct iovec iov[IOVS];
	struct slot s = { .buf = aligned(CL * CLUSTER) };
	struct ctx c;
	struct blk_backend *bb;
	int i;

	make_qcow2(img, NULL, VK_PREALLOC_OFF);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_WRITEBACK);
	for (i = CL - 1; i >= 0; i--) {
		memset(s.buf, 0x30 + i, CLUSTER);
		submit(&c, bb, &s, true, (uint64_t)i * CLUSTER, CLUSTER);
		wait_all(&c);
		assert_int_equal(s.result, CLUSTER);
	}
	memset(s.buf, 0, CL * CLUSTER);
	for (i = 0; i < IOVS; i++)
		iov[i] = (struct iovec){ s.buf + (size_t)i * IOV, IOV };
	s.c = &c;
	c.want = 1;
	assert_int_equal(blk_preadv(bb, iov, IOVS, 0, done, &s), 0);
	wait_all(&c);
	assert_int_equal(s.result, CL * CLUSTER);
	for (i = 0; i < CL; i++) {
		assert_int_equal(s.buf[(size_t)i * CLUSTER], 0x30 + i);
		assert_int_equal(s.buf[(size_t)i * CLUSTER + CLUSTER - 1], 0x30 + i);
	}
	close_disk(&c, bb);
	free(s.buf);
	unlink(img);
}

static void test_io_uring_writeback(void **state) { run(AIO_IO_URING, CACHE_WRITEBACK); }
static void test_io_uring_none(void **state) { run(AIO_IO_URING, CACHE_NONE); }
static void test_native_directsync(void **state) { run(AIO_NATIVE, CACHE_DIRECTSYNC); }
static void test_threads_writethrough(void **state) { run(AIO_THREADS, CACHE_WRITETHROUGH); }
static void test_io_uring_unsafe(void **state) { run(AIO_IO_URING, CACHE_UNSAFE); }

/* Reads of what the overlay lacks come from the raw base, on the hot path. */
static void test_backing_chain(void **state)
{
	struct ctx c;
	struct blk_backend *bb;
	struct blk_image_stats s0, s1;
	uint64_t st = 99, i;
	int fd = open(base, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t *copy = malloc(DISK);

	assert_true(fd >= 0 && copy);
	for (i = 0; i < DISK; i += 8) {
		uint64_t v = rnd(&st);

		memcpy(model + i, &v, 8);
	}
	assert_int_equal(pwrite(fd, model, DISK, 0), DISK);
	memcpy(copy, model, DISK);
	make_qcow2(img, base, VK_PREALLOC_OFF);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_WRITEBACK);
	blk_image_stats(bb, &s0);
	workload(&c, bb, 4242, 40);
	blk_image_stats(bb, &s1);
	assert_true(s1.fast - s0.fast > s1.slow);
	close_disk(&c, bb);
	verify(img);
	/* The base is read only. */
	assert_int_equal(pread(fd, model, DISK, 0), DISK);
	assert_int_equal(memcmp(model, copy, DISK), 0);
	close(fd);
	free(copy);
	unlink(img);
	unlink(base);
}

/*
 * Rounds of: reads of clusters A (allocated, on the hot path), a discard
 * of A (frees their host clusters) and writes to fresh clusters B that
 * may be given them, all in flight together. A read of A returns A's old
 * data or zeros; B's data there would mean a freed cluster was reused
 * under a read.
 */
static void test_discard_under_reads(void **state)
{
	enum { ROUNDS = 40, READS = 8 };
	static struct slot rd[READS], wr[READS];
	struct slot dis = { 0 };
	struct ctx c;
	struct blk_backend *bb;
	unsigned int r, i;
	uint8_t *zero = calloc(1, CLUSTER);

	make_qcow2(img, NULL, VK_PREALLOC_OFF);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_WRITEBACK);
	for (i = 0; i < READS; i++) {
		rd[i].buf = aligned(CLUSTER);
		wr[i].buf = aligned(CLUSTER);
	}
	for (r = 0; r < ROUNDS; r++) {
		uint64_t a = (uint64_t)(2 * r % 64) * READS * CLUSTER % (DISK / 2);
		uint64_t b = DISK / 2 + a;

		/* Fill A (allocating), read it once so that its L2 table is cached. */
		for (i = 0; i < READS; i++) {
			memset(wr[i].buf, 0x10 + i, CLUSTER);
			submit(&c, bb, &wr[i], true, a + i * CLUSTER, CLUSTER);
		}
		wait_all(&c);
		submit(&c, bb, &rd[0], false, a, CLUSTER);
		wait_all(&c);
		for (i = 0; i < READS; i++) {
			memset(rd[i].buf, 0xee, CLUSTER);
			submit(&c, bb, &rd[i], false, a + i * CLUSTER, CLUSTER);
		}
		dis.c = &c;
		c.want++;
		assert_int_equal(blk_discard(bb, a, READS * CLUSTER, done, &dis), 0);
		for (i = 0; i < READS; i++) {
			memset(wr[i].buf, 0x80 + i, CLUSTER);
			submit(&c, bb, &wr[i], true, b + i * CLUSTER, CLUSTER);
		}
		wait_all(&c);
		assert_int_equal(dis.result, 0);
		for (i = 0; i < READS; i++) {
			uint8_t *p = rd[i].buf;

			assert_int_equal(rd[i].result, CLUSTER);
			assert_int_equal(wr[i].result, CLUSTER);
			if (memcmp(p, zero, CLUSTER) && (p[0] != 0x10 + i || p[CLUSTER - 1] != 0x10 + i))
				fail_msg("round %u: cluster %u read %#x after its discard", r, i, p[0]);
		}
		/* B back to unallocated for the next round. */
		c.want++;
		assert_int_equal(blk_discard(bb, b, READS * CLUSTER, done, &dis), 0);
		wait_all(&c);
	}
	close_disk(&c, bb);
	for (i = 0; i < READS; i++) {
		free(rd[i].buf);
		free(wr[i].buf);
	}
	free(zero);
	unlink(img);
}

/*
 * First writes of part of a cluster (4 KiB, and 12 KiB across two
 * clusters) on the hot path: zeros go around the data in the same write.
 * The clusters they get were freed by a discard and still hold 0x77 on the
 * disk, so a missing zero shows. Writes over allocated and unallocated
 * clusters together. Then over a backing file, whose data must show
 * around the write: the library's copy-on-write, not zeros.
 */
static void test_partial_alloc_zero_fill(void **state)
{
	enum { N = 16 };
	static struct slot s[N], big;
	struct blk_image_stats st0, st;
	struct slot dis = { 0 };
	struct ctx c;
	struct blk_backend *bb;
	unsigned int i;
	uint64_t off;
	int fd;

	make_qcow2(img, NULL, VK_PREALLOC_OFF);
	memset(model, 0, DISK);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_NONE);
	make_l2_table(&c, bb, 9);
	for (i = 0; i < N; i++) {
		s[i].buf = aligned(4 * CLUSTER);
		memset(s[i].buf, 0x77, 2 * CLUSTER);
		submit(&c, bb, &s[i], true, (uint64_t)i * 2 * CLUSTER, 2 * CLUSTER);
	}
	wait_all(&c);
	dis.c = &c;
	c.want++;
	assert_int_equal(blk_discard(bb, 0, N * 2 * CLUSTER, done, &dis), 0);
	wait_all(&c);
	assert_int_equal(dis.result, 0);
	blk_image_stats(bb, &st0);
	for (i = 0; i < N; i++) {
		size_t len = i & 1 ? 3 * BLOCK : BLOCK;

		/* Odd ones straddle two clusters: head zeros in one, tail zeros in the next. */
		off = i & 1 ? (uint64_t)i * 2 * CLUSTER + CLUSTER - BLOCK :
			      (uint64_t)i * 2 * CLUSTER + 3 * BLOCK;
		memset(s[i].buf, 0x30 + i, len);
		memcpy(model + off, s[i].buf, len);
		submit(&c, bb, &s[i], true, off, len);
	}
	wait_all(&c);
	blk_image_stats(bb, &st);
	assert_true(st.alloc >= st0.alloc + N);
	assert_int_equal(st.slow, st0.slow);
	for (i = 0; i < N; i++) {
		memset(s[i].buf, 0xee, 4 * CLUSTER);
		submit(&c, bb, &s[i], false, (uint64_t)i * 2 * CLUSTER, 2 * CLUSTER);
	}
	wait_all(&c);
	for (i = 0; i < N; i++)
		if (memcmp(s[i].buf, model + (uint64_t)i * 2 * CLUSTER, 2 * CLUSTER))
			fail_msg("clusters %u-%u do not read as the write and zeros", 2 * i, 2 * i + 1);
	/*
	 * One write over clusters 0-6 from 8 KiB into 0: 1 and 5 are still
	 * unallocated, the rest written above. Runs of new clusters between
	 * clusters written in place, all on the hot path, zeros only where
	 * a new cluster is partly written (none here: 1 and 5 are whole).
	 */
	big.buf = aligned(8 * CLUSTER);
	off = 2 * BLOCK;
	for (i = 0; i < 6 * CLUSTER; i++)
		big.buf[i] = (uint8_t)(i * 13 + 1);
	memcpy(model + off, big.buf, 6 * CLUSTER);
	blk_image_stats(bb, &st0);
	submit(&c, bb, &big, true, off, 6 * CLUSTER);
	wait_all(&c);
	assert_int_equal(big.result, 6 * CLUSTER);
	blk_image_stats(bb, &st);
	assert_int_equal(st.slow, st0.slow);
	assert_int_equal(st.alloc, st0.alloc + 1);
	/* And one that ends part way into unallocated cluster 9: zeros after it. */
	off = 8 * CLUSTER + 3 * BLOCK;
	memcpy(model + off, big.buf, CLUSTER + 2 * BLOCK);
	submit(&c, bb, &big, true, off, CLUSTER + 2 * BLOCK);
	wait_all(&c);
	blk_image_stats(bb, &st);
	assert_int_equal(st.slow, st0.slow);
	assert_int_equal(st.alloc, st0.alloc + 2);
	memset(big.buf, 0xee, 8 * CLUSTER);
	submit(&c, bb, &big, false, 0, 8 * CLUSTER);
	wait_all(&c);
	assert_memory_equal(big.buf, model, 8 * CLUSTER);
	submit(&c, bb, &big, false, 8 * CLUSTER, 8 * CLUSTER);
	wait_all(&c);
	assert_memory_equal(big.buf, model + 8 * CLUSTER, 8 * CLUSTER);
	free(big.buf);
	flush(&c, bb);
	close_disk(&c, bb);
	verify(img);
	unlink(img);

	/* Over a backing file: not zero-filled (the base's bytes stay visible). */
	fd = open(base, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	for (off = 0; off < DISK; off++)
		model[off] = (uint8_t)(off * 7 + 3);
	assert_int_equal(pwrite(fd, model, DISK, 0), DISK);
	close(fd);
	make_qcow2(img, base, VK_PREALLOC_OFF);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_NONE);
	make_l2_table(&c, bb, 9);
	blk_image_stats(bb, &st0);
	off = DISK / 2 + 5 * BLOCK;
	memset(s[0].buf, 0x42, BLOCK);
	submit(&c, bb, &s[0], true, off, BLOCK);
	wait_all(&c);
	memset(s[0].buf, 0xee, CLUSTER);
	submit(&c, bb, &s[0], false, DISK / 2, CLUSTER);
	wait_all(&c);
	blk_image_stats(bb, &st);
	assert_true(st.slow > st0.slow);
	for (i = 0; i < CLUSTER; i++)
		if (s[0].buf[i] != (i >= 5 * BLOCK && i < 6 * BLOCK ? 0x42 : model[DISK / 2 + i]))
			fail_msg("byte %u over the backing file reads %#x", i, s[0].buf[i]);
	close_disk(&c, bb);
	unlink(img);
	unlink(base);
	for (i = 0; i < N; i++)
		free(s[i].buf);
}

static uint64_t be64_at(int fd, uint64_t off)
{
	uint8_t b[8];
	uint64_t v = 0;
	int i;

	assert_int_equal(pread(fd, b, 8, (off_t)off), 8);
	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void be64_put(int fd, uint64_t off, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
	assert_int_equal(pwrite(fd, b, 8, (off_t)off), 8);
}

/*
 * Issue 11's defect 6 on the asynchronous path: cluster 0's L2 entry points
 * at the first refcount block (COPIED, so it looks writable in place).
 * Reading it loads the table; the write that follows must not go there.
 */
static void test_write_on_metadata_refused(void **state)
{
	struct ctx c;
	struct blk_backend *bb;
	struct slot s = { .buf = aligned(BLOCK) };
	uint64_t l1, l2, rt, rb;
	uint8_t before[CLUSTER], after[CLUSTER];
	struct vk_blk_opts o = { .format = "qcow2" };
	struct vk_blk_info info;
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	int fd;

	make_qcow2(img, NULL, VK_PREALLOC_OFF);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_WRITEBACK);
	memset(s.buf, 0x77, BLOCK);
	submit(&c, bb, &s, true, 0, BLOCK);
	wait_all(&c);
	assert_int_equal(s.result, BLOCK);
	close_disk(&c, bb);

	fd = open(img, O_RDWR);
	assert_true(fd >= 0);
	l1 = be64_at(fd, 40);
	l2 = be64_at(fd, l1) & 0x00fffffffffffe00ULL;
	rt = be64_at(fd, 48);
	rb = be64_at(fd, rt);
	be64_put(fd, l2, rb | 1ULL << 63);
	assert_int_equal(pread(fd, before, CLUSTER, (off_t)rb), CLUSTER);

	bb = open_disk(&c, img, AIO_IO_URING, CACHE_WRITEBACK);
	submit(&c, bb, &s, false, 0, BLOCK);	/* loads the L2 table into the cache */
	wait_all(&c);
	memset(s.buf, 0x55, BLOCK);
	submit(&c, bb, &s, true, 0, BLOCK);
	wait_all(&c);
	assert_int_equal(s.result, -EUCLEAN);
	close_disk(&c, bb);

	assert_int_equal(pread(fd, after, CLUSTER, (off_t)rb), CLUSTER);
	assert_int_equal(memcmp(before, after, CLUSTER), 0);
	close(fd);
	assert_int_equal(vk_blk_open(img, &o, &bs, &err), 0);
	assert_int_equal(vk_blk_get_info(bs, &info), 0);
	assert_true(info.corrupt);
	vk_blk_close(bs);
	free(s.buf);
	unlink(img);
}

/* Preallocated metadata: data clusters that may lie past the file's end read as zeros. */
static void test_prealloc_metadata_reads_zeros(void **state)
{
	static struct slot s[DEPTH];
	struct ctx c;
	struct blk_backend *bb;
	struct blk_image_stats st;
	unsigned int i;

	make_qcow2(img, NULL, VK_PREALLOC_METADATA);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_NONE);
	s[0].buf = aligned(CLUSTER);
	submit(&c, bb, &s[0], false, 0, CLUSTER);	/* the L2 table into the cache */
	wait_all(&c);
	free(s[0].buf);
	for (i = 0; i < DEPTH; i++) {
		s[i].buf = aligned(CLUSTER);
		memset(s[i].buf, 0xcc, CLUSTER);
		submit(&c, bb, &s[i], false, (uint64_t)i * (DISK / DEPTH), CLUSTER);
	}
	wait_all(&c);
	blk_image_stats(bb, &st);
	assert_true(st.fast > 0);
	for (i = 0; i < DEPTH; i++) {
		assert_int_equal(s[i].result, CLUSTER);
		assert_int_equal(s[i].buf[0], 0);
		assert_int_equal(s[i].buf[CLUSTER - 1], 0);
		free(s[i].buf);
	}
	close_disk(&c, bb);
	unlink(img);
}

/*
 * A raw base whose size is not a multiple of 512: the last sector's tail
 * lies past its end, and reads there come back short from the engine.
 */
static void test_backing_tail_reads_zeros(void **state)
{
	struct ctx c;
	struct blk_backend *bb;
	struct slot s = { .buf = aligned(BLOCK) };
	struct blk_image_stats st;
	int fd = open(base, O_RDWR | O_CREAT | O_TRUNC, 0600);
	unsigned int i;

	assert_true(fd >= 0);
	memset(model, 0x3c, DISK);
	assert_int_equal(pwrite(fd, model, DISK - 100, 0), DISK - 100);
	close(fd);
	make_qcow2(img, base, VK_PREALLOC_OFF);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_WRITEBACK);
	memset(s.buf, 0xee, BLOCK);
	submit(&c, bb, &s, false, DISK - BLOCK, BLOCK);
	wait_all(&c);
	blk_image_stats(bb, &st);
	assert_int_equal(st.fast, 1);
	assert_int_equal(s.result, BLOCK);
	for (i = 0; i < BLOCK; i++)
		if (s.buf[i] != (i < BLOCK - 100 ? 0x3c : 0))
			fail_msg("byte %u of the last block reads %#x", i, s.buf[i]);
	close_disk(&c, bb);
	free(s.buf);
	unlink(img);
	unlink(base);
}

/*
 * The wait itself, made certain: reads of A are on the hot path and their
 * completions wait for the loop, which the test does not run. A discard of
 * A then has to wait before freeing A's clusters (and so does everything
 * queued behind it in the pool); once the loop runs, the reads return A's
 * data and the discard completes.
 */
static void test_free_waits_for_hot_reads(void **state)
{
	enum { READS = 8 };
	static struct slot rd[READS];
	struct slot w = { .buf = aligned(READS * CLUSTER) }, dis = { 0 };
	struct blk_image_stats s0, s1;
	struct ctx c;
	struct blk_backend *bb;
	unsigned int i;

	make_qcow2(img, NULL, VK_PREALLOC_OFF);
	bb = open_disk(&c, img, AIO_IO_URING, CACHE_WRITEBACK);
	for (i = 0; i < READS; i++)
		memset(w.buf + i * CLUSTER, 0x40 + i, CLUSTER);
	submit(&c, bb, &w, true, 0, READS * CLUSTER);
	wait_all(&c);
	assert_int_equal(w.result, READS * CLUSTER);
	blk_image_stats(bb, &s0);
	for (i = 0; i < READS; i++) {
		rd[i].buf = aligned(CLUSTER);
		submit(&c, bb, &rd[i], false, (uint64_t)i * CLUSTER, CLUSTER);
	}
	dis.c = &c;
	c.want++;
	assert_int_equal(blk_discard(bb, 0, READS * CLUSTER, done, &dis), 0);
	usleep(200 * 1000);
	blk_image_stats(bb, &s1);
	assert_int_equal(s1.fast - s0.fast, READS);
	assert_int_equal(s1.free_waits - s0.free_waits, 1);
	assert_int_equal(dis.result, 0);	/* zero-initialised: not completed */
	wait_all(&c);
	assert_int_equal(dis.result, 0);
	for (i = 0; i < READS; i++) {
		assert_int_equal(rd[i].result, CLUSTER);
		assert_int_equal(rd[i].buf[0], 0x40 + i);
		assert_int_equal(rd[i].buf[CLUSTER - 1], 0x40 + i);
		free(rd[i].buf);
	}
	close_disk(&c, bb);
	free(w.buf);
	unlink(img);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(img, sizeof(img), "%s/disk.qcow2", dir);
	snprintf(base, sizeof(base), "%s/base.raw", dir);
	model = malloc(DISK);
	return model ? 0 : -1;
}

static int teardown(void **state)
{
	unlink(img);
	unlink(base);
	rmdir(dir);
	free(model);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_uring_writeback),
		cmocka_unit_test(test_io_uring_none),
		cmocka_unit_test(test_native_directsync),
		cmocka_unit_test(test_threads_writethrough),
		cmocka_unit_test(test_io_uring_unsafe),
		cmocka_unit_test(test_alloc_io_uring_none),
		cmocka_unit_test(test_alloc_threads_writethrough),
		cmocka_unit_test(test_alloc_io_uring_writeback),
		cmocka_unit_test(test_write_waits_for_alloc),
		cmocka_unit_test(test_many_pieces_many_iovecs),
		cmocka_unit_test(test_backing_chain),
		cmocka_unit_test(test_discard_under_reads),
		cmocka_unit_test(test_partial_alloc_zero_fill),
		cmocka_unit_test(test_write_on_metadata_refused),
		cmocka_unit_test(test_prealloc_metadata_reads_zeros),
		cmocka_unit_test(test_backing_tail_reads_zeros),
		cmocka_unit_test(test_free_waits_for_hot_reads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
