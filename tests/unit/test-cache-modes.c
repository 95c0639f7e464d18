// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The cache and aio modes of a qcow2 disk (issue 11, defect 1), through
 * blk_backend_open as `vmkit run --disk` opens it: every file of the chain
 * (the overlay and its backing file) carries the mode's open flags, read
 * back from /proc/self/fdinfo (O_DIRECT 040000, O_DSYNC 010000); writes
 * the guest is told are durable (completed under writethrough/directsync,
 * flushed under none/writeback) are in the file, metadata included, seen
 * through a second, separate open while the disk is still open; unaligned
 * I/O under O_DIRECT reads and writes what it would without (a vmdk's
 * too); aio=native and io_uring are taken for qcow2; and a file system without O_DIRECT
 * (ramfs, in a private mount namespace) is refused in QEMU's words.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/evloop.h"

#define VSIZE		(8 * MiB)
#define FL_DIRECT	040000
#define FL_DSYNC	010000

static char dir[] = "/tmp/vmkit-test-cache-XXXXXX";
static char base[PATH_MAX], top[PATH_MAX], expect[PATH_MAX];

static const enum disk_cache modes[] = { CACHE_NONE, CACHE_WRITEBACK, CACHE_WRITETHROUGH,
					  CACHE_DIRECTSYNC, CACHE_UNSAFE };

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

static int wait_result(struct wait *w)
{
	assert_int_equal(evloop_run(w->loop), 1);
	return w->result;
}

/* The open flags the kernel holds for fd. */
static unsigned int fd_flags(int fd)
{
	char name[64], line[128];
	unsigned int flags = 0;
	FILE *f;

	snprintf(name, sizeof(name), "/proc/self/fdinfo/%d", fd);
	f = fopen(name, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %o", &flags) == 1)
			break;
	fclose(f);
	return flags;
}

static bool mode_direct(enum disk_cache c)
{
	return c == CACHE_NONE || c == CACHE_DIRECTSYNC;
}

static bool mode_dsync(enum disk_cache c)
{
	return c == CACHE_WRITETHROUGH || c == CACHE_DIRECTSYNC;
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* base: 1 MiB of 0x11 at 0; top: an empty overlay on it. */
static void make_chain(void)
{
	struct vk_blk_create_opts co = { .size = VSIZE };
	struct vk_blk_opts o = { .format = "qcow2", .flags = VK_BLK_RDWR };
	static uint8_t data[1 * MiB];
	struct vk_err err = { 0 };
	struct vk_blk *bs;

	unlink(base);
	unlink(top);
	assert_int_equal(vk_blk_create("qcow2", base, &co, &err), 0);
	assert_int_equal(vk_blk_open(base, &o, &bs, &err), 0);
	memset(data, 0x11, sizeof(data));
	assert_int_equal(vk_blk_pwrite(bs, data, 0, sizeof(data), &err), 0);
	vk_blk_close(bs);
	co.backing_file = base;
	co.backing_fmt = "qcow2";
	assert_int_equal(vk_blk_create("qcow2", top, &co, &err), 0);
}

static int open_top(struct wait *w, enum disk_cache cache, const char *fmt,
		    enum disk_aio aio, struct blk_backend **bb, struct vk_err *err)
{
	struct disk_config cfg = { .path = top, .cache = cache, .aio = aio };

	snprintf(cfg.format, sizeof(cfg.format), "%s", fmt);

	return blk_backend_open(&cfg, w->loop, 8, bb, err);
}

/* Every file of the chain carries the cache mode's flags, and query-block's "direct" says so. */
static void chain_open_flags(void **state)
{
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	const struct vk_blk *l;
	struct wait w;
	size_t i;
	int layers;

	make_chain();
	wait_new(&w);
	for (i = 0; i < ARRAY_SIZE(modes) * 2; i++) {
		enum disk_cache c = modes[i % ARRAY_SIZE(modes)];
		/* named qcow2, then probed: the probe reads through O_DIRECT too */
		const char *f = i < ARRAY_SIZE(modes) ? "qcow2" : "";

		assert_int_equal(open_top(&w, c, f, AIO_DEFAULT, &bb, &err), 0);
		assert_non_null(bb->image);
		assert_non_null(bb->image->backing);
		for (l = bb->image, layers = 0; l; l = l->backing, layers++) {
			unsigned int fl = fd_flags(l->fd);

			assert_int_equal(!!(fl & FL_DIRECT), mode_direct(c));
			assert_int_equal(!!(fl & FL_DSYNC), mode_dsync(c));
			if (mode_direct(c))
				assert_true(l->align >= 512 && !(l->align & (l->align - 1)));
			else
				assert_int_equal(l->align, 0);
		}
		assert_int_equal(layers, 2);
		assert_int_equal(blk_backend_is_direct(bb), mode_direct(c));
		assert_string_equal(bb->ops->name, "image");
		assert_int_equal(bb->aio, AIO_IO_URING);	/* no aio=: io_uring, as for raw */
		blk_backend_close(bb);
	}
	wait_free(&w);
}

static bool have_qemu_img(void)
{
	return access("/usr/bin/qemu-img", X_OK) == 0 || system("qemu-img --version >/dev/null 2>&1") == 0;
}

static void run(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

/* What the guest writes: a sector at an odd place from an odd buffer, and 64 KiB across clusters. */
struct guest_write {
	uint64_t off;
	size_t len;
};
static const struct guest_write gw[] = {
	{ 3 * 512 + 64 * KiB, 512 },
	{ 1 * MiB - 32 * KiB, 64 * KiB },	/* half over the base's data, half past it */
	{ 5 * MiB + 4096, 12 * KiB },
};

static void guest_writes(struct wait *w, struct blk_backend *bb, uint8_t *img)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(gw); i++) {
		uint8_t *raw = malloc(gw[i].len + 1), *p = raw + 1;	/* not aligned */
		struct iovec iov[2] = { { p, gw[i].len / 2 }, { p + gw[i].len / 2, gw[i].len / 2 } };

		fill(p, gw[i].len, (unsigned int)i + 1);
		memcpy(img + gw[i].off, p, gw[i].len);
		assert_int_equal(blk_pwritev(bb, iov, 2, gw[i].off, done, w), 0);
		assert_int_equal(wait_result(w), (int)gw[i].len);
		free(raw);
	}
}

/* A second open of top, apart from the disk's: what the file holds now, metadata included. */
static void file_holds(const uint8_t *img)
{
	struct vk_blk_opts o = { .format = "qcow2",
				 .flags = VK_BLK_NO_LOCK | VK_BLK_FORCE_SHARE | VK_BLK_CACHE_DIRECT };
	struct vk_blk_check res = { 0 };
	struct vk_err err = { 0 };
	uint8_t *buf = malloc(VSIZE);
	struct vk_blk *bs;

	assert_int_equal(vk_blk_open(top, &o, &bs, &err), 0);
	assert_int_equal(vk_blk_pread(bs, buf, 0, VSIZE, &err), 0);
	assert_memory_equal(buf, img, VSIZE);
	assert_int_equal(vk_blk_check(bs, &res, 0, &err), 0);
	assert_int_equal(res.corruptions, 0);
	assert_int_equal(res.leaks, 0);
	vk_blk_close(bs);
	free(buf);
}

static void write_expected(const uint8_t *img)
{
	int fd = open(expect, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, img, VSIZE, 0), VSIZE);
	close(fd);
}

