// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VGA registers as a guest programs them: the sequencer (0x3c4/5),
 * graphics controller (0x3ce/f), attribute controller (0x3c0/1, index and
 * data through one flip-flop that a read of input status 1 resets),
 * CRTC (0x3d4/5 or 0x3b4/5 by the misc register's I/O select), the DAC
 * (0x3c6-0x3c9: three writes or reads per entry) and misc (0x3c2/0x3cc);
 * and the Bochs VBE DISPI interface (index 0x1ce, data 0x1cf) that the VGA
 * BIOS, OVMF and Linux's bochs driver set graphics modes with. Every index
 * is masked to its register file; a guest cannot reach past one.
 */
#include <string.h>

#include "vmkit/display.h"
#include "vga.h"

static bool crtc_port(struct vga *v, unsigned int port, unsigned int base)
{
	/* Misc bit 0: colour (0x3dx) or mono (0x3bx) addresses for the CRTC and status. */
	return (v->misc & 1) ? base == 0x3d0 : base == 0x3b0;
}

static void ar_write(struct vga *v, uint8_t val)
{
	if (!v->ar_flip) {
		v->ar_idx = val & 0x3f;	/* bit 5: palette address source (display on) */
	} else {
		unsigned int i = v->ar_idx & 0x1f;

		if (i < 0x10 && (v->ar_idx & 0x20))
			;	/* the palette is locked while the display reads it */
		else if (i <= 0x14)
			v->ar[i] = val;
	}
	v->ar_flip = !v->ar_flip;
}

static void dac_write(struct vga *v, uint8_t val)
{
	v->dac_tmp[v->dac_sub++] = val;
	if (v->dac_sub < 3)
		return;
	memcpy(&v->palette[v->dac_write_idx * 3], v->dac_tmp, 3);
	v->dac_write_idx++;
	v->dac_sub = 0;
}

static uint8_t dac_read(struct vga *v)
{
	uint8_t val = v->palette[v->dac_read_idx * 3 + v->dac_sub++];

	if (v->dac_sub == 3) {
		v->dac_sub = 0;
		v->dac_read_idx++;
	}
	return val;
}

void vga_port_write(struct vga *v, unsigned int port, uint8_t val)
{
	v->dirty = true;
	switch (port) {
	case 0x3c0: ar_write(v, val); break;
	case 0x3c2: v->misc = val; break;
	case 0x3c4: v->seq_idx = val & 7; break;
	case 0x3c5: v->seq[v->seq_idx] = val; break;
	case 0x3c6: v->dac_mask = val; break;
	case 0x3c7: v->dac_read_idx = val; v->dac_sub = 0; v->dac_state = 3; break;
	case 0x3c8: v->dac_write_idx = val; v->dac_sub = 0; v->dac_state = 0; break;
	case 0x3c9: dac_write(v, val); break;
	case 0x3ce: v->gc_idx = val & 0xf; break;
	case 0x3cf: v->gc[v->gc_idx] = val; break;
	case 0x3b4: case 0x3d4:
		if (crtc_port(v, port, port & 0x3f0))
			v->crtc_idx = val & 0x1f;
		break;
	case 0x3b5: case 0x3d5:
		if (!crtc_port(v, port, port & 0x3f0))
			break;
		/* CRTC 0-7 are write-protected by bit 7 of 0x11, except 7's line compare bit. */
		if ((v->crtc[0x11] & 0x80) && v->crtc_idx <= 7) {
			if (v->crtc_idx == 7)
				v->crtc[7] = (v->crtc[7] & ~0x10) | (val & 0x10);
			break;
		}
		v->crtc[v->crtc_idx] = val;
		break;
	case 0x3ba: case 0x3da:
		if (crtc_port(v, port, port & 0x3f0))
			v->feature = val;
		break;
	}
}

uint8_t vga_port_read(struct vga *v, unsigned int port)
{
	switch (port) {
	case 0x3c0: return v->ar_idx;
	case 0x3c1: return v->ar[v->ar_idx & 0x1f];
	case 0x3c2: return 0x10;	/* input status 0: switch sense, no interrupt */
	case 0x3c4: return v->seq_idx;
	case 0x3c5: return v->seq[v->seq_idx];
	case 0x3c6: return v->dac_mask;
	case 0x3c7: return v->dac_state;
	case 0x3c8: return v->dac_write_idx;
	case 0x3c9: return dac_read(v);
	case 0x3ca: return v->feature;
	case 0x3cc: return v->misc;
	case 0x3ce: return v->gc_idx;
	case 0x3cf: return v->gc[v->gc_idx];
	case 0x3b4: case 0x3d4:
		return crtc_port(v, port, port & 0x3f0) ? v->crtc_idx : 0xff;
	case 0x3b5: case 0x3d5:
		return crtc_port(v, port, port & 0x3f0) ? v->crtc[v->crtc_idx] : 0xff;
	case 0x3ba: case 0x3da:
		if (!crtc_port(v, port, port & 0x3f0))
			return 0xff;
		/* Input status 1 resets the attribute flip-flop; retrace toggles so polls end. */
		v->ar_flip = false;
		v->st1_toggle ^= 0x09;
		return v->st1_toggle;
	}
	return 0xff;
}

static void vga_port_io_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct vga *v = dev;
	uint8_t *p = data;
	unsigned int i;

	pthread_mutex_lock(&v->lock);
	for (i = 0; i < len; i++)
		p[i] = off + i < VGA_PORT_LEN ? vga_port_read(v, VGA_PORT_BASE + off + i) : 0xff;
	pthread_mutex_unlock(&v->lock);
}

