// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the i8042 and its PS/2 keyboard and mouse
 * (vmm/hw/i8042.c, ps2-kbd.c, ps2-mouse.c, ps2-scancodes.c) on a VM
 * without KVM: the input is a hostile driver's script of port writes and
 * reads mixed with key and mouse events from the input router. Each input
 * gets a fresh controller. The status register must never claim an input
 * buffer, timeout or parity error, and every queue stays bounded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/hw.h"
#include "vmkit/input.h"
#include "vmkit/vm.h"

static struct vm_config cfg;
static struct vm vm;

static void setup(void)
{
	struct vk_err err = { 0 };

	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = vm.stop_efd = -1;
	pthread_mutex_init(&vm.lock, NULL);
	pthread_cond_init(&vm.cond, NULL);
	io_bus_init(&vm.pio);
	if (input_router_new(&vm, &err))
		abort();
}

static void outb(uint16_t port, uint8_t v)
{
	if (!io_bus_write(&vm.pio, port, &v, 1))
		abort();
}

static uint8_t inb(uint16_t port)
{
	uint32_t v = 0;

	/* Wider reads than a byte, as a careless driver might do. */
	if (!io_bus_read(&vm.pio, port, &v, port == 0x64 ? 1 : 4))
		abort();
	if (port == 0x64 && (v & 0xc2))
		abort();	/* IBF, timeout or parity: never */
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_err err = { 0 };
	size_t i = 0;
	unsigned int n;

	if (!vm.input)
		setup();
	if (i8042_create(&vm, &err))
		abort();
	while (i < size) {
		uint8_t op = data[i++], a = i < size ? data[i] : 0, b = i + 1 < size ? data[i + 1] : 0;

		switch (op & 7) {
		case 0: outb(0x64, a); i++; break;
		case 1: outb(0x60, a); i++; break;
		case 2: inb(0x64); break;
		case 3: inb(0x60); break;
		case 4: input_key(&vm, (a | b << 8) & 0x2ff, op & 8); i += 2; break;
		case 5:
			input_rel(&vm, (int8_t)a * (op >> 3), (int8_t)b * (op >> 3), (int8_t)(a ^ b) >> 4,
				  op >> 3);
			i += 2;
			break;
		case 6:
			/* Drain, as an interrupt handler does: bounded by the queues. */
			for (n = 0; n < 1024 && (inb(0x64) & 1); n++)
				inb(0x60);
			if (n == 1024)
				abort();
			break;
		case 7: outb(0x64, 0xd4); outb(0x60, a); i++; break;
		}
		vm.stop = VM_RUNNING;	/* a reset the script asked for: keep going */
	}
	i8042_destroy(&vm);
	return 0;
}
