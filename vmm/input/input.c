// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The input router (include/vmkit/input.h): sources hand it key codes and
 * pointer motion from any thread; it passes each event to the newest
 * handler that takes its kind. The lock is held across the handler call,
 * so a device is never called after input_unregister returned.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "vmkit/input.h"
#include "vmkit/vm.h"

#define INPUT_MAX_HANDLERS 8

struct input_handler {
	unsigned int mask;
	const struct input_handler_ops *ops;
	void *dev;
};

struct input_router {
	pthread_mutex_t lock;
	struct input_handler h[INPUT_MAX_HANDLERS];
	unsigned int nr;
};

int input_router_new(struct vm *vm, struct vk_err *err)
{
	struct input_router *ir = calloc(1, sizeof(*ir));

	if (!ir)
		return vk_fail(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&ir->lock, NULL);
	vm->input = ir;
	return 0;
}

void input_router_free(struct vm *vm)
{
	struct input_router *ir = vm->input;

	if (!ir)
		return;
	pthread_mutex_destroy(&ir->lock);
	free(ir);
	vm->input = NULL;
}

int input_register(struct vm *vm, unsigned int mask, const struct input_handler_ops *ops,
		   void *dev, struct vk_err *err)
{
	struct input_router *ir = vm->input;
	int r = 0;

	pthread_mutex_lock(&ir->lock);
	if (ir->nr == INPUT_MAX_HANDLERS)
		r = vk_fail(err, -ENOSPC, "input: more than %d input devices", INPUT_MAX_HANDLERS);
	else
		ir->h[ir->nr++] = (struct input_handler){ mask, ops, dev };
	pthread_mutex_unlock(&ir->lock);
	return r;
}

void input_unregister(struct vm *vm, void *dev)
{
	struct input_router *ir = vm->input;
	unsigned int i, j = 0;

	if (!ir)
		return;
	pthread_mutex_lock(&ir->lock);
	for (i = 0; i < ir->nr; i++)
		if (ir->h[i].dev != dev)
			ir->h[j++] = ir->h[i];
	ir->nr = j;
	pthread_mutex_unlock(&ir->lock);
}

/* The newest handler taking kind, with the lock held; NULL if none. */
static struct input_handler *find(struct input_router *ir, enum input_kind kind)
{
	unsigned int i = ir->nr;

	while (i--)
		if (ir->h[i].mask & kind)
			return &ir->h[i];
	return NULL;
}

void input_key(struct vm *vm, unsigned int keycode, bool down)
{
	struct input_router *ir = vm->input;
	struct input_handler *h;

	pthread_mutex_lock(&ir->lock);
	h = find(ir, INPUT_KBD);
	if (h)
		h->ops->key(h->dev, keycode, down);
	pthread_mutex_unlock(&ir->lock);
}

void input_rel(struct vm *vm, int dx, int dy, int dz, unsigned int buttons)
{
	struct input_router *ir = vm->input;
	struct input_handler *h;

	pthread_mutex_lock(&ir->lock);
	h = find(ir, INPUT_REL);
	if (h)
		h->ops->rel(h->dev, dx, dy, dz, buttons);
	pthread_mutex_unlock(&ir->lock);
}

void input_abs(struct vm *vm, unsigned int x, unsigned int y, unsigned int buttons)
{
	struct input_router *ir = vm->input;
	struct input_handler *h;

	if (x > INPUT_ABS_MAX)
		x = INPUT_ABS_MAX;
	if (y > INPUT_ABS_MAX)
		y = INPUT_ABS_MAX;
	pthread_mutex_lock(&ir->lock);
	h = find(ir, INPUT_ABS);
	if (h)
		h->ops->abs(h->dev, x, y, buttons);
	pthread_mutex_unlock(&ir->lock);
}

bool input_has(struct vm *vm, enum input_kind kind)
{
	struct input_router *ir = vm->input;
	bool r;

	pthread_mutex_lock(&ir->lock);
	r = find(ir, kind) != NULL;
	pthread_mutex_unlock(&ir->lock);
	return r;
}
