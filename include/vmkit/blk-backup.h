/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A running VM's backup (issue 15, Proxmox's vzdump): every disk of the job
 * copied into a new qcow2 image as it was at one point in time, while the
 * guest keeps writing (vmm/block/backup.c).
 *
 * Copy-before-write, as QEMU's backup job: from the start on, a guest write
 * (or discard, or write-zeroes) that touches a chunk not yet copied is held
 * until the job's thread has copied that chunk's old bytes; writes to
 * copied chunks pass at once. The thread copies held chunks first, then the
 * rest in order. Chunks of zeros are left out of a full backup (they read
 * as zeros) and written as zero clusters into an incremental one (its
 * backing file, the previous backup, may hold data there).
 *
 * Incremental: a disk's persistent qcow2 dirty bitmap says which chunks
 * changed since the last backup; only those are copied. The bitmap is
 * cleared when the job starts (it then tracks the changes after this
 * backup's point in time) and given its bits back if the job fails.
 */
#ifndef VMKIT_BLK_BACKUP_H
#define VMKIT_BLK_BACKUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmkit/util.h"

struct blk_backend;

#define BLK_BACKUP_CHUNK	(64u << 10)	/* the target's cluster size, the copy's unit */
#define BLK_BACKUP_MAX_DISKS	64

struct blk_backup_disk_spec {
	struct blk_backend *bb;
	const char *name;		/* as query-block names it, for messages */
	const char *target;		/* the new image's path (made here; must not exist) */
	const char *bitmap;		/* persistent bitmap to use and reset, or NULL */
	bool incremental;		/* copy only what bitmap has set */
};

struct blk_backup_progress {
	uint64_t len, offset;		/* bytes to copy, bytes copied */
	uint64_t held;			/* guest writes held until their chunks were copied */
	uint64_t speed;			/* the limit, bytes/s (0: none) */
	bool running;
	char error[512];		/* set once it ended with an error (or was cancelled) */
};

struct blk_backup;

/*
 * Start a job over n disks, compress: zstd-compressed clusters; speed: the
 * background copy's limit in bytes/s (0: none). Nothing may
 * be in flight on the disks (the VM paused, its devices drained): that
 * moment is the backup's. finished(opaque) runs on the job's thread when it
 * ends, however it ends. On failure nothing is left: no target, no hold,
 * bitmaps as they were.
 */
int blk_backup_start(const struct blk_backup_disk_spec *spec, unsigned int n, bool compress,
		     uint64_t speed, void (*finished)(void *opaque), void *opaque,
		     struct blk_backup **out, struct vk_err *err);
void blk_backup_progress(struct blk_backup *job, struct blk_backup_progress *p);
/* Ask the job to stop: it ends failed, with why as its error, targets removed, bitmaps given back. */
void blk_backup_cancel(struct blk_backup *job, const char *why);
/* Wait for the job's thread to end (it was told to, or ends by itself); progress stays readable. */
void blk_backup_wait(struct blk_backup *job);
void blk_backup_free(struct blk_backup *job);

/*
 * The write path's check (blk_pwritev, blk_discard, blk_write_zeroes while
 * bb->backup is set): 1 if the request may go ahead now; 0 if it is held
 * (the job submits it, with done called on the backend's loop as usual);
 * a negative errno if it can be neither.
 */
enum blk_held_kind { BLK_HELD_WRITE, BLK_HELD_DISCARD, BLK_HELD_ZEROES };
int blk_backup_before_write(struct blk_backend *bb, enum blk_held_kind kind,
			    const struct iovec *iov, int n, uint64_t off, uint64_t len, bool unmap,
			    void (*done)(void *opaque, int result), void *opaque);

#endif
