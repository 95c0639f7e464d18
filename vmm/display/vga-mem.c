// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The legacy memory window at 0xa0000-0xbffff, as the VGA's memory
 * sequencer and graphics controller make it behave:
 *  - which part of the window decodes (graphics controller reg 6, bits 2-3);
 *  - chain-4 (sequencer 4 bit 3): address bits 0-1 pick the plane (mode 13h);
 *  - odd/even (sequencer 4 bit 2 clear): address bit 0 picks plane 0 or 1
 *    (text: characters in plane 0, attributes in plane 1);
 *  - otherwise planar: a write goes to every plane the map mask enables,
 *    through write modes 0-3 (rotate, set/reset, logical op with the
 *    latches, bit mask), a read loads the four latches and returns one
 *    plane (read mode 0) or a colour comparison (read mode 1).
 * With VBE on, the window is a 64 KiB bank of the linear framebuffer.
 */
#include <string.h>

#include "vmkit/display.h"
#include "vga.h"

/* Window offset (from 0xa0000) to an offset in the mapped range, or -1 if not decoded. */
static int64_t window_offset(struct vga *v, uint32_t addr)
{
	static const uint32_t base[4] = { 0, 0, 0x10000, 0x18000 };
	static const uint32_t size[4] = { 0x20000, 0x10000, 0x8000, 0x8000 };
	unsigned int map = (v->gc[6] >> 2) & 3;

	if (addr < base[map] || addr - base[map] >= size[map])
		return -1;
	return addr - base[map];
}

static uint32_t expand(uint8_t planes)	/* bit p set -> byte p all ones */
{
	uint32_t r = 0;
	unsigned int p;

	for (p = 0; p < 4; p++)
		if (planes & (1u << p))
			r |= 0xffu << (8 * p);
	return r;
}

static uint32_t plane_word(struct vga *v, uint32_t off)
{
	uint32_t w;

	memcpy(&w, v->vram + (size_t)off * 4, 4);
	return w;
}

uint8_t vga_mem_read(struct vga *v, uint32_t addr)
{
	int64_t off = window_offset(v, addr);
	uint32_t cmp;
	unsigned int plane;

	if (v->vbe[VBE_ENABLE] & VBE_ENABLED) {
		uint64_t a = (uint64_t)v->vbe[VBE_BANK] * VGA_PLANE_SIZE + (addr & 0xffff);

		return a < v->vram_size ? v->vram[a] : 0xff;
	}
	if (off < 0 || off >= VGA_PLANE_SIZE)
		return 0xff;
	if (v->seq[4] & 8)
		return v->vram[off];			/* chain-4 */
	if (!(v->seq[4] & 4)) {				/* odd/even */
		plane = (v->gc[4] & 2) | (off & 1);
		return v->vram[(off & ~1) * 4 + plane];
	}
	v->latch = plane_word(v, off);
	if (!(v->gc[5] & 8))
		return v->latch >> (8 * (v->gc[4] & 3));
	/* Read mode 1: bits where every plane not "don't care" equals the colour compare. */
	cmp = (v->latch ^ expand(v->gc[2] & 0xf)) & expand(v->gc[7] & 0xf);
	return ~(cmp | cmp >> 8 | cmp >> 16 | cmp >> 24);
}

static uint8_t rotate(struct vga *v, uint8_t val)
{
	unsigned int n = v->gc[3] & 7;

	return (uint8_t)((val >> n) | (val << (8 - n)));
}

/* Write modes 0-3 on all four planes at once (a byte per plane in a word). */
static uint32_t planar_value(struct vga *v, uint8_t val)
{
	uint32_t mask = v->gc[8] * 0x01010101u, w;

	switch (v->gc[5] & 3) {
	case 0:
		w = rotate(v, val) * 0x01010101u;
		w = (w & ~expand(v->gc[1])) | (expand(v->gc[0]) & expand(v->gc[1]));
		break;
	case 1:
		return v->latch;
	case 2:
		w = expand(val & 0xf);
		break;
	default:
		mask &= rotate(v, val) * 0x01010101u;
		w = expand(v->gc[0]);
		break;
	}
	switch ((v->gc[3] >> 3) & 3) {
	case 1: w &= v->latch; break;
	case 2: w |= v->latch; break;
	case 3: w ^= v->latch; break;
	}
	return (w & mask) | (v->latch & ~mask);
}

void vga_mem_write(struct vga *v, uint32_t addr, uint8_t val)
{
	int64_t off = window_offset(v, addr);
	uint32_t old, neu, planes;
	unsigned int plane;

	if (v->vbe[VBE_ENABLE] & VBE_ENABLED) {
		uint64_t a = (uint64_t)v->vbe[VBE_BANK] * VGA_PLANE_SIZE + (addr & 0xffff);

		if (a < v->vram_size)
			v->vram[a] = val;
		return;
	}
	if (off < 0 || off >= VGA_PLANE_SIZE)
		return;
	if (v->seq[4] & 8) {				/* chain-4 */
		if (v->seq[2] & (1u << (off & 3)))
			v->vram[off] = val;
		return;
	}
	if (!(v->seq[4] & 4)) {				/* odd/even */
		plane = (v->gc[4] & 2) | (off & 1);
		if (v->seq[2] & (1u << plane))
			v->vram[(off & ~1) * 4 + plane] = val;
		return;
	}
	planes = expand(v->seq[2] & 0xf);
	old = plane_word(v, off);
	neu = (planar_value(v, val) & planes) | (old & ~planes);
	memcpy(v->vram + (size_t)off * 4, &neu, 4);
}

static void window_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct vga *v = dev;
	uint8_t *p = data;
	unsigned int i;

	pthread_mutex_lock(&v->lock);
	for (i = 0; i < len; i++)
		p[i] = off + i < VGA_WINDOW_SIZE ? vga_mem_read(v, off + i) : 0xff;
	pthread_mutex_unlock(&v->lock);
}

static void window_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct vga *v = dev;
	const uint8_t *p = data;
	unsigned int i;

	pthread_mutex_lock(&v->lock);
	for (i = 0; i < len; i++)
		if (off + i < VGA_WINDOW_SIZE)
			vga_mem_write(v, off + i, p[i]);
	pthread_mutex_unlock(&v->lock);
}

const struct io_ops vga_window_ops = { .read = window_read, .write = window_write };
