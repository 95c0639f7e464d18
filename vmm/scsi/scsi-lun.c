// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A SCSI logical unit: command dispatch, the commands every LUN type
 * shares (SPC), reads and writes through the block backend, and removable
 * media. CDB fields are checked before anything uses them; the backend's
 * completions end a command on the backend's loop thread.
 *
 * Sense is reported with the command (autosense, as virtio-scsi carries
 * it) and kept until the next command, for REQUEST SENSE (ATAPI's drivers
 * ask for it after every CHECK CONDITION).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "scsi-int.h"

enum {
	TEST_UNIT_READY = 0x00, REQUEST_SENSE = 0x03, READ_6 = 0x08, WRITE_6 = 0x0a,
	INQUIRY = 0x12, MODE_SELECT_6 = 0x15, MODE_SENSE_6 = 0x1a, START_STOP = 0x1b,
	PREVENT_ALLOW = 0x1e, READ_CAPACITY_10 = 0x25, READ_10 = 0x28, WRITE_10 = 0x2a,
	VERIFY_10 = 0x2f, SYNC_CACHE_10 = 0x35, WRITE_SAME_10 = 0x41, UNMAP = 0x42,
	GET_CONFIGURATION = 0x46, GESN = 0x4a, MODE_SELECT_10 = 0x55, MODE_SENSE_10 = 0x5a,
	READ_16 = 0x88, WRITE_16 = 0x8a, VERIFY_16 = 0x8f, SYNC_CACHE_16 = 0x91,
	WRITE_SAME_16 = 0x93, SERVICE_ACTION_IN_16 = 0x9e, REPORT_LUNS = 0xa0, READ_12 = 0xa8,
	WRITE_12 = 0xaa, VERIFY_12 = 0xaf,
};

int scsi_fail(struct scsi_lun *lun, struct scsi_req *r, struct scsi_sense s)
{
	r->status = SCSI_CHECK_CONDITION;
	r->sense_len = scsi_sense_fixed(r->sense, s);
	r->xfer = 0;
	lun->sense = s;
	lun->sense_valid = true;
	return 0;
}

int scsi_reply(struct scsi_req *r, const void *buf, size_t len, size_t alloc)
{
	len = MIN(len, alloc);
	r->xfer = vk_iov_copy(r->in.iov, r->in.n, 0, (void *)buf, len, true);
	r->status = SCSI_GOOD;
	return 0;
}

/* The CDB's length by its group code (SPC-4 4.2.5.1); 0 for the vendor groups. */
static unsigned int cdb_group_len(uint8_t op)
{
	static const uint8_t len[8] = { 6, 10, 10, 0, 16, 12, 0, 0 };

	return len[op >> 5];
}

/* ---- ending commands that went to the backend ---- */

/* With the lock: the command is over; unlock and tell the transport. */
static void finish_unlock(struct scsi_lun *lun, struct scsi_req *r)
{
	if (r->error) {
		struct scsi_sense s = r->write ? SENSE_CODE_WRITE_ERROR : SENSE_CODE_READ_ERROR;

		if (r->error == -EPERM)		/* a probed raw disk's first sector guard */
			s = SENSE_CODE_WRITE_PROTECTED;
		scsi_fail(lun, r, s);
		r->xfer = 0;
	} else {
		r->status = SCSI_GOOD;
	}
	free(r->bounce);
	r->bounce = NULL;
	lun->inflight--;
	pthread_mutex_unlock(&lun->lock);
	r->done(r);
}

static void part_done(void *opaque, int result)
{
	struct scsi_req *r = opaque;
	struct scsi_lun *lun = r->lun;

	pthread_mutex_lock(&lun->lock);
	if (result < 0 && !r->error)
		r->error = result;
	if (--r->pending)
		pthread_mutex_unlock(&lun->lock);
	else
		finish_unlock(lun, r);
}

int scsi_parts_end(struct scsi_lun *lun, struct scsi_req *r)
{
	if (--r->pending)
		return -EINPROGRESS;
	/* Every part failed to submit (or there were none): finished here. */
	free(r->bounce);
	r->bounce = NULL;
	if (r->error)
		return scsi_fail(lun, r, r->write ? SENSE_CODE_WRITE_ERROR : SENSE_CODE_IO_ERROR);
	r->status = SCSI_GOOD;
	return 0;
}

