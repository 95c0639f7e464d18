// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A SCSI LUN's state across save and restore (issue 15; include/vmkit/
 * scsi.h): what the guest would see differently in a freshly created LUN.
 * That is a pending unit attention and the sense of the last CHECK
 * CONDITION (REQUEST SENSE returns it), the write cache bit MODE SELECT
 * set, and a CD-ROM's tray, door lock, media event and medium.
 *
 * The medium is named by its path: the restored VM opens the same file
 * (the config's, or the one a QMP change inserted) and checks that it is
 * still as long as it was, since the guest has its capacity and perhaps
 * its blocks cached. Another length, or a file that is not there, fails
 * the load with one line naming it rather than the guest reading other
 * data in place of what it knew.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/savestate.h"
#include "scsi-int.h"

#define FIELD(buf, prefix, what)	snprintf(buf, sizeof(buf), "%s-%s", prefix, what)

static void put(struct ss_writer *w, const char *prefix, const char *what, uint64_t v)
{
	char name[SS_NAME_MAX + 1];

	FIELD(name, prefix, what);
	ss_put_u64(w, name, v);
}

static uint64_t sense_u64(struct scsi_sense s)
{
	return (uint64_t)s.key << 16 | s.asc << 8 | s.ascq;
}

void scsi_lun_save(struct scsi_lun *lun, struct ss_writer *w, const char *prefix)
{
	char name[SS_NAME_MAX + 1];

	pthread_mutex_lock(&lun->lock);
	if (lun->inflight)
		ss_fail(w, -EBUSY, "SCSI: commands still in flight");
	FIELD(name, prefix, "medium");
	ss_put_bytes(w, name, lun->path ? lun->path : "", lun->path ? strlen(lun->path) : 0);
	FIELD(name, prefix, "format");
	ss_put_bytes(w, name, lun->cfg.format, strlen(lun->cfg.format));
	put(w, prefix, "size", lun->bb ? lun->blocks * lun->block_size : 0);
	put(w, prefix, "tray-open", lun->tray_open);
	put(w, prefix, "locked", lun->locked);
	put(w, prefix, "wce", lun->wce);
	put(w, prefix, "ua-pending", lun->ua_pending);
	put(w, prefix, "ua", sense_u64(lun->ua));
	put(w, prefix, "sense-valid", lun->sense_valid);
	put(w, prefix, "sense", sense_u64(lun->sense));
	put(w, prefix, "media-event", lun->media_event);
	pthread_mutex_unlock(&lun->lock);
}

enum { F_SIZE, F_TRAY, F_LOCKED, F_WCE, F_UA_PENDING, F_UA, F_SENSE_VALID, F_SENSE,
       F_MEDIA_EVENT, NR_FIELDS };

static const char *const field_names[NR_FIELDS] = {
	"size", "tray-open", "locked", "wce", "ua-pending", "ua", "sense-valid",
	"sense", "media-event",
};

static int get_fields(const struct ss_section *s, const char *prefix, uint64_t *v,
		      struct vk_err *err)
{
	char name[SS_NAME_MAX + 1];
	unsigned int i;
	int r = 0;

	for (i = 0; i < NR_FIELDS && !r; i++) {
		FIELD(name, prefix, field_names[i]);
		r = ss_get_u64(s, name, &v[i], err);
	}
	if (r)
		return r;
	for (i = F_TRAY; i <= F_SENSE_VALID; i++)
		if (i != F_UA && v[i] > 1)
			return vk_fail(err, -EINVAL, "state of %s: %s out of range", prefix,
				       field_names[i]);
	if (v[F_UA] > 0xfffff || v[F_SENSE] > 0xfffff ||
	    v[F_MEDIA_EVENT] > MEDIA_EV_REMOVAL)
		return vk_fail(err, -EINVAL, "state of %s: sense or medium out of range", prefix);
	return 0;
}

static struct scsi_sense sense_of(uint64_t v)
{
	return SCSI_SENSE(v >> 16, v >> 8, v);
}

/* The medium the saved LUN had, in place of the config's when a change replaced it. */
static int load_medium(struct scsi_lun *lun, const char *prefix, const uint8_t *p, size_t n,
		       const char *fmt, const uint64_t *v, struct vk_err *err)
{
	struct blk_backend *bb = NULL, *old;
	char *path = NULL;
	int r;

	if (n && (memchr(p, 0, n) || n > 4096))
		return vk_fail(err, -EINVAL, "state of %s: medium path malformed", prefix);
	if (lun->type == SCSI_LUN_DISK && (!lun->path || n != strlen(lun->path) ||
					   memcmp(p, lun->path, n)))
		return vk_fail(err, -EINVAL, "state of %s: saved with disk %.*s, this VM has %s",
			       prefix, (int)MIN(n, 256u), (const char *)p,
			       lun->path ? lun->path : "none");
	if (n && !(lun->path && n == strlen(lun->path) && !memcmp(p, lun->path, n))) {
		path = strndup((const char *)p, n);
		if (!path)
			return vk_fail(err, -ENOMEM, "out of memory");
		r = scsi_lun_open_medium(lun, path, fmt, &bb, err);
		if (r) {
			free(path);
			return r;
		}
		pthread_mutex_lock(&lun->lock);
		old = lun->bb;
		scsi_lun_set_medium(lun, bb, path);
		snprintf(lun->cfg.format, sizeof(lun->cfg.format), "%s", fmt);
		pthread_mutex_unlock(&lun->lock);
		if (old)
			blk_backend_close(old);
	} else if (!n && lun->bb) {
		pthread_mutex_lock(&lun->lock);
		old = lun->bb;
		scsi_lun_set_medium(lun, NULL, NULL);
		pthread_mutex_unlock(&lun->lock);
		blk_backend_close(old);
	}
	if ((lun->bb ? lun->blocks * lun->block_size : 0) != v[F_SIZE])
		return vk_fail(err, -EINVAL, "state of %s: %s is %llu bytes, saved with %llu: "
			       "not the same medium", prefix, lun->path ? lun->path : "the drive",
			       (unsigned long long)(lun->bb ? lun->blocks * lun->block_size : 0),
			       (unsigned long long)v[F_SIZE]);
	return 0;
}

int scsi_lun_load(struct scsi_lun *lun, const struct ss_section *s, const char *prefix,
		  struct vk_err *err)
{
	char name[SS_NAME_MAX + 1];
	char fmt[DISK_FORMAT_MAX];
	uint64_t v[NR_FIELDS];
	const uint8_t *p, *f;
	size_t n, fn;
	int r;

	FIELD(name, prefix, "medium");
	r = ss_get_blob(s, name, &p, &n, err);
	FIELD(name, prefix, "format");
	if (!r)
		r = ss_get_blob(s, name, &f, &fn, err);
	if (!r && fn) {
		/* A driver's name, or "" (probed): the format the medium was opened as. */
		char saved[DISK_FORMAT_MAX];

		snprintf(saved, sizeof(saved), "%.*s", (int)MIN(fn, sizeof(saved) - 1),
			 (const char *)f);
		if (fn >= sizeof(saved) || memchr(f, 0, fn) || blk_format_parse(saved, fmt))
			r = vk_fail(err, -EINVAL, "state of %s: medium format malformed", prefix);
	} else {
		fmt[0] = 0;
	}
	if (!r)
		r = get_fields(s, prefix, v, err);
	if (!r && lun->type == SCSI_LUN_DISK && (v[F_TRAY] || v[F_LOCKED]))
		r = vk_fail(err, -EINVAL, "state of %s: a disk has no tray", prefix);
	if (!r)
		r = load_medium(lun, prefix, p, n, fmt, v, err);
	if (r)
		return r;
	pthread_mutex_lock(&lun->lock);
	lun->tray_open = v[F_TRAY];
	lun->locked = v[F_LOCKED];
	lun->wce = v[F_WCE];
	lun->ua_pending = v[F_UA_PENDING];
	lun->ua = sense_of(v[F_UA]);
	lun->sense_valid = v[F_SENSE_VALID];
	lun->sense = sense_of(v[F_SENSE]);
	lun->media_event = v[F_MEDIA_EVENT];
	pthread_mutex_unlock(&lun->lock);
	return 0;
}