/*
 * Under each mode: the writes, then a flush where the mode offers one, and
 * the file (read apart from the disk) holds them, data and metadata; then
 * qemu-img finds the image clean and equal to what the guest wrote.
 */
static void durable_writes(void **state)
{
	uint8_t *img = calloc(1, VSIZE);
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	struct wait w;
	size_t i;

	wait_new(&w);
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		enum disk_cache c = modes[i];

		make_chain();
		memset(img, 0, VSIZE);
		memset(img, 0x11, 1 * MiB);
		assert_int_equal(open_top(&w, c, "qcow2", AIO_THREADS, &bb, &err), 0);
		guest_writes(&w, bb, img);
		/* writethrough and directsync offer no FLUSH: the writes alone must be in the file. */
		if (!mode_dsync(c)) {
			assert_int_equal(blk_flush(bb, done, &w), 0);
			assert_int_equal(wait_result(&w), 0);
		}
		file_holds(img);
		blk_backend_close(bb);
		if (!have_qemu_img())
			continue;
		write_expected(img);
		run("qemu-img check -q -f qcow2 '%s'", top);
		run("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", top, expect);
	}
	wait_free(&w);
	free(img);
}

/*
 * The library's own unaligned I/O under O_DIRECT (512-byte clusters, so
 * tables and data are smaller than a 4K block; byte-granular writes; the
 * file's end inside a block) gives the same image, byte for byte and in
 * length, as through the page cache: with the file's own alignment, and
 * with 4096 as a disk of 4K logical blocks would ask (a multiple of what
 * the kernel takes, so it may be forced on any O_DIRECT file).
 */
