// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The SCSI target emulation (vmm/scsi/) driven by CDBs as a guest's sd and
 * sr drivers send them: a disk LUN on a raw temporary file and a CD-ROM
 * LUN on an ISO made here with xorriso (those tests skip without it). Data
 * written reads back; sense keys, ASC and ASCQ are those SPC, SBC and MMC
 * name; bad CDBs (out-of-range LBAs, short buffers, unknown opcodes) fail
 * only their command; media eject, change and the locked door.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/evloop.h"
#include "vmkit/scsi.h"

#define DISK_SIZE	(4u << 20)

static struct evloop *loop;
static int stop_efd;
static char disk_path[] = "/tmp/vmkit-test-scsi-XXXXXX";
static char iso_dir[] = "/tmp/vmkit-test-iso-XXXXXX";
static char iso_path[512], iso2_path[512];
static bool have_iso;

static int on_stop(void *opaque, int fd, uint32_t events)
{
	eventfd_t v;

	eventfd_read(fd, &v);
	return 1;
}

static void req_done(struct scsi_req *r)
{
	eventfd_write(stop_efd, 1);
}

struct result {
	uint8_t status, key, asc, ascq;
	size_t xfer;
	bool overrun;
};

/* One command with an in buffer and an out buffer (either may be empty); waits for it. */
static struct result run(struct scsi_lun *lun, const uint8_t *cdb, unsigned int cdb_len,
			 void *in, size_t in_len, const void *out, size_t out_len)
{
	struct scsi_req *r = calloc(1, scsi_req_size(1));
	struct iovec iv = { in, in_len }, ov = { (void *)out, out_len };
	struct result res;
	int ret;

	assert_non_null(r);
	memcpy(r->cdb, cdb, MIN(cdb_len, (unsigned int)SCSI_CDB_MAX));
	r->cdb_len = cdb_len;
	r->in = (struct scsi_buf){ &iv, in_len ? 1 : 0, in_len };
	r->out = (struct scsi_buf){ &ov, out_len ? 1 : 0, out_len };
	r->done = req_done;
	ret = scsi_lun_exec(lun, r);
	if (ret == -EINPROGRESS)
		assert_int_equal(evloop_run(loop), 1);
	else
		assert_int_equal(ret, 0);
	res = (struct result){ r->status, 0, 0, 0, r->xfer, r->overrun };
	if (r->status == SCSI_CHECK_CONDITION) {
		assert_int_equal(r->sense[0], 0x70);
		res.key = r->sense[2] & 0xf;
		res.asc = r->sense[12];
		res.ascq = r->sense[13];
	}
	free(r);
	return res;
}

#define RUN(lun, in, inl, out, outl, ...) \
	run(lun, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), \
	    in, inl, out, outl)
/* Each runs its command once. */
#define ASSERT_SENSE(res, k, a, q) do { \
	struct result r_ = (res); \
	assert_int_equal(r_.status, SCSI_CHECK_CONDITION); \
	assert_int_equal(r_.key, k); \
	assert_int_equal(r_.asc, a); \
	assert_int_equal(r_.ascq, q); \
} while (0)
#define ASSERT_GOOD(res) do { \
	struct result r_ = (res); \
	assert_int_equal(r_.status, SCSI_GOOD); \
} while (0)

static struct scsi_lun *make_lun(const char *path, bool cdrom, bool readonly)
{
	struct disk_config cfg = { .path = path, .cache = CACHE_WRITEBACK, .cdrom = cdrom,
				   .readonly = readonly, .format = "raw",
				   .aio = AIO_THREADS, .serial = "SER-123" };
	struct scsi_lun_params p = { .loop = loop, .max_inflight = 64, .max_sectors = 2048,
				     .interface = 1 };
	struct vk_err err = { 0 };
	struct scsi_lun *lun = NULL;

