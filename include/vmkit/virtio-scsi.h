/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-scsi: a controller whose targets are the SCSI LUNs of
 * include/vmkit/scsi.h (one LUN, 0, per target). `scsihw virtio-scsi-pci`
 * puts every --disk bus=scsi on one controller, target N for the Nth;
 * `virtio-scsi-single` gives each its own controller (and iothread).
 */
#ifndef VMKIT_VIRTIO_SCSI_H
#define VMKIT_VIRTIO_SCSI_H

#include "vmkit/config.h"
#include "vmkit/util.h"

struct vm;
struct scsi_lun;
struct virtio_scsi;

#define VIRTIO_SCSI_MAX_TARGETS	VM_MAX_DISKS

/* A controller for the disks cfg->disks[idx[0..n)], target i for idx[i]. */
int virtio_scsi_create(struct vm *vm, const unsigned int *idx, unsigned int n,
		       struct virtio_scsi **out, struct vk_err *err);
void virtio_scsi_destroy(struct virtio_scsi *s);

/* Target t's LUN, or NULL. */
struct scsi_lun *virtio_scsi_target(struct virtio_scsi *s, unsigned int target);
/* The LUN serving vm->cfg->disks[disk] on a virtio-scsi controller, or NULL. */
struct scsi_lun *virtio_scsi_lun(struct vm *vm, unsigned int disk);

#endif
