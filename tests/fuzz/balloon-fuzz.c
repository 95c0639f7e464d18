// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for virtio-balloon (vmm/virtio/balloon.c) on the fake
 * VM: a driver's script whose actions are the host's side (QMP balloon
 * and query-balloon).
 */
#include <stdlib.h>

#include "vmkit/virtio-balloon.h"
#include "fake-vm.h"

static struct virtio_balloon *dev;

/* vmm/control: the VM has no control socket (vm->ctl is NULL), so never called. */
void control_event_balloon(struct control *c, uint64_t actual)
{
	abort();
}

/* Action: u8 op; even: set the target to op * 1 KiB... (any size), odd: query. */
static size_t action(struct virtio_dev *v, const uint8_t *data, size_t size)
{
	struct virtio_balloon_info info;

	if (!size)
		return 0;
	if (data[0] & 1)
		virtio_balloon_query(dev, &info);
	else
		virtio_balloon_set_target(dev, (uint64_t)data[0] << 10);
	return 1;
}

static const struct fake_dev_hooks hooks = { .action = action };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_err err = { 0 };

	if (!dev && virtio_balloon_create(&fake_vm()->vm, true, 0, &dev, &err))
		abort();
	fake_driver_run(fake_vm()->dev, &hooks, data, size);
	return 0;
}