	assert_int_equal(scsi_lun_create(&cfg, &p, &lun, &err), 0);
	return lun;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* ---- disk ---- */

static void test_inquiry(void **state)
{
	struct scsi_lun *lun = make_lun(disk_path, false, false);
	uint8_t buf[256];
	struct result res;

	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 0, 0, 0, 96, 0);
	ASSERT_GOOD(res);
	assert_int_equal(res.xfer, 36);
	assert_int_equal(buf[0], 0);
	assert_memory_equal(buf + 8, "VMKIT   ", 8);
	/* Allocation length caps what is returned. */
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 0, 0, 0, 5, 0);
	assert_int_equal(res.xfer, 5);
	/* VPD 0: the pages offered, 0x80 (serial) among them and the SBC ones. */
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 1, 0x00, 0, 255, 0);
	ASSERT_GOOD(res);
	assert_int_equal(buf[3], 6);
	assert_memory_equal(buf + 4, ((uint8_t[]){ 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 }), 6);
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 1, 0x80, 0, 255, 0);
	ASSERT_GOOD(res);
	assert_int_equal(buf[3], 7);
	assert_memory_equal(buf + 4, "SER-123", 7);
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 1, 0x83, 0, 255, 0);
	ASSERT_GOOD(res);
	assert_memory_equal(buf + 8, "VMKIT   SER-123", 15);
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 1, 0xb0, 0, 255, 0);
	ASSERT_GOOD(res);
	assert_int_equal(get_be32(buf + 8), 2048);		/* max transfer: 2048 blocks */
	assert_int_equal(get_be32(buf + 24), 255);		/* unmap descriptors */
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 1, 0xb2, 0, 255, 0);
	assert_int_equal(buf[5], 0xe0);
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 1, 0xb1, 0, 255, 0);
	assert_int_equal(buf[5], 1);				/* non-rotating */
	/* A page not offered, and a page code without EVPD. */
	ASSERT_SENSE(RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 1, 0x99, 0, 255, 0), 5, 0x24, 0);
	ASSERT_SENSE(RUN(lun, buf, sizeof(buf), NULL, 0, 0x12, 0, 0x80, 0, 255, 0), 5, 0x24, 0);
	scsi_lun_destroy(lun);
}

static void test_capacity_and_misc(void **state)
{
	struct scsi_lun *lun = make_lun(disk_path, false, false);
	uint8_t buf[64];
	struct result res;

	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	ASSERT_GOOD(res);
	assert_int_equal(get_be32(buf), DISK_SIZE / 512 - 1);
	assert_int_equal(get_be32(buf + 4), 512);
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32,
		  0, 0);
	ASSERT_GOOD(res);
	assert_int_equal(res.xfer, 32);
	assert_int_equal(get_be32(buf + 4), DISK_SIZE / 512 - 1);
	assert_int_equal(buf[14] & 0x80, 0x80);			/* LBPME */
	ASSERT_GOOD(RUN(lun, NULL, 0, NULL, 0, 0x00, 0, 0, 0, 0, 0));
	ASSERT_GOOD(RUN(lun, NULL, 0, NULL, 0, 0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0));
	ASSERT_GOOD(RUN(lun, NULL, 0, NULL, 0, 0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0));
	ASSERT_GOOD(RUN(lun, NULL, 0, NULL, 0, 0x1b, 0, 0, 0, 1, 0));
	ASSERT_GOOD(RUN(lun, NULL, 0, NULL, 0, 0x1e, 0, 0, 0, 1, 0));
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0);
	ASSERT_GOOD(res);
	assert_int_equal(res.xfer, 16);
	assert_int_equal(get_be32(buf), 8);
	/* Unknown opcode; REQUEST SENSE then returns it once. */
	ASSERT_SENSE(RUN(lun, NULL, 0, NULL, 0, 0xd9, 0, 0, 0, 0, 0), 5, 0x20, 0);
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x03, 0, 0, 0, 18, 0);
	ASSERT_GOOD(res);
	assert_int_equal(buf[2], 5);
	assert_int_equal(buf[12], 0x20);
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x03, 0, 0, 0, 18, 0);
	assert_int_equal(buf[2], 0);
	/* Descriptor format on request. */
	ASSERT_SENSE(RUN(lun, NULL, 0, NULL, 0, 0xd9, 0, 0, 0, 0, 0), 5, 0x20, 0);
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x03, 1, 0, 0, 18, 0);
	assert_int_equal(buf[0], 0x72);
	assert_int_equal(buf[1], 5);
	assert_int_equal(buf[2], 0x20);
	/* A CDB shorter than its group's length. */
	ASSERT_SENSE(run(lun, (uint8_t[]){ 0x28, 0, 0, 0, 0, 0 }, 6, buf, 64, NULL, 0),
		     5, 0x24, 0);
	/* REPORT LUNS with too small an allocation length. */
	ASSERT_SENSE(RUN(lun, buf, sizeof(buf), NULL, 0, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0),
		     5, 0x24, 0);
	scsi_lun_destroy(lun);
}

