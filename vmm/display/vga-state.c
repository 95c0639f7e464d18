// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VGA's state for save/restore (issue 15): its PCI function, every
 * legacy register with the index and flip-flop states a driver may be in
 * the middle of, the DAC and palette, Bochs VBE, and the VRAM, compressed
 * (most of 16 MiB is zeros). Loads check every index and VBE value against
 * what the registers themselves accept, then take it all at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vmkit/savestate.h"
#include "vmkit/vm.h"
#include "vga.h"

struct reg8 {
	const char *name;
	size_t off;
	uint8_t max;
};

#define R(f, m) { #f, offsetof(struct vga, f), m }
static const struct reg8 regs8[] = {
	R(misc, 0xff), R(feature, 0xff), R(seq_idx, 7), R(gc_idx, 15), R(crtc_idx, 31),
	R(ar_idx, 0x3f), R(st1_toggle, 0xff), R(dac_mask, 0xff), R(dac_read_idx, 0xff),
	R(dac_write_idx, 0xff), R(dac_sub, 2), R(dac_state, 0xff),
};
#undef R

struct regarr {
	const char *name;
	size_t off, len;
};

#define A(f) { #f, offsetof(struct vga, f), sizeof(((struct vga *)0)->f) }
static const struct regarr arrays[] = {
	A(seq), A(gc), A(crtc), A(ar), A(dac_tmp), A(palette), A(vbe),
};
#undef A

static void save_vram(struct vga *v, struct ss_writer *w)
{
	uLongf n = compressBound(v->vram_size);
	uint8_t *z = malloc(n);

	if (!z || compress2(z, &n, v->vram, v->vram_size, 1) != Z_OK) {
		ss_fail(w, -ENOMEM, "vga: compressing VRAM");
		free(z);
		return;
	}
	ss_put_u64(w, "vram-size", v->vram_size);
	ss_put_bytes(w, "vram-zlib", z, n);
	free(z);
}

void vga_save(struct vm *vm, struct ss_writer *w)
{
	struct vga *v = *vm_device_state(vm, &vga_class);
	unsigned int i;

	if (!v)
		return;
	pthread_mutex_lock(&v->lock);
	ss_begin(w, "vga", 0, 1);
	if (v->pci_registered)
		pci_device_save(&v->pci, w);
	for (i = 0; i < ARRAY_SIZE(regs8); i++)
		ss_put_u64(w, regs8[i].name, *((uint8_t *)v + regs8[i].off));
	for (i = 0; i < ARRAY_SIZE(arrays); i++)
		ss_put_bytes(w, arrays[i].name, (uint8_t *)v + arrays[i].off, arrays[i].len);
	ss_put_u64(w, "ar_flip", v->ar_flip);
	ss_put_u64(w, "latch", v->latch);
	ss_put_u64(w, "vbe_idx", v->vbe_idx);
	save_vram(v, w);
	ss_end(w);
	pthread_mutex_unlock(&v->lock);
}

/* What vbe_write lets a guest set (vga-regs.c). */
static bool vbe_ok(const struct vga *n)
{
	const uint16_t *r = n->vbe;

	return (r[VBE_ID] == 0 || (r[VBE_ID] >= 0xb0c0 && r[VBE_ID] <= VBE_ID5)) &&
	       r[VBE_XRES] <= VBE_MAX_XRES && !(r[VBE_XRES] & 7) && r[VBE_YRES] <= VBE_MAX_YRES &&
	       r[VBE_BPP] <= VBE_MAX_BPP && (uint32_t)r[VBE_BANK] * VGA_PLANE_SIZE < n->vram_size &&
	       !(r[VBE_ENABLE] & ~(VBE_ENABLED | VBE_GETCAPS | VBE_8BIT_DAC | VBE_LFB_ENABLED |
				   VBE_NOCLEARMEM));
}

