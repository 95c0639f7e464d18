// SPDX-License-Identifier: GPL-2.0-or-later
/* qcow2 metadata code on crafted images: refcount entries, header checks, allocation. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../lib/block/qcow2.h"

static char path[64];

static void refcount_orders(void **state)
{
	uint8_t block[512];
	uint32_t order;
	uint64_t i, max;

	for (order = 0; order <= 6; order++) {
		uint64_t n = 512 * 8 >> order;

		max = order == 6 ? UINT64_MAX : (1ULL << (1u << order)) - 1;
		memset(block, 0, sizeof(block));
		for (i = 0; i < n; i++)
			qcow2_rb_set(block, order, i, (i * 7919) & max);
		for (i = 0; i < n; i++)
			assert_int_equal(qcow2_rb_get(block, order, i), (i * 7919) & max);
		qcow2_rb_set(block, order, 1, max);
		assert_int_equal(qcow2_rb_get(block, order, 1), max);
		assert_int_equal(qcow2_rb_get(block, order, 0), 0);
	}
	/* QEMU's layouts: order 0 is LSB first in each byte, order 4 big-endian. */
	memset(block, 0, sizeof(block));
	qcow2_rb_set(block, 0, 1, 1);
	assert_int_equal(block[0], 2);
	qcow2_rb_set(block, 4, 1, 0x1234);
	assert_int_equal(block[2], 0x12);
	assert_int_equal(block[3], 0x34);
}

static void make(uint32_t cs, uint64_t size)
{
	struct vk_blk_create_opts o = { .size = size, .cluster_size = cs };
	struct vk_err err = { 0 };

	strcpy(path, "/tmp/vmkit-test-qcow2-XXXXXX");
	close(mkstemp(path));
	assert_int_equal(vk_blk_create("qcow2", path, &o, &err), 0);
}

