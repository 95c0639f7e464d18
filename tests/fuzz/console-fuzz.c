// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for virtio-console (vmm/virtio/console.c) on the fake
 * VM: a driver's script whose action types bytes on the console.
 */
#include <stdlib.h>

#include "vmkit/console.h"
#include "vmkit/virtio-console.h"
#include "fake-vm.h"

static volatile uint8_t sink;

/* vmm/core/console.c's output: read every byte, so ASan checks the guest's buffers. */
void console_write(struct console *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t x = 0;
	size_t i;

	for (i = 0; i < len; i++)
		x ^= p[i];
	sink = x;
}

static struct virtio_console *dev;

/* Action: u8 n, then n bytes typed (up to what the device takes). */
static size_t action(struct virtio_dev *v, const uint8_t *data, size_t size)
{
	size_t n;

	if (!size)
		return 0;
	n = data[0] < size - 1 ? data[0] : size - 1;
	virtio_console_input(dev, data + 1, n);
	return n + 1;
}

static const struct fake_dev_hooks hooks = { .action = action };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_err err = { 0 };

	if (!dev && virtio_console_create(&fake_vm()->vm, NULL, &dev, &err))
		abort();
	fake_driver_run(fake_vm()->dev, &hooks, data, size);
	return 0;
}