static void direct_unaligned_same_as_buffered(void **state)
{
	struct vk_blk_create_opts co = { .size = 2 * MiB, .cluster_size = 512 };
	static uint8_t a[2][2 * MiB], b[2 * MiB], data[20000];
	struct vk_blk_check res = { 0 };
	struct vk_err err = { 0 };
	char other[PATH_MAX], p4k[PATH_MAX];
	struct stat s1, s2, s3;
	int k, pass;

	snprintf(other, sizeof(other), "%s/buffered.qcow2", dir);
	snprintf(p4k, sizeof(p4k), "%s/direct4k.qcow2", dir);
	for (pass = 0; pass < 3; pass++) {
		struct vk_blk_opts o = { .format = "qcow2",
					 .flags = VK_BLK_RDWR | (pass == 2 ? 0 : VK_BLK_CACHE_DIRECT) };
		const char *p = pass == 2 ? other : pass ? p4k : top;
		struct vk_blk *bs;

		unlink(p);
		assert_int_equal(vk_blk_create("qcow2", p, &co, &err), 0);
		assert_int_equal(vk_blk_open(p, &o, &bs, &err), 0);
		assert_true(pass == 2 || bs->align >= 512);
		if (pass == 1)
			bs->align = 4096;
		srand(7);
		for (k = 0; k < 200; k++) {
			uint64_t off = (uint64_t)rand() % (co.size - sizeof(data));
			size_t len = 1 + (size_t)rand() % sizeof(data);

			fill(data, len, (unsigned int)k);
			assert_int_equal(vk_blk_pwrite(bs, data, off, len, &err), 0);
		}
		assert_int_equal(vk_blk_flush(bs, &err), 0);
		assert_int_equal(vk_blk_pread(bs, pass == 2 ? b : a[pass], 1, co.size - 1, &err), 0);
		assert_int_equal(vk_blk_check(bs, &res, 0, &err), 0);
		assert_int_equal(res.corruptions + res.leaks + res.check_errors, 0);
		vk_blk_close(bs);
	}
	assert_memory_equal(a[0], b, sizeof(b));
	assert_memory_equal(a[1], b, sizeof(b));
	assert_int_equal(stat(top, &s1), 0);
	assert_int_equal(stat(p4k, &s2), 0);
	assert_int_equal(stat(other, &s3), 0);
	assert_int_equal(s1.st_size, s3.st_size);
	assert_int_equal(s2.st_size, s3.st_size);
	unlink(other);
	unlink(p4k);
}

/*
 * A vmdk (monolithicSparse: its grains are read through the image's own fd
 * with no alignment in mind) under cache=none reads what qemu-img put in.
 */
static void vmdk_direct_reads(void **state)
{
	static uint8_t img[VSIZE], back[64 * KiB];
	char vmdk[PATH_MAX];
	struct disk_config cfg = { .path = vmdk, .cache = CACHE_NONE, .readonly = true };
	struct iovec iov = { back, sizeof(back) };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	struct wait w;

	if (!have_qemu_img())
		skip();
	snprintf(vmdk, sizeof(vmdk), "%s/d.vmdk", dir);
	fill(img + 1 * MiB, 64 * KiB, 9);
	write_expected(img);
	run("qemu-img convert -f raw -O vmdk '%s' '%s'", expect, vmdk);
	wait_new(&w);
	assert_int_equal(blk_backend_open(&cfg, w.loop, 8, &bb, &err), 0);
	assert_string_equal(bb->image->drv->name, "vmdk");
	assert_true(blk_backend_is_direct(bb));
	assert_int_equal(blk_preadv(bb, &iov, 1, 1 * MiB, done, &w), 0);
	assert_int_equal(wait_result(&w), sizeof(back));
	assert_memory_equal(back, img + 1 * MiB, sizeof(back));
	blk_backend_close(bb);
	wait_free(&w);
	unlink(vmdk);
}

/*
 * qcow2 has the engines raw has (the image engine does its data I/O with
 * them): aio=native and io_uring are taken, not ignored; aio=native still
 * needs O_DIRECT, as QEMU says.
 */
static void qcow2_aio_engines(void **state)
{
	static const enum disk_aio engines[] = { AIO_NATIVE, AIO_IO_URING, AIO_THREADS };
	struct disk_config raw = { .path = base, .cache = CACHE_NONE, .format = "raw" };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	struct wait w;
	size_t i;

	make_chain();
	wait_new(&w);
	for (i = 0; i < ARRAY_SIZE(engines); i++) {
		assert_int_equal(open_top(&w, CACHE_NONE, "qcow2", engines[i], &bb, &err),
				 0);
		assert_string_equal(bb->ops->name, "image");
		assert_int_equal(bb->aio, engines[i]);
		blk_backend_close(bb);
		/* probed as qcow2 the same */
		assert_int_equal(open_top(&w, CACHE_NONE, "", engines[i], &bb, &err),
				 0);
		assert_int_equal(bb->aio, engines[i]);
		blk_backend_close(bb);
	}
	memset(&err, 0, sizeof(err));
	assert_int_equal(open_top(&w, CACHE_WRITEBACK, "qcow2", AIO_NATIVE, &bb, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "aio=native was specified, but it requires cache=none"));
	/* Raw keeps its engines: no aio= is io_uring. */
	assert_int_equal(blk_backend_open(&raw, w.loop, 8, &bb, &err), 0);
	assert_string_equal(bb->ops->name, "io_uring");
	assert_true(blk_backend_is_direct(bb));
	blk_backend_close(bb);
	wait_free(&w);
}

