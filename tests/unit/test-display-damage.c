// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What a display refresh reports to its listeners (vmm/display/display.c):
 * the changed 16x16 tiles as a few rectangles a refresh, not one per row of
 * tiles (the VNC link sends each on to its helper, whose socket holds a
 * limited number), every changed pixel inside one of them. A source of the
 * test's own draws the frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/display.h"

#define W	1024
#define H	768
#define TILE	DISPLAY_TILE

static uint32_t frame[W * H];		/* what the source shows */
static uint32_t before[W * H];		/* the last picture the listener saw */

struct rect {
	unsigned int x, y, w, h;
};

static struct rect got[256];
static unsigned int nr_got;
static struct display *d;

static void src_mode(void *src, unsigned int *w, unsigned int *h)
{
	*w = W;
	*h = H;
}

static bool src_render(void *src, struct display_surface *s)
{
	memcpy(s->pixels, frame, sizeof(frame));
	return true;
}

static const struct display_source_ops src_ops = { .mode = src_mode, .render = src_render };

static void l_resize(void *l, unsigned int w, unsigned int h)
{
}

static void l_update(void *l, const struct display_surface *s, unsigned int x, unsigned int y,
		     unsigned int w, unsigned int h)
{
	assert_true(x + w <= s->width && y + h <= s->height && w && h);
	assert_true(nr_got < 256);
	got[nr_got++] = (struct rect){ x, y, w, h };
}

static const struct display_listener_ops l_ops = { .resize = l_resize, .update = l_update };

static int setup(void **state)
{
	struct vk_err err = { 0 };
	int l;

	if (display_new(&d, &err))
		return -1;
	display_set_source(d, &src_ops, NULL);
	memset(frame, 0, sizeof(frame));
	if (display_add_listener(d, &l_ops, &l))
		return -1;
	memcpy(before, frame, sizeof(frame));
	return 0;
}

static int teardown(void **state)
{
	display_free(d);
	return 0;
}

/* Refresh; every pixel that changed since the last must lie in a reported rectangle. */
static void refresh(void)
{
	unsigned int x, y, i;

	nr_got = 0;
	display_refresh(d);
	for (y = 0; y < H; y++) {
		for (x = 0; x < W; x++) {
			bool in = false;

			if (frame[y * W + x] == before[y * W + x])
				continue;
			for (i = 0; i < nr_got && !in; i++)
				in = x >= got[i].x && x < got[i].x + got[i].w && y >= got[i].y &&
				     y < got[i].y + got[i].h;
			if (!in)
				fail_msg("pixel (%u, %u) changed but is in no update", x, y);
		}
	}
	memcpy(before, frame, sizeof(frame));
}

static void fill(unsigned int x0, unsigned int y0, unsigned int w, unsigned int h, uint32_t c)
{
	unsigned int x, y;

	for (y = y0; y < y0 + h; y++)
		for (x = x0; x < x0 + w; x++)
			frame[y * W + x] = c;
}

static void assert_rect(unsigned int i, unsigned int x, unsigned int y, unsigned int w,
			unsigned int h)
{
	assert_true(i < nr_got);
	assert_int_equal(got[i].x, x);
	assert_int_equal(got[i].y, y);
	assert_int_equal(got[i].w, w);
	assert_int_equal(got[i].h, h);
}

static void test_full_screen_is_one_update(void **state)
{
	fill(0, 0, W, H, 0x123456);
	refresh();
	assert_int_equal(nr_got, 1);
	assert_rect(0, 0, 0, W, H);
	refresh();			/* nothing changed: nothing reported */
	assert_int_equal(nr_got, 0);
}

static void test_one_pixel_is_its_tile(void **state)
{
	frame[(5 * TILE + 3) * W + 7 * TILE + 9] ^= 1;
	refresh();
	assert_int_equal(nr_got, 1);
	assert_rect(0, 7 * TILE, 5 * TILE, TILE, TILE);
}

static void test_columns_stay_apart(void **state)
{
	/* Two columns of tiles down the screen: two rectangles, not 2 x 48. */
	fill(TILE, 0, 2 * TILE, H, 0xff0000);
	fill(W - 4 * TILE, 2 * TILE, TILE, H - 4 * TILE, 0x00ff00);
	refresh();
	assert_int_equal(nr_got, 2);
	assert_rect(0, TILE, 0, 2 * TILE, H);
	assert_rect(1, W - 4 * TILE, 2 * TILE, TILE, H - 4 * TILE);
}

static void test_ragged_change_is_its_bounding_box(void **state)
{
	unsigned int r, w, widest = 0;

	/* Rows of tiles, each of another width than the last (text scrolling): past 8. */
	for (r = 0; r < 20; r++) {
		w = (r % 7 + 1 + r % 3) * TILE;
		widest = w > widest ? w : widest;
		fill(2 * TILE, (4 + r) * TILE, w, TILE, 0xabcdef + r);
	}
	refresh();
	assert_int_equal(nr_got, 1);
	assert_rect(0, 2 * TILE, 4 * TILE, widest, 20 * TILE);
}

static void test_few_rectangles(void **state)
{
	/* A cursor cell and a clock: as they are. */
	fill(3 * TILE, 40 * TILE, 8, 16, 0xffffff);
	fill(W - 5 * TILE, 0, 5 * TILE, TILE, 0x00ffff);
	refresh();
	assert_int_equal(nr_got, 2);
	assert_rect(0, W - 5 * TILE, 0, 5 * TILE, TILE);
	assert_rect(1, 3 * TILE, 40 * TILE, TILE, TILE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_screen_is_one_update),
		cmocka_unit_test(test_one_pixel_is_its_tile),
		cmocka_unit_test(test_columns_stay_apart),
		cmocka_unit_test(test_ragged_change_is_its_bounding_box),
		cmocka_unit_test(test_few_rectangles),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
