// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The data a logical unit describes itself with (INQUIRY and its VPD
 * pages, mode pages, READ CAPACITY) and SBC's provisioning commands
 * (UNMAP, WRITE SAME). Every length the guest gives is checked against
 * what its buffers hold before a byte is copied.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/blk-backend.h"
#include "scsi-int.h"

#define VENDOR		"VMKIT   "
#define MAX_UNMAP_DESC	255
#define MAX_UNMAP_LBAS	(1u << 22)
#define UNMAP_GRANULARITY 8		/* 4 KiB of 512-byte blocks: what a file punches */
#define WRITE_SAME_BUF_MAX (4u << 20)	/* a non-zero pattern is written from one buffer */

static uint8_t peripheral_type(const struct scsi_lun *lun)
{
	return lun->type == SCSI_LUN_CDROM ? 0x05 : 0x00;
}

static const char *device_id(const struct scsi_lun *lun)
{
	if (lun->cfg.serial[0])
		return lun->cfg.serial;
	return lun->cfg.id ? lun->cfg.id : "disk";
}

static uint32_t max_transfer_blocks(const struct scsi_lun *lun)
{
	return (uint64_t)lun->p.max_sectors * 512 / lun->block_size;
}

/* The VPD page into buf (256 bytes); its length, or 0 for a page not offered. */
static unsigned int vpd_page(const struct scsi_lun *lun, uint8_t page, uint8_t *buf)
{
	bool disk = lun->type == SCSI_LUN_DISK;
	unsigned int n = 4, len;
	const char *id;

	buf[0] = peripheral_type(lun);
	buf[1] = page;
	switch (page) {
	case 0x00:
		buf[n++] = 0x00;
		if (lun->cfg.serial[0])
			buf[n++] = 0x80;
		buf[n++] = 0x83;
		if (disk) {
			buf[n++] = 0xb0;
			buf[n++] = 0xb1;
			buf[n++] = 0xb2;
		}
		break;
	case 0x80:
		if (!lun->cfg.serial[0])
			return 0;
		len = strnlen(lun->cfg.serial, DISK_SERIAL_MAX);
		memcpy(buf + 4, lun->cfg.serial, len);
		n += len;
		break;
	case 0x83:
		/* One designator: T10 vendor ID (type 1), ASCII, naming the LUN. */
		id = device_id(lun);
		len = MIN(strlen(id), (size_t)(255 - 8 - 8));
		buf[4] = 0x02;
		buf[5] = 0x01;
		buf[7] = 8 + len;
		memcpy(buf + 8, VENDOR, 8);
		memcpy(buf + 16, id, len);
		n = 16 + len;
		break;
	case 0xb0:	/* block limits */
		if (!disk)
			return 0;
		put16(buf + 6, 1);
		put32(buf + 8, max_transfer_blocks(lun));
		put32(buf + 12, max_transfer_blocks(lun));
		if (scsi_lun_discard(lun)) {
			put32(buf + 20, MAX_UNMAP_LBAS);
			put32(buf + 24, MAX_UNMAP_DESC);
			put32(buf + 28, UNMAP_GRANULARITY);
		}
		put64(buf + 36, MAX_UNMAP_LBAS);	/* WRITE SAME: zeroes need no buffer */
		n = 64;
		break;
	case 0xb1:	/* block device characteristics: not rotating */
		if (!disk)
			return 0;
		put16(buf + 4, 1);
		n = 64;
		break;
	case 0xb2:	/* logical block provisioning: UNMAP, WRITE SAME (16) and (10) */
		if (!disk)
			return 0;
		if (scsi_lun_discard(lun)) {
			buf[5] = 0xe0;
			buf[6] = 0x02;		/* thin provisioned */
		}
		n = 8;
		break;
	default:
		return 0;
	}
	put16(buf + 2, n - 4);
	return n;
}

int scsi_inquiry(struct scsi_lun *lun, struct scsi_req *r)
{
	const uint8_t *c = r->cdb;
	uint8_t buf[256] = { 0 };
	unsigned int n;

	if (c[1] & 1) {
		n = vpd_page(lun, c[2], buf);
		if (!n)
			return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
		return scsi_reply(r, buf, n, be16(c + 3));
	}
	if (c[2] || (c[1] & 0xfe))
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	buf[0] = peripheral_type(lun);
	buf[1] = lun->type == SCSI_LUN_CDROM ? 0x80 : 0;	/* removable */
	buf[2] = 0x05;			/* SPC-3 */
	buf[3] = 0x12;			/* HiSup, response data format 2 */
	buf[4] = 36 - 5;
	buf[7] = 0x02;			/* CmdQue */
	memcpy(buf + 8, VENDOR, 8);
	memcpy(buf + 16, lun->type == SCSI_LUN_CDROM ? "VMKIT CD-ROM    " : "VMKIT HARDDISK  ", 16);
	memcpy(buf + 32, "1.0 ", 4);
	return scsi_reply(r, buf, 36, be16(c + 3));
}

