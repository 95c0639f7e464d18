// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The block backend's engines on a temporary file: many requests in flight
 * at once, completions on the loop's thread (never inside a submit), data
 * written then read back, flush, write-zeroes and discard, the drain at
 * close, and aio=native refused without O_DIRECT. The same again on a memfd:
 * shmem (tmpfs) has no FALLOC_FL_ZERO_RANGE, so write-zeroes takes its
 * fallback of writing zeroes there, whatever file system /tmp is. And a
 * qcow2 disk whose data lives in an external raw data file: the guest's
 * writes, zeroes and flushes reach that file, which then reads as the disk.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/evloop.h"

#define NREQ	64
#define BLOCK	4096

struct ctx {
	struct evloop *loop;
	int stop_efd;
	unsigned int want, got;
	bool in_submit;
	int results[NREQ + 8];
};

static char path[] = "/tmp/vmkit-test-blk-XXXXXX";
static const char *disk = path;		/* what the engine opens */

static int on_stop(void *opaque, int fd, uint32_t events)
{
	eventfd_t v;

	eventfd_read(fd, &v);
	return 1;
}

struct slot {
	struct ctx *c;
	unsigned int i;
};

static void done(void *opaque, int result)
{
	struct slot *s = opaque;
	struct ctx *c = s->c;

	assert_false(c->in_submit);
	c->results[s->i] = result;
	if (++c->got == c->want)
		eventfd_write(c->stop_efd, 1);
}

static void wait_all(struct ctx *c)
{
	if (c->got < c->want)
		assert_int_equal(evloop_run(c->loop), 1);
	assert_int_equal(c->got, c->want);
}

static const char *disk_format = "";

static struct blk_backend *open_engine(struct ctx *c, enum disk_aio aio, enum disk_cache cache)
{
	struct disk_config cfg = { .path = disk, .cache = cache, .aio = aio };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };

	snprintf(cfg.format, sizeof(cfg.format), "%s", disk_format);
	memset(c, 0, sizeof(*c));
	assert_int_equal(evloop_new(&c->loop), 0);
	c->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(evloop_add(c->loop, c->stop_efd, EPOLLIN, on_stop, c), 0);
	assert_int_equal(blk_backend_open(&cfg, c->loop, NREQ, &bb, &err), 0);
	assert_int_equal(blk_backend_length(bb), NREQ * BLOCK);
	return bb;
}

static void close_engine(struct ctx *c, struct blk_backend *bb)
{
	blk_backend_close(bb);
	evloop_free(c->loop);
	close(c->stop_efd);
}

static void *block(unsigned int i, int fill)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, BLOCK, BLOCK), 0);
	assert_non_null(p);
	if (fill >= 0)
		memset(p, fill, BLOCK);
	return p;
}

/* NREQ writes in flight, a flush, NREQ reads in flight; the data round-trips. */
static void round_trip(struct ctx *c, struct blk_backend *bb, int seed)
{
	static struct slot slots[NREQ + 1];
	struct iovec iov[NREQ];
	unsigned int i;

	c->got = 0;
	c->want = NREQ;
	c->in_submit = true;
	for (i = 0; i < NREQ; i++) {
		slots[i] = (struct slot){ c, i };
		iov[i] = (struct iovec){ block(i, (seed + i) & 0xff), BLOCK };
		assert_int_equal(blk_pwritev(bb, &iov[i], 1, (uint64_t)i * BLOCK, done, &slots[i]), 0);
	}
	c->in_submit = false;
	wait_all(c);
	for (i = 0; i < NREQ; i++)
		assert_int_equal(c->results[i], BLOCK);
	c->got = 0;
	c->want = 1;
	slots[NREQ] = (struct slot){ c, NREQ };
	assert_int_equal(blk_flush(bb, done, &slots[NREQ]), 0);
	wait_all(c);
	assert_int_equal(c->results[NREQ], 0);
	for (i = 0; i < NREQ; i++)
		memset(iov[i].iov_base, 0xee, BLOCK);
	c->got = 0;
	c->want = NREQ;
	for (i = 0; i < NREQ; i++)
		assert_int_equal(blk_preadv(bb, &iov[i], 1, (uint64_t)i * BLOCK, done, &slots[i]), 0);
	wait_all(c);
	for (i = 0; i < NREQ; i++) {
		uint8_t *p = iov[i].iov_base;

		assert_int_equal(c->results[i], BLOCK);
		assert_int_equal(p[0], (seed + i) & 0xff);
		assert_int_equal(p[BLOCK - 1], (seed + i) & 0xff);
		free(p);
	}
}

/* Write zeroes over block 1, discard block 2: block 1 reads as zeros. */
static void zeroes(struct ctx *c, struct blk_backend *bb)
{
	static struct slot slots[3];
	struct iovec iov = { block(0, -1), BLOCK };
	unsigned int i;

	for (i = 0; i < 3; i++)
		slots[i] = (struct slot){ c, i };
	c->got = 0;
	c->want = 2;
	assert_int_equal(blk_write_zeroes(bb, BLOCK, BLOCK, false, done, &slots[0]), 0);
	assert_int_equal(blk_discard(bb, 2 * BLOCK, BLOCK, done, &slots[1]), 0);
	wait_all(c);
	assert_int_equal(c->results[0], 0);
	c->got = 0;
	c->want = 1;
	assert_int_equal(blk_preadv(bb, &iov, 1, BLOCK, done, &slots[2]), 0);
	wait_all(c);
	assert_int_equal(c->results[2], BLOCK);
	for (i = 0; i < BLOCK; i++)
		assert_int_equal(((uint8_t *)iov.iov_base)[i], 0);
	free(iov.iov_base);
}