static void note_submit(struct scsi_req *r, int ret)
{
	if (ret) {
		if (!r->error)
			r->error = ret;
		r->pending--;
	}
}

/* A discard is advisory: where the file system cannot punch holes it did nothing, fine. */
static void discard_done(void *opaque, int result)
{
	part_done(opaque, 0);
}

int scsi_submit_discard(struct scsi_lun *lun, struct scsi_req *r, uint64_t lba, uint64_t nb,
			bool zero, bool unmap)
{
	uint64_t off = lba * lun->block_size, len = nb * lun->block_size;

	r->pending++;
	r->write = true;
	if (zero)
		note_submit(r, blk_write_zeroes(lun->bb, off, len, unmap, part_done, r));
	else if (lun->cfg.discard_ignore || blk_discard(lun->bb, off, len, discard_done, r))
		r->pending--;			/* hidden from the guest, or refused: nothing done */
	return 0;
}

int scsi_submit_write_buf(struct scsi_lun *lun, struct scsi_req *r, uint64_t lba, void *buf,
			  size_t len)
{
	r->bounce = buf;
	r->one = (struct iovec){ buf, len };
	r->len = len;
	r->pending++;
	r->write = true;
	note_submit(r, blk_pwritev(lun->bb, &r->one, 1, lba * lun->block_size, part_done, r));
	return 0;
}

/* ---- reads and writes ---- */

static bool iov_aligned(const struct iovec *iov, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (BLK_ALIGN_DIRECT - 1))
			return false;
	return true;
}

/* The first len bytes of b as iovecs in out (room for b->n). */
static unsigned int slice(const struct scsi_buf *b, size_t len, struct iovec *out)
{
	unsigned int i, k = 0;

	for (i = 0; i < b->n && len; i++) {
		out[k].iov_base = b->iov[i].iov_base;
		out[k].iov_len = MIN(b->iov[i].iov_len, len);
		len -= out[k].iov_len;
		if (out[k].iov_len)
			k++;
	}
	return k;
}

static void rw_done(void *opaque, int result);

static void flush_done(void *opaque, int result)
{
	part_done(opaque, result);
}

static void rw_done(void *opaque, int result)
{
	struct scsi_req *r = opaque;

	if (result >= 0 && (size_t)result != r->len)
		result = -EIO;
	if (result >= 0 && !r->write) {
		if (r->bounce)
			vk_iov_copy(r->in.iov, r->in.n, 0, r->bounce, r->len, true);
		r->xfer = r->len;
	}
	if (result >= 0 && r->write)
		r->xfer = r->len;
	/* FUA, or the guest turned the write cache off: the write is not done until flushed. */
	if (result >= 0 && r->flush_after && !blk_flush(r->bb, flush_done, r))
		return;
	part_done(r, result);
}

static int submit_rw(struct scsi_req *r, const struct iovec *iov, unsigned int n)
{
	return r->write ? blk_pwritev(r->bb, iov, n, r->off, rw_done, r) :
			  blk_preadv(r->bb, iov, n, r->off, rw_done, r);
}

static int start_rw(struct scsi_lun *lun, struct scsi_req *r)
{
	const struct scsi_buf *b = r->write ? &r->out : &r->in;
	unsigned int n = slice(b, r->len, r->data);

	r->bb = lun->bb;
	r->pending = 1;
	if (lun->bb->direct && !iov_aligned(r->data, n)) {
		if (posix_memalign(&r->bounce, BLK_ALIGN_DIRECT, ALIGN_UP(r->len, BLK_ALIGN_DIRECT))) {
			r->bounce = NULL;
			return scsi_fail(lun, r, SENSE_CODE_IO_ERROR);
		}
		if (r->write)
			vk_iov_copy(r->out.iov, r->out.n, 0, r->bounce, r->len, false);
		r->one = (struct iovec){ r->bounce, r->len };
		note_submit(r, submit_rw(r, &r->one, 1));
	} else {
		note_submit(r, submit_rw(r, r->data, n));
	}
	if (!r->pending) {
		free(r->bounce);
		r->bounce = NULL;
		return scsi_fail(lun, r, r->write ? SENSE_CODE_WRITE_ERROR : SENSE_CODE_READ_ERROR);
	}
	return -EINPROGRESS;
}

