// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * i8042 keyboard controller, only as far as a guest's reset needs it:
 * status reads say "buffers empty", and command 0xFE (pulse the reset
 * line) resets the machine, which is Linux's reboot=k and its fallback.
 */
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/vm.h"

#define I8042_DATA	0x60
#define I8042_CMD	0x64
#define CMD_RESET	0xfe

static void kbd_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	/* No data, input and output buffers empty, no keyboard attached. */
	memset(data, 0, len);
}

static void kbd_data_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
}

static void kbd_cmd_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct vm *vm = dev;

	if (*(const uint8_t *)data == CMD_RESET)
		vm_request_stop(vm, VM_STOP_RESET, "guest reset through the keyboard controller");
}

static const struct io_ops kbd_data_ops = { .read = kbd_read, .write = kbd_data_write };
static const struct io_ops kbd_cmd_ops = { .read = kbd_read, .write = kbd_cmd_write };

int i8042_create(struct vm *vm, struct vk_err *err)
{
	/* 0x61 (speaker/NMI status) lies between: it belongs to the PIT (vmm/hw/pit.c). */
	int r = io_bus_register(&vm->pio, I8042_DATA, 1, &kbd_data_ops, vm);

	if (!r)
		r = io_bus_register(&vm->pio, I8042_CMD, 1, &kbd_cmd_ops, vm);
	if (r)
		return vk_fail(err, r, "i8042: cannot claim ports 0x60/0x64");
	return 0;
}

void i8042_destroy(struct vm *vm)
{
}

const struct vm_device_class i8042_class = {
	.name = "i8042", .create = i8042_create, .destroy = i8042_destroy,
};