/* Close with reads in flight and no loop running: every callback runs in the close. */
static void drain_at_close(struct ctx *c, struct blk_backend *bb)
{
	static struct slot slots[NREQ];
	struct iovec iov[NREQ];
	unsigned int i;

	c->got = 0;
	c->want = NREQ;
	for (i = 0; i < NREQ; i++) {
		slots[i] = (struct slot){ c, i };
		iov[i] = (struct iovec){ block(i, 0), BLOCK };
		assert_int_equal(blk_preadv(bb, &iov[i], 1, (uint64_t)i * BLOCK, done, &slots[i]), 0);
	}
	close_engine(c, bb);
	assert_int_equal(c->got, NREQ);
	for (i = 0; i < NREQ; i++)
		free(iov[i].iov_base);
}

static void run_engine(enum disk_aio aio, enum disk_cache cache)
{
	struct ctx c;
	struct blk_backend *bb = open_engine(&c, aio, cache);

	round_trip(&c, bb, 1);
	round_trip(&c, bb, 77);
	zeroes(&c, bb);
	drain_at_close(&c, bb);
}

static void test_io_uring_direct(void **state) { run_engine(AIO_IO_URING, CACHE_NONE); }
static void test_io_uring_writeback(void **state) { run_engine(AIO_IO_URING, CACHE_WRITEBACK); }
static void test_native(void **state) { run_engine(AIO_NATIVE, CACHE_DIRECTSYNC); }
static void test_threads(void **state) { run_engine(AIO_THREADS, CACHE_WRITETHROUGH); }

/* Write-zeroes on shmem, which answers FALLOC_FL_ZERO_RANGE with EOPNOTSUPP. */
static void test_shmem(void **state)
{
	char shm_path[64];
	int fd = memfd_create("vmkit-test-blk", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NREQ * BLOCK), 0);
	snprintf(shm_path, sizeof(shm_path), "/proc/self/fd/%d", fd);
	disk = shm_path;
	run_engine(AIO_THREADS, CACHE_WRITEBACK);
	run_engine(AIO_IO_URING, CACHE_WRITEBACK);
	disk = path;
	close(fd);
}

static void test_native_needs_direct(void **state)
{
	struct disk_config cfg = { .path = path, .cache = CACHE_WRITEBACK, .aio = AIO_NATIVE };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	struct evloop *loop;

	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(blk_backend_open(&cfg, loop, NREQ, &bb, &err), -EINVAL);
	assert_null(bb);
	assert_non_null(strstr(err.msg, "aio=native"));
	evloop_free(loop);
}

/*
 * qcow2 with data_file_raw, served by the pool: what the guest wrote is in
 * the data file at the guest's offsets (block 1 zeroed there too), durable
 * through the flush round_trip sends.
 */
static void test_qcow2_data_file(void **state)
{
	char img[] = "/tmp/vmkit-test-blk-df-XXXXXX", data[64];
	struct vk_blk_create_opts co = { .size = NREQ * BLOCK, .data_file = data,
					 .data_file_raw = true };
	struct vk_err err = { 0 };
	uint8_t *buf = malloc(NREQ * BLOCK);
	struct ctx c;
	struct blk_backend *bb;
	unsigned int i;
	int fd = mkstemp(img);

	assert_true(fd >= 0 && buf);
	close(fd);
	snprintf(data, sizeof(data), "%s.data", img);
	assert_int_equal(vk_blk_create("qcow2", img, &co, &err), 0);
	disk = img;
	disk_format = "qcow2";
	bb = open_engine(&c, AIO_THREADS, CACHE_WRITEBACK);
	round_trip(&c, bb, 5);
	zeroes(&c, bb);
	close_engine(&c, bb);
	disk = path;
	disk_format = "";
	fd = open(data, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, NREQ * BLOCK, 0), NREQ * BLOCK);
	close(fd);
	for (i = 0; i < NREQ; i++) {
		if (i == 2)
			continue;	/* a discard of part of a cluster may leave it */
		assert_int_equal(buf[i * BLOCK], i == 1 ? 0 : (5 + i) & 0xff);
		assert_int_equal(buf[i * BLOCK + BLOCK - 1], i == 1 ? 0 : (5 + i) & 0xff);
	}
	free(buf);
	unlink(img);
	unlink(data);
}

static int setup(void **state)
{
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, NREQ * BLOCK))
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_uring_direct),
		cmocka_unit_test(test_io_uring_writeback),
		cmocka_unit_test(test_native),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_shmem),
		cmocka_unit_test(test_native_needs_direct),
		cmocka_unit_test(test_qcow2_data_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
