/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A SCSI logical unit (SPC/SBC for disks, MMC for CD-ROMs) on the block
 * backends virtio-blk uses (include/vmkit/blk-backend.h), independent of
 * the transport that carries its commands (virtio-scsi, AHCI's ATAPI).
 *
 * A transport fills a struct scsi_req (the CDB and the data buffers, as
 * host pointers into guest RAM it has checked) and calls scsi_lun_exec.
 * The command either finishes there (0: status and sense are filled) or is
 * with the backend (-EINPROGRESS: done() is called once, later, on the
 * thread that runs the backend's loop). Every CDB field is hostile: a bad
 * one ends that command with CHECK CONDITION, never anything else.
 */
#ifndef VMKIT_SCSI_H
#define VMKIT_SCSI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmkit/config.h"
#include "vmkit/util.h"

struct evloop;
struct blk_backend;

/* Status bytes (SAM-5) */
#define SCSI_GOOD		0x00
#define SCSI_CHECK_CONDITION	0x02

/* Sense keys */
#define SENSE_NO_SENSE		0x0
#define SENSE_NOT_READY		0x2
#define SENSE_MEDIUM_ERROR	0x3
#define SENSE_HARDWARE_ERROR	0x4
#define SENSE_ILLEGAL_REQUEST	0x5
#define SENSE_UNIT_ATTENTION	0x6
#define SENSE_DATA_PROTECT	0x7
#define SENSE_ABORTED_COMMAND	0xb

/* A sense code: key, additional sense code and its qualifier. */
struct scsi_sense {
	uint8_t key, asc, ascq;
};

#define SCSI_SENSE(k, a, q)	((struct scsi_sense){ (k), (a), (q) })
/* The ones the emulation raises (SPC-4 annex D). */
#define SENSE_CODE_NONE			SCSI_SENSE(SENSE_NO_SENSE, 0x00, 0x00)
#define SENSE_CODE_INVALID_OPCODE	SCSI_SENSE(SENSE_ILLEGAL_REQUEST, 0x20, 0x00)
#define SENSE_CODE_LBA_OUT_OF_RANGE	SCSI_SENSE(SENSE_ILLEGAL_REQUEST, 0x21, 0x00)
#define SENSE_CODE_INVALID_FIELD	SCSI_SENSE(SENSE_ILLEGAL_REQUEST, 0x24, 0x00)
#define SENSE_CODE_LUN_NOT_SUPPORTED	SCSI_SENSE(SENSE_ILLEGAL_REQUEST, 0x25, 0x00)
#define SENSE_CODE_INVALID_PARAM	SCSI_SENSE(SENSE_ILLEGAL_REQUEST, 0x26, 0x00)
#define SENSE_CODE_INVALID_PARAM_LEN	SCSI_SENSE(SENSE_ILLEGAL_REQUEST, 0x1a, 0x00)
#define SENSE_CODE_SAVING_NOT_SUPPORTED	SCSI_SENSE(SENSE_ILLEGAL_REQUEST, 0x39, 0x00)
#define SENSE_CODE_INCOMPATIBLE_FORMAT	SCSI_SENSE(SENSE_ILLEGAL_REQUEST, 0x30, 0x00)
#define SENSE_CODE_REMOVAL_PREVENTED	SCSI_SENSE(SENSE_ILLEGAL_REQUEST, 0x53, 0x02)
#define SENSE_CODE_NO_MEDIUM		SCSI_SENSE(SENSE_NOT_READY, 0x3a, 0x01)
#define SENSE_CODE_NO_MEDIUM_TRAY_OPEN	SCSI_SENSE(SENSE_NOT_READY, 0x3a, 0x02)
#define SENSE_CODE_MEDIUM_CHANGED	SCSI_SENSE(SENSE_UNIT_ATTENTION, 0x28, 0x00)
#define SENSE_CODE_POWER_ON_RESET	SCSI_SENSE(SENSE_UNIT_ATTENTION, 0x29, 0x00)
#define SENSE_CODE_WRITE_PROTECTED	SCSI_SENSE(SENSE_DATA_PROTECT, 0x27, 0x00)
#define SENSE_CODE_READ_ERROR		SCSI_SENSE(SENSE_MEDIUM_ERROR, 0x11, 0x00)
#define SENSE_CODE_WRITE_ERROR		SCSI_SENSE(SENSE_MEDIUM_ERROR, 0x0c, 0x00)
#define SENSE_CODE_IO_ERROR		SCSI_SENSE(SENSE_ABORTED_COMMAND, 0x00, 0x06)

#define SCSI_SENSE_FIXED_LEN	18
#define SCSI_SENSE_BUF		96	/* virtio-scsi's default sense_size */
#define SCSI_CDB_MAX		16
#define SCSI_CD_BLOCK		2048
#define SCSI_DISK_BLOCK		512

/* Fill buf (at least SCSI_SENSE_FIXED_LEN bytes) with fixed-format sense; returns its length. */
unsigned int scsi_sense_fixed(uint8_t *buf, struct scsi_sense s);
/* The same in descriptor format (REQUEST SENSE with DESC=1); 8 bytes. */
unsigned int scsi_sense_desc(uint8_t *buf, struct scsi_sense s);

/* The transport's data buffers: in for data the LUN returns, out for data it takes. */
struct scsi_buf {
	const struct iovec *iov;
	unsigned int n;
	size_t len;
};

struct scsi_lun;
struct scsi_req;

typedef void (*scsi_done_fn)(struct scsi_req *r);

struct scsi_req {
	/* Filled by the transport. */
	uint8_t cdb[SCSI_CDB_MAX];
	unsigned int cdb_len;		/* bytes of cdb given (the rest are zero) */
	struct scsi_buf in, out;
	scsi_done_fn done;
	void *opaque;			/* the transport's */

	/* Filled by the LUN. */
	uint8_t status;			/* SCSI_GOOD or SCSI_CHECK_CONDITION */
	uint8_t sense[SCSI_SENSE_FIXED_LEN];
	unsigned int sense_len;		/* 0 unless CHECK CONDITION */
	size_t xfer;			/* bytes moved through in (or taken from out) */
	bool overrun;			/* the command wanted more than the buffers hold */

	/* The LUN's own, while the backend has the command. */
	struct scsi_lun *lun;
	struct blk_backend *bb;
	uint64_t off;
	size_t len;
	bool write, flush_after;
	void *bounce;
	struct iovec one;
	int pending;			/* parts still with the backend (UNMAP's descriptors) */
	int error;			/* the first part that failed */
	struct iovec data[];		/* room for in.n or out.n slices (scsi_req_size) */
};

/* Bytes to allocate for a request whose buffers have up to niov iovecs. */
static inline size_t scsi_req_size(unsigned int niov)
{
	return sizeof(struct scsi_req) + niov * sizeof(struct iovec);
}

enum scsi_lun_type { SCSI_LUN_DISK, SCSI_LUN_CDROM };

/* Where the LUN's requests complete and how many may be in flight. */
struct scsi_lun_params {
	struct evloop *loop;
	unsigned int max_inflight;
	uint32_t max_sectors;		/* largest transfer, in 512-byte sectors (VPD 0xb0) */
	uint8_t interface;		/* GET CONFIGURATION's physical interface: 1 SCSI, 2 ATAPI */
};

/*
 * A disk or a CD-ROM on cfg (a CD-ROM with cfg->path NULL is an empty
 * drive). The LUN keeps its own copy of cfg.
 */
int scsi_lun_create(const struct disk_config *cfg, const struct scsi_lun_params *p,
		    struct scsi_lun **out, struct vk_err *err);
/* Finishes what is in flight (callbacks run here), closes the backend. NULL-safe. */
void scsi_lun_destroy(struct scsi_lun *lun);

/* Run one command: 0 when it finished (r->status etc. filled), -EINPROGRESS otherwise. */
int scsi_lun_exec(struct scsi_lun *lun, struct scsi_req *r);

/* The write cache enable bit (MODE SELECT's WCE, ATA's SET FEATURES 02h/82h). */
bool scsi_lun_wce(struct scsi_lun *lun);
void scsi_lun_set_wce(struct scsi_lun *lun, bool on);

/* A reset (bus, target, LUN): pending unit attentions go, the door unlocks. */
void scsi_lun_reset(struct scsi_lun *lun);
unsigned int scsi_lun_inflight(struct scsi_lun *lun);

/*
 * Removable media, from the monitor (QMP, any thread). Eject opens the
 * tray and drops the medium: -EBUSY when the guest has locked the door
 * and force is false (the guest is then asked to eject, as QEMU does).
 * Change inserts path (format as --disk's) and closes the tray; the guest
 * sees a unit attention and a media event. -ENOTSUP on a disk.
 */
int scsi_lun_eject(struct scsi_lun *lun, bool force, struct vk_err *err);
int scsi_lun_change(struct scsi_lun *lun, const char *path, const char *fmt,
		    struct vk_err *err);
/* Called after a media change (for virtio-scsi's PARAM_CHANGE event). */
void scsi_lun_set_change_cb(struct scsi_lun *lun, void (*fn)(void *opaque), void *opaque);

/*
 * Save/restore (issue 15, vmm/scsi/scsi-state.c): the LUN's state as
 * fields named prefix-... of the section its controller opened (sense and
 * unit attention pending, the write cache bit, a CD-ROM's tray, door lock
 * and medium: its path and size), and back into a LUN just created from
 * the same config. A medium changed at run time is opened again from its
 * path, and must be the same size, or the load fails saying so. Nothing
 * may be in flight: the controller drains before it saves.
 */
struct ss_writer;
struct ss_section;
void scsi_lun_save(struct scsi_lun *lun, struct ss_writer *w, const char *prefix);
int scsi_lun_load(struct scsi_lun *lun, const struct ss_section *s, const char *prefix,
		  struct vk_err *err);

/* What query-block shows. Strings belong to the LUN (valid until the next change). */
struct scsi_lun_info {
	enum scsi_lun_type type;
	const char *path;		/* NULL: no medium */
	const char *format;
	bool readonly, tray_open, locked;
	uint64_t size;
	enum disk_cache cache;
	bool direct;
};
void scsi_lun_info(struct scsi_lun *lun, struct scsi_lun_info *info);

/* ISO check: vk_blk_iso_check (include/vmkit/block.h); iovec copies: vk_iov_copy (util.h). */

#endif
