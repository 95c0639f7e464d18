/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The graphical console: one display per VM, made by the CLI and kept
 * across guest resets (as the control socket is), with
 *  - a surface: what the screen shows, XRGB8888, width x height;
 *  - a source: the display adapter (VGA) that draws its current picture
 *    into the surface when asked (on the refresh timer, or on demand);
 *  - listeners (the VNC server) told of size changes and changed regions.
 * Changed regions are found by comparing each frame with the last one in
 * tiles, so a source needs no dirty tracking of its own (and guest writes
 * through a KVM memory slot, which the monitor never sees, are found too).
 *
 * Threads: the refresh runs on the VM's device event loop; screendump on
 * the control thread; listeners and input from their own threads. One
 * lock covers the surface, the source and the listener list; listener
 * calls are made with it held, so they must not call back into the display.
 */
#ifndef VMKIT_DISPLAY_H
#define VMKIT_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;
struct display;

#define DISPLAY_MAX_WIDTH	4096
#define DISPLAY_MAX_HEIGHT	4096
#define DISPLAY_TILE		16	/* comparison granularity, pixels */
#define DISPLAY_REFRESH_HZ	30

struct display_surface {
	unsigned int width, height;	/* stride is width */
	uint32_t *pixels;		/* 0x00RRGGBB */
};

struct display_source_ops {
	/* The picture's size now; 0x0 when the adapter shows nothing. */
	void (*mode)(void *src, unsigned int *width, unsigned int *height);
	/*
	 * Draw the whole picture into s (sized as mode() said just before).
	 * Return false if the source knows nothing changed since its last
	 * render (the display then skips the comparison).
	 */
	bool (*render)(void *src, struct display_surface *s);
};

struct display_listener_ops {
	/*
	 * The surface has a new size and is black; updates follow. Also called
	 * when the listener is added, followed by an update of the whole surface.
	 */
	void (*resize)(void *l, unsigned int width, unsigned int height);
	/* Pixels in the rectangle of s changed (s is valid during the call only). */
	void (*update)(void *l, const struct display_surface *s, unsigned int x, unsigned int y,
		       unsigned int w, unsigned int h);
};

int display_new(struct display **out, struct vk_err *err);
void display_free(struct display *d);

/* The VM whose event loop refreshes and whose input router takes input (NULL: none). */
int display_attach_vm(struct display *d, struct vm *vm, struct vk_err *err);
void display_detach_vm(struct display *d);

/* The adapter showing on this display; NULL ops takes it away. */
void display_set_source(struct display *d, const struct display_source_ops *ops, void *src);

/* Listeners; at most DISPLAY_MAX_LISTENERS. The refresh timer runs while there are any. */
#define DISPLAY_MAX_LISTENERS	4
int display_add_listener(struct display *d, const struct display_listener_ops *ops, void *l);
void display_remove_listener(struct display *d, void *l);

/* Render now and tell the listeners what changed (the timer calls this). */
void display_refresh(struct display *d);

/*
 * Copy rectangle (x, y, w, h) of the surface into dst (stride dst_stride
 * pixels, same coordinates) if the surface is still width x height;
 * -ESTALE when it was resized meanwhile (a resize call follows).
 */
int display_copy(struct display *d, uint32_t *dst, unsigned int dst_stride,
		 unsigned int width, unsigned int height, unsigned int x, unsigned int y,
		 unsigned int w, unsigned int h);
void display_size(struct display *d, unsigned int *width, unsigned int *height);

/* Input from a viewer, passed to the attached VM's input router (dropped without one). */
void display_key(struct display *d, unsigned int keycode, bool down);
/* Pointer at pixel (x, y): a tablet gets it absolute, a mouse the motion since the last. */
void display_pointer(struct display *d, int x, int y, unsigned int buttons);

/*
 * Render now and write the picture to path as "ppm" (binary P6, as QEMU's
 * screendump) or "png"; through a temporary file renamed into place.
 */
int display_screendump(struct display *d, const char *path, const char *format,
		       struct vk_err *err);

/* Encoders (vmm/display/dump.c), also for tests: the surface to an open file. */
int display_write_ppm(const struct display_surface *s, int fd, struct vk_err *err);
int display_write_png(const struct display_surface *s, int fd, struct vk_err *err);

#endif