static void poke(off_t off, const void *buf, size_t len)
{
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void expect_open_error(const char *what)
{
	struct vk_blk_opts o = { .flags = VK_BLK_NO_LOCK };
	struct vk_err err = { 0 };
	struct vk_blk *bs = NULL;

	assert_true(vk_blk_open(path, &o, &bs, &err) < 0);
	assert_null(bs);
	if (!strstr(err.msg, what))
		fail_msg("'%s' does not say '%s'", err.msg, what);
	unlink(path);
}

static void hostile_headers(void **state)
{
	static const uint8_t l1_past_eof[8] = { 0, 0, 0, 0, 0x7f, 0xff, 0, 0 };
	static const uint8_t huge_l1[4] = { 0x7f, 0xff, 0xff, 0xff };
	static const uint8_t rt_zero[8] = { 0 };
	static const uint8_t incompat[8] = { 0, 0, 0, 0, 0, 0x10, 0, 0 };
	static const uint8_t bits8[4] = { 0, 0, 0, 8 };

	make(65536, 1 * MiB);
	poke(40, l1_past_eof, 8);
	expect_open_error("L1 table offset 0x7fff0000 beyond end of file");
	make(65536, 1 * MiB);
	poke(36, huge_l1, 4);
	expect_open_error("Active L1 table too large");
	make(65536, 1 * MiB);
	poke(HDR_RT_OFFSET, rt_zero, 8);
	expect_open_error("refcount table offset 0 points into the header");
	make(65536, 1 * MiB);
	poke(HDR_INCOMPAT, incompat, 8);
	expect_open_error("Unsupported qcow2 feature(s)");
	make(65536, 1 * MiB);
	poke(20, bits8, 4);
	expect_open_error("cluster_bits 8");
}

static void no_report(void *opaque, const char *line)
{
	fail_msg("check found: %s", line);
}

/* 512-byte clusters and 10 MiB of data: new refcount blocks and a bigger refcount table. */
static void allocation_grows_refcount_table(void **state)
{
	struct vk_blk_opts o = { .flags = VK_BLK_RDWR | VK_BLK_NO_LOCK, .cache_size = 4096 };
	struct vk_blk_check res = { .report = no_report };
	struct vk_err err = { 0 };
	struct qcow2_state *s;
	uint8_t *buf = malloc(10 * MiB), *back = malloc(10 * MiB);
	struct vk_blk *bs;
	uint64_t i, rt_before;

	for (i = 0; i < 10 * MiB; i++)
		buf[i] = (uint8_t)(i * 31 + (i >> 12));
	make(512, 110 * MiB);
	assert_int_equal(vk_blk_open(path, &o, &bs, &err), 0);
	s = bs->opaque;
	rt_before = s->rt_offset;
	assert_int_equal(vk_blk_pwrite(bs, buf, 1000, 10 * MiB - 1000, &err), 0);
	assert_int_equal(vk_blk_pwrite_zeroes(bs, 4096, 8192, &err), 0);
	memset(buf + 4096 - 1000, 0, 8192);
	assert_int_equal(vk_blk_flush(bs, &err), 0);
	assert_int_not_equal(s->rt_offset, rt_before);
	assert_int_equal(vk_blk_pread(bs, back, 1000, 10 * MiB - 1000, &err), 0);
	assert_memory_equal(back, buf, 10 * MiB - 1000);
	assert_int_equal(vk_blk_check(bs, &res, 0, &err), 0);
	assert_int_equal(res.corruptions + res.leaks + res.check_errors, 0);
	vk_blk_close(bs);
	unlink(path);
	free(buf);
	free(back);
}

/* QEMU's rule: a probed raw image may not get a format's magic into its first sector. */
static void probed_raw_keeps_its_first_sector(void **state)
{
	static const uint8_t qcow2_hdr[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	struct vk_blk_opts probed = { .flags = VK_BLK_RDWR | VK_BLK_NO_LOCK };
	struct vk_blk_opts named = { .format = "raw", .flags = VK_BLK_RDWR | VK_BLK_NO_LOCK };
	uint8_t data[4096] = { 1, 2, 3 };
	struct vk_err err = { 0 };
	struct vk_blk *bs = NULL;

	strcpy(path, "/tmp/vmkit-test-raw-XXXXXX");
	close(mkstemp(path));
	assert_int_equal(truncate(path, 1 << 20), 0);
	assert_int_equal(vk_blk_open(path, &probed, &bs, &err), 0);
	assert_string_equal(bs->drv->name, "raw");
	assert_int_equal(vk_blk_pwrite(bs, qcow2_hdr, 0, sizeof(qcow2_hdr), &err), -EPERM);
	assert_non_null(strstr(err.msg, "qcow2 header into the first sector"));
	/* The magic split over two writes is caught too: the sector is judged whole. */
	assert_int_equal(vk_blk_pwrite(bs, "QFI", 0, 3, &err), 0);
	assert_int_equal(vk_blk_pwrite(bs, qcow2_hdr + 3, 3, 5, &err), -EPERM);
	memcpy(data + 0x40, "\x7f\x10\xda\xbe", 4);	/* vdi */
	assert_int_equal(vk_blk_pwrite(bs, data, 0, sizeof(data), &err), -EPERM);
	/* Ordinary data, and anything past the first sector, is written. */
	memset(data, 0x55, sizeof(data));
	assert_int_equal(vk_blk_pwrite(bs, data, 0, sizeof(data), &err), 0);
	assert_int_equal(vk_blk_pwrite(bs, qcow2_hdr, 512, sizeof(qcow2_hdr), &err), 0);
	vk_blk_close(bs);
	/* Named raw, the user owns every byte. */
	assert_int_equal(vk_blk_open(path, &named, &bs, &err), 0);
	assert_int_equal(vk_blk_pwrite(bs, qcow2_hdr, 0, sizeof(qcow2_hdr), &err), 0);
	vk_blk_close(bs);
	unlink(path);
}

/*
 * cache-clean-interval's step: tables used since the last clean stay, the
 * rest go (their memory returned), dirty ones wait for their write-back,
 * and what was dropped reads back from the image.
 */
static void cache_clean_frees_unused_tables(void **state)
{
	struct vk_blk_opts o = { .flags = VK_BLK_RDWR | VK_BLK_NO_LOCK, .cache_size = 64 * 4096 };
	const size_t len = 32 * MiB;
	uint8_t *buf = malloc(len), *back = malloc(len);
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	unsigned int freed;
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 9));
	/* 4 KiB clusters (the page-sized tables whose memory goes back): an L2 table maps 2 MiB. */
	make(4096, 64 * MiB);
	assert_int_equal(vk_blk_open(path, &o, &bs, &err), 0);
	assert_int_equal(vk_blk_pwrite(bs, buf, 0, len, &err), 0);
	/* Dirty tables are never dropped, however old. */
	vk_blk_cache_clean(bs);
	vk_blk_cache_clean(bs);
	assert_int_equal(vk_blk_flush(bs, &err), 0);
	assert_int_equal(vk_blk_pread(bs, back, 0, len, &err), 0);
	assert_memory_equal(back, buf, len);
	/* The refcount blocks the reads did not touch go; the L2 tables stay... */
	vk_blk_cache_clean(bs);
	assert_int_equal(vk_blk_pread(bs, back, 0, len, &err), 0);
	/* ...and with everything used since the last clean, nothing goes. */
	assert_int_equal(vk_blk_cache_clean(bs), 0);
	/* Unused for a whole interval: the cached tables go. */
	freed = vk_blk_cache_clean(bs);
	assert_true(freed > 0);
	assert_int_equal(vk_blk_cache_clean(bs), 0);
	/* Read again from the image, not from the freed (zeroed) memory. */
	memset(back, 0, len);
	assert_int_equal(vk_blk_pread(bs, back, 0, len, &err), 0);
	assert_memory_equal(back, buf, len);
	vk_blk_close(bs);
	unlink(path);
	free(buf);
	free(back);
}

