// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The display core (include/vmkit/display.h): the surface, the source that
 * draws into it, and the listeners told what changed. Each refresh renders
 * into a scratch frame and compares it with the surface tile by tile;
 * only changed tiles are copied over and reported (as a few rectangles
 * a refresh), so a viewer is sent what changed however the guest changed it.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "vmkit/device.h"
#include "vmkit/display.h"
#include "vmkit/evloop.h"
#include "vmkit/input.h"
#include "vmkit/vm.h"

#define BLANK_WIDTH	640	/* what a display without a picture shows: black */
#define BLANK_HEIGHT	480

struct display_listener {
	const struct display_listener_ops *ops;
	void *l;
};

struct display {
	pthread_mutex_t lock;
	struct display_surface surf;	/* what listeners see */
	uint32_t *scratch;		/* the frame being rendered, same size */
	const struct display_source_ops *src_ops;
	void *src;
	struct display_listener ls[DISPLAY_MAX_LISTENERS];
	unsigned int nr_ls;
	struct vm *vm;
	int timer_fd;
	bool timer_on, timer_added;
	int last_x, last_y;		/* pointer position, for relative motion */
};

static int alloc_frames(struct display *d, unsigned int w, unsigned int h)
{
	size_t n = (size_t)w * h;
	uint32_t *p = calloc(n, 4), *s = calloc(n, 4);

	if (!p || !s) {
		free(p);
		free(s);
		return -ENOMEM;
	}
	free(d->surf.pixels);
	free(d->scratch);
	d->surf = (struct display_surface){ w, h, p };
	d->scratch = s;
	return 0;
}

int display_new(struct display **out, struct vk_err *err)
{
	struct display *d = calloc(1, sizeof(*d));

	if (!d || alloc_frames(d, BLANK_WIDTH, BLANK_HEIGHT)) {
		free(d);
		return vk_fail(err, -ENOMEM, "display: out of memory");
	}
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->timer_fd < 0) {
		int e = -errno;

		free(d->surf.pixels);
		free(d->scratch);
		free(d);
		return vk_fail(err, e, "display: timerfd: %s", strerror(-e));
	}
	pthread_mutex_init(&d->lock, NULL);
	*out = d;
	return 0;
}

void display_free(struct display *d)
{
	if (!d)
		return;
	close(d->timer_fd);
	pthread_mutex_destroy(&d->lock);
	free(d->surf.pixels);
	free(d->scratch);
	free(d);
}

/* With the lock: run the timer while a VM is attached and someone watches. */
static void timer_sync(struct display *d)
{
	bool on = d->vm && d->nr_ls > 0;
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	if (on == d->timer_on)
		return;
	if (on) {
		its.it_interval.tv_nsec = 1000000000L / DISPLAY_REFRESH_HZ;
		its.it_value = its.it_interval;
	}
	timerfd_settime(d->timer_fd, 0, &its, NULL);
	d->timer_on = on;
}

static int timer_fired(void *opaque, int fd, uint32_t events)
{
	struct display *d = opaque;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) == sizeof(n))
		display_refresh(d);
	return 0;
}

