/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vgafill: a full-screen update loop on the standard VGA, for the VNC
 * frame-rate benchmark (bench/vnc.py) and its behaviour test
 * (tests/display/test_vnc_frames.py). Finds the VGA (PCI 1234:1111), takes
 * its BAR0 (the linear framebuffer, as the firmware or vmkit placed it;
 * pci_enable() places one that reads 0), sets the Bochs VBE mode 1024x768x32
 * through the DISPI ports 0x1ce/0x1cf and then, at CPL3, rewrites the whole
 * framebuffer frame after frame as fast as it can. Frame f's pixel (x, y):
 *
 *	red = f & 255, green = x & 255, blue = y & 255
 *
 * so every pixel differs from the frame before, a viewer can tell from any
 * pixel which frame (mod 256) it came from, and its position from the
 * others. Only red moves, so a picture read while the guest draws holds
 * pixels of several frames but none that no frame has, even if a reader
 * takes a pixel's bytes one by one.
 *
 * With "tear" on the command line green moves too:
 *
 *	red = f & 255, green = (x + f) & 255, blue = y & 255
 *
 * so a pixel whose bytes come from two frames (a reader that takes them one
 * by one while the guest rewrites the pixel) has green - red != x: a colour
 * no frame wrote. Each pixel is still written whole (a 64-bit store holds
 * two), so a reader taking each pixel in one load never sees that.
 *
 * Says "vgafill_boot", "pattern=plain|tear", "fb=<address>", "tsc_khz=",
 * "mode=1024x768x32", then "fps=N frames=TOTAL" about once a second (the
 * serial port exits to the monitor: rarely). The TSC is calibrated against
 * the PIT (3 x 50 ms).
 */
#include "lib/rt.h"
#include "lib/pci.h"

RT_TEST("vgafill");

#define VBE_INDEX	0x1ce
#define VBE_DATA	0x1cf
#define VBE_ID		0
#define VBE_XRES	1
#define VBE_YRES	2
#define VBE_BPP		3
#define VBE_ENABLE	4
#define VBE_ENABLED	0x01
#define VBE_LFB		0x40

#define WIDTH		1024
#define HEIGHT		768

static uint64_t fb, tsc_khz;
static bool opt_tear;		/* green follows the frame too */

static void vbe_set(uint16_t idx, uint16_t val)
{
	outw(VBE_INDEX, idx);
	outw(VBE_DATA, val);
}

static uint16_t vbe_get(uint16_t idx)
{
	outw(VBE_INDEX, idx);
	return inw(VBE_DATA);
}

/* The VGA's framebuffer address, or 0 with rt_why set. */
static uint64_t find_fb(void)
{
	struct pci_dev d;

	if (!pci_find(0x1234, 0x1111, 0, &d))
		return rt_failf("no standard VGA (PCI 1234:1111): run with --vga std / -vga std");
	if (!pci_enable(&d))
		return rt_failf("VGA: %s", pci_error);
	if (d.bar_size[0] < (uint64_t)WIDTH * HEIGHT * 4)
		return rt_failf("VGA BAR0 is %#lx bytes: too small for %ux%ux32", d.bar_size[0],
				WIDTH, HEIGHT);
	if (d.bar_moved[0])
		rt_info("bar0_was_unassigned=1");
	return d.bar_addr[0];
}

static bool set_mode(void)
{
	uint16_t id = vbe_get(VBE_ID);

	if (id < 0xb0c0 || id > 0xb0cf)
		return rt_failf("VBE DISPI ID reads %#x: no Bochs VBE", id);
	vbe_set(VBE_ENABLE, 0);
	vbe_set(VBE_XRES, WIDTH);
	vbe_set(VBE_YRES, HEIGHT);
	vbe_set(VBE_BPP, 32);
	vbe_set(VBE_ENABLE, VBE_ENABLED | VBE_LFB);
	if (vbe_get(VBE_XRES) != WIDTH || vbe_get(VBE_YRES) != HEIGHT || vbe_get(VBE_BPP) != 32)
		return rt_failf("VBE mode reads %ux%ux%u", vbe_get(VBE_XRES), vbe_get(VBE_YRES),
				vbe_get(VBE_BPP));
	return true;
}

/* One frame: two pixels per 64-bit store. */
static void draw(uint64_t f)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)fb;
	uint32_t g = opt_tear ? f : 0;	/* green's offset from x */

	for (uint32_t y = 0; y < HEIGHT; y++) {
		uint64_t base = (f & 255) << 16 | (y & 255);

		for (uint32_t x = 0; x < WIDTH; x += 2) {
			uint64_t lo = base | ((x + g) & 255) << 8;
			uint64_t hi = base | ((x + 1 + g) & 255) << 8;

			*p++ = hi << 32 | lo;
		}
	}
}

static uint64_t user_main(void *arg)
{
	uint64_t last, frames = 0, at_last = 0;

	(void)arg;
	fb = find_fb();
	if (!fb)
		return 1;
	rt_info("fb=%#lx", fb);
	/* The least of three: a preempted vCPU only makes one look longer. */
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = rdtsc(), khz;

		if (!pit_delay_us(50000))
			return !rt_failf("the PIT does not count: no time base");
		khz = (rdtsc() - t0) / 50;
		if (!tsc_khz || khz < tsc_khz)
			tsc_khz = khz;
	}
	rt_info("tsc_khz=%lu", tsc_khz);
	if (!tsc_khz)
		return !rt_failf("tsc_khz=0");
	if (!set_mode())
		return 1;
	rt_info("mode=%ux%ux32", WIDTH, HEIGHT);
	last = rdtsc();
	for (;;) {
		draw(frames++);
		uint64_t now = rdtsc();

		if (now - last >= tsc_khz * 1000) {
			rt_info("fps=%lu frames=%lu",
				(frames - at_last) * tsc_khz * 1000 / (now - last), frames);
			last = now;
			at_last = frames;
		}
	}
	return 0;
}

/* "tear" as a word of the command line (PVH start info). */
static bool want_tear(const struct hvm_start_info *si)
{
	const char *p, *c;

	if (!si || si->magic != HVM_START_MAGIC || !si->cmdline_paddr)
		return false;
	c = (const char *)(uintptr_t)si->cmdline_paddr;
	for (p = c; *p; p++) {
		if ((p == c || p[-1] == ' ') && p[0] == 't' && p[1] == 'e' && p[2] == 'a' &&
		    p[3] == 'r' && (p[4] == ' ' || p[4] == '\0'))
			return true;
	}
	return false;
}

void guest_main(struct hvm_start_info *si)
{
	rt_info("vgafill_boot");
	opt_tear = want_tear(si);
	rt_info("pattern=%s", opt_tear ? "tear" : "plain");
	if (cpl3_call(user_main, NULL))
		rt_fail("%s", rt_why);
	rt_fail("the loop returned");
}
