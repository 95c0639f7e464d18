/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-input (virtio 1.2, 5.8): an evdev device whose description (name,
 * ids, which event types and codes it sends, the range of each absolute
 * axis) the driver reads through the select/subsel window of the device
 * configuration, and whose events (struct virtio_input_event, one per
 * buffer) go to the guest on the event queue. vmm/virtio/input.c is the
 * device; a model (vmm/virtio/tablet.c) gives it a description and feeds
 * it events.
 */
#ifndef VMKIT_VIRTIO_INPUT_H
#define VMKIT_VIRTIO_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;
struct virtio_input;
struct virtio_tablet;

/* Configuration selectors (virtio 1.2, 5.8.5) */
#define VIRTIO_INPUT_CFG_UNSET		0x00
#define VIRTIO_INPUT_CFG_ID_NAME	0x01
#define VIRTIO_INPUT_CFG_ID_SERIAL	0x02
#define VIRTIO_INPUT_CFG_ID_DEVIDS	0x03
#define VIRTIO_INPUT_CFG_PROP_BITS	0x10
#define VIRTIO_INPUT_CFG_EV_BITS	0x11
#define VIRTIO_INPUT_CFG_ABS_INFO	0x12

/* The event as it sits in a guest buffer: little-endian, as x86 is. */
struct virtio_input_event {
	uint16_t type;
	uint16_t code;
	uint32_t value;
};

struct virtio_input_absinfo {
	uint32_t min, max, fuzz, flat, res;
};

/* One event type the device sends and its codes (EV_KEY: BTN_LEFT, ...). */
struct virtio_input_codes {
	uint8_t type;
	const uint16_t *codes;
	unsigned int nr;
};

struct virtio_input_axis {
	uint8_t axis;			/* ABS_X, ... */
	struct virtio_input_absinfo info;
};

struct virtio_input_desc {
	const char *name;		/* "vmkit" prefix: what /proc/bus/input/devices shows */
	const char *serial;		/* NULL: none */
	uint16_t bustype, vendor, product, version;
	const struct virtio_input_codes *types;
	unsigned int nr_types;
	const struct virtio_input_axis *axes;
	unsigned int nr_axes;
};

/* The pending events kept while the driver has no buffers, at most. */
#define VIRTIO_INPUT_PENDING_MAX	256

int virtio_input_create(struct vm *vm, const struct virtio_input_desc *desc,
			struct virtio_input **out, struct vk_err *err);
void virtio_input_destroy(struct virtio_input *vi);
/*
 * Give the guest events that make one report (the last is EV_SYN): into
 * its buffers now, or kept until it adds some (see input.c). Events while
 * no driver has the device up are dropped, as a disconnected device's.
 */
void virtio_input_send(struct virtio_input *vi, const struct virtio_input_event *ev,
		       unsigned int n);
/* Events dropped because the driver took none for too long (tests, logs). */
unsigned long virtio_input_dropped(struct virtio_input *vi);

/*
 * Save/restore (issue 15): the device's state as fields of the section
 * its model opened, and back into a device just created the same way;
 * hold as include/vmkit/device.h's.
 */
struct ss_writer;
struct ss_section;
void virtio_input_save(struct virtio_input *vi, struct ss_writer *w);
int virtio_input_load(struct virtio_input *vi, const struct ss_section *s, struct vk_err *err);
void virtio_input_hold(struct virtio_input *vi, bool on);

/* virtio-tablet (tablet.c): an absolute pointer fed by the input router. */
int virtio_tablet_create(struct vm *vm, struct virtio_tablet **out, struct vk_err *err);
void virtio_tablet_destroy(struct virtio_tablet *t);
struct virtio_input *virtio_tablet_input(struct virtio_tablet *t);

#endif
