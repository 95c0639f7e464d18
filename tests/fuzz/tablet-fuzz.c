// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for virtio-tablet (vmm/virtio/input.c, tablet.c) on the
 * fake VM: a driver's script (fake-driver.c) whose configuration reads
 * and writes walk the select/subsel window, and whose actions are the
 * host's side: pointer events through the input router, as the VNC link
 * and QMP input-send-event send them, arriving whether or not the driver
 * has buffers (so the pending events are merged, split and dropped).
 */
#include <stdlib.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/input.h"
#include "vmkit/virtio-input.h"
#include "fake-vm.h"

static struct virtio_tablet *dev;

/* vmm/core/devices.c's table, which this target does not link: one slot. */
void **vm_device_state(struct vm *vm, const struct vm_device_class *cls)
{
	static void *slot;

	return &slot;
}

/* Action: u16 x, u16 y (the router clamps), u8 buttons; or fewer bytes, the rest 0. */
static size_t action(struct virtio_dev *v, const uint8_t *data, size_t size)
{
	uint8_t b[5] = { 0 };
	size_t n = size < sizeof(b) ? size : sizeof(b);

	memcpy(b, data, n);
	input_abs(&fake_vm()->vm, (unsigned int)(b[0] | b[1] << 8) * 2,
		  (unsigned int)(b[2] | b[3] << 8) * 2, b[4]);
	return n;
}

static const struct fake_dev_hooks hooks = { .action = action };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_err err = { 0 };

	if (!dev && (input_router_new(&fake_vm()->vm, &err) ||
		     virtio_tablet_create(&fake_vm()->vm, &dev, &err)))
		abort();
	fake_driver_run(fake_vm()->dev, &hooks, data, size);
	return 0;
}