static void test_read_write(void **state)
{
	struct scsi_lun *lun = make_lun(disk_path, false, false);
	uint8_t *wbuf = malloc(8192), *rbuf = malloc(8192);
	unsigned int i;
	struct result res;

	for (i = 0; i < 8192; i++)
		wbuf[i] = i * 7 + 3;
	/* WRITE (10) of 16 blocks at LBA 100, READ (16) back, READ (6) of part. */
	res = RUN(lun, NULL, 0, wbuf, 8192, 0x2a, 0, 0, 0, 0, 100, 0, 0, 16, 0);
	ASSERT_GOOD(res);
	assert_int_equal(res.xfer, 8192);
	memset(rbuf, 0, 8192);
	res = RUN(lun, rbuf, 8192, NULL, 0, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 16, 0, 0);
	ASSERT_GOOD(res);
	assert_memory_equal(rbuf, wbuf, 8192);
	res = RUN(lun, rbuf, 512, NULL, 0, 0x08, 0, 0, 101, 1, 0);
	ASSERT_GOOD(res);
	assert_memory_equal(rbuf, wbuf + 512, 512);
	/* WRITE (16) with FUA, WRITE (12). */
	ASSERT_GOOD(RUN(lun, NULL, 0, wbuf, 512, 0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 1,
			0, 0));
	ASSERT_GOOD(RUN(lun, NULL, 0, wbuf, 1024, 0xaa, 0, 0, 0, 0, 201, 0, 0, 0, 2, 0, 0));
	res = RUN(lun, rbuf, 1536, NULL, 0, 0xa8, 0, 0, 0, 0, 200, 0, 0, 0, 3, 0, 0);
	ASSERT_GOOD(res);
	assert_memory_equal(rbuf, wbuf, 512);
	assert_memory_equal(rbuf + 512, wbuf, 1024);
	/* Past the end; a length that runs past it; a buffer too small for the transfer. */
	ASSERT_SENSE(RUN(lun, rbuf, 512, NULL, 0, 0x28, 0, 0, 0, 0x20, 0, 0, 0, 1, 0), 5, 0x21, 0);
	ASSERT_SENSE(RUN(lun, rbuf, 8192, NULL, 0, 0x28, 0, 0, 0, 0x1f, 0xff, 0, 0, 2, 0),
		     5, 0x21, 0);
	ASSERT_SENSE(RUN(lun, rbuf, 8192, NULL, 0, 0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0), 5, 0x21, 0);
	res = RUN(lun, rbuf, 512, NULL, 0, 0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0);
	assert_true(res.overrun);
	assert_int_equal(res.status, SCSI_CHECK_CONDITION);
	/* Zero blocks: nothing moves, good. The last block is readable. */
	ASSERT_GOOD(RUN(lun, rbuf, 512, NULL, 0, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0));
	ASSERT_GOOD(RUN(lun, rbuf, 512, NULL, 0, 0x28, 0, 0, 0, 0x1f, 0xff, 0, 0, 1, 0));
	/* VERIFY: a range check; BYTCHK is not offered. */
	ASSERT_GOOD(RUN(lun, NULL, 0, NULL, 0, 0x2f, 0, 0, 0, 0, 0, 0, 0, 8, 0));
	ASSERT_SENSE(RUN(lun, NULL, 0, NULL, 0, 0x2f, 0x02, 0, 0, 0, 0, 0, 0, 8, 0), 5, 0x24, 0);
	free(wbuf);
	free(rbuf);
	scsi_lun_destroy(lun);
}

static void test_readonly(void **state)
{
	struct scsi_lun *lun = make_lun(disk_path, false, true);
	uint8_t buf[512] = { 0 }, mode[64];

	ASSERT_SENSE(RUN(lun, NULL, 0, buf, 512, 0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0), 7, 0x27, 0);
	ASSERT_SENSE(RUN(lun, NULL, 0, NULL, 0, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
			 0, 0), 7, 0x27, 0);
	ASSERT_GOOD(RUN(lun, mode, sizeof(mode), NULL, 0, 0x1a, 0x08, 0x3f, 0, 64, 0));
	assert_int_equal(mode[2] & 0x80, 0x80);			/* WP */
	scsi_lun_destroy(lun);
}

