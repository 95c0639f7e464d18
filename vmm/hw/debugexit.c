// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QEMU's isa-debug-exit, for test and benchmark guests: a write of V to
 * the port ends the monitor with exit status (V << 1) | 1, at once. Off
 * unless --debug-exit asks for it, so no ordinary guest can stop the
 * monitor this way.
 */
#include <stdint.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/vm.h"

static void dbg_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	memset(data, 0xff, len);
}

static void dbg_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct vm *vm = dev;
	uint32_t v = 0;

	memcpy(&v, data, MIN(len, 4u));
	vm->debug_exit_status = ((v << 1) | 1) & 0xff;
	vm_request_stop(vm, VM_STOP_DEBUG_EXIT, "guest wrote 0x%x to the debug-exit port", v);
}

static const struct io_ops dbg_ops = { .read = dbg_read, .write = dbg_write };

int debugexit_create(struct vm *vm, uint16_t port, struct vk_err *err)
{
	int r = io_bus_register(&vm->pio, port, 1, &dbg_ops, vm);

	if (r)
		return vk_fail(err, r, "--debug-exit: port 0x%x is already in use", port);
	return 0;
}

static int debugexit_class_create(struct vm *vm, struct vk_err *err)
{
	return vm->cfg->debug_exit_port ? debugexit_create(vm, vm->cfg->debug_exit_port, err) : 0;
}

const struct vm_device_class debugexit_class = {
	.name = "isa-debug-exit", .create = debugexit_class_create,
};