/* ---- mode pages ---- */

enum { PC_CURRENT, PC_CHANGEABLE, PC_DEFAULT, PC_SAVED };

/* Mode page `page` as pc asks into buf (64 bytes); its length, 0 if the LUN has none. */
static unsigned int mode_page(struct scsi_lun *lun, uint8_t page, unsigned int pc, uint8_t *buf)
{
	bool disk = lun->type == SCSI_LUN_DISK;
	unsigned int len;

	switch (page) {
	case 0x01:	/* read-write error recovery: nothing changeable */
		len = 12;
		memset(buf, 0, len);
		if (pc != PC_CHANGEABLE)
			buf[2] = 0x80;	/* AWRE */
		break;
	case 0x08:	/* caching: WCE, which the guest may change */
		if (!disk)
			return 0;
		len = 20;
		memset(buf, 0, len);
		if (pc == PC_CHANGEABLE)
			buf[2] = 0x04;
		else if (pc == PC_DEFAULT)
			buf[2] = lun->cfg.cache == CACHE_NONE || lun->cfg.cache == CACHE_WRITEBACK ||
				 lun->cfg.cache == CACHE_UNSAFE ? 0x04 : 0;
		else
			buf[2] = lun->wce ? 0x04 : 0;
		break;
	case 0x0a:	/* control */
		len = 12;
		memset(buf, 0, len);
		if (pc != PC_CHANGEABLE)
			buf[3] = 0x10;	/* unrestricted reordering */
		break;
	case 0x2a:
		if (disk)
			return 0;
		len = scsi_cdrom_caps_page(lun, buf);
		if (pc == PC_CHANGEABLE)
			memset(buf + 2, 0, len - 2);
		break;
	default:
		return 0;
	}
	buf[0] = page;
	buf[1] = len - 2;
	return len;
}

static const uint8_t all_pages[] = { 0x01, 0x08, 0x0a, 0x2a };

/* The block descriptor (SBC's short LBA form), for a disk unless DBD. */
static unsigned int block_desc(const struct scsi_lun *lun, uint8_t *buf)
{
	put32(buf, lun->blocks > UINT32_MAX ? UINT32_MAX : lun->blocks);
	put32(buf + 4, lun->block_size);
	return 8;
}

int scsi_mode_sense(struct scsi_lun *lun, struct scsi_req *r)
{
	const uint8_t *c = r->cdb;
	bool ten = c[0] == 0x5a;
	unsigned int pc = c[2] >> 6, page = c[2] & 0x3f, sub = c[3];
	unsigned int hdr = ten ? 8 : 4, len = hdr, bdl = 0, i, n;
	uint8_t buf[256] = { 0 };

	if (pc == PC_SAVED)
		return scsi_fail(lun, r, SENSE_CODE_SAVING_NOT_SUPPORTED);
	if (sub && !(sub == 0xff && page == 0x3f))
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	if (!(c[1] & 0x08) && lun->type == SCSI_LUN_DISK && lun->bb)
		len += bdl = block_desc(lun, buf + len);
	if (page == 0x3f) {
		for (i = 0; i < ARRAY_SIZE(all_pages); i++)
			len += mode_page(lun, all_pages[i], pc, buf + len);
	} else {
		n = mode_page(lun, page, pc, buf + len);
		if (!n)
			return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
		len += n;
	}
	/* Device-specific parameter: write protect; DPOFUA on a disk. */
	i = (lun->cfg.readonly ? 0x80 : 0) | (lun->type == SCSI_LUN_DISK ? 0x10 : 0);
	if (ten) {
		put16(buf, len - 2);
		buf[3] = i;
		put16(buf + 6, bdl);
		return scsi_reply(r, buf, len, be16(c + 7));
	}
	buf[0] = len - 1;
	buf[2] = i;
	buf[3] = bdl;
	return scsi_reply(r, buf, len, c[4]);
}