static void test_mode_pages(void **state)
{
	struct scsi_lun *lun = make_lun(disk_path, false, false);
	uint8_t buf[256], sel[512];
	struct result res;

	/* MODE SENSE (6), caching page: WCE on in writeback mode; block descriptor. */
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x1a, 0, 0x08, 0, 255, 0);
	ASSERT_GOOD(res);
	assert_int_equal(buf[3], 8);
	assert_int_equal(get_be32(buf + 4), DISK_SIZE / 512);
	assert_int_equal(buf[12], 0x08);
	assert_int_equal(buf[13], 0x12);
	assert_int_equal(buf[14] & 0x04, 0x04);
	assert_int_equal(buf[0] + 1, res.xfer);
	/* MODE SENSE (10), all pages, no block descriptor. */
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x5a, 0x08, 0x3f, 0, 0, 0, 0, 1, 0, 0);
	ASSERT_GOOD(res);
	assert_int_equal((buf[0] << 8 | buf[1]) + 2, res.xfer);
	assert_int_equal(buf[8], 0x01);
	/* Changeable values: only WCE. */
	res = RUN(lun, buf, sizeof(buf), NULL, 0, 0x1a, 0x08, 0x48, 0, 255, 0);
	assert_int_equal(buf[6], 0x04);
	ASSERT_SENSE(RUN(lun, buf, sizeof(buf), NULL, 0, 0x1a, 0, 0xc8, 0, 255, 0), 5, 0x39, 0);
	ASSERT_SENSE(RUN(lun, buf, sizeof(buf), NULL, 0, 0x1a, 0, 0x33, 0, 255, 0), 5, 0x24, 0);
	/* MODE SELECT (6) turning the write cache off, as Linux's cache_type does. */
	RUN(lun, buf, sizeof(buf), NULL, 0, 0x1a, 0x08, 0x08, 0, 255, 0);
	memset(sel, 0, sizeof(sel));
	memcpy(sel + 4, buf + 4, 20);
	sel[4 + 2] &= ~0x04;
	ASSERT_GOOD(RUN(lun, NULL, 0, sel, 24, 0x15, 0x10, 0, 0, 24, 0));
	RUN(lun, buf, sizeof(buf), NULL, 0, 0x1a, 0x08, 0x08, 0, 255, 0);
	assert_int_equal(buf[6] & 0x04, 0);
	/* Writes still work (each is flushed now). */
	ASSERT_GOOD(RUN(lun, NULL, 0, sel, 512, 0x2a, 0, 0, 0, 0, 50, 0, 0, 1, 0));
	/* A bit that is not changeable; a page length that lies; SP; no PF. */
	sel[4 + 3] = 0x01;
	ASSERT_SENSE(RUN(lun, NULL, 0, sel, 24, 0x15, 0x10, 0, 0, 24, 0), 5, 0x26, 0);
	sel[4 + 3] = 0;
	sel[5] = 0x30;
	ASSERT_SENSE(RUN(lun, NULL, 0, sel, 24, 0x15, 0x10, 0, 0, 24, 0), 5, 0x1a, 0);
	sel[5] = 0x12;
	ASSERT_SENSE(RUN(lun, NULL, 0, sel, 24, 0x15, 0x11, 0, 0, 24, 0), 5, 0x24, 0);
	ASSERT_SENSE(RUN(lun, NULL, 0, sel, 24, 0x15, 0x00, 0, 0, 24, 0), 5, 0x24, 0);
	/* Longer than the buffer sent. */
	res = RUN(lun, NULL, 0, sel, 24, 0x15, 0x10, 0, 0, 40, 0);
	assert_true(res.overrun);
	/* And back on. */
	sel[4 + 2] |= 0x04;
	ASSERT_GOOD(RUN(lun, NULL, 0, sel, 24, 0x15, 0x10, 0, 0, 24, 0));
	RUN(lun, buf, sizeof(buf), NULL, 0, 0x1a, 0x08, 0x08, 0, 255, 0);
	assert_int_equal(buf[6] & 0x04, 0x04);
	scsi_lun_destroy(lun);
}