/* The registers into n (a copy of the device), checked. */
static int load_regs(struct vga *n, const struct ss_section *s, struct vk_err *err)
{
	uint64_t x, flip, latch, idx;
	unsigned int i;
	int r = 0;

	for (i = 0; i < ARRAY_SIZE(regs8) && !r; i++) {
		r = ss_get_u64(s, regs8[i].name, &x, err);
		if (!r && x > regs8[i].max)
			r = vk_fail(err, -EINVAL, "state of vga: %s out of range", regs8[i].name);
		if (!r)
			*((uint8_t *)n + regs8[i].off) = x;
	}
	for (i = 0; i < ARRAY_SIZE(arrays) && !r; i++)
		r = ss_get_bytes(s, arrays[i].name, (uint8_t *)n + arrays[i].off, arrays[i].len, err);
	if (!r)
		r = ss_get_u64(s, "ar_flip", &flip, err);
	if (!r)
		r = ss_get_u64(s, "latch", &latch, err);
	if (!r)
		r = ss_get_u64(s, "vbe_idx", &idx, err);
	if (!r && (flip > 1 || latch > UINT32_MAX || idx > 0xffff || !vbe_ok(n)))
		r = vk_fail(err, -EINVAL, "state of vga: a VBE register out of range");
	n->ar_flip = flip;
	n->latch = latch;
	n->vbe_idx = idx;
	return r;
}

static int load_vram(struct vga *v, const struct ss_section *s, uint8_t *vram,
		     struct vk_err *err)
{
	const uint8_t *z;
	uLongf n = v->vram_size;
	uint64_t size;
	size_t zlen;
	int r = ss_get_u64(s, "vram-size", &size, err);

	if (!r)
		r = ss_get_blob(s, "vram-zlib", &z, &zlen, err);
	if (r)
		return r;
	if (size != v->vram_size)
		return vk_fail(err, -EINVAL, "state of vga: %llu bytes of VRAM, this one has %u",
			       (unsigned long long)size, v->vram_size);
	if (uncompress(vram, &n, z, zlen) != Z_OK || n != v->vram_size)
		return vk_fail(err, -EINVAL, "state of vga: VRAM damaged");
	return 0;
}

int vga_load(struct vm *vm, const struct ss_reader *rd, struct vk_err *err)
{
	struct vga *v = *vm_device_state(vm, &vga_class);
	const struct ss_section *s = ss_find(rd, "vga", 0);
	struct vga *n;
	uint8_t *vram;
	int r;

	if (!v != !s)
		return vk_fail(err, -EINVAL, "state: saved %s a VGA, this VM %s", v ? "without" : "with",
			       v ? "has one" : "has none");
	if (!v)
		return 0;
	n = malloc(sizeof(*n));
	vram = malloc(v->vram_size);
	r = n && vram ? 0 : vk_fail(err, -ENOMEM, "vga: out of memory");
	if (!r) {
		memcpy(n, v, sizeof(*n));
		r = load_regs(n, s, err);
	}
	if (!r)
		r = load_vram(v, s, vram, err);
	if (!r && v->pci_registered)
		r = pci_device_load(&v->pci, s, err);
	if (!r) {
		pthread_mutex_lock(&v->lock);
		for (unsigned int i = 0; i < ARRAY_SIZE(regs8); i++)
			*((uint8_t *)v + regs8[i].off) = *((uint8_t *)n + regs8[i].off);
		for (unsigned int i = 0; i < ARRAY_SIZE(arrays); i++)
			memcpy((uint8_t *)v + arrays[i].off, (uint8_t *)n + arrays[i].off,
			       arrays[i].len);
		v->ar_flip = n->ar_flip, v->latch = n->latch, v->vbe_idx = n->vbe_idx;
		memcpy(v->vram, vram, v->vram_size);
		v->dirty = true;
		pthread_mutex_unlock(&v->lock);
	}
	free(vram);
	free(n);
	return r;
}
