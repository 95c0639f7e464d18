// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The standard VGA (--vga std): QEMU's "VGA" PCI device 1234:1111, the
 * Bochs VBE adapter Linux's bochs DRM driver, OVMF's QemuVideoDxe and
 * SeaBIOS's vgabios-stdvga know:
 *  - legacy ports 0x3b0-0x3df and the 0xa0000-0xbffff window (vga-regs.c,
 *    vga-mem.c), VBE DISPI at 0x1ce/0x1cf;
 *  - BAR0: 16 MiB of VRAM, prefetchable; the linear framebuffer;
 *  - BAR2: 4 KiB of MMIO: the VGA ports 0x3c0-0x3df at 0x400, the DISPI
 *    registers (16 bits each) at 0x500, QEMU's extended registers at 0x600.
 * The expansion ROM (Debian seabios' vgabios-stdvga.bin under BIOS) is the
 * firmware's to load; this file leaves the ROM BAR unimplemented.
 *
 * The VRAM is host memory. Under KVM the VRAM BAR is a memory slot of its
 * own wherever the guest maps it, so framebuffer writes do not exit; the
 * display finds what changed by comparing frames. Without KVM (vm_fd < 0:
 * tests, fuzzing) the BAR's MMIO handlers serve the same bytes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmkit/device.h"
#include "vmkit/display.h"
#include "vmkit/firmware.h"
#include "vmkit/fw-cfg.h"
#include "vmkit/vm.h"
#include "vga.h"

#define VGA_PCI_VENDOR		0x1234
#define VGA_PCI_DEVICE		0x1111
#define VGA_PCI_CLASS		0x030000	/* display controller, VGA compatible */
#define VGA_PCI_REVISION	2		/* has the extended registers at 0x600 */
#define VGA_MMIO_SIZE		0x1000
#define MMIO_VGA_PORTS		0x400		/* 0x3c0-0x3df */
#define MMIO_VBE		0x500
#define MMIO_QEXT		0x600
#define QEXT_SIZE		8
#define QEXT_LITTLE_ENDIAN	0x1e1e1e1e
#define BAR_PREFETCH		0x8

static const struct display_source_ops vga_source_ops = {
	.mode = vga_mode,
	.render = vga_render,
};

/* ---- BAR0: the VRAM (when there is no memory slot: no KVM, or before it is set) ---- */

static void vram_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct vga *v = dev;

	if (off < v->vram_size && len <= v->vram_size - off)
		memcpy(data, v->vram + off, len);
	else
		memset(data, 0xff, len);
}

static void vram_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct vga *v = dev;

	if (off < v->vram_size && len <= v->vram_size - off)
		memcpy(v->vram + off, data, len);
}

static const struct io_ops vram_ops = { .read = vram_read, .write = vram_write };

/* ---- BAR2: registers ---- */

static uint32_t mmio_reg_read(struct vga *v, uint64_t off, unsigned int len)
{
	uint32_t val = 0;
	unsigned int i;

	if (off >= MMIO_VGA_PORTS && off < MMIO_VGA_PORTS + 0x20) {
		for (i = 0; i < len && off + i < MMIO_VGA_PORTS + 0x20; i++)
			val |= (uint32_t)vga_port_read(v, 0x3c0 + off - MMIO_VGA_PORTS + i) << (8 * i);
		return val;
	}
	if (off >= MMIO_VBE && off < MMIO_VBE + 2 * VBE_NR_REGS)
		return vbe_read(v, (off - MMIO_VBE) / 2);
	if (off == MMIO_QEXT)
		return QEXT_SIZE;
	if (off == MMIO_QEXT + 4)
		return QEXT_LITTLE_ENDIAN;
	return 0;
}

static void mmio_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct vga *v = dev;
	uint32_t val;

	pthread_mutex_lock(&v->lock);
	val = mmio_reg_read(v, off, MIN(len, 4u));
	pthread_mutex_unlock(&v->lock);
	memset(data, 0, len);
	memcpy(data, &val, MIN(len, 4u));
}

static void mmio_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct vga *v = dev;
	uint32_t val = 0;
	unsigned int i;

	memcpy(&val, data, MIN(len, 4u));
	pthread_mutex_lock(&v->lock);
	if (off >= MMIO_VGA_PORTS && off < MMIO_VGA_PORTS + 0x20) {
		for (i = 0; i < len && i < 4 && off + i < MMIO_VGA_PORTS + 0x20; i++)
			vga_port_write(v, 0x3c0 + off - MMIO_VGA_PORTS + i, val >> (8 * i));
	} else if (off >= MMIO_VBE && off < MMIO_VBE + 2 * VBE_NR_REGS) {
		vbe_write(v, (off - MMIO_VBE) / 2, val);
	}
	pthread_mutex_unlock(&v->lock);
}

static const struct io_ops mmio_ops = { .read = mmio_read, .write = mmio_write };

/* ---- the VRAM memory slot ---- */

static void bar_mapped(struct pci_device *d, unsigned int bar, uint64_t addr)
{
	struct vga *v = d->opaque;
	struct vk_err err = { 0 };

	if (bar != 0 || v->vm->vm_fd < 0)
		return;		/* no KVM: the MMIO handlers above serve the VRAM */
	if (v->slot_gpa)
		vm_set_memslot(v->vm, VM_SLOT_VGA, v->slot_gpa, 0, NULL, false, &err);
	v->slot_gpa = 0;
	if (addr && !vm_set_memslot(v->vm, VM_SLOT_VGA, addr, v->vram_size, v->vram, false, &err))
		v->slot_gpa = addr;
	/* On failure the BAR still works, through the MMIO handlers (slowly). */
}