/* l2-cache-size= (QEMU's qcow2 option) reaches the image; on raw it is refused, not ignored. */
static void l2_cache_size_option(void **state)
{
	struct disk_config cfg = { .path = top, .format = "qcow2",
				   .l2_cache_size = 256 * KiB };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	struct wait w;

	make_chain();
	wait_new(&w);
	assert_int_equal(blk_backend_open(&cfg, w.loop, 8, &bb, &err), 0);
	assert_int_equal(bb->image->cache_size, 256 * KiB);
	blk_backend_close(bb);
	strcpy(cfg.format, "raw");
	assert_int_equal(blk_backend_open(&cfg, w.loop, 8, &bb, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "l2-cache-size is an option of qcow2 images"));
	wait_free(&w);
}

/* A private ramfs (which has no O_DIRECT), or a skip where we may not mount one. */
static bool mount_ramfs(const char *at)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	return mkdir(at, 0700) == 0 && mount("ramfs", at, "ramfs", 0, "mode=0700") == 0;
}

/*
 * On a file system that refuses O_DIRECT, cache=none fails with one clear
 * line naming the file (the overlay, or the backing file alone there), as
 * QEMU words it; writeback opens.
 */
static void no_o_direct_refused(void **state)
{
	struct vk_blk_create_opts co = { .size = VSIZE };
	char ram[256], rtop[PATH_MAX], rbase[PATH_MAX], want[PATH_MAX + 64];
	struct disk_config cfg = { .path = rtop, .format = "qcow2" };
	struct blk_backend *bb = NULL;
	struct vk_err err = { 0 };
	struct wait w;
	int fd;

	snprintf(ram, sizeof(ram), "%s/ram", dir);
	if (!mount_ramfs(ram))
		skip();
	snprintf(rtop, sizeof(rtop), "%s/top.qcow2", ram);
	snprintf(rbase, sizeof(rbase), "%s/base.qcow2", ram);
	fd = open(rtop, O_RDONLY | O_CREAT | O_DIRECT, 0600);
	if (fd >= 0) {			/* this kernel's ramfs takes O_DIRECT: nothing to refuse */
		close(fd);
		umount(ram);
		skip();
	}
	wait_new(&w);
	assert_int_equal(vk_blk_create("qcow2", rtop, &co, &err), 0);
	cfg.cache = CACHE_NONE;
	assert_int_equal(blk_backend_open(&cfg, w.loop, 8, &bb, &err), -EINVAL);
	snprintf(want, sizeof(want), "Could not open '%s': filesystem does not support O_DIRECT",
		 rtop);
	assert_non_null(strstr(err.msg, want));
	cfg.cache = CACHE_DIRECTSYNC;
	assert_int_equal(blk_backend_open(&cfg, w.loop, 8, &bb, &err), -EINVAL);
	strcpy(cfg.format, "raw");
	assert_int_equal(blk_backend_open(&cfg, w.loop, 8, &bb, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "filesystem does not support O_DIRECT"));
	strcpy(cfg.format, "qcow2");
	cfg.cache = CACHE_WRITEBACK;
	assert_int_equal(blk_backend_open(&cfg, w.loop, 8, &bb, &err), 0);
	blk_backend_close(bb);

	/* The overlay on ext4, its backing file on ramfs: the backing file is named. */
	co.backing_file = rbase;
	co.backing_fmt = "qcow2";
	assert_int_equal(vk_blk_create("qcow2", rbase, &(struct vk_blk_create_opts){ .size = VSIZE },
				       &err), 0);
	unlink(top);
	assert_int_equal(vk_blk_create("qcow2", top, &co, &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(open_top(&w, CACHE_NONE, "qcow2", AIO_DEFAULT, &bb, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "backing file"));
	assert_non_null(strstr(err.msg, "filesystem does not support O_DIRECT"));
	wait_free(&w);
	umount2(ram, MNT_DETACH);
	rmdir(ram);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(base, sizeof(base), "%s/base.qcow2", dir);
	snprintf(top, sizeof(top), "%s/top.qcow2", dir);
	snprintf(expect, sizeof(expect), "%s/expect.raw", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(base);
	unlink(top);
	unlink(expect);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chain_open_flags),
		cmocka_unit_test(durable_writes),
		cmocka_unit_test(direct_unaligned_same_as_buffered),
		cmocka_unit_test(vmdk_direct_reads),
		cmocka_unit_test(qcow2_aio_engines),
		cmocka_unit_test(l2_cache_size_option),
		cmocka_unit_test(no_o_direct_refused),	/* last: it leaves the mount namespace */
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