/* One page the guest sent: the changeable bits may differ from ours, no others. */
static int check_page(struct scsi_lun *lun, const uint8_t *p, unsigned int len,
		      struct scsi_sense *s)
{
	uint8_t cur[64], mask[64];
	unsigned int n, i;

	*s = SENSE_CODE_INVALID_PARAM;
	if (p[0] & 0x40)		/* subpage format: none of ours has subpages */
		return -EINVAL;
	n = mode_page(lun, p[0] & 0x3f, PC_CURRENT, cur);
	if (!n || n != len)
		return -EINVAL;
	mode_page(lun, p[0] & 0x3f, PC_CHANGEABLE, mask);
	for (i = 2; i < n; i++)
		if ((p[i] ^ cur[i]) & ~mask[i])
			return -EINVAL;
	return 0;
}

/* Walk the pages of a parameter list; apply them when apply, else only check. */
static int walk_pages(struct scsi_lun *lun, const uint8_t *p, unsigned int len, bool apply,
		      struct scsi_sense *s)
{
	unsigned int at = 0, plen;

	while (at < len) {
		if (len - at < 2 || (plen = p[at + 1] + 2) > len - at) {
			*s = SENSE_CODE_INVALID_PARAM_LEN;
			return -EINVAL;
		}
		if (!apply && check_page(lun, p + at, plen, s))
			return -EINVAL;
		if (apply && (p[at] & 0x3f) == 0x08)
			lun->wce = p[at + 2] & 0x04;
		at += plen;
	}
	return 0;
}

int scsi_mode_select(struct scsi_lun *lun, struct scsi_req *r)
{
	const uint8_t *c = r->cdb;
	bool ten = c[0] == 0x55;
	unsigned int plen = ten ? be16(c + 7) : c[4], hdr = ten ? 8 : 4, bdl, i;
	struct scsi_sense s;
	uint8_t buf[512];

	/* PF (the pages are SPC's), no SP: nothing is saved. */
	if (!(c[1] & 0x10) || (c[1] & 0x01))
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	if (!plen) {
		r->status = SCSI_GOOD;
		return 0;
	}
	if (plen > sizeof(buf) || plen > r->out.len || plen < hdr) {
		r->overrun = plen > r->out.len;
		return scsi_fail(lun, r, SENSE_CODE_INVALID_PARAM_LEN);
	}
	vk_iov_copy(r->out.iov, r->out.n, 0, buf, plen, false);
	bdl = ten ? be16(buf + 6) : buf[3];
	if (bdl % 8 || bdl > plen - hdr)
		return scsi_fail(lun, r, SENSE_CODE_INVALID_PARAM_LEN);
	/* A block descriptor may repeat our block size (or leave it 0); not change it. */
	for (i = hdr; i < hdr + bdl; i += 8) {
		uint32_t bs = (uint32_t)buf[i + 5] << 16 | be16(buf + i + 6);

		if (bs && bs != lun->block_size)
			return scsi_fail(lun, r, SENSE_CODE_INVALID_PARAM);
	}
	if (walk_pages(lun, buf + hdr + bdl, plen - hdr - bdl, false, &s))
		return scsi_fail(lun, r, s);
	walk_pages(lun, buf + hdr + bdl, plen - hdr - bdl, true, &s);
	r->xfer = plen;
	r->status = SCSI_GOOD;
	return 0;
}

int scsi_read_capacity(struct scsi_lun *lun, struct scsi_req *r, bool sixteen)
{
	uint64_t last = lun->blocks ? lun->blocks - 1 : 0;
	uint8_t buf[32] = { 0 };
	struct scsi_sense s;

	if (!scsi_medium_ready(lun, &s))
		return scsi_fail(lun, r, s);
	if (!sixteen) {
		/* Past 2 TiB of 512-byte blocks: all ones says "ask READ CAPACITY (16)". */
		put32(buf, last > UINT32_MAX ? UINT32_MAX : last);
		put32(buf + 4, lun->block_size);
		return scsi_reply(r, buf, 8, 8);
	}
	put64(buf, last);
	put32(buf + 8, lun->block_size);
	if (scsi_lun_discard(lun))
		buf[14] = 0x80;		/* LBPME */
	return scsi_reply(r, buf, 32, be32(r->cdb + 10));
}

/* The state every provisioning command checks first. */
static bool writable(struct scsi_lun *lun, struct scsi_req *r)
{
	struct scsi_sense s;

	if (!scsi_medium_ready(lun, &s))
		scsi_fail(lun, r, s);
	else if (lun->cfg.readonly)
		scsi_fail(lun, r, SENSE_CODE_WRITE_PROTECTED);
	else
		return true;
	return false;
}