static void test_unmap_write_same(void **state)
{
	struct scsi_lun *lun = make_lun(disk_path, false, false);
	uint8_t *buf = malloc(65536), param[8 + 32] = { 0 }, block[512];
	unsigned int i;

	memset(buf, 0xab, 65536);
	ASSERT_GOOD(RUN(lun, NULL, 0, buf, 65536, 0x2a, 0, 0, 0, 0x10, 0, 0, 0, 128, 0));
	/* UNMAP two ranges of 4 KiB each (punched holes read as zeroes). */
	param[1] = 6 + 32;
	param[3] = 32;
	put_be32(param + 8 + 4, 0x1000);
	put_be32(param + 8 + 8, 8);
	put_be32(param + 24 + 4, 0x1010);
	put_be32(param + 24 + 8, 8);
	ASSERT_GOOD(RUN(lun, NULL, 0, param, sizeof(param), 0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0));
	memset(buf, 0x11, 65536);
	ASSERT_GOOD(RUN(lun, buf, 65536, NULL, 0, 0x28, 0, 0, 0, 0x10, 0, 0, 0, 128, 0));
	for (i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(buf[4096], 0xab);
	/* A range past the end: nothing is discarded. */
	put_be32(param + 24 + 4, DISK_SIZE / 512 - 4);
	ASSERT_SENSE(RUN(lun, NULL, 0, param, sizeof(param), 0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0),
		     5, 0x21, 0);
	/* Descriptor length beyond the parameter list. */
	param[3] = 64;
	ASSERT_SENSE(RUN(lun, NULL, 0, param, sizeof(param), 0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0),
		     5, 0x1a, 0);
	/* WRITE SAME (16) of a pattern over 16 blocks, then of zeroes with UNMAP. */
	memset(block, 0x5a, sizeof(block));
	ASSERT_GOOD(RUN(lun, NULL, 0, block, 512, 0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 16,
			0, 0));
	ASSERT_GOOD(RUN(lun, buf, 8192, NULL, 0, 0x28, 0, 0, 0, 0, 0x20, 0, 0, 16, 0));
	for (i = 0; i < 8192; i++)
		assert_int_equal(buf[i], 0x5a);
	memset(block, 0, sizeof(block));
	ASSERT_GOOD(RUN(lun, NULL, 0, block, 512, 0x41, 0x08, 0, 0, 0, 0x20, 0, 0, 16, 0));
	ASSERT_GOOD(RUN(lun, buf, 8192, NULL, 0, 0x28, 0, 0, 0, 0, 0x20, 0, 0, 16, 0));
	for (i = 0; i < 8192; i++)
		assert_int_equal(buf[i], 0);
	/* No data sent; zero blocks; past the end. */
	ASSERT_SENSE(RUN(lun, NULL, 0, NULL, 0, 0x41, 0, 0, 0, 0, 0x20, 0, 0, 16, 0), 5, 0x24, 0);
	ASSERT_SENSE(RUN(lun, NULL, 0, block, 512, 0x41, 0, 0, 0, 0, 0x20, 0, 0, 0, 0), 5, 0x24, 0);
	ASSERT_SENSE(RUN(lun, NULL, 0, block, 512, 0x41, 0, 0, 0x7f, 0x20, 0, 0, 0, 16, 0),
		     5, 0x21, 0);
	free(buf);
	scsi_lun_destroy(lun);
}

/* Every opcode with hostile fields and small buffers: each ends, nothing else breaks. */
static void test_every_opcode(void **state)
{
	struct scsi_lun *lun = make_lun(disk_path, false, false);
	struct scsi_lun *cd = have_iso ? make_lun(iso_path, true, true) : NULL;
	uint8_t cdb[16], in[64], out[64];
	unsigned int op, fill;

	for (fill = 0; fill < 3; fill++) {
		for (op = 0; op < 256; op++) {
			/* Writes with 0xff fields hit the range checks, never the file. */
			memset(cdb, fill == 0 ? 0 : fill == 1 ? 0xff : 0x01, sizeof(cdb));
			cdb[0] = op;
			memset(out, fill == 2 ? 0x08 : 0xff, sizeof(out));
			if (fill == 0 && (op == 0x0a || op == 0x2a || op == 0xaa || op == 0x8a ||
					  op == 0x41 || op == 0x93))
				continue;	/* zeroed fields would write block 0: fine, but not here */
			run(lun, cdb, 16, in, sizeof(in), out, sizeof(out));
			if (cd)
				run(cd, cdb, 16, in, sizeof(in), out, sizeof(out));
		}
	}
	ASSERT_GOOD(RUN(lun, NULL, 0, NULL, 0, 0x00, 0, 0, 0, 0, 0));
	scsi_lun_destroy(cd);
	scsi_lun_destroy(lun);
}

/* ---- CD-ROM ---- */

static void test_cdrom_basics(void **state)
{
	struct scsi_lun *cd;
	uint8_t buf[4096];
	struct result res;

	if (!have_iso)
		skip();
	cd = make_lun(iso_path, true, false);	/* a CD-ROM is read-only whatever is asked */
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x12, 0, 0, 0, 96, 0);
	assert_int_equal(buf[0], 5);
	assert_int_equal(buf[1], 0x80);
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	ASSERT_GOOD(res);
	assert_int_equal(get_be32(buf + 4), 2048);
	/* The primary volume descriptor at LBA 16. */
	res = RUN(cd, buf, 2048, NULL, 0, 0x28, 0, 0, 0, 0, 16, 0, 0, 1, 0);
	ASSERT_GOOD(res);
	assert_int_equal(res.xfer, 2048);
	assert_memory_equal(buf, "\x01" "CD001", 6);
	ASSERT_SENSE(RUN(cd, NULL, 0, buf, 2048, 0x2a, 0, 0, 0, 0, 16, 0, 0, 1, 0), 7, 0x27, 0);
	/* Capabilities page, through MODE SENSE (10) as sr asks. */
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 128, 0);
	ASSERT_GOOD(res);
	assert_int_equal(buf[8], 0x2a);
	assert_int_equal(buf[9], 20);
	assert_int_equal(buf[3] & 0x80, 0x80);
	/* Pages a disk has and a CD-ROM has not. */
	ASSERT_SENSE(RUN(cd, buf, sizeof(buf), NULL, 0, 0x1a, 0, 0x08, 0, 255, 0), 5, 0x24, 0);
	ASSERT_SENSE(RUN(cd, NULL, 0, buf, 64, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0), 5, 0x20, 0);
	scsi_lun_destroy(cd);
}