/* One measure result, or its error (the message qemu-img prints). */
static int measure(const char *fmt, const struct vk_blk_create_opts *o, struct vk_blk *in,
		   struct vk_blk_measure *m, const char *msg)
{
	struct vk_err err = { 0 };
	int r = vk_blk_measure(fmt, o, in, m, &err);

	if (msg)
		assert_string_equal(err.msg, msg);
	return r;
}

static void measure_through_the_driver(void **state)
{
	struct vk_blk_opts oo = { .flags = VK_BLK_RDWR | VK_BLK_NO_LOCK };
	struct vk_blk_create_opts o = { .size = 1 * GiB };
	struct vk_blk_measure m, in_m;
	struct vk_err err = { 0 };
	uint8_t data[3072];
	struct vk_blk *bs;

	/* qemu-img measure -O qcow2 --size 1G */
	assert_int_equal(measure("qcow2", &o, NULL, &m, NULL), 0);
	assert_int_equal(m.required, 393216);
	assert_int_equal(m.fully_allocated, 1074135040);
	assert_int_equal(m.bitmaps, -1);
	/* raw: whole sectors, written or not. */
	o.size = 1000001;
	assert_int_equal(measure("raw", &o, NULL, &m, NULL), 0);
	assert_int_equal(m.required, 1000448);
	assert_int_equal(m.fully_allocated, 1000448);
	/* The driver's checks, in qemu-img measure's words. */
	o = (struct vk_blk_create_opts){ .size = 1 * GiB, .cluster_size_given = true };
	assert_int_equal(measure("qcow2", &o, NULL, &m,
				 "Cluster size must be a power of two between 512 and 2048k"), -EINVAL);
	o = (struct vk_blk_create_opts){ .size = 1 * GiB, .compat = 2, .compat_str = "v2" };
	assert_int_equal(measure("qcow2", &o, NULL, &m, "Invalid compatibility level: 'v2'"),
			 -EINVAL);
	o.compat_str = "0.10";
	o.refcount_bits = 8;
	assert_int_equal(measure("qcow2", &o, NULL, &m,
				 "Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)"),
			 -EINVAL);
	o = (struct vk_blk_create_opts){ .prealloc_str = "most" };
	assert_int_equal(measure("qcow2", &o, NULL, &m, "invalid parameter value: most"), -EINVAL);
	/* Formats without a measure say so; names no driver has are unknown. */
	assert_int_equal(measure("vmdk", &o, NULL, &m,
				 "Block driver 'vmdk' does not support size measurement"), -ENOTSUP);
	assert_int_equal(measure("nosuch", &o, NULL, &m, "Unknown file format 'nosuch'"), -ENOTSUP);
	/* An input's data counts in whole clusters of the new image: 2 KiB across two 4 KiB ones. */
	make(4096, 1 * MiB);
	memset(data, 0x5a, sizeof(data));
	assert_int_equal(vk_blk_open(path, &oo, &bs, &err), 0);
	assert_int_equal(vk_blk_pwrite(bs, data, 3072, 2048, &err), 0);
	o = (struct vk_blk_create_opts){ .size = 1 * MiB, .cluster_size = 4096 };
	assert_int_equal(measure("qcow2", &o, NULL, &m, NULL), 0);
	o.size = 0;
	assert_int_equal(measure("qcow2", &o, bs, &in_m, NULL), 0);
	assert_int_equal(in_m.fully_allocated, m.fully_allocated);
	assert_int_equal(in_m.required - m.required, 8192);
	assert_int_equal(in_m.bitmaps, 0);
	/* Preallocated, every cluster counts. */
	o.prealloc = VK_PREALLOC_FULL;
	assert_int_equal(measure("qcow2", &o, bs, &in_m, NULL), 0);
	assert_int_equal(in_m.required, in_m.fully_allocated);
	vk_blk_close(bs);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refcount_orders),
		cmocka_unit_test(probed_raw_keeps_its_first_sector),
		cmocka_unit_test(hostile_headers),
		cmocka_unit_test(allocation_grows_refcount_table),
		cmocka_unit_test(cache_clean_frees_unused_tables),
		cmocka_unit_test(measure_through_the_driver),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
