// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Draw what the VGA shows into the display's surface (the display's
 * source ops): the Bochs VBE linear framebuffer when VBE is on (8, 15,
 * 16, 24 and 32 bits per pixel), else what the legacy registers say:
 * text mode with the guest's own font from plane 2, attributes, blink and
 * the cursor; 16-colour planar graphics; 256-colour (mode 13h, chained
 * or not). Sizes come from the CRTC as a monitor would measure them.
 * Every VRAM index is masked or checked: the registers are the guest's.
 *
 * Not drawn: CGA-compatible 2/4-colour modes (shift register interleave),
 * split screen (line compare), horizontal pel panning, underline.
 */
#include <string.h>

#include "vmkit/display.h"
#include "vga.h"

enum render_kind { KIND_NONE, KIND_VBE, KIND_TEXT, KIND_PLANAR, KIND_256 };

struct geom {
	enum render_kind kind;
	unsigned int width, height;
	unsigned int cols, rows, cwidth, cheight;	/* text */
	unsigned int rep;				/* scanlines per memory line */
	uint32_t start, line;				/* VBE: bytes; legacy: plane offsets */
	unsigned int bytespp;				/* VBE */
};

#define PLANE_MASK	(VGA_PLANE_SIZE - 1)

static unsigned int vde(struct vga *v)	/* vertical display end + 1: visible scanlines */
{
	return (v->crtc[0x12] | ((v->crtc[7] & 0x02) << 7) | ((v->crtc[7] & 0x40) << 3)) + 1;
}

static void geometry(struct vga *v, struct geom *g)
{
	memset(g, 0, sizeof(*g));
	if (vbe_geometry(v, &g->bytespp, &g->line, &g->start)) {
		g->kind = KIND_VBE;
		g->width = v->vbe[VBE_XRES];
		g->height = v->vbe[VBE_YRES];
		return;
	}
	if ((v->seq[1] & 0x20) || !(v->ar_idx & 0x20) || !v->crtc[1])
		return;		/* screen off or palette being loaded: no picture */
	g->start = (v->crtc[0xc] << 8) | v->crtc[0xd];
	if (!(v->gc[6] & 1)) {
		g->kind = KIND_TEXT;
		g->cols = v->crtc[1] + 1;
		g->cwidth = (v->seq[1] & 1) ? 8 : 9;
		g->cheight = (v->crtc[9] & 0x1f) + 1;
		g->rows = vde(v) / g->cheight;
		g->line = v->crtc[0x13] * 2;	/* cells per row */
		g->width = g->cols * g->cwidth;
		g->height = g->rows * g->cheight;
		return;
	}
	g->rep = ((v->crtc[9] & 0x1f) + 1) * ((v->crtc[9] & 0x80) ? 2 : 1);
	g->height = vde(v) / g->rep;
	if (v->ar[0x10] & 0x40) {
		g->kind = KIND_256;
		g->width = (v->crtc[1] + 1) * 4;
		g->line = v->crtc[0x13] * 8;
	} else {
		g->kind = KIND_PLANAR;
		g->width = (v->crtc[1] + 1) * 8;
		g->line = v->crtc[0x13] * 2;
	}
}

void vga_mode(void *opaque, unsigned int *width, unsigned int *height)
{
	struct vga *v = opaque;
	struct geom g;

	pthread_mutex_lock(&v->lock);
	geometry(v, &g);
	pthread_mutex_unlock(&v->lock);
	*width = g.width;
	*height = g.height;
}

static uint32_t dac_rgb(struct vga *v, uint8_t idx)
{
	const uint8_t *c = &v->palette[(idx & v->dac_mask) * 3];

	if (v->vbe[VBE_ENABLE] & VBE_8BIT_DAC)
		return (c[0] << 16) | (c[1] << 8) | c[2];
	return ((c[0] & 0x3f) << 18 | (c[0] & 0x30) << 12) |
	       ((c[1] & 0x3f) << 10 | (c[1] & 0x30) << 4) |
	       ((c[2] & 0x3f) << 2 | (c[2] & 0x30) >> 4);
}

