// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The standard VGA's VBE renderer (vmm/display/vga-render.c) on a VRAM of
 * the test's own: each depth's pixels convert to the surface's 0x00RRGGBB,
 * and a pixel the guest rewrites while it is rendered (its VRAM is a KVM
 * memory slot: the vCPU writes on while the refresh reads) comes out as one
 * the guest wrote, never bytes of two writes. A writer thread stands in for
 * the guest, storing each pixel whole; the check runs for a time budget, as
 * a torn read needs the two threads on two CPUs at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <cmocka.h>

#include "../../vmm/display/vga.h"

#define W	256
#define H	64
#define BUDGET_NS	1500000000LL	/* of racing a writer, per depth */

static struct vga v;
static uint32_t pixels[W * H];
static struct display_surface surf = { W, H, pixels };

static int setup(void **state)
{
	v.vram = mmap(NULL, VGA_VRAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (v.vram == MAP_FAILED)
		return -1;
	v.vram_size = VGA_VRAM_SIZE;
	pthread_mutex_init(&v.lock, NULL);
	return 0;
}

static int teardown(void **state)
{
	munmap(v.vram, VGA_VRAM_SIZE);
	pthread_mutex_destroy(&v.lock);
	return 0;
}

/* VBE on at W x H, bpp bits a pixel, as a guest sets it through DISPI. */
static void mode(unsigned int bpp)
{
	memset(v.vbe, 0, sizeof(v.vbe));
	v.vbe[VBE_XRES] = W;
	v.vbe[VBE_YRES] = H;
	v.vbe[VBE_BPP] = bpp;
	v.vbe[VBE_VIRT_WIDTH] = W;
	v.vbe[VBE_ENABLE] = VBE_ENABLED | VBE_LFB_ENABLED;
	memset(v.vram, 0, (size_t)W * H * 4);
	memset(pixels, 0x5a, sizeof(pixels));
}

static void render(void)
{
	unsigned int w, h;

	vga_mode(&v, &w, &h);
	assert_int_equal(w, W);
	assert_int_equal(h, H);
	assert_true(vga_render(&v, &surf));
}

static void test_depths(void **state)
{
	static const uint8_t pal[4 * 3] = { 0, 0, 0, 63, 0, 0, 0, 63, 0, 0, 0, 63 };
	uint16_t *p16 = (uint16_t *)v.vram;
	uint32_t *p32 = (uint32_t *)v.vram;

	mode(32);
	p32[0] = 0xff123456;		/* the top byte is padding */
	p32[W * H - 1] = 0x00abcdef;
	render();
	assert_int_equal(pixels[0], 0x123456);
	assert_int_equal(pixels[W * H - 1], 0xabcdef);

	mode(24);
	memcpy(v.vram, "\x56\x34\x12\xef\xcd\xab", 6);
	render();
	assert_int_equal(pixels[0], 0x123456);
	assert_int_equal(pixels[1], 0xabcdef);

	mode(16);
	p16[0] = 0xf800;		/* 5:6:5 */
	p16[1] = 0x07e0;
	p16[2] = 0x001f;
	render();
	assert_int_equal(pixels[0], 0xf80000);
	assert_int_equal(pixels[1], 0x00fc00);
	assert_int_equal(pixels[2], 0x0000f8);

	mode(15);
	p16[0] = 0x7c00;		/* 1:5:5:5 */
	p16[1] = 0x03e0;
	p16[2] = 0x801f;
	render();
	assert_int_equal(pixels[0], 0xf80000);
	assert_int_equal(pixels[1], 0x00f800);
	assert_int_equal(pixels[2], 0x0000f8);

	mode(8);
	memcpy(v.palette, pal, sizeof(pal));
	v.dac_mask = 0xff;
	memcpy(v.vram, "\1\2\3", 3);
	render();
	assert_int_equal(pixels[0], 0xff0000);	/* 6-bit DAC: 63 is full */
	assert_int_equal(pixels[1], 0x00ff00);
	assert_int_equal(pixels[2], 0x0000ff);
}

/* ---- a guest rewriting the screen while it is rendered ---- */

struct writer {
	unsigned int bytespp;
	uint32_t a, b;			/* the two pixel values it alternates */
	volatile bool stop;
};

static void *write_loop(void *opaque)
{
	struct writer *w = opaque;
	unsigned int i, round;

	for (round = 0; !w->stop; round++) {
		uint32_t val = round & 1 ? w->b : w->a;

		for (i = 0; i < W * H; i++) {
			if (w->bytespp == 4)
				__atomic_store_n((uint32_t *)v.vram + i, val, __ATOMIC_RELAXED);
			else
				__atomic_store_n((uint16_t *)v.vram + i, val, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Render while w rewrites every pixel; each must come out as ra or rb. */
static void race(struct writer *w, uint32_t ra, uint32_t rb)
{
	long long end = now_ns() + BUDGET_NS;
	unsigned int i, torn = 0, renders = 0, first = 0;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, write_loop, w), 0);
	while (!torn && now_ns() < end) {
		render();
		renders++;
		for (i = 0; i < W * H; i++) {
			if (pixels[i] != ra && pixels[i] != rb && !torn++)
				first = pixels[i];
		}
	}
	w->stop = true;
	pthread_join(t, NULL);
	if (torn)
		fail_msg("render %u: %u pixels neither %#x nor %#x (the first %#x): "
			 "bytes of two writes", renders, torn, ra, rb, first);
}

static void test_torn_32(void **state)
{
	struct writer w = { .bytespp = 4, .a = 0x00000000, .b = 0x00ffffff };

	mode(32);
	race(&w, 0x000000, 0xffffff);
}

static void test_torn_16(void **state)
{
	struct writer w = { .bytespp = 2, .a = 0x0000, .b = 0xffff };

	mode(16);
	race(&w, 0x000000, 0xf8fcf8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depths),
		cmocka_unit_test(test_torn_32),
		cmocka_unit_test(test_torn_16),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
