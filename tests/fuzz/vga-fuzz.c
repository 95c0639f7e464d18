// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the standard VGA (vmm/display/vga*.c) on a VM
 * without KVM: the input is a guest's script of port writes and reads
 * (legacy VGA registers, VBE DISPI), accesses to the 0xa0000 window, the
 * MMIO BAR and the VRAM BAR, and renders into the display (the step where
 * register values become sizes and VRAM offsets).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/display.h"
#include "vmkit/evloop.h"
#include "vmkit/input.h"
#include "vmkit/vm.h"

extern const struct vm_device_class pci_host_class, vga_class;

static struct vm vm;
static struct vm_config cfg;
static uint64_t bar0, bar2;

int vm_ram_map(const struct mem_backing *mb, uint64_t size, uint8_t **hva, struct vk_err *err)
{
	return vk_fail(err, -ENOSYS, "fuzz VM");
}

void vm_ram_unmap(uint8_t *hva, uint64_t size)
{
}

static void resize(void *l, unsigned int w, unsigned int h)
{
}

static void update(void *l, const struct display_surface *s, unsigned int x, unsigned int y,
		   unsigned int w, unsigned int h)
{
	/* What a listener reads: every reported pixel must be inside the surface. */
	if (x + w > s->width || y + h > s->height)
		abort();
	volatile uint32_t p = s->pixels[(size_t)(y + h - 1) * s->width + x + w - 1];
	(void)p;
}

static const struct display_listener_ops lops = { .resize = resize, .update = update };

static uint32_t cfg_rw(unsigned int off, uint32_t v, bool write)
{
	uint32_t a = 0x80000000u | (off & 0xfc);

	io_bus_write(&vm.pio, 0xcf8, &a, 4);	/* slot 0: the VGA is the only device */
	if (write)
		io_bus_write(&vm.pio, 0xcfc, &v, 4);
	else
		io_bus_read(&vm.pio, 0xcfc, &v, 4);
	return v;
}

static void setup(void)
{
	struct vk_err err = { 0 };
	int l;

	cfg.vga = VGA_STD;
	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = -1;
	io_bus_init(&vm.pio);
	io_bus_init(&vm.mmio);
	if (evloop_new(&vm.loop) || display_new(&cfg.display, &err) ||
	    input_router_new(&vm, &err) || pci_host_class.create(&vm, &err) ||
	    vga_class.create(&vm, &err))
		abort();
	cfg_rw(4, cfg_rw(4, 0, false) | 2, true);
	bar0 = cfg_rw(0x10, 0, false) & ~0xfu;
	bar2 = cfg_rw(0x18, 0, false) & ~0xfu;
	l = 0;
	if (display_add_listener(cfg.display, &lops, &l))
		abort();
}

static const uint16_t ports[] = { 0x3c0, 0x3c1, 0x3c2, 0x3c4, 0x3c5, 0x3c6, 0x3c7, 0x3c8,
				  0x3c9, 0x3ca, 0x3cc, 0x3ce, 0x3cf, 0x3d4, 0x3d5, 0x3da,
				  0x3b4, 0x3b5, 0x3ba, 0x1ce, 0x1cf, 0x3b0, 0x3df };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[8];

	if (!vm.loop)
		setup();
	while (size >= 5) {
		uint8_t op = data[0] & 7, len = 1u << ((data[0] >> 3) & 3);
		uint32_t arg = data[1] | data[2] << 8 | (uint32_t)data[3] << 16;

		memset(buf, data[4], sizeof(buf));
		switch (op) {
		case 0: io_bus_write(&vm.pio, ports[data[1] % ARRAY_SIZE(ports)], buf, MIN(len, 2)); break;
		case 1: io_bus_read(&vm.pio, ports[data[1] % ARRAY_SIZE(ports)], buf, MIN(len, 2)); break;
		case 2: io_bus_write(&vm.mmio, 0xa0000 + (arg & 0x1ffff), buf, len); break;
		case 3: io_bus_read(&vm.mmio, 0xa0000 + (arg & 0x1ffff), buf, len); break;
		case 4: io_bus_write(&vm.mmio, bar2 + (arg & 0xfff), buf, len); break;
		case 5: io_bus_read(&vm.mmio, bar2 + (arg & 0xfff), buf, len); break;
		case 6: io_bus_write(&vm.mmio, bar0 + ((arg << 2) & 0xffffff), buf, len); break;
		case 7: display_refresh(cfg.display); break;
		}
		data += 5;
		size -= 5;
	}
	display_refresh(cfg.display);
	return 0;
}
