// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-tablet: a virtio-input device that is an absolute pointer, as
 * QEMU's virtio-tablet-pci shows itself (ABS_X and ABS_Y over 0..32767,
 * the left, right and middle buttons, a wheel), so a VNC viewer's pointer
 * and the guest's stay in the same place without the guest's mouse
 * acceleration in between. It takes INPUT_ABS events from the input
 * router (include/vmkit/input.h); relative motion stays with the PS/2
 * mouse. `--tablet`, `--device virtio-tablet[-pci]`, `tablet: 1`.
 */
#include <errno.h>
#include <linux/input.h>
#include <stdlib.h>

#include "vmkit/device.h"
#include "vmkit/input.h"
#include "vmkit/savestate.h"
#include "vmkit/virtio-input.h"
#include "vmkit/vm.h"

static const uint16_t tablet_keys[] = { BTN_LEFT, BTN_RIGHT, BTN_MIDDLE };
static const uint16_t tablet_rel[] = { REL_WHEEL };
static const uint16_t tablet_abs[] = { ABS_X, ABS_Y };

static const struct virtio_input_codes tablet_types[] = {
	{ EV_KEY, tablet_keys, ARRAY_SIZE(tablet_keys) },
	{ EV_REL, tablet_rel, ARRAY_SIZE(tablet_rel) },
	{ EV_ABS, tablet_abs, ARRAY_SIZE(tablet_abs) },
};

static const struct virtio_input_axis tablet_axes[] = {
	{ ABS_X, { .min = 0, .max = INPUT_ABS_MAX } },
	{ ABS_Y, { .min = 0, .max = INPUT_ABS_MAX } },
};

/* The ids QEMU's tablet shows (bus virtual), so guest tools that match on them still do. */
static const struct virtio_input_desc tablet_desc = {
	.name = "vmkit Virtio Tablet",
	.bustype = BUS_VIRTUAL, .vendor = 0x0627, .product = 0x0003, .version = 1,
	.types = tablet_types, .nr_types = ARRAY_SIZE(tablet_types),
	.axes = tablet_axes, .nr_axes = ARRAY_SIZE(tablet_axes),
};

/* The router's button bits that are keys, and their evdev codes. */
static const struct {
	unsigned int bit;
	uint16_t code;
} buttons[] = {
	{ INPUT_BTN_LEFT, BTN_LEFT }, { INPUT_BTN_RIGHT, BTN_RIGHT },
	{ INPUT_BTN_MIDDLE, BTN_MIDDLE },
};

struct virtio_tablet {
	struct vm *vm;
	struct virtio_input *vi;
	/* What the guest was last told; the router serializes its calls. */
	unsigned int x, y, buttons;
	bool have_pos;
};

/*
 * One report: the position when it moved (both axes, so that reports of
 * motion alone all look alike and merge while the guest is not reading),
 * buttons that changed, a wheel step for each wheel button pressed (a VNC
 * viewer presses and releases one per notch), then EV_SYN.
 */
static void on_abs(void *dev, unsigned int x, unsigned int y, unsigned int b)
{
	struct virtio_tablet *t = dev;
	struct virtio_input_event ev[8];
	unsigned int n = 0, i, pressed = b & ~t->buttons;

	if (!t->have_pos || x != t->x || y != t->y) {
		ev[n++] = (struct virtio_input_event){ EV_ABS, ABS_X, x };
		ev[n++] = (struct virtio_input_event){ EV_ABS, ABS_Y, y };
	}
	for (i = 0; i < ARRAY_SIZE(buttons); i++)
		if ((b ^ t->buttons) & buttons[i].bit)
			ev[n++] = (struct virtio_input_event){ EV_KEY, buttons[i].code,
							       !!(b & buttons[i].bit) };
	if (pressed & INPUT_BTN_WHEEL_UP)
		ev[n++] = (struct virtio_input_event){ EV_REL, REL_WHEEL, 1 };
	if (pressed & INPUT_BTN_WHEEL_DOWN)
		ev[n++] = (struct virtio_input_event){ EV_REL, REL_WHEEL, (uint32_t)-1 };
	t->x = x;
	t->y = y;
	t->have_pos = true;
	t->buttons = b;
	if (!n)
		return;
	ev[n++] = (struct virtio_input_event){ EV_SYN, SYN_REPORT, 0 };
	virtio_input_send(t->vi, ev, n);
}