/* A 4-bit colour through the attribute controller's palette to the DAC. */
static uint32_t ar_rgb(struct vga *v, unsigned int c)
{
	uint8_t e = v->ar[c & 0xf], idx;

	if (v->ar[0x10] & 0x80)
		idx = ((v->ar[0x14] & 0xc) << 4) | ((v->ar[0x14] & 3) << 4) | (e & 0xf);
	else
		idx = ((v->ar[0x14] & 0xc) << 4) | (e & 0x3f);
	return dac_rgb(v, idx);
}

static uint8_t plane(struct vga *v, uint32_t off, unsigned int p)
{
	return v->vram[(size_t)(off & PLANE_MASK) * 4 + p];
}

/* Font bank base in plane 2 for a character map select value 0-7. */
static uint32_t font_base(unsigned int sel)
{
	static const uint32_t base[8] = { 0x0000, 0x4000, 0x8000, 0xc000,
					  0x2000, 0x6000, 0xa000, 0xe000 };
	return base[sel & 7];
}

static void text_cell(struct vga *v, const struct geom *g, struct display_surface *s,
		      unsigned int row, unsigned int col, bool cursor)
{
	uint32_t off = (g->start + row * g->line + col) * 2;
	uint8_t ch = plane(v, off, 0), attr = plane(v, off, 1), bits;
	unsigned int fg = attr & 0xf, bg = attr >> 4, sa, sb, x, y, cs, ce;
	uint32_t font, fgc, bgc, *px;

	sa = ((v->seq[3] >> 5) & 1) << 2 | ((v->seq[3] >> 2) & 3);
	sb = ((v->seq[3] >> 4) & 1) << 2 | (v->seq[3] & 3);
	font = font_base((sa != sb && (attr & 8)) ? sa : sb);
	if (v->ar[0x10] & 8) {		/* bit 7 blinks instead of a bright background */
		bg &= 7;
		if ((attr & 0x80) && (v->frame & 16))
			fg = bg;
	}
	fgc = ar_rgb(v, fg);
	bgc = ar_rgb(v, bg);
	cs = v->crtc[0xa] & 0x1f;
	ce = MIN(v->crtc[0xb] & 0x1fu, g->cheight - 1);
	for (y = 0; y < g->cheight; y++) {
		bits = plane(v, font + ch * 32 + y, 2);
		if (cursor && y >= cs && y <= ce)
			bits = 0xff;
		px = s->pixels + (size_t)(row * g->cheight + y) * s->width + col * g->cwidth;
		for (x = 0; x < 8; x++)
			px[x] = (bits & (0x80 >> x)) ? fgc : bgc;
		if (g->cwidth == 9)	/* line-drawing characters continue into the 9th dot */
			px[8] = ((v->ar[0x10] & 4) && ch >= 0xc0 && ch <= 0xdf && (bits & 1)) ?
				fgc : bgc;
	}
}

static void render_text(struct vga *v, const struct geom *g, struct display_surface *s)
{
	uint32_t cur = (v->crtc[0xe] << 8) | v->crtc[0xf];
	bool show = !(v->crtc[0xa] & 0x20) && (v->frame & 8);
	unsigned int r, c;

	for (r = 0; r < g->rows; r++)
		for (c = 0; c < g->cols; c++)
			text_cell(v, g, s, r, c,
				  show && cur == ((g->start + r * g->line + c) & 0xffff));
}

static void render_planar(struct vga *v, const struct geom *g, struct display_surface *s)
{
	uint32_t pal[16], *px;
	unsigned int x, y, p, c;

	for (c = 0; c < 16; c++)
		pal[c] = ar_rgb(v, c);
	for (y = 0; y < g->height; y++) {
		uint32_t base = g->start + y * g->line;

		px = s->pixels + (size_t)y * s->width;
		for (x = 0; x < g->width; x++) {
			uint32_t off = base + x / 8;

			for (c = 0, p = 0; p < 4; p++)
				c |= ((plane(v, off, p) >> (7 - x % 8)) & 1) << p;
			px[x] = pal[c & v->ar[0x12] & 0xf];
		}
	}
}