static void test_cdrom_toc(void **state)
{
	struct scsi_lun *cd;
	uint8_t buf[256], cap[8];
	uint32_t blocks;
	struct result res;

	if (!have_iso)
		skip();
	cd = make_lun(iso_path, true, true);
	RUN(cd, cap, sizeof(cap), NULL, 0, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	blocks = get_be32(cap) + 1;
	/* Format 0, LBA: track 1 at 0, lead-out at the capacity. */
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x43, 0, 0, 0, 0, 0, 0, 0, 255, 0);
	ASSERT_GOOD(res);
	assert_int_equal(res.xfer, 20);
	assert_int_equal(buf[0] << 8 | buf[1], 18);
	assert_int_equal(buf[2], 1);
	assert_int_equal(buf[3], 1);
	assert_int_equal(buf[5], 0x14);
	assert_int_equal(buf[6], 1);
	assert_int_equal(get_be32(buf + 8), 0);
	assert_int_equal(buf[14], 0xaa);
	assert_int_equal(get_be32(buf + 16), blocks);
	/* MSF: track 1 at 00:02:00. */
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x43, 0x02, 0, 0, 0, 0, 0, 0, 255, 0);
	assert_memory_equal(buf + 8, ((uint8_t[]){ 0, 0, 2, 0 }), 4);
	/* From the lead-out only; a track past the last. */
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x43, 0, 0, 0, 0, 0, 0xaa, 0, 255, 0);
	assert_int_equal(res.xfer, 12);
	ASSERT_SENSE(RUN(cd, buf, sizeof(buf), NULL, 0, 0x43, 0, 0, 0, 0, 0, 2, 0, 255, 0),
		     5, 0x24, 0);
	/* Format 1, session info; format 2, raw TOC (A0, A1, A2, track 1). */
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x43, 0, 1, 0, 0, 0, 0, 0, 255, 0);
	assert_int_equal(res.xfer, 12);
	assert_int_equal(buf[6], 1);
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x43, 0, 2, 0, 0, 0, 1, 0, 255, 0);
	assert_int_equal(res.xfer, 4 + 4 * 11);
	assert_int_equal(buf[4 + 3], 0xa0);
	assert_int_equal(buf[4 + 22 + 3], 0xa2);
	ASSERT_SENSE(RUN(cd, buf, sizeof(buf), NULL, 0, 0x43, 0, 5, 0, 0, 0, 0, 0, 255, 0),
		     5, 0x24, 0);
	/* Old drives' format in the control byte. */
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x43, 0, 0, 0, 0, 0, 0, 0, 255, 0x40);
	assert_int_equal(res.xfer, 12);
	/* Disc and track information. */
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x51, 0, 0, 0, 0, 0, 0, 0, 34, 0);
	ASSERT_GOOD(res);
	assert_int_equal(buf[2], 0x0e);
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x52, 1, 0, 0, 0, 1, 0, 0, 36, 0);
	ASSERT_GOOD(res);
	assert_int_equal(get_be32(buf + 24), blocks);
	ASSERT_SENSE(RUN(cd, buf, sizeof(buf), NULL, 0, 0x52, 1, 0, 0, 0, 2, 0, 0, 36, 0),
		     5, 0x24, 0);
	/* GET CONFIGURATION: CD-ROM the current profile; one feature with RT=2. */
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x46, 0, 0, 0, 0, 0, 0, 0, 255, 0);
	ASSERT_GOOD(res);
	assert_int_equal(buf[6] << 8 | buf[7], 0x0008);
	assert_int_equal(get_be32(buf) + 4, res.xfer);
	res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x46, 2, 0, 0x1e, 0, 0, 0, 0, 255, 0);
	assert_int_equal(res.xfer, 8 + 8);
	assert_int_equal(buf[9], 0x1e);
	ASSERT_GOOD(RUN(cd, buf, 8, NULL, 0, 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0));
	scsi_lun_destroy(cd);
}