/* The LBA and block count of a READ, WRITE or VERIFY of any size. */
static void decode_rw(const uint8_t *c, uint64_t *lba, uint64_t *nb)
{
	switch (c[0] >> 5) {
	case 0:
		*lba = (uint32_t)(c[1] & 0x1f) << 16 | be16(c + 2);
		*nb = c[4] ? c[4] : 256;
		break;
	case 1:
		*lba = be32(c + 2);
		*nb = be16(c + 7);
		break;
	case 5:
		*lba = be32(c + 2);
		*nb = be32(c + 6);
		break;
	default:
		*lba = be64(c + 2);
		*nb = be32(c + 10);
		break;
	}
}

static bool cache_volatile(const struct scsi_lun *lun)
{
	enum disk_cache c = lun->cfg.cache;

	return c == CACHE_NONE || c == CACHE_WRITEBACK;
}

static int cmd_rw(struct scsi_lun *lun, struct scsi_req *r, bool write, bool verify)
{
	const uint8_t *c = r->cdb;
	struct scsi_sense s;
	uint64_t lba, nb;

	if (!scsi_medium_ready(lun, &s))
		return scsi_fail(lun, r, s);
	decode_rw(c, &lba, &nb);
	if (write && lun->cfg.readonly)
		return scsi_fail(lun, r, SENSE_CODE_WRITE_PROTECTED);
	if (lba > lun->blocks || nb > lun->blocks - lba)
		return scsi_fail(lun, r, SENSE_CODE_LBA_OUT_OF_RANGE);
	if (verify) {
		/* BYTCHK (compare with data sent) is not offered; without it a range check. */
		if (c[1] & 0x06)
			return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
		r->status = SCSI_GOOD;
		return 0;
	}
	r->write = write;
	r->len = nb * lun->block_size;
	r->off = lba * lun->block_size;
	if (r->len > (write ? r->out.len : r->in.len)) {
		r->overrun = true;	/* the transport says so; the sense is for ATAPI */
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	}
	if (!r->len) {
		r->status = SCSI_GOOD;
		return 0;
	}
	/* FUA is bit 3 of byte 1 in the 10, 12 and 16 byte forms. */
	r->flush_after = write && cache_volatile(lun) && (!lun->wce || (c[0] >= 0x20 && c[1] & 0x08));
	return start_rw(lun, r);
}

static int cmd_sync_cache(struct scsi_lun *lun, struct scsi_req *r)
{
	struct scsi_sense s;

	if (!scsi_medium_ready(lun, &s))
		return scsi_fail(lun, r, s);
	if (!cache_volatile(lun) || lun->cfg.readonly) {
		r->status = SCSI_GOOD;
		return 0;
	}
	r->bb = lun->bb;
	r->pending = 2;			/* the flush, and this call's own hold */
	note_submit(r, blk_flush(lun->bb, part_done, r));
	return scsi_parts_end(lun, r);
}

/* ---- SPC commands every LUN has ---- */

static int cmd_request_sense(struct scsi_lun *lun, struct scsi_req *r)
{
	struct scsi_sense s = SENSE_CODE_NONE;
	uint8_t buf[SCSI_SENSE_FIXED_LEN];
	unsigned int len;

	if (lun->sense_valid)
		s = lun->sense;
	else if (lun->ua_pending)
		s = lun->ua;
	else if (lun->type == SCSI_LUN_CDROM)
		scsi_medium_ready(lun, &s);
	if (lun->ua_pending && !lun->sense_valid)
		lun->ua_pending = false;	/* reported: cleared (SPC-4 5.12.2) */
	lun->sense_valid = false;
	len = r->cdb[1] & 1 ? scsi_sense_desc(buf, s) : scsi_sense_fixed(buf, s);
	return scsi_reply(r, buf, len, r->cdb[4]);
}

