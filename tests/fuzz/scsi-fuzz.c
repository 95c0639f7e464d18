// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for virtio-scsi (vmm/virtio/scsi.c) and the SCSI target
 * emulation behind it (vmm/scsi/) on the fake VM (fake-vm.h): the input is
 * a driver's script. Target 0 is a disk, target 1 a CD-ROM, on the fake
 * backend (fake-blk.h) that completes requests when the script settles, so
 * commands in flight meet task management, resets and media changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/blk-backend.h"
#include "vmkit/device.h"
#include "vmkit/scsi.h"
#include "vmkit/virtio-scsi.h"
#include "fake-blk.h"
#include "fake-vm.h"

static void settle(struct virtio_dev *v)
{
	fake_blk_settle();
}

/* vmm/core/devices.c's slots (that file names every device class): one will do. */
void **vm_device_state(struct vm *vm, const struct vm_device_class *cls)
{
	static void *slot;

	return &slot;
}

static struct virtio_scsi *dev;

/*
 * Action byte: bit 0 O_DIRECT for media opened from now on; bits 1-2: 1
 * ejects the CD-ROM (bit 3: force), 2 inserts a new medium, 3 resets the
 * CD-ROM LUN as a bus reset would.
 */
static size_t action(struct virtio_dev *v, const uint8_t *data, size_t size)
{
	struct scsi_lun *cd = virtio_scsi_target(dev, 1);
	struct vk_err err;

	if (!size)
		return 0;
	fake_blk_direct = data[0] & 1;
	switch (data[0] >> 1 & 3) {
	case 1: scsi_lun_eject(cd, data[0] & 8, &err); break;
	case 2: scsi_lun_change(cd, "fuzz.iso", "qcow2", &err); break;
	case 3: scsi_lun_reset(cd); break;
	}
	return 1;
}

static const struct fake_dev_hooks hooks = { .action = action, .settle = settle };

/*
 * The CD-ROM is declared qcow2 so that opening it skips the ISO check (a
 * read of a real file); the fake backend serves every format alike.
 */
static void make_config(struct vm_config *c)
{
	c->disks[0] = (struct disk_config){ .path = "fuzz.img", .cache = CACHE_WRITEBACK,
					    .serial = "fuzz-serial", .num_queues = 2,
					    .queue_size = 64, .bus = DISK_BUS_SCSI };
	c->disks[1] = (struct disk_config){ .path = "fuzz.iso", .cache = CACHE_NONE,
					    .format = "qcow2", .cdrom = true,
					    .readonly = true, .bus = DISK_BUS_SCSI };
	c->nr_disks = 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int idx[] = { 0, 1 };
	struct vk_err err = { 0 };

	if (!dev) {
		make_config(&fake_vm()->cfg);
		if (virtio_scsi_create(&fake_vm()->vm, idx, 2, &dev, &err))
			abort();
	}
	fake_blk_direct = false;
	fake_driver_run(fake_vm()->dev, &hooks, data, size);
	return 0;
}