/* A word write is index then data (outw 0x3c4, 0x0f02 sets the map mask). */
static void vga_port_io_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct vga *v = dev;
	const uint8_t *p = data;
	unsigned int i;

	pthread_mutex_lock(&v->lock);
	for (i = 0; i < len; i++)
		if (off + i < VGA_PORT_LEN)
			vga_port_write(v, VGA_PORT_BASE + off + i, p[i]);
	pthread_mutex_unlock(&v->lock);
}

const struct io_ops vga_port_ops = { .read = vga_port_io_read, .write = vga_port_io_write };

/* ---- Bochs VBE ---- */

bool vbe_geometry(struct vga *v, unsigned int *bytespp, uint32_t *line, uint32_t *start)
{
	unsigned int bpp = v->vbe[VBE_BPP], B = (bpp + 7) / 8;
	uint64_t ln, st, end;

	if (!(v->vbe[VBE_ENABLE] & VBE_ENABLED) || !v->vbe[VBE_XRES] || !v->vbe[VBE_YRES])
		return false;
	if (bpp != 8 && bpp != 15 && bpp != 16 && bpp != 24 && bpp != 32)
		return false;
	ln = (uint64_t)MAX(v->vbe[VBE_VIRT_WIDTH], v->vbe[VBE_XRES]) * B;
	st = (uint64_t)v->vbe[VBE_Y_OFFSET] * ln + (uint64_t)v->vbe[VBE_X_OFFSET] * B;
	end = st + ln * (v->vbe[VBE_YRES] - 1) + (uint64_t)v->vbe[VBE_XRES] * B;
	if (end > v->vram_size)
		return false;	/* a mode past VRAM shows nothing rather than reading beyond it */
	*bytespp = B;
	*line = ln;
	*start = st;
	return true;
}

static uint16_t vbe_max(unsigned int idx)
{
	switch (idx) {
	case VBE_XRES: return VBE_MAX_XRES;
	case VBE_YRES: return VBE_MAX_YRES;
	case VBE_BPP: return VBE_MAX_BPP;
	}
	return 0;
}