int display_attach_vm(struct display *d, struct vm *vm, struct vk_err *err)
{
	int r = evloop_add(vm->loop, d->timer_fd, EPOLLIN, timer_fired, d);

	if (r)
		return vk_fail(err, r, "display: cannot watch its timer: %s", strerror(-r));
	pthread_mutex_lock(&d->lock);
	d->vm = vm;
	d->timer_added = true;
	timer_sync(d);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void display_detach_vm(struct display *d)
{
	struct vm *vm;

	pthread_mutex_lock(&d->lock);
	vm = d->vm;
	d->vm = NULL;
	timer_sync(d);
	pthread_mutex_unlock(&d->lock);
	if (vm && d->timer_added)
		evloop_del(vm->loop, d->timer_fd);
	d->timer_added = false;
}

/* With the lock: the surface is now w x h (black); tell every listener. */
static void resize_locked(struct display *d, unsigned int w, unsigned int h)
{
	unsigned int i;

	if (w == d->surf.width && h == d->surf.height)
		return;
	if (alloc_frames(d, w, h))
		return;		/* keep the old size; the next refresh tries again */
	for (i = 0; i < d->nr_ls; i++)
		d->ls[i].ops->resize(d->ls[i].l, w, h);
}

void display_set_source(struct display *d, const struct display_source_ops *ops, void *src)
{
	pthread_mutex_lock(&d->lock);
	d->src_ops = ops;
	d->src = ops ? src : NULL;
	if (!ops) {
		/* Nothing shows: a black screen, as a monitor without signal. */
		resize_locked(d, BLANK_WIDTH, BLANK_HEIGHT);
		memset(d->surf.pixels, 0, (size_t)d->surf.width * d->surf.height * 4);
	}
	pthread_mutex_unlock(&d->lock);
}

static void refresh_locked(struct display *d);

int display_add_listener(struct display *d, const struct display_listener_ops *ops, void *l)
{
	int r = 0;

	pthread_mutex_lock(&d->lock);
	if (d->nr_ls == DISPLAY_MAX_LISTENERS) {
		r = -ENOSPC;
	} else {
		refresh_locked(d);	/* the timer may have been off: start from now */
		d->ls[d->nr_ls++] = (struct display_listener){ ops, l };
		ops->resize(l, d->surf.width, d->surf.height);
		ops->update(l, &d->surf, 0, 0, d->surf.width, d->surf.height);
		timer_sync(d);
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

void display_remove_listener(struct display *d, void *l)
{
	unsigned int i;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->nr_ls; i++) {
		if (d->ls[i].l != l)
			continue;
		d->ls[i] = d->ls[--d->nr_ls];
		break;
	}
	timer_sync(d);
	pthread_mutex_unlock(&d->lock);
}

/* Does tile (tx, ty) differ? Copy it over and return true if so. */
static bool tile_update(struct display *d, unsigned int x, unsigned int y,
			unsigned int w, unsigned int h)
{
	unsigned int stride = d->surf.width, row;
	bool diff = false;

	for (row = y; row < y + h; row++) {
		size_t off = (size_t)row * stride + x;

		if (diff || memcmp(d->surf.pixels + off, d->scratch + off, w * 4)) {
			diff = true;
			memcpy(d->surf.pixels + off, d->scratch + off, w * 4);
		}
	}
	return diff;
}

static void notify(struct display *d, unsigned int x, unsigned int y, unsigned int w,
		   unsigned int h)
{
	unsigned int i;

	for (i = 0; i < d->nr_ls; i++)
		d->ls[i].ops->update(d->ls[i].l, &d->surf, x, y, w, h);
}

/*
 * What one refresh found changed, reported once the comparison is done:
 * runs of changed tiles in consecutive rows of tiles with the same x and
 * width grow into one rectangle (a full-screen change is one update, not
 * one per row of tiles), up to DAMAGE_RECTS of them; past that, their
 * bounding box. A listener that sends each update on (the VNC helper's
 * socket, which queues a limited number) then sends a few per refresh.
 */
#define DAMAGE_RECTS	8

struct damage_rect {
	unsigned int x, y, w, h;
};

struct damage {
	struct damage_rect r[DAMAGE_RECTS];
	unsigned int n;
	bool overflow;
	unsigned int x0, y0, x1, y1;	/* the bounding box of all of it */
};

static void damage_add(struct damage *dm, unsigned int x, unsigned int y, unsigned int w,
		       unsigned int h)
{
	unsigned int i;

	dm->x0 = MIN(dm->x0, x);
	dm->y0 = MIN(dm->y0, y);
	dm->x1 = MAX(dm->x1, x + w);
	dm->y1 = MAX(dm->y1, y + h);
	for (i = 0; i < dm->n; i++) {
		if (dm->r[i].x == x && dm->r[i].w == w && dm->r[i].y + dm->r[i].h == y) {
			dm->r[i].h += h;
			return;
		}
	}
	if (dm->n < DAMAGE_RECTS)
		dm->r[dm->n++] = (struct damage_rect){ x, y, w, h };
	else
		dm->overflow = true;
}

static void damage_report(struct display *d, const struct damage *dm)
{
	unsigned int i;

	if (dm->overflow) {
		notify(d, dm->x0, dm->y0, dm->x1 - dm->x0, dm->y1 - dm->y0);
		return;
	}
	for (i = 0; i < dm->n; i++)
		notify(d, dm->r[i].x, dm->r[i].y, dm->r[i].w, dm->r[i].h);
}

/*
 * With the lock: compare the scratch frame with the surface row of tiles
 * by row; each run of changed tiles in a row is damage.
 */
static void compare_frames(struct display *d)
{
	unsigned int W = d->surf.width, H = d->surf.height, x, y, h, run;
	struct damage dm = { .x0 = UINT_MAX, .y0 = UINT_MAX };

	for (y = 0; y < H; y += DISPLAY_TILE) {
		h = MIN(DISPLAY_TILE, H - y);
		run = ~0u;
		for (x = 0; x < W; x += DISPLAY_TILE) {
			bool changed = tile_update(d, x, y, MIN(DISPLAY_TILE, W - x), h);

			if (changed && run == ~0u)
				run = x;
			if (!changed && run != ~0u) {
				damage_add(&dm, run, y, x - run, h);
				run = ~0u;
			}
		}
		if (run != ~0u)
			damage_add(&dm, run, y, W - run, h);
	}
	damage_report(d, &dm);
}

static void refresh_locked(struct display *d)
{
	unsigned int w = 0, h = 0;
	struct display_surface s;

	if (!d->src_ops)
		return;
	d->src_ops->mode(d->src, &w, &h);
	if (!w || !h || w > DISPLAY_MAX_WIDTH || h > DISPLAY_MAX_HEIGHT) {
		w = BLANK_WIDTH;	/* no picture, or one no viewer could take: black */
		h = BLANK_HEIGHT;
		resize_locked(d, w, h);
		memset(d->scratch, 0, (size_t)w * h * 4);
	} else {
		resize_locked(d, w, h);
		if (d->surf.width != w || d->surf.height != h)
			return;		/* out of memory for the new size */
		s = (struct display_surface){ w, h, d->scratch };
		if (!d->src_ops->render(d->src, &s))
			return;
	}
	compare_frames(d);
}

void display_refresh(struct display *d)
{
	pthread_mutex_lock(&d->lock);
	refresh_locked(d);
	pthread_mutex_unlock(&d->lock);
}

int display_copy(struct display *d, uint32_t *dst, unsigned int dst_stride,
		 unsigned int width, unsigned int height, unsigned int x, unsigned int y,
		 unsigned int w, unsigned int h)
{
	unsigned int row;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	if (d->surf.width != width || d->surf.height != height || x > width || y > height ||
	    w > width - x || h > height - y || dst_stride < width) {
		r = -ESTALE;
	} else {
		for (row = y; row < y + h; row++)
			memcpy(dst + (size_t)row * dst_stride + x,
			       d->surf.pixels + (size_t)row * width + x, (size_t)w * 4);
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

void display_size(struct display *d, unsigned int *width, unsigned int *height)
{
	pthread_mutex_lock(&d->lock);
	*width = d->surf.width;
	*height = d->surf.height;
	pthread_mutex_unlock(&d->lock);
}

void display_key(struct display *d, unsigned int keycode, bool down)
{
	pthread_mutex_lock(&d->lock);
	if (d->vm)
		input_key(d->vm, keycode, down);
	pthread_mutex_unlock(&d->lock);
}

void display_pointer(struct display *d, int x, int y, unsigned int buttons)
{
	unsigned int w, h;

	pthread_mutex_lock(&d->lock);
	w = d->surf.width;
	h = d->surf.height;
	x = MAX(0, MIN(x, (int)w - 1));
	y = MAX(0, MIN(y, (int)h - 1));
	if (d->vm && input_has(d->vm, INPUT_ABS))
		input_abs(d->vm, (unsigned int)x * INPUT_ABS_MAX / MAX(1u, w - 1),
			  (unsigned int)y * INPUT_ABS_MAX / MAX(1u, h - 1), buttons);
	else if (d->vm)
		input_rel(d->vm, x - d->last_x, y - d->last_y, 0, buttons);
	d->last_x = x;
	d->last_y = y;
	pthread_mutex_unlock(&d->lock);
}

int display_screendump(struct display *d, const char *path, const char *format,
		       struct vk_err *err)
{
	bool png = format && !strcmp(format, "png");
	char tmp[4096];
	int fd, r;

	if (format && !png && strcmp(format, "ppm"))
		return vk_fail(err, -EINVAL, "screendump: format '%s' is not ppm or png", format);
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return vk_fail(err, -ENAMETOOLONG, "%s: file name too long", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return vk_fail(err, -errno, "%s: %s", path, strerror(errno));
	fchmod(fd, 0644);
	pthread_mutex_lock(&d->lock);
	refresh_locked(d);
	r = png ? display_write_png(&d->surf, fd, err) : display_write_ppm(&d->surf, fd, err);
	pthread_mutex_unlock(&d->lock);
	if (!r && fsync(fd) < 0)
		r = vk_fail(err, -errno, "%s: %s", path, strerror(errno));
	close(fd);
	if (!r && rename(tmp, path) < 0)
		r = vk_fail(err, -errno, "%s: %s", path, strerror(errno));
	if (r)
		unlink(tmp);
	return r;
}

/*
 * The display's device class: it attaches the VM being built to the
 * display the CLI made (cfg->display), so the refresh timer runs on this
 * VM's event loop and viewer input reaches its devices. Listed before the
 * adapters, so that they find the display attached.
 */
static int display_class_create(struct vm *vm, struct vk_err *err)
{
	if (!vm->cfg->display)
		return 0;
	return display_attach_vm(vm->cfg->display, vm, err);
}

static void display_class_destroy(struct vm *vm)
{
	if (vm->cfg->display)
		display_detach_vm(vm->cfg->display);
}

const struct vm_device_class display_class = {
	.name = "display",
	.create = display_class_create,
	.destroy = display_class_destroy,
	.stateless = true,	/* the monitor's side of the screen: the adapter has the state */
};
