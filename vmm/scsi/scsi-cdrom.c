// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * MMC for the CD-ROM LUN: the table of contents and disc/track information
 * of a one-track data disc (what Linux's sr, isolinux and GRUB read), the
 * feature list, media event polling (how Linux notices a new medium or an
 * eject request) and the mechanism status. The disc is one session with
 * one data track (mode 1) from LBA 0 to the lead-out at the capacity.
 */
#include <errno.h>
#include <string.h>

#include "scsi-int.h"

enum {
	READ_TOC = 0x43, GET_CONFIGURATION = 0x46, GESN = 0x4a, READ_DISC_INFO = 0x51,
	READ_TRACK_INFO = 0x52, SET_CD_SPEED = 0xbb, MECHANISM_STATUS = 0xbd,
};

#define TRACK_DATA_CTRL	0x14	/* ADR 1 (position), control 4 (data track) */
#define LEADOUT		0xaa

/* LBA to minute/second/frame as a CD addresses it (150 frames of lead-in). */
static void lba_to_msf(uint8_t *p, uint64_t lba)
{
	lba += 150;
	p[0] = MIN(lba / (75 * 60), 0xffu);
	p[1] = (lba / 75) % 60;
	p[2] = lba % 75;
}

/* A 4-byte TOC address: LBA, or 0 + MSF with the MSF bit. */
static void toc_addr(uint8_t *p, uint64_t lba, bool msf)
{
	if (msf) {
		p[0] = 0;
		lba_to_msf(p + 1, lba);
	} else {
		put32(p, lba);
	}
}

static unsigned int toc_formatted(struct scsi_lun *lun, bool msf, uint8_t start, uint8_t *buf)
{
	unsigned int n = 4;

	if (start > 1 && start != LEADOUT)
		return 0;
	buf[2] = 1;
	buf[3] = 1;
	if (start <= 1) {
		buf[n + 1] = TRACK_DATA_CTRL;
		buf[n + 2] = 1;
		toc_addr(buf + n + 4, 0, msf);
		n += 8;
	}
	buf[n + 1] = TRACK_DATA_CTRL;
	buf[n + 2] = LEADOUT;
	toc_addr(buf + n + 4, lun->blocks, msf);
	return n + 8;
}

static unsigned int toc_session(bool msf, uint8_t *buf)
{
	buf[2] = 1;			/* first and last complete session */
	buf[3] = 1;
	buf[5] = TRACK_DATA_CTRL;
	buf[6] = 1;			/* first track of the last session */
	toc_addr(buf + 8, 0, msf);
	return 12;
}

/* Format 2, the raw TOC: points A0 (first track), A1 (last), A2 (lead-out), then track 1. */
static unsigned int toc_raw(struct scsi_lun *lun, uint8_t *buf)
{
	static const uint8_t points[] = { 0xa0, 0xa1, 0xa2, 0x01 };
	unsigned int n = 4, i;

	buf[2] = 1;
	buf[3] = 1;
	for (i = 0; i < ARRAY_SIZE(points); i++, n += 11) {
		uint8_t *d = buf + n;

		d[0] = 1;		/* session */
		d[1] = TRACK_DATA_CTRL;
		d[3] = points[i];
		if (points[i] == 0xa0 || points[i] == 0xa1)
			d[8] = 1;	/* PMIN: the track number (A0: disc type 0, CD-ROM) */
		else if (points[i] == 0xa2)
			lba_to_msf(d + 8, lun->blocks);
		else
			lba_to_msf(d + 8, 0);
	}
	return n;
}

static int cmd_read_toc(struct scsi_lun *lun, struct scsi_req *r)
{
	const uint8_t *c = r->cdb;
	unsigned int format = c[2] & 0x0f, n;
	bool msf = c[1] & 0x02;
	uint8_t buf[64] = { 0 };
	struct scsi_sense s;

	if (!scsi_medium_ready(lun, &s))
		return scsi_fail(lun, r, s);
	/* Old drives took the format from the top bits of the control byte (SFF-8020). */
	if (!format)
		format = c[9] >> 6;
	switch (format) {
	case 0: n = toc_formatted(lun, msf, c[6], buf); break;
	case 1: n = toc_session(msf, buf); break;
	case 2: n = toc_raw(lun, buf); break;
	default: n = 0; break;
	}
	if (!n)
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	put16(buf, n - 2);
	return scsi_reply(r, buf, n, be16(c + 7));
}

/* ---- GET CONFIGURATION ---- */

struct feature {
	uint16_t code;
	bool needs_medium;		/* current only with a disc in */
	uint8_t len;			/* additional length */
	uint8_t data[8];
};

static const struct feature features[] = {
	{ 0x0001, false, 8, { 0, 0, 0, 0, 0x01 } },	/* core: interface filled in, DBE */
	{ 0x0002, false, 4, { 0x02 } },			/* morphing: OCEvent */
	{ 0x0003, false, 4, { 0x29 } },			/* removable: tray, eject, lock */
	{ 0x0010, true, 8, { 0, 0, 0x08, 0, 0, 0x01 } },	/* random readable: 2048, blocking 1 */
	{ 0x001e, true, 4, { 0 } },			/* CD read */
	{ 0x0100, false, 0, { 0 } },			/* power management */
	{ 0x0105, false, 0, { 0 } },			/* timeout */
};

/* One feature descriptor at p; its length. */
static unsigned int put_feature(struct scsi_lun *lun, const struct feature *f, bool current,
				uint8_t *p)
{
	put16(p, f->code);
	p[2] = (f->code == 0x0001 || f->code == 0x0002 ? 0x04 : 0) | 0x02 | current;
	p[3] = f->len;
	memcpy(p + 4, f->data, f->len);
	if (f->code == 0x0001)
		put32(p + 4, lun->p.interface);
	if (f->code == 0x0003 && lun->locked)
		p[4] |= 0x04;		/* LOCK state: the guest's prevent */
	return 4 + f->len;
}

/* The profile list (feature 0): CD-ROM, current when a disc is in. */
static unsigned int put_profiles(bool have, uint8_t *p)
{
	p[2] = 0x03;			/* persistent, current */
	p[3] = 4;
	put16(p + 4, 0x0008);
	p[6] = have;
	return 8;
}

static int cmd_get_configuration(struct scsi_lun *lun, struct scsi_req *r)
{
	const uint8_t *c = r->cdb;
	unsigned int rt = c[1] & 0x03, start = be16(c + 2), n = 8, i;
	bool have = lun->bb && !lun->tray_open;
	uint8_t buf[256] = { 0 };

	if (rt == 3)
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	put16(buf + 6, have ? 0x0008 : 0);	/* current profile: CD-ROM, or none */
	if (start == 0)
		n += put_profiles(have, buf + n);
	for (i = 0; i < ARRAY_SIZE(features); i++) {
		const struct feature *f = &features[i];
		bool current = !f->needs_medium || have;

		if (f->code < start || (rt == 2 && f->code != start) || (rt == 1 && !current))
			continue;
		n += put_feature(lun, f, current, buf + n);
	}
	if (rt == 2 && start == 0)
		n = 8 + 8;		/* the profile list alone */
	put32(buf, n - 4);
	return scsi_reply(r, buf, n, be16(c + 7));
}

/* ---- events, disc and track information, mechanism ---- */

static int cmd_gesn(struct scsi_lun *lun, struct scsi_req *r)
{
	const uint8_t *c = r->cdb;
	uint8_t buf[8] = { 0 };
	unsigned int n = 4;

	/* Only polled operation: an asynchronous request is refused (MMC-6 6.7). */
	if (!(c[1] & 0x01))
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	buf[3] = 1 << 4;		/* supported classes: media */
	if (c[4] & (1 << 4)) {
		buf[2] = 4;		/* media class */
		buf[4] = lun->media_event;
		buf[5] = (lun->tray_open ? 0x01 : 0) | (lun->bb ? 0x02 : 0);
		lun->media_event = MEDIA_EV_NONE;
		n = 8;
	} else {
		buf[2] = 0x80;		/* NEA: no class asked for that we have */
	}
	put16(buf, n - 2);
	return scsi_reply(r, buf, n, be16(c + 7));
}

static int cmd_read_disc_info(struct scsi_lun *lun, struct scsi_req *r)
{
	uint8_t buf[34] = { 0 };
	struct scsi_sense s;

	if (!scsi_medium_ready(lun, &s))
		return scsi_fail(lun, r, s);
	if (r->cdb[1] & 0x07)		/* only the standard disc information */
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	put16(buf, sizeof(buf) - 2);
	buf[2] = 0x0e;			/* last session complete, disc complete */
	buf[3] = 1;			/* first track */
	buf[4] = 1;			/* sessions */
	buf[5] = 1;			/* first track of the last session */
	buf[6] = 1;			/* last track of the last session */
	buf[7] = 0x20;			/* unrestricted use */
	put32(buf + 16, 0xffffffff);	/* no next session's lead-in */
	put32(buf + 20, 0xffffffff);	/* nor lead-out */
	return scsi_reply(r, buf, sizeof(buf), be16(r->cdb + 7));
}

static int cmd_read_track_info(struct scsi_lun *lun, struct scsi_req *r)
{
	const uint8_t *c = r->cdb;
	uint32_t addr = be32(c + 2);
	uint8_t buf[36] = { 0 };
	struct scsi_sense s;
	bool ok;

	if (!scsi_medium_ready(lun, &s))
		return scsi_fail(lun, r, s);
	switch (c[1] & 0x03) {
	case 0: ok = addr < lun->blocks; break;	/* an LBA in the track */
	case 1: ok = addr == 1; break;		/* track number */
	case 2: ok = addr == 1; break;		/* session number: its first track */
	default: ok = false; break;
	}
	if (!ok)
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	put16(buf, sizeof(buf) - 2);
	buf[2] = 1;			/* track */
	buf[3] = 1;			/* session */
	buf[5] = 0x04;			/* data track, uninterrupted */
	buf[6] = 0x01;			/* data mode 1 */
	put32(buf + 24, lun->blocks);	/* track size */
	return scsi_reply(r, buf, sizeof(buf), be16(c + 7));
}

static int cmd_mechanism_status(struct scsi_lun *lun, struct scsi_req *r)
{
	uint8_t buf[8] = { 0 };

	buf[1] = lun->tray_open ? 0x10 : 0;	/* door open */
	return scsi_reply(r, buf, sizeof(buf), be16(r->cdb + 8));
}

unsigned int scsi_cdrom_caps_page(struct scsi_lun *lun, uint8_t *buf)
{
	unsigned int len = 22;

	memset(buf, 0, len);
	buf[2] = 0x03;			/* reads CD-R and CD-RW */
	buf[4] = 0x71;			/* multi-session, mode 2 form 1/2, audio play */
	buf[5] = 0x03;			/* CD-DA commands, accurate stream */
	buf[6] = 0x29 | (lun->locked ? 0x02 : 0);	/* tray, eject, lock (state) */
	put16(buf + 8, 706);		/* max speed, kB/s (4x) */
	put16(buf + 10, 2);		/* volume levels */
	put16(buf + 12, 512);		/* buffer, KiB */
	put16(buf + 14, 706);		/* current speed */
	return len;
}

int scsi_cdrom_exec(struct scsi_lun *lun, struct scsi_req *r)
{
	switch (r->cdb[0]) {
	case READ_TOC: return cmd_read_toc(lun, r);
	case GET_CONFIGURATION: return cmd_get_configuration(lun, r);
	case GESN: return cmd_gesn(lun, r);
	case READ_DISC_INFO: return cmd_read_disc_info(lun, r);
	case READ_TRACK_INFO: return cmd_read_track_info(lun, r);
	case MECHANISM_STATUS: return cmd_mechanism_status(lun, r);
	case SET_CD_SPEED:
		r->status = SCSI_GOOD;	/* a file has one speed */
		return 0;
	}
	return -ENOENT;
}