static bool in_range(const struct scsi_lun *lun, uint64_t lba, uint64_t nb)
{
	return lba <= lun->blocks && nb <= lun->blocks - lba;
}

int scsi_unmap(struct scsi_lun *lun, struct scsi_req *r)
{
	unsigned int plen = be16(r->cdb + 7), bd, n, i;
	uint8_t buf[8 + MAX_UNMAP_DESC * 16];

	if (!writable(lun, r))
		return 0;
	if (r->cdb[1] & 0x01)		/* ANCHOR */
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	if (!plen) {
		r->status = SCSI_GOOD;
		return 0;
	}
	if (plen < 8 || plen > r->out.len) {
		r->overrun = plen > r->out.len;
		return scsi_fail(lun, r, SENSE_CODE_INVALID_PARAM_LEN);
	}
	vk_iov_copy(r->out.iov, r->out.n, 0, buf, MIN(plen, sizeof(buf)), false);
	bd = be16(buf + 2);
	n = bd / 16;
	if (bd % 16 || 8 + bd > plen)
		return scsi_fail(lun, r, SENSE_CODE_INVALID_PARAM_LEN);
	if (n > MAX_UNMAP_DESC)
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	/* All or nothing: every range is checked before any is discarded. */
	for (i = 0; i < n; i++) {
		const uint8_t *d = buf + 8 + 16 * i;

		if (!in_range(lun, be64(d), be32(d + 8)) || be32(d + 8) > MAX_UNMAP_LBAS)
			return scsi_fail(lun, r, SENSE_CODE_LBA_OUT_OF_RANGE);
	}
	r->pending = 1;
	r->xfer = plen;			/* the parameter list was taken (resid 0) */
	for (i = 0; i < n; i++) {
		const uint8_t *d = buf + 8 + 16 * i;

		if (be32(d + 8))
			scsi_submit_discard(lun, r, be64(d), be32(d + 8), false, false);
	}
	return scsi_parts_end(lun, r);
}

int scsi_write_same(struct scsi_lun *lun, struct scsi_req *r, bool sixteen)
{
	const uint8_t *c = r->cdb;
	uint64_t lba = sixteen ? be64(c + 2) : be32(c + 2);
	uint64_t nb = sixteen ? be32(c + 10) : be16(c + 7);
	bool unmap = c[1] & 0x08, ndob = sixteen && (c[1] & 0x01), zero = true;
	uint8_t *block;
	size_t bytes;
	void *buf;

	if (!writable(lun, r))
		return 0;
	if ((c[1] & 0x06) || !nb)	/* LBDATA/PBDATA; 0 blocks ("to the end") is not offered */
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	if (!in_range(lun, lba, nb))
		return scsi_fail(lun, r, SENSE_CODE_LBA_OUT_OF_RANGE);
	if (!ndob) {
		if (r->out.len < lun->block_size) {
			r->overrun = true;
			return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
		}
		block = malloc(lun->block_size);
		if (!block)
			return scsi_fail(lun, r, SENSE_CODE_IO_ERROR);
		vk_iov_copy(r->out.iov, r->out.n, 0, block, lun->block_size, false);
		zero = vk_buf_is_zero(block, lun->block_size);
		free(block);
	}
	r->pending = 1;
	r->xfer = ndob ? 0 : lun->block_size;
	if (zero) {
		scsi_submit_discard(lun, r, lba, nb, true, unmap && scsi_lun_discard(lun));
		return scsi_parts_end(lun, r);
	}
	bytes = nb * lun->block_size;
	if (bytes > WRITE_SAME_BUF_MAX) {
		r->pending = 0;
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	}
	if (posix_memalign(&buf, BLK_ALIGN_DIRECT, ALIGN_UP(bytes, BLK_ALIGN_DIRECT))) {
		r->pending = 0;
		return scsi_fail(lun, r, SENSE_CODE_IO_ERROR);
	}
	vk_iov_copy(r->out.iov, r->out.n, 0, buf, lun->block_size, false);
	for (size_t at = lun->block_size; at < bytes; at += lun->block_size)
		memcpy((uint8_t *)buf + at, buf, lun->block_size);
	scsi_submit_write_buf(lun, r, lba, buf, bytes);
	return scsi_parts_end(lun, r);
}