static int cmd_report_luns(struct scsi_lun *lun, struct scsi_req *r)
{
	uint8_t buf[16] = { 0 };
	uint32_t alloc = be32(r->cdb + 6);

	/* One LUN, 0; select report 0 (all), 1 (well known: none) or 2 (all). */
	if (alloc < 16 || r->cdb[2] > 2)
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	if (r->cdb[2] != 1)
		put32(buf, 8);
	return scsi_reply(r, buf, r->cdb[2] != 1 ? 16 : 8, alloc);
}

static int cmd_start_stop(struct scsi_lun *lun, struct scsi_req *r)
{
	bool start = r->cdb[4] & 1, loej = r->cdb[4] & 2;

	r->status = SCSI_GOOD;
	/* Power conditions and spinning are nothing to a file; only the tray moves. */
	if (lun->type != SCSI_LUN_CDROM || !loej || r->cdb[4] >> 4)
		return 0;
	if (!start && lun->locked)
		return scsi_fail(lun, r, SENSE_CODE_REMOVAL_PREVENTED);
	if (!start && !lun->tray_open)
		lun->media_event = MEDIA_EV_REMOVAL;
	else if (start && lun->tray_open && lun->bb)
		lun->media_event = MEDIA_EV_NEW;
	lun->tray_open = !start;
	return 0;
}

static int cmd_prevent_allow(struct scsi_lun *lun, struct scsi_req *r)
{
	if (lun->type == SCSI_LUN_CDROM)
		lun->locked = r->cdb[4] & 1;
	r->status = SCSI_GOOD;
	return 0;
}

static int cmd_tur(struct scsi_lun *lun, struct scsi_req *r)
{
	struct scsi_sense s;

	if (!scsi_medium_ready(lun, &s))
		return scsi_fail(lun, r, s);
	r->status = SCSI_GOOD;
	return 0;
}

/* Commands a pending unit attention does not stop (SPC-4 5.12.2; MMC's event polling). */
static bool ua_exempt(uint8_t op)
{
	return op == INQUIRY || op == REPORT_LUNS || op == REQUEST_SENSE ||
	       op == GET_CONFIGURATION || op == GESN;
}

static int dispatch_rw(struct scsi_lun *lun, struct scsi_req *r, bool *known)
{
	*known = true;
	switch (r->cdb[0]) {
	case READ_6: case READ_10: case READ_12: case READ_16:
		return cmd_rw(lun, r, false, false);
	case WRITE_6: case WRITE_10: case WRITE_12: case WRITE_16:
		return cmd_rw(lun, r, true, false);
	case VERIFY_10: case VERIFY_12: case VERIFY_16:
		return cmd_rw(lun, r, false, true);
	case SYNC_CACHE_10: case SYNC_CACHE_16:
		return cmd_sync_cache(lun, r);
	}
	*known = false;
	return 0;
}

static int dispatch(struct scsi_lun *lun, struct scsi_req *r)
{
	uint8_t op = r->cdb[0];
	bool known;
	int ret;

	if (op != REQUEST_SENSE)
		lun->sense_valid = false;
	if (r->cdb_len < cdb_group_len(op))
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	if (lun->ua_pending && !ua_exempt(op)) {
		lun->ua_pending = false;
		return scsi_fail(lun, r, lun->ua);
	}
	ret = dispatch_rw(lun, r, &known);
	if (known)
		return ret;
	switch (op) {
	case TEST_UNIT_READY: return cmd_tur(lun, r);
	case REQUEST_SENSE: return cmd_request_sense(lun, r);
	case INQUIRY: return scsi_inquiry(lun, r);
	case REPORT_LUNS: return cmd_report_luns(lun, r);
	case MODE_SENSE_6: case MODE_SENSE_10: return scsi_mode_sense(lun, r);
	case MODE_SELECT_6: case MODE_SELECT_10: return scsi_mode_select(lun, r);
	case START_STOP: return cmd_start_stop(lun, r);
	case PREVENT_ALLOW: return cmd_prevent_allow(lun, r);
	case READ_CAPACITY_10: return scsi_read_capacity(lun, r, false);
	case SERVICE_ACTION_IN_16:
		if ((r->cdb[1] & 0x1f) == 0x10)
			return scsi_read_capacity(lun, r, true);
		return scsi_fail(lun, r, SENSE_CODE_INVALID_FIELD);
	}
	if (lun->type == SCSI_LUN_DISK && op == UNMAP)
		return scsi_unmap(lun, r);
	if (lun->type == SCSI_LUN_DISK && (op == WRITE_SAME_10 || op == WRITE_SAME_16))
		return scsi_write_same(lun, r, op == WRITE_SAME_16);
	if (lun->type == SCSI_LUN_CDROM) {
		ret = scsi_cdrom_exec(lun, r);
		if (ret != -ENOENT)
			return ret;
	}
	return scsi_fail(lun, r, SENSE_CODE_INVALID_OPCODE);
}