static void vbe_enable(struct vga *v, uint16_t val)
{
	unsigned int B = (v->vbe[VBE_BPP] + 7) / 8;

	if ((val & VBE_ENABLED) && !(v->vbe[VBE_ENABLE] & VBE_ENABLED)) {
		/* A new mode: the whole width is one line, offsets start at 0. */
		v->vbe[VBE_VIRT_WIDTH] = v->vbe[VBE_XRES];
		v->vbe[VBE_X_OFFSET] = v->vbe[VBE_Y_OFFSET] = 0;
		if (v->vbe[VBE_XRES] && B)
			v->vbe[VBE_VIRT_HEIGHT] = MIN(0xffffu, v->vram_size /
						      ((uint32_t)v->vbe[VBE_XRES] * B));
		if (!(val & VBE_NOCLEARMEM))
			memset(v->vram, 0, MIN((uint64_t)v->vram_size,
					       (uint64_t)v->vbe[VBE_XRES] * v->vbe[VBE_YRES] * B));
	}
	v->vbe[VBE_ENABLE] = val & (VBE_ENABLED | VBE_GETCAPS | VBE_8BIT_DAC | VBE_LFB_ENABLED |
				    VBE_NOCLEARMEM);
}

void vbe_write(struct vga *v, unsigned int idx, uint16_t val)
{
	v->dirty = true;
	switch (idx) {
	case VBE_ID:
		if (val >= 0xb0c0 && val <= VBE_ID5)
			v->vbe[VBE_ID] = val;
		break;
	case VBE_XRES: case VBE_YRES: case VBE_BPP:
		/* Only while VBE is off, as Bochs: a running mode's geometry is fixed. */
		if (!(v->vbe[VBE_ENABLE] & VBE_ENABLED) && val <= vbe_max(idx))
			v->vbe[idx] = idx == VBE_XRES ? val & ~7u : val;
		break;
	case VBE_ENABLE: vbe_enable(v, val); break;
	case VBE_BANK:
		if ((uint32_t)val * VGA_PLANE_SIZE < v->vram_size)
			v->vbe[VBE_BANK] = val;
		break;
	case VBE_VIRT_WIDTH: case VBE_X_OFFSET: case VBE_Y_OFFSET:
		v->vbe[idx] = val;	/* checked against VRAM when used (vbe_geometry) */
		break;
	}
}

uint16_t vbe_read(struct vga *v, unsigned int idx)
{
	if (idx >= VBE_NR_REGS)
		return 0;
	if ((v->vbe[VBE_ENABLE] & VBE_GETCAPS) && vbe_max(idx))
		return vbe_max(idx);
	if (idx == VBE_VIDEO_MEMORY_64K)
		return v->vram_size >> 16;
	return v->vbe[idx];
}

static void vbe_io_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct vga *v = dev;
	uint16_t val;

	pthread_mutex_lock(&v->lock);
	val = off == 0 ? v->vbe_idx : vbe_read(v, v->vbe_idx);
	pthread_mutex_unlock(&v->lock);
	memset(data, 0, len);
	memcpy(data, &val, MIN(len, 2u));
}

static void vbe_io_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct vga *v = dev;
	uint16_t val = 0;

	memcpy(&val, data, MIN(len, 2u));
	pthread_mutex_lock(&v->lock);
	if (off == 0)
		v->vbe_idx = val;
	else
		vbe_write(v, v->vbe_idx, val);
	pthread_mutex_unlock(&v->lock);
}

const struct io_ops vbe_port_ops = { .read = vbe_io_read, .write = vbe_io_write };

/* Power-on: VBE off, palette and attribute display enabled, colour addressing. */
void vga_regs_reset(struct vga *v)
{
	memset(v->vbe, 0, sizeof(v->vbe));
	v->vbe[VBE_ID] = VBE_ID5;
	v->misc = 0x01;
	v->dac_mask = 0xff;
	v->ar_idx = 0x20;
	v->dirty = true;
}