static const struct pci_device_ops vga_pci_ops = { .bar_mapped = bar_mapped };

static int vga_pci_init(struct vga *v, struct vk_err *err)
{
	struct pci_device *d = &v->pci;
	int r;

	pci_device_init(d, VGA_PCI_VENDOR, VGA_PCI_DEVICE, VGA_PCI_CLASS, VGA_PCI_REVISION,
			0x1100);
	d->ops = &vga_pci_ops;
	d->opaque = v;
	/*
	 * 32-bit BARs, as QEMU's VGA has: a UEFI firmware puts 64-bit ones in
	 * its high window (OVMF: near the top of the guest's physical address
	 * space), where OVMF's video driver never reached the registers on a
	 * PVM host and the screen stayed blank.
	 */
	r = pci_device_add_bar32(d, 0, v->vram_size, &vram_ops, v);
	if (!r)
		r = pci_device_add_bar32(d, 2, VGA_MMIO_SIZE, &mmio_ops, v);
	if (r)
		return vk_fail(err, r, "vga: cannot add its BARs");
	d->cfg[PCI_BAR0] |= BAR_PREFETCH;
	r = pci_register_device(v->vm, d, err);
	if (!r)
		v->pci_registered = true;
	return r;
}

static void vga_free(struct vga *v)
{
	struct vk_err err = { 0 };

	if (!v)
		return;
	if (v->display)
		display_set_source(v->display, NULL, NULL);
	io_bus_unregister(&v->vm->pio, VGA_PORT_BASE, v);
	io_bus_unregister(&v->vm->pio, VBE_PORT_INDEX, v);
	io_bus_unregister(&v->vm->mmio, VGA_WINDOW_BASE, v);
	if (v->pci_registered)
		pci_unregister_device(v->vm, &v->pci);
	if (v->slot_gpa)
		vm_set_memslot(v->vm, VM_SLOT_VGA, v->slot_gpa, 0, NULL, false, &err);
	if (v->vram)
		munmap(v->vram, v->vram_size);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

static int vga_bus_init(struct vga *v, struct vk_err *err)
{
	if (io_bus_register(&v->vm->pio, VGA_PORT_BASE, VGA_PORT_LEN, &vga_port_ops, v) ||
	    io_bus_register(&v->vm->pio, VBE_PORT_INDEX, 2, &vbe_port_ops, v) ||
	    io_bus_register(&v->vm->mmio, VGA_WINDOW_BASE, VGA_WINDOW_SIZE, &vga_window_ops, v))
		return vk_fail(err, -EBUSY, "vga: its ports or memory window are taken");
	return 0;
}

int vga_create(struct vm *vm, struct display *display, struct vga **out, struct vk_err *err)
{
	struct vga *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return vk_fail(err, -ENOMEM, "vga: out of memory");
	v->vm = vm;
	pthread_mutex_init(&v->lock, NULL);
	v->vram_size = VGA_VRAM_SIZE;
	/* Untouched pages cost nothing: most of 16 MiB is never written. */
	v->vram = mmap(NULL, v->vram_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v->vram == MAP_FAILED) {
		v->vram = NULL;
		vga_free(v);
		return vk_fail(err, -ENOMEM, "vga: cannot map %u MiB of VRAM", VGA_VRAM_SIZE >> 20);
	}
	vga_regs_reset(v);
	r = vga_bus_init(v, err);
	if (!r)
		r = vga_pci_init(v, err);
	if (r) {
		vga_free(v);
		return r;
	}
	v->display = display;
	if (display)
		display_set_source(display, &vga_source_ops, v);
	*out = v;
	return 0;
}

void vga_destroy(struct vga *v)
{
	vga_free(v);
}

/*
 * Under SeaBIOS the adapter needs its VGA BIOS (Debian seabios'
 * vgabios-stdvga.bin, which drives the Bochs VBE ports): handed over as
 * the fw_cfg file vgaroms/..., which SeaBIOS runs as a VGA option ROM
 * (QEMU does the same for its ISA VGA). OVMF brings its own driver for
 * 1234:1111 (QemuVideoDxe), and direct boot needs none.
 */
static int add_vga_bios(struct vm *vm, struct vk_err *err)
{
	char path[PATH_MAX];
	void *rom = NULL;
	size_t len = 0;
	int r;

	if (vm->cfg->firmware != FIRMWARE_BIOS || !fw_cfg_present(vm))
		return 0;
	fw_image_path(FW_VGA_BIOS_IMAGE, path, sizeof(path));
	r = vk_read_file(path, &rom, &len, 1 * MiB);
	if (r)
		return vk_fail(err, r, "vga: %s: %s (Debian's seabios package has it)", path,
			       strerror(-r));
	r = fw_cfg_add_file(vm, "vgaroms/vgabios-stdvga.bin", rom, len);
	free(rom);
	if (r)
		return vk_fail(err, r, "vga: cannot hand the VGA BIOS to the firmware: %s",
			       strerror(-r));
	return 0;
}

static int vga_class_create(struct vm *vm, struct vk_err *err)
{
	int r;

	if (vm->cfg->vga != VGA_STD)
		return 0;
	r = vga_create(vm, vm->cfg->display, (struct vga **)vm_device_state(vm, &vga_class), err);
	if (!r)
		r = add_vga_bios(vm, err);
	return r;
}

static void vga_class_destroy(struct vm *vm)
{
	struct vga **v = (struct vga **)vm_device_state(vm, &vga_class);

	vga_destroy(*v);
	*v = NULL;
}

const struct vm_device_class vga_class = {
	.name = "vga",
	.create = vga_class_create,
	.destroy = vga_class_destroy,
	.save = vga_save, .load = vga_load,
};
