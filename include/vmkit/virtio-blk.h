/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-blk on a raw file or block device. */
#ifndef VMKIT_VIRTIO_BLK_H
#define VMKIT_VIRTIO_BLK_H

#include "vmkit/config.h"
#include "vmkit/util.h"

/* num-queues= at most (VIRTIO_MAX_QUEUES, include/vmkit/virtio.h). */
#define VIRTIO_BLK_MAX_QUEUES	64

struct vm;
struct virtio_blk;

int virtio_blk_create(struct vm *vm, const struct disk_config *cfg, struct virtio_blk **out,
		      struct vk_err *err);
void virtio_blk_destroy(struct virtio_blk *b);

/* What query-block shows of a disk. Strings belong to the disk. */
struct virtio_blk_info {
	const char *path;
	const char *format;		/* "raw", "qcow2" */
	const char *backing_file;	/* as the image records it, or NULL */
	unsigned int backing_depth;
	bool readonly;
	uint64_t size;
	enum disk_cache cache;
	bool direct;			/* the file is open with O_DIRECT (qcow2: its whole chain) */
};

void virtio_blk_info(const struct virtio_blk *b, struct virtio_blk_info *info);

#endif
