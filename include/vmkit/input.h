/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keyboard and pointer input, from where it comes (VNC, QMP send-key and
 * input-send-event) to the devices that give it to the guest (the i8042's
 * PS/2 keyboard and mouse, virtio-tablet). Keys travel as Linux evdev key
 * codes (KEY_A, KEY_LEFTCTRL: <linux/input-event-codes.h>), one currency
 * every source converts to once and every device converts from once.
 *
 * Devices register as handlers; an event goes to the most recently
 * registered handler that takes its kind. Sources may call from any thread.
 */
#ifndef VMKIT_INPUT_H
#define VMKIT_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;

/* Button bits of pointer events. */
#define INPUT_BTN_LEFT		(1u << 0)
#define INPUT_BTN_MIDDLE	(1u << 1)
#define INPUT_BTN_RIGHT		(1u << 2)
#define INPUT_BTN_WHEEL_UP	(1u << 3)
#define INPUT_BTN_WHEEL_DOWN	(1u << 4)

/* Absolute coordinates are scaled to 0..INPUT_ABS_MAX on both axes. */
#define INPUT_ABS_MAX		0x7fff

enum input_kind {
	INPUT_KBD = 1u << 0,
	INPUT_REL = 1u << 1,	/* relative pointer: a mouse */
	INPUT_ABS = 1u << 2,	/* absolute pointer: a tablet */
};

struct input_handler_ops {
	void (*key)(void *dev, unsigned int keycode, bool down);
	void (*rel)(void *dev, int dx, int dy, int dz, unsigned int buttons);
	void (*abs)(void *dev, unsigned int x, unsigned int y, unsigned int buttons);
};

/* Device side: take events of the kinds in mask (ops has the matching calls). */
int input_register(struct vm *vm, unsigned int mask, const struct input_handler_ops *ops,
		   void *dev, struct vk_err *err);
void input_unregister(struct vm *vm, void *dev);

/* Source side. Events nobody takes are dropped, as on a machine with no keyboard. */
void input_key(struct vm *vm, unsigned int keycode, bool down);
void input_rel(struct vm *vm, int dx, int dy, int dz, unsigned int buttons);
/*
 * Absolute position x, y in 0..INPUT_ABS_MAX, for a tablet. With none the
 * event is dropped: a source that knows the screen (VNC) sends a mouse the
 * motion in pixels through input_rel instead (see input_has).
 */
void input_abs(struct vm *vm, unsigned int x, unsigned int y, unsigned int buttons);
/* Whether a handler for kind is registered (query-mice, VNC's pointer choice). */
bool input_has(struct vm *vm, enum input_kind kind);

/* The VM's router (vmm/input/input.c), made and freed by the builder. */
int input_router_new(struct vm *vm, struct vk_err *err);
void input_router_free(struct vm *vm);

#endif