int scsi_lun_exec(struct scsi_lun *lun, struct scsi_req *r)
{
	int ret;

	r->lun = lun;
	r->status = SCSI_GOOD;
	r->sense_len = 0;
	r->xfer = 0;
	r->overrun = false;
	r->bounce = NULL;
	r->bb = NULL;
	r->pending = 0;
	r->error = 0;
	r->write = r->flush_after = false;
	r->len = 0;
	if (r->cdb_len > SCSI_CDB_MAX)
		r->cdb_len = SCSI_CDB_MAX;
	pthread_mutex_lock(&lun->lock);
	ret = dispatch(lun, r);
	if (ret == -EINPROGRESS)
		lun->inflight++;
	pthread_mutex_unlock(&lun->lock);
	return ret;
}

unsigned int scsi_lun_inflight(struct scsi_lun *lun)
{
	unsigned int n;

	pthread_mutex_lock(&lun->lock);
	n = lun->inflight;
	pthread_mutex_unlock(&lun->lock);
	return n;
}

bool scsi_lun_wce(struct scsi_lun *lun)
{
	bool on;

	pthread_mutex_lock(&lun->lock);
	on = lun->wce;
	pthread_mutex_unlock(&lun->lock);
	return on;
}

void scsi_lun_set_wce(struct scsi_lun *lun, bool on)
{
	pthread_mutex_lock(&lun->lock);
	lun->wce = on;
	pthread_mutex_unlock(&lun->lock);
}

void scsi_lun_reset(struct scsi_lun *lun)
{
	pthread_mutex_lock(&lun->lock);
	lun->locked = false;
	lun->sense_valid = false;
	pthread_mutex_unlock(&lun->lock);
}

/* ---- the medium ---- */

/* Open path as the LUN's medium; a CD-ROM's is read-only, in 2048-byte blocks. */
int scsi_lun_open_medium(struct scsi_lun *lun, const char *path, const char *fmt,
			 struct blk_backend **bb, struct vk_err *err)
{
	struct disk_config c = lun->cfg;
	int r;

	c.path = path;
	snprintf(c.format, sizeof(c.format), "%s", fmt);
	r = blk_backend_open(&c, lun->p.loop, lun->p.max_inflight, bb, err);
	if (r)
		return r;
	/* Served as the file's bytes (raw, or probed as raw): they must be an ISO. */
	if (lun->type == SCSI_LUN_CDROM && !(*bb)->image && blk_format_may_be_plain(fmt)) {
		r = vk_blk_iso_check(path, err);
		if (r) {
			blk_backend_close(*bb);
			*bb = NULL;
		}
	}
	return r;
}

void scsi_lun_set_medium(struct scsi_lun *lun, struct blk_backend *bb, char *path)
{
	free(lun->path);
	lun->path = path;
	lun->cfg.path = path;
	lun->bb = bb;
	lun->blocks = bb ? blk_backend_length(bb) / lun->block_size : 0;
}

int scsi_lun_create(const struct disk_config *cfg, const struct scsi_lun_params *p,
		    struct scsi_lun **out, struct vk_err *err)
{
	struct scsi_lun *lun = calloc(1, sizeof(*lun));
	struct blk_backend *bb = NULL;
	char *path = NULL;
	int r = 0;

