/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the SCSI emulation: the logical unit's state and the helpers its
 * command files share (scsi-lun.c: dispatch, I/O, media; scsi-disk.c:
 * SPC/SBC data; scsi-cdrom.c: MMC).
 */
#ifndef VMKIT_SCSI_INT_H
#define VMKIT_SCSI_INT_H

#include "vmkit/scsi.h"

/* GET EVENT STATUS NOTIFICATION media event codes (MMC-6 table 149). */
enum { MEDIA_EV_NONE, MEDIA_EV_EJECT_REQUEST, MEDIA_EV_NEW, MEDIA_EV_REMOVAL };

struct scsi_lun {
	enum scsi_lun_type type;
	struct disk_config cfg;		/* a copy; cfg.path is path */
	char *path;			/* the medium's file (owned), NULL: none */
	struct scsi_lun_params p;
	pthread_mutex_t lock;		/* everything below */
	struct blk_backend *bb;		/* NULL: no medium */
	unsigned int block_size;
	uint64_t blocks;
	bool tray_open, locked;
	bool wce;			/* the caching page's write cache enable */
	bool ua_pending;
	struct scsi_sense ua;
	bool sense_valid;		/* the last CHECK CONDITION, for REQUEST SENSE */
	struct scsi_sense sense;
	uint8_t media_event;		/* for GESN, reported once */
	unsigned int inflight;
	void (*change_cb)(void *opaque);
	void *change_opaque;
};

/* End r with CHECK CONDITION s (returns 0: finished). */
int scsi_fail(struct scsi_lun *lun, struct scsi_req *r, struct scsi_sense s);
/* End r with GOOD and up to MIN(len, alloc) bytes of buf in its data-in buffers. */
int scsi_reply(struct scsi_req *r, const void *buf, size_t len, size_t alloc);

static inline uint16_t be16(const uint8_t *p) { return p[0] << 8 | p[1]; }
static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}
static inline uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }
static inline void put64(uint8_t *p, uint64_t v) { put32(p, v >> 32); put32(p + 4, v); }

/* Whether the medium is there to use; *s says why not. */
static inline bool scsi_medium_ready(const struct scsi_lun *lun, struct scsi_sense *s)
{
	if (lun->tray_open)
		*s = SENSE_CODE_NO_MEDIUM_TRAY_OPEN;
	else if (!lun->bb)
		*s = SENSE_CODE_NO_MEDIUM;
	else
		return true;
	return false;
}

/* Discards reach the file: offered in the VPD pages and READ CAPACITY (16). */
static inline bool scsi_lun_discard(const struct scsi_lun *lun)
{
	return lun->type == SCSI_LUN_DISK && !lun->cfg.discard_ignore && !lun->cfg.readonly;
}

/* scsi-disk.c: commands whose data the LUN makes (both types), and SBC's own. */
int scsi_inquiry(struct scsi_lun *lun, struct scsi_req *r);
int scsi_mode_sense(struct scsi_lun *lun, struct scsi_req *r);
int scsi_mode_select(struct scsi_lun *lun, struct scsi_req *r);
int scsi_read_capacity(struct scsi_lun *lun, struct scsi_req *r, bool sixteen);
int scsi_unmap(struct scsi_lun *lun, struct scsi_req *r);
int scsi_write_same(struct scsi_lun *lun, struct scsi_req *r, bool sixteen);
/* Discard or zero [lba, lba+nb) as one more part of r (scsi-lun.c). */
int scsi_submit_discard(struct scsi_lun *lun, struct scsi_req *r, uint64_t lba, uint64_t nb,
			bool zero, bool unmap);
/* Write the len bytes at buf (owned by r from now) at lba (scsi-lun.c). */
int scsi_submit_write_buf(struct scsi_lun *lun, struct scsi_req *r, uint64_t lba, void *buf,
			  size_t len);
/* The end of a command that had parts with the backend: -EINPROGRESS or 0 (finished). */
int scsi_parts_end(struct scsi_lun *lun, struct scsi_req *r);

/* scsi-lun.c: open path as the LUN's medium / make bb (path owned) the medium; lock held. */
int scsi_lun_open_medium(struct scsi_lun *lun, const char *path, const char *fmt,
			 struct blk_backend **bb, struct vk_err *err);
void scsi_lun_set_medium(struct scsi_lun *lun, struct blk_backend *bb, char *path);

/* scsi-cdrom.c: MMC. Returns -ENOENT for an opcode it does not know. */
int scsi_cdrom_exec(struct scsi_lun *lun, struct scsi_req *r);
/* The mode page 0x2a (capabilities) into buf; its length. */
unsigned int scsi_cdrom_caps_page(struct scsi_lun *lun, uint8_t *buf);

#endif
