/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The standard VGA adapter (QEMU's "VGA", PCI 1234:1111) inside
 * vmm/display/: its state, shared by the files that each do one job:
 *   vga.c         the device class, PCI function, BARs, the VRAM slot
 *   vga-regs.c    legacy VGA registers (0x3b4-0x3da) and Bochs VBE (0x1ce/0x1cf)
 *   vga-mem.c     the 0xa0000-0xbffff window: planar, odd/even, chain-4, banked VBE
 *   vga-render.c  text and graphics modes into the display's surface
 *
 * VRAM layout: in the legacy modes byte (offset * 4 + plane) holds plane
 * `plane` at `offset` (so chain-4 mode 13h is linear); with VBE on, the
 * framebuffer is linear from vbe_start().
 */
#ifndef VMKIT_DISPLAY_VGA_H
#define VMKIT_DISPLAY_VGA_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmkit/bus.h"
#include "vmkit/device.h"
#include "vmkit/display.h"
#include "vmkit/pci.h"

struct vm;
struct display;

#define VGA_VRAM_SIZE		(16u << 20)
#define VGA_PLANE_SIZE		(64u << 10)	/* what the legacy modes address per plane */
#define VGA_WINDOW_BASE		0xa0000
#define VGA_WINDOW_SIZE		0x20000
#define VGA_PORT_BASE		0x3b0		/* 0x3b0-0x3df */
#define VGA_PORT_LEN		0x30
#define VBE_PORT_INDEX		0x1ce
#define VBE_PORT_DATA		0x1cf

/* Bochs VBE DISPI registers */
enum {
	VBE_ID, VBE_XRES, VBE_YRES, VBE_BPP, VBE_ENABLE, VBE_BANK, VBE_VIRT_WIDTH,
	VBE_VIRT_HEIGHT, VBE_X_OFFSET, VBE_Y_OFFSET, VBE_VIDEO_MEMORY_64K, VBE_NR_REGS
};
#define VBE_ID5			0xb0c5
#define VBE_ENABLED		0x01
#define VBE_GETCAPS		0x02
#define VBE_8BIT_DAC		0x20
#define VBE_LFB_ENABLED		0x40
#define VBE_NOCLEARMEM		0x80
#define VBE_MAX_XRES		2560
#define VBE_MAX_YRES		1600
#define VBE_MAX_BPP		32

struct vga {
	struct vm *vm;
	struct display *display;
	pthread_mutex_t lock;		/* registers and window accesses vs rendering */
	uint8_t *vram;
	uint32_t vram_size;

	/* Legacy registers */
	uint8_t misc, feature, seq_idx, seq[8], gc_idx, gc[16], crtc_idx, crtc[32];
	uint8_t ar_idx, ar[32];
	bool ar_flip;			/* next write to 0x3c0 is data */
	uint8_t st1_toggle;		/* fake retrace for the BIOS's polling loops */
	uint8_t dac_mask, dac_read_idx, dac_write_idx, dac_sub, dac_state, dac_tmp[3];
	uint8_t palette[768];		/* 6 bits per component (8 with VBE_8BIT_DAC) */
	uint32_t latch;			/* one byte per plane */

	/* Bochs VBE */
	uint16_t vbe_idx, vbe[VBE_NR_REGS];

	/* Render state */
	unsigned int frame;		/* refresh count, for blinking */
	bool dirty;			/* a register changed since the last render */

	/* PCI and the VRAM memory slot */
	struct pci_device pci;
	bool pci_registered;
	uint64_t slot_gpa;		/* where the VRAM slot is mapped, 0: not */
};

/* vga.c: the adapter on vm, showing on display (may be NULL); the class creates it. */
int vga_create(struct vm *vm, struct display *display, struct vga **out, struct vk_err *err);
void vga_destroy(struct vga *v);
extern const struct vm_device_class vga_class;

/* vga-regs.c */
extern const struct io_ops vga_port_ops;	/* range VGA_PORT_BASE, offsets from it */
extern const struct io_ops vbe_port_ops;	/* range VBE_PORT_INDEX, 2 ports */
void vga_port_write(struct vga *v, unsigned int port, uint8_t val);
uint8_t vga_port_read(struct vga *v, unsigned int port);
void vbe_write(struct vga *v, unsigned int idx, uint16_t val);
uint16_t vbe_read(struct vga *v, unsigned int idx);
void vga_regs_reset(struct vga *v);
/* Bytes per pixel of the VBE mode and its start in VRAM; false if VBE is off or bad. */
bool vbe_geometry(struct vga *v, unsigned int *bytespp, uint32_t *line, uint32_t *start);

/* vga-state.c: the class's save and load (issue 15) */
struct ss_writer;
struct ss_reader;
void vga_save(struct vm *vm, struct ss_writer *w);
int vga_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err);

/* vga-mem.c */
extern const struct io_ops vga_window_ops;	/* range VGA_WINDOW_BASE, VGA_WINDOW_SIZE */
uint8_t vga_mem_read(struct vga *v, uint32_t addr);
void vga_mem_write(struct vga *v, uint32_t addr, uint8_t val);

/* vga-render.c */
void vga_mode(void *v, unsigned int *width, unsigned int *height);
bool vga_render(void *v, struct display_surface *s);

#endif
