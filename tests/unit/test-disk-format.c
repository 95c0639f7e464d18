// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The format decision of `vmkit run --disk` (issue 11, defect 4): a disk
 * config that names no format (what --disk path=X leaves, the zero value)
 * probes as QEMU does, so a qcow2 file is served as qcow2 (its virtual size
 * and its data), never its container's bytes as raw; a format we cannot
 * read is refused by name; format=raw still serves the bytes as they are;
 * and on a probed raw disk a guest write may not put a format's magic into
 * the first sector.
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

#define VSIZE	(4 * MiB)

static char path[] = "/tmp/vmkit-test-fmt-XXXXXX";

struct wait {
	struct evloop *loop;
	int efd;
	int result;
};

static int on_stop(void *opaque, int fd, uint32_t events)
{
	eventfd_t v;

	eventfd_read(fd, &v);
	return 1;
}

static void done(void *opaque, int result)
{
	struct wait *w = opaque;

	w->result = result;
	eventfd_write(w->efd, 1);
}

static void wait_new(struct wait *w)
{
	assert_int_equal(evloop_new(&w->loop), 0);
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(evloop_add(w->loop, w->efd, EPOLLIN, on_stop, w), 0);
}

static void wait_free(struct wait *w)
{
	evloop_free(w->loop);
	close(w->efd);
}

static int open_disk(struct wait *w, struct disk_config *cfg, struct blk_backend **bb,
		     struct vk_err *err)
{
	cfg->path = path;
	cfg->cache = CACHE_WRITEBACK;
	return blk_backend_open(cfg, w->loop, 8, bb, err);
}

/* What --disk path=X leaves in the config: no format named. */
static void qcow2_without_format_is_probed(void **state)
{
	struct vk_blk_create_opts co = { .size = VSIZE };
	struct vk_blk_opts o = { .format = "qcow2", .flags = VK_BLK_RDWR };
	struct disk_config cfg = { 0 };
	uint8_t data[4096], back[4096] = { 0 };
	struct iovec iov = { back, sizeof(back) };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	struct wait w;

	assert_string_equal(cfg.format, "");
	assert_int_equal(vk_blk_create("qcow2", path, &co, &err), 0);
	assert_int_equal(vk_blk_open(path, &o, &bs, &err), 0);
	memset(data, 0xa5, sizeof(data));
	assert_int_equal(vk_blk_pwrite(bs, data, 1 * MiB, sizeof(data), &err), 0);
	vk_blk_close(bs);

	wait_new(&w);
	assert_int_equal(open_disk(&w, &cfg, &bb, &err), 0);
	assert_non_null(bb->image);
	assert_string_equal(bb->image->drv->name, "qcow2");
	assert_int_equal(blk_backend_length(bb), VSIZE);
	assert_int_equal(blk_preadv(bb, &iov, 1, 1 * MiB, done, &w), 0);
	assert_int_equal(evloop_run(w.loop), 1);
	assert_int_equal(w.result, sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	blk_backend_close(bb);

	/* Named raw, the container's bytes are the disk, as the user asked. */
	cfg = (struct disk_config){ .format = "raw" };
	assert_int_equal(open_disk(&w, &cfg, &bb, &err), 0);
	assert_null(bb->image);
	assert_true(blk_backend_length(bb) < VSIZE);
	blk_backend_close(bb);
	wait_free(&w);
	unlink(path);
}

static void write_file(const void *buf, size_t len, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	close(fd);
}

static void unknown_format_refused(void **state)
{
	static const uint8_t qed[16] = { 'Q', 'E', 'D', 0, 0, 0, 1, 0 };
	struct disk_config cfg = { 0 };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	struct wait w;

	write_file(qed, sizeof(qed), 1 * MiB);
	wait_new(&w);
	assert_int_equal(open_disk(&w, &cfg, &bb, &err), -ENOTSUP);
	assert_null(bb);
	if (!strstr(err.msg, "image format 'qed'"))
		fail_msg("'%s' does not name qed", err.msg);
	wait_free(&w);
	unlink(path);
}

static void probed_raw_first_sector(void **state)
{
	static const uint8_t qcow2_magic[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	uint8_t zero[512] = { 0 }, data[512];
	struct iovec iov[2] = { { data, 4 }, { data + 4, sizeof(data) - 4 } };
	struct disk_config cfg = { 0 };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	struct wait w;

	write_file(zero, sizeof(zero), 1 * MiB);
	wait_new(&w);
	assert_int_equal(open_disk(&w, &cfg, &bb, &err), 0);
	assert_null(bb->image);
	assert_true(bb->probed_raw);
	memset(data, 0x11, sizeof(data));
	memcpy(data, qcow2_magic, sizeof(qcow2_magic));
	assert_int_equal(blk_pwritev(bb, iov, 2, 0, done, &w), -EPERM);
	/* Past the first sector the guest writes what it likes. */
	assert_int_equal(blk_pwritev(bb, iov, 2, 512, done, &w), 0);
	assert_int_equal(evloop_run(w.loop), 1);
	assert_int_equal(w.result, sizeof(data));
	memset(data, 0x11, 8);
	assert_int_equal(blk_pwritev(bb, iov, 2, 0, done, &w), 0);
	assert_int_equal(evloop_run(w.loop), 1);
	assert_int_equal(w.result, sizeof(data));
	blk_backend_close(bb);

	/* format=raw: the user's choice, nothing is guarded. */
	cfg = (struct disk_config){ .format = "raw" };
	assert_int_equal(open_disk(&w, &cfg, &bb, &err), 0);
	assert_false(bb->probed_raw);
	memcpy(data, qcow2_magic, sizeof(qcow2_magic));
	assert_int_equal(blk_pwritev(bb, iov, 2, 0, done, &w), 0);
	assert_int_equal(evloop_run(w.loop), 1);
	blk_backend_close(bb);
	wait_free(&w);
	unlink(path);
}

static int setup(void **state)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(qcow2_without_format_is_probed),
		cmocka_unit_test(unknown_format_refused),
		cmocka_unit_test(probed_raw_first_sector),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
