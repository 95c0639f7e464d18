/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A VM without KVM for the device fuzz targets: guest RAM is a plain
 * mapping with an inaccessible page on either side (a device that reads or
 * writes past RAM faults at once), vm_gpa_to_hva is the monitor's own
 * (vmm/core/memory.c), and the virtio-pci transport is replaced by one that
 * records interrupts. A fuzz input is a driver's script (fake-driver.c):
 * features, queue setup, descriptors, avail entries, kicks, config access.
 */
#ifndef VMKIT_FUZZ_FAKE_VM_H
#define VMKIT_FUZZ_FAKE_VM_H

#include <stddef.h>
#include <stdint.h>

#include "vmkit/virtio.h"
#include "vmkit/vm.h"

#define FAKE_RAM_SIZE	(64u << 10)
/* Queue q's rings at FAKE_QUEUE(q) (q < FAKE_MAX_QUEUES); buffers above FAKE_DATA. */
#define FAKE_MAX_QUEUES	8
#define FAKE_QUEUE(q)	((uint64_t)(q) * 0x1000)
#define FAKE_DATA	(FAKE_MAX_QUEUES * 0x1000u)

struct fake_vm {
	struct vm vm;
	struct vm_config cfg;
	uint8_t *ram;
	struct virtio_dev *dev;		/* what the device put on the fake transport */
	unsigned long queue_irqs, config_irqs;
};

/* The VM (made on first use). */
struct fake_vm *fake_vm(void);

/* What a device target adds to the driver's script. */
struct fake_dev_hooks {
	/* Device-specific action with the script's next bytes; returns bytes used. */
	size_t (*action)(struct virtio_dev *v, const uint8_t *data, size_t size);
	/* Complete what the device left with its backend (after kicks and at the end). */
	void (*settle)(struct virtio_dev *v);
};

/* Run one input as the driver of v, then reset v. */
void fake_driver_run(struct virtio_dev *v, const struct fake_dev_hooks *h,
		     const uint8_t *data, size_t size);

#endif