	if (!lun)
		return vk_fail(err, -ENOMEM, "out of memory");
	lun->type = cfg->cdrom ? SCSI_LUN_CDROM : SCSI_LUN_DISK;
	lun->cfg = *cfg;
	lun->cfg.readonly |= cfg->cdrom;
	lun->p = *p;
	lun->block_size = cfg->cdrom ? SCSI_CD_BLOCK : SCSI_DISK_BLOCK;
	lun->wce = cache_volatile(lun);
	pthread_mutex_init(&lun->lock, NULL);
	if (cfg->path) {
		path = strdup(cfg->path);
		r = path ? scsi_lun_open_medium(lun, path, cfg->format, &bb, err) :
			   vk_fail(err, -ENOMEM, "out of memory");
	}
	if (r) {
		free(path);
		pthread_mutex_destroy(&lun->lock);
		free(lun);
		return r;
	}
	scsi_lun_set_medium(lun, bb, path);
	*out = lun;
	return 0;
}

void scsi_lun_destroy(struct scsi_lun *lun)
{
	if (!lun)
		return;
	if (lun->bb)
		blk_backend_close(lun->bb);
	free(lun->path);
	pthread_mutex_destroy(&lun->lock);
	free(lun);
}

void scsi_lun_set_change_cb(struct scsi_lun *lun, void (*fn)(void *opaque), void *opaque)
{
	lun->change_cb = fn;
	lun->change_opaque = opaque;
}

static void changed(struct scsi_lun *lun)
{
	if (lun->change_cb)
		lun->change_cb(lun->change_opaque);
}

int scsi_lun_eject(struct scsi_lun *lun, bool force, struct vk_err *err)
{
	struct blk_backend *old;

	if (lun->type != SCSI_LUN_CDROM)
		return vk_fail(err, -ENOTSUP, "not a removable medium");
	pthread_mutex_lock(&lun->lock);
	if (lun->locked && !force) {
		lun->media_event = MEDIA_EV_EJECT_REQUEST;
		pthread_mutex_unlock(&lun->lock);
		return vk_fail(err, -EBUSY,
			       "is locked and force was not specified, wait for tray to open and try again");
	}
	old = lun->bb;
	scsi_lun_set_medium(lun, NULL, NULL);
	lun->tray_open = true;
	lun->locked = false;
	lun->media_event = MEDIA_EV_REMOVAL;
	pthread_mutex_unlock(&lun->lock);
	/* Outside the lock: what the old medium has in flight completes here. */
	if (old)
		blk_backend_close(old);
	changed(lun);
	return 0;
}

int scsi_lun_change(struct scsi_lun *lun, const char *path, const char *fmt,
		    struct vk_err *err)
{
	struct blk_backend *bb, *old;
	char *copy;
	int r;

	if (lun->type != SCSI_LUN_CDROM)
		return vk_fail(err, -ENOTSUP, "not a removable medium");
	pthread_mutex_lock(&lun->lock);
	r = lun->locked;
	if (r)
		lun->media_event = MEDIA_EV_EJECT_REQUEST;
	pthread_mutex_unlock(&lun->lock);
	if (r)
		return vk_fail(err, -EBUSY,
			       "is locked and force was not specified, wait for tray to open and try again");
	copy = strdup(path);
	if (!copy)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = scsi_lun_open_medium(lun, copy, fmt, &bb, err);
	if (r) {
		free(copy);
		return r;
	}
	pthread_mutex_lock(&lun->lock);
	old = lun->bb;
	scsi_lun_set_medium(lun, bb, copy);
	snprintf(lun->cfg.format, sizeof(lun->cfg.format), "%s", fmt);
	lun->tray_open = false;
	lun->ua_pending = true;
	lun->ua = SENSE_CODE_MEDIUM_CHANGED;
	lun->media_event = MEDIA_EV_NEW;
	pthread_mutex_unlock(&lun->lock);
	if (old)
		blk_backend_close(old);
	changed(lun);
	return 0;
}

void scsi_lun_info(struct scsi_lun *lun, struct scsi_lun_info *info)
{
	const struct vk_blk *img;

	pthread_mutex_lock(&lun->lock);
	img = lun->bb ? lun->bb->image : NULL;
	*info = (struct scsi_lun_info){
		.type = lun->type,
		.path = lun->path,
		.format = img ? img->drv->name : "raw",
		.readonly = lun->cfg.readonly,
		.tray_open = lun->tray_open,
		.locked = lun->locked,
		.size = lun->blocks * lun->block_size,
		.cache = lun->cfg.cache,
		.direct = lun->bb ? blk_backend_is_direct(lun->bb) : false,
	};
	pthread_mutex_unlock(&lun->lock);
}
