// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Screendump encoders: binary PPM (P6, maxval 255: what QEMU's screendump
 * writes) and PNG through Debian's libpng, from an XRGB8888 surface.
 */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmkit/display.h"

static void to_rgb(const uint32_t *src, uint8_t *dst, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		dst[3 * i] = src[i] >> 16;
		dst[3 * i + 1] = src[i] >> 8;
		dst[3 * i + 2] = src[i];
	}
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

int display_write_ppm(const struct display_surface *s, int fd, struct vk_err *err)
{
	uint8_t *row = malloc((size_t)s->width * 3);
	char head[64];
	unsigned int y;
	int r, n;

	if (!row)
		return vk_fail(err, -ENOMEM, "screendump: out of memory");
	n = snprintf(head, sizeof(head), "P6\n%u %u\n255\n", s->width, s->height);
	r = write_all(fd, head, n);
	for (y = 0; !r && y < s->height; y++) {
		to_rgb(s->pixels + (size_t)y * s->width, row, s->width);
		r = write_all(fd, row, (size_t)s->width * 3);
	}
	free(row);
	return r ? vk_fail(err, r, "screendump: %s", strerror(-r)) : 0;
}

/* libpng reports errors by longjmp; the handler keeps the message for the caller. */
static void png_error_fn(png_structp png, png_const_charp msg)
{
	struct vk_err *err = png_get_error_ptr(png);

	vk_fail(err, -EIO, "screendump: png: %s", msg);
	png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg)
{
}

int display_write_png(const struct display_surface *s, int fd, struct vk_err *err)
{
	png_structp png;
	png_infop info = NULL;
	uint8_t *volatile row = NULL;
	FILE *volatile f;
	unsigned int y;
	int nfd = dup(fd);

	f = nfd >= 0 ? fdopen(nfd, "wb") : NULL;
	if (!f) {
		if (nfd >= 0)
			close(nfd);
		return vk_fail(err, -errno, "screendump: %s", strerror(errno));
	}
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, png_error_fn, png_warn_fn);
	if (png)
		info = png_create_info_struct(png);
	row = malloc((size_t)s->width * 3);
	if (!png || !info || !row) {
		vk_fail(err, -ENOMEM, "screendump: out of memory");
		goto out;
	}
	if (setjmp(png_jmpbuf(png)))
		goto out;	/* err was filled by png_error_fn */
	png_init_io(png, f);
	png_set_IHDR(png, info, s->width, s->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (y = 0; y < s->height; y++) {
		to_rgb(s->pixels + (size_t)y * s->width, row, s->width);
		png_write_row(png, row);
	}
	png_write_end(png, info);
	err->code = 0;
out:
	png_destroy_write_struct(&png, info ? &info : NULL);
	free(row);
	if (fclose(f) && !err->code)
		vk_fail(err, -errno, "screendump: %s", strerror(errno));
	return err->code;
}