static const struct input_handler_ops tablet_input_ops = { .abs = on_abs };

int virtio_tablet_create(struct vm *vm, struct virtio_tablet **out, struct vk_err *err)
{
	struct virtio_tablet *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return vk_fail(err, -ENOMEM, "out of memory");
	t->vm = vm;
	r = virtio_input_create(vm, &tablet_desc, &t->vi, err);
	if (!r)
		r = input_register(vm, INPUT_ABS, &tablet_input_ops, t, err);
	if (r) {
		virtio_input_destroy(t->vi);
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

void virtio_tablet_destroy(struct virtio_tablet *t)
{
	if (!t)
		return;
	input_unregister(t->vm, t);	/* no event reaches the device after this */
	virtio_input_destroy(t->vi);
	free(t);
}

struct virtio_input *virtio_tablet_input(struct virtio_tablet *t)
{
	return t->vi;
}

extern const struct vm_device_class virtio_tablet_class;

static int tablet_class_create(struct vm *vm, struct vk_err *err)
{
	if (!vm->cfg->tablet)
		return 0;
	return virtio_tablet_create(vm, (struct virtio_tablet **)vm_device_state(vm,
					&virtio_tablet_class), err);
}

static void tablet_class_destroy(struct vm *vm)
{
	struct virtio_tablet **slot = (struct virtio_tablet **)vm_device_state(vm,
					&virtio_tablet_class);

	if (!slot)
		return;
	virtio_tablet_destroy(*slot);
	*slot = NULL;
}

static struct virtio_tablet *get(struct vm *vm)
{
	void **slot = vm_device_state(vm, &virtio_tablet_class);

	return slot ? *slot : NULL;
}

/*
 * Version 1: virtio-input's state (vmm/virtio/input.c) and what the guest
 * was last told of the pointer, so that the next report after a restore
 * says only what changed, as it would have.
 */
static void tablet_save(struct vm *vm, struct ss_writer *w)
{
	struct virtio_tablet *t = get(vm);

	if (!t)
		return;
	ss_begin(w, "virtio-tablet", 0, 1);
	virtio_input_save(t->vi, w);
	ss_put_u64(w, "x", t->x);
	ss_put_u64(w, "y", t->y);
	ss_put_u64(w, "buttons", t->buttons);
	ss_put_u64(w, "have-pos", t->have_pos);
	ss_end(w);
}

#define TABLET_BUTTONS	(INPUT_BTN_LEFT | INPUT_BTN_MIDDLE | INPUT_BTN_RIGHT | \
			 INPUT_BTN_WHEEL_UP | INPUT_BTN_WHEEL_DOWN)

static int tablet_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	static const char *const names[] = { "x", "y", "buttons", "have-pos" };
	struct virtio_tablet *t = get(vm);
	const struct ss_section *s;
	uint64_t v[4];
	unsigned int i;
	int ret = 0;

	if (!t != !ss_find(r, "virtio-tablet", 0))
		return vk_fail(err, -EINVAL, "state: saved %s a tablet, this VM %s",
			       t ? "without" : "with", t ? "has one" : "has none");
	if (!t)
		return 0;
	s = ss_need(r, "virtio-tablet", 0, err);
	if (!s)
		return err->code;
	if (ss_section_version(s) != 1)
		return vk_fail(err, -EINVAL, "state of virtio-tablet: version %u not known",
			       ss_section_version(s));
	for (i = 0; i < 4 && !ret; i++)
		ret = ss_get_u64(s, names[i], &v[i], err);
	if (ret)
		return ret;
	if (v[0] > INPUT_ABS_MAX || v[1] > INPUT_ABS_MAX || (v[2] & ~(uint64_t)TABLET_BUTTONS) ||
	    v[3] > 1)
		return vk_fail(err, -EINVAL, "state of virtio-tablet: pointer out of range");
	ret = virtio_input_load(t->vi, s, err);
	if (ret)
		return ret;
	t->x = v[0], t->y = v[1], t->buttons = v[2], t->have_pos = v[3];
	return 0;
}

static void tablet_hold(struct vm *vm, bool on)
{
	struct virtio_tablet *t = get(vm);

	if (t)
		virtio_input_hold(t->vi, on);
}

const struct vm_device_class virtio_tablet_class = {
	.name = "virtio-tablet", .create = tablet_class_create, .destroy = tablet_class_destroy,
	.save = tablet_save, .load = tablet_load, .hold = tablet_hold,
};