static void render_256(struct vga *v, const struct geom *g, struct display_surface *s)
{
	uint32_t pal[256], *px;
	unsigned int x, y;

	for (x = 0; x < 256; x++)
		pal[x] = dac_rgb(v, x);
	for (y = 0; y < g->height; y++) {
		uint32_t base = g->start * 4 + y * g->line;

		px = s->pixels + (size_t)y * s->width;
		for (x = 0; x < g->width; x++)
			px[x] = pal[v->vram[(base + x) & (4 * VGA_PLANE_SIZE - 1)]];
	}
}

/*
 * The VBE framebuffer is the guest's memory slot: the guest rewrites it
 * while it is read here. A pixel is read in one load of its own size,
 * aligned (vbe_geometry's start and line are multiples of the pixel's
 * bytes, VRAM is page-aligned), so it is one the guest wrote, never bytes
 * of two writes (red of one frame, green of the next: a colour the guest
 * never drew). Relaxed atomic loads say so to the compiler, which may
 * neither split nor merge them. A 24-bit pixel has no aligned load of its
 * own and no guest can write one in a single store either (it straddles
 * words), so it is read byte by byte: it tears no more than the guest's
 * own writes do.
 */
static inline uint32_t vram_load32(const uint8_t *p)
{
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}

static inline uint16_t vram_load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static void vbe_row32(uint32_t *px, const uint8_t *src, unsigned int n)
{
	unsigned int x;

	for (x = 0; x < n; x++)
		px[x] = vram_load32(src + 4 * x) & 0xffffff;
}

static void vbe_row16(uint32_t *px, const uint8_t *src, unsigned int n, bool bpp15)
{
	unsigned int x;
	uint16_t w;

	for (x = 0; x < n; x++) {
		w = vram_load16(src + 2 * x);
		if (bpp15)
			px[x] = ((w >> 10 & 0x1f) << 19) | ((w >> 5 & 0x1f) << 11) | ((w & 0x1f) << 3);
		else
			px[x] = ((w >> 11) << 19) | ((w >> 5 & 0x3f) << 10) | ((w & 0x1f) << 3);
	}
}

static void vbe_row24(uint32_t *px, const uint8_t *src, unsigned int n)
{
	unsigned int x;

	for (x = 0; x < n; x++, src += 3)
		px[x] = (src[2] << 16) | (src[1] << 8) | src[0];
}

static void vbe_row8(uint32_t *px, const uint8_t *src, unsigned int n, const uint32_t *pal)
{
	unsigned int x;

	for (x = 0; x < n; x++)
		px[x] = pal[src[x]];
}

static void render_vbe(struct vga *v, const struct geom *g, struct display_surface *s)
{
	bool bpp15 = v->vbe[VBE_BPP] == 15;
	uint32_t pal[256], *px;
	unsigned int x, y;

	if (g->bytespp == 1)
		for (x = 0; x < 256; x++)
			pal[x] = dac_rgb(v, x);
	/* vbe_geometry checked that the last pixel of the last line is in VRAM. */
	for (y = 0; y < g->height; y++) {
		const uint8_t *src = v->vram + g->start + (size_t)y * g->line;

		px = s->pixels + (size_t)y * s->width;
		switch (g->bytespp) {
		case 4: vbe_row32(px, src, g->width); break;
		case 3: vbe_row24(px, src, g->width); break;
		case 2: vbe_row16(px, src, g->width, bpp15); break;
		default: vbe_row8(px, src, g->width, pal); break;
		}
	}
}

bool vga_render(void *opaque, struct display_surface *s)
{
	struct vga *v = opaque;
	struct geom g;

	pthread_mutex_lock(&v->lock);
	geometry(v, &g);
	v->frame++;
	v->dirty = false;
	/* The mode changed since the display asked for its size: next refresh. */
	if (g.width != s->width || g.height != s->height) {
		pthread_mutex_unlock(&v->lock);
		return false;
	}
	switch (g.kind) {
	case KIND_VBE: render_vbe(v, &g, s); break;
	case KIND_TEXT: render_text(v, &g, s); break;
	case KIND_PLANAR: render_planar(v, &g, s); break;
	case KIND_256: render_256(v, &g, s); break;
	case KIND_NONE: break;
	}
	pthread_mutex_unlock(&v->lock);
	return true;
}
