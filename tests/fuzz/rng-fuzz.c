// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for virtio-rng (vmm/virtio/rng.c) on the fake VM: a driver's script. */
#include <stdlib.h>

#include "vmkit/virtio-rng.h"
#include "fake-vm.h"

static const struct fake_dev_hooks hooks = { 0 };
static struct virtio_rng *dev;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_err err = { 0 };

	/* /dev/zero: the same bytes for the same input. */
	if (!dev && virtio_rng_create(&fake_vm()->vm, "/dev/zero", &dev, &err))
		abort();
	fake_driver_run(fake_vm()->dev, &hooks, data, size);
	return 0;
}