static uint8_t gesn(struct scsi_lun *cd, uint8_t *status)
{
	uint8_t buf[8] = { 0 };
	struct result res = RUN(cd, buf, sizeof(buf), NULL, 0, 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0);

	ASSERT_GOOD(res);
	assert_int_equal(buf[2], 4);
	*status = buf[5];
	return buf[4];
}

static void test_cdrom_media(void **state)
{
	struct vk_err err = { 0 };
	struct scsi_lun *cd;
	struct scsi_lun_info info;
	uint8_t buf[2048], st;

	if (!have_iso)
		skip();
	cd = make_lun(iso_path, true, true);
	assert_int_equal(gesn(cd, &st), 0);
	assert_int_equal(st, 0x02);				/* present, tray closed */
	ASSERT_SENSE(RUN(cd, buf, 8, NULL, 0, 0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8, 0), 5, 0x24, 0);
	/* The guest locks the door: neither it nor the host (without force) ejects. */
	ASSERT_GOOD(RUN(cd, NULL, 0, NULL, 0, 0x1e, 0, 0, 0, 1, 0));
	ASSERT_SENSE(RUN(cd, NULL, 0, NULL, 0, 0x1b, 0, 0, 0, 0x02, 0), 5, 0x53, 0x02);
	assert_int_equal(scsi_lun_eject(cd, false, &err), -EBUSY);
	assert_int_equal(gesn(cd, &st), 1);			/* eject request */
	scsi_lun_info(cd, &info);
	assert_true(info.locked);
	/* Unlocked, the guest opens the tray and closes it again. */
	ASSERT_GOOD(RUN(cd, NULL, 0, NULL, 0, 0x1e, 0, 0, 0, 0, 0));
	ASSERT_GOOD(RUN(cd, NULL, 0, NULL, 0, 0x1b, 0, 0, 0, 0x02, 0));
	ASSERT_SENSE(RUN(cd, NULL, 0, NULL, 0, 0x00, 0, 0, 0, 0, 0), 2, 0x3a, 0x02);
	assert_int_equal(gesn(cd, &st), 3);
	assert_int_equal(st, 0x03);
	ASSERT_GOOD(RUN(cd, NULL, 0, NULL, 0, 0x1b, 0, 0, 0, 0x03, 0));
	ASSERT_GOOD(RUN(cd, NULL, 0, NULL, 0, 0x00, 0, 0, 0, 0, 0));
	assert_int_equal(gesn(cd, &st), 2);
	/* The host ejects with force although locked: no medium, tray open. */
	ASSERT_GOOD(RUN(cd, NULL, 0, NULL, 0, 0x1e, 0, 0, 0, 1, 0));
	assert_int_equal(scsi_lun_eject(cd, true, &err), 0);
	ASSERT_SENSE(RUN(cd, NULL, 0, NULL, 0, 0x00, 0, 0, 0, 0, 0), 2, 0x3a, 0x02);
	ASSERT_SENSE(RUN(cd, buf, 2048, NULL, 0, 0x28, 0, 0, 0, 0, 16, 0, 0, 1, 0), 2, 0x3a, 0x02);
	ASSERT_SENSE(RUN(cd, buf, 8, NULL, 0, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), 2, 0x3a, 0x02);
	scsi_lun_info(cd, &info);
	assert_null(info.path);
	assert_true(info.tray_open);
	/* A new medium: unit attention once, then ready; a new-media event. */
	assert_int_equal(scsi_lun_change(cd, iso2_path, "raw", &err), 0);
	ASSERT_SENSE(RUN(cd, NULL, 0, NULL, 0, 0x00, 0, 0, 0, 0, 0), 6, 0x28, 0);
	ASSERT_GOOD(RUN(cd, NULL, 0, NULL, 0, 0x00, 0, 0, 0, 0, 0));
	assert_int_equal(gesn(cd, &st), 2);
	ASSERT_GOOD(RUN(cd, buf, 2048, NULL, 0, 0x28, 0, 0, 0, 0, 16, 0, 0, 1, 0));
	assert_memory_equal(buf, "\x01" "CD001", 6);
	/* A file that is not an ISO is refused, the medium stays. */
	assert_int_equal(scsi_lun_change(cd, disk_path, "raw", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not an ISO 9660 image"));
	ASSERT_GOOD(RUN(cd, NULL, 0, NULL, 0, 0x00, 0, 0, 0, 0, 0));
	scsi_lun_destroy(cd);
}

static void test_cdrom_empty(void **state)
{
	struct scsi_lun *cd = make_lun(NULL, true, true), *disk;
	struct disk_config cfg = { .path = disk_path, .cdrom = true, .format = "raw",
				   .cache = CACHE_WRITEBACK, .aio = AIO_THREADS };
	struct scsi_lun_params p = { .loop = loop, .max_inflight = 8, .max_sectors = 256 };
	struct vk_err err = { 0 };
	uint8_t buf[64], st;

	ASSERT_SENSE(RUN(cd, NULL, 0, NULL, 0, 0x00, 0, 0, 0, 0, 0), 2, 0x3a, 0x01);
	ASSERT_SENSE(RUN(cd, buf, 64, NULL, 0, 0x43, 0, 0, 0, 0, 0, 0, 0, 64, 0), 2, 0x3a, 0x01);
	assert_int_equal(gesn(cd, &st), 0);
	assert_int_equal(st, 0);
	/* REQUEST SENSE without a failed command before: the drive's state. */
	RUN(cd, buf, sizeof(buf), NULL, 0, 0x03, 0, 0, 0, 18, 0);
	assert_int_equal(buf[2], 2);
	assert_int_equal(buf[12], 0x3a);
	ASSERT_GOOD(RUN(cd, buf, sizeof(buf), NULL, 0, 0x46, 0, 0, 0, 0, 0, 0, 0, 64, 0));
	assert_int_equal(buf[6] << 8 | buf[7], 0);		/* no current profile */
	scsi_lun_destroy(cd);
	/* A CD-ROM on a file that is not an ISO. */
	assert_int_equal(scsi_lun_create(&cfg, &p, &disk, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not an ISO 9660 image"));
}

static void make_iso(const char *out, const char *label)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "mkdir -p %s/tree && echo hello > %s/tree/hello.txt && "
		 "xorriso -as mkisofs -quiet -V %s -o %s %s/tree 2>/dev/null",
		 iso_dir, iso_dir, label, out, iso_dir);
	have_iso = !system(cmd);
}

static int setup(void **state)
{
	int fd = mkstemp(disk_path);

	if (fd < 0 || ftruncate(fd, DISK_SIZE))
		return -1;
	close(fd);
	if (evloop_new(&loop))
		return -1;
	stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	evloop_add(loop, stop_efd, 0x001 /* EPOLLIN */, on_stop, NULL);
	if (!mkdtemp(iso_dir))
		return -1;
	snprintf(iso_path, sizeof(iso_path), "%s/a.iso", iso_dir);
	snprintf(iso2_path, sizeof(iso2_path), "%s/b.iso", iso_dir);
	if (!system("command -v xorriso > /dev/null 2>&1")) {
		make_iso(iso_path, "VMKIT_A");
		if (have_iso)
			make_iso(iso2_path, "VMKIT_B");
	}
	if (!have_iso)
		fprintf(stderr, "test-scsi: no xorriso: the CD-ROM tests skip\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	unlink(disk_path);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", iso_dir);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inquiry),
		cmocka_unit_test(test_capacity_and_misc),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_mode_pages),
		cmocka_unit_test(test_unmap_write_same),
		cmocka_unit_test(test_every_opcode),
		cmocka_unit_test(test_cdrom_basics),
		cmocka_unit_test(test_cdrom_toc),
		cmocka_unit_test(test_cdrom_media),
		cmocka_unit_test(test_cdrom_empty),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
