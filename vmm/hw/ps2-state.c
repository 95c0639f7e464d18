// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PS/2 keyboard's and mouse's state in the VM state stream, as fields
 * of the i8042's section (they are behind it, and saved under its lock).
 * Loads check every value against what the device itself could reach, then
 * take it all or nothing.
 */
#include <errno.h>
#include <string.h>

#include "vmkit/savestate.h"
#include "ps2.h"

#define MOTION_MAX	(1 << 16)	/* ps2-mouse.c bounds pending motion so */

static void queue_save(const struct ps2_queue *q, struct ss_writer *w, const char *name)
{
	uint8_t b[PS2_QUEUE_SIZE];
	unsigned int i;

	for (i = 0; i < q->count; i++)
		b[i] = q->buf[(q->head + i) % PS2_QUEUE_SIZE];
	ss_put_bytes(w, name, b, q->count);
}

static int queue_load(struct ps2_queue *q, const struct ss_section *s, const char *name,
		      struct vk_err *err)
{
	const uint8_t *p;
	size_t n;
	int r = ss_get_blob(s, name, &p, &n, err);

	if (r)
		return r;
	if (n > PS2_QUEUE_SIZE)
		return vk_fail(err, -EINVAL, "state of i8042: %s longer than the queue", name);
	memcpy(q->buf, p, n);
	q->head = 0;
	q->count = n;
	return 0;
}

/* Several u64 fields at once, into v[] in the order of names[]. */
static int get_all(const struct ss_section *s, const char *const *names, uint64_t *v,
		   unsigned int n, struct vk_err *err)
{
	unsigned int i;
	int r = 0;

	for (i = 0; i < n && !r; i++)
		r = ss_get_u64(s, names[i], &v[i], err);
	return r;
}

void ps2_kbd_save(const struct ps2_kbd *k, struct ss_writer *w)
{
	ss_put_u64(w, "kbd-set", k->set);
	ss_put_u64(w, "kbd-leds", k->leds);
	ss_put_u64(w, "kbd-typematic", k->typematic);
	ss_put_u64(w, "kbd-arg", k->arg_cmd);
	ss_put_u64(w, "kbd-last", k->last);
	ss_put_u64(w, "kbd-scanning", k->scanning);
	queue_save(&k->q, w, "kbd-queue");
}

int ps2_kbd_load(struct ps2_kbd *k, const struct ss_section *s, struct vk_err *err)
{
	static const char *const names[] = { "kbd-set", "kbd-leds", "kbd-typematic", "kbd-arg",
					     "kbd-last", "kbd-scanning" };
	struct ps2_kbd n = { 0 };
	uint64_t v[6];
	int r = get_all(s, names, v, 6, err);

	if (!r && ((v[0] != 1 && v[0] != 2) || v[1] > 7 || v[2] > 0x7f || v[4] > 0xff ||
		   v[5] > 1 || (v[3] && v[3] != 0xed && v[3] != 0xf3 && v[3] != 0xf0)))
		r = vk_fail(err, -EINVAL, "state of i8042: keyboard mode out of range");
	if (!r)
		r = queue_load(&n.q, s, "kbd-queue", err);
	if (r)
		return r;
	n.set = v[0], n.leds = v[1], n.typematic = v[2], n.arg_cmd = v[3], n.last = v[4];
	n.scanning = v[5];
	*k = n;
	return 0;
}

#define F_SCALING21	1
#define F_REMOTE	2
#define F_WRAP		4
#define F_ENABLED	8

void ps2_mouse_save(const struct ps2_mouse *m, struct ss_writer *w)
{
	ss_put_u64(w, "mouse-id", m->id);
	ss_put_u64(w, "mouse-rate", m->rate);
	ss_put_u64(w, "mouse-resolution", m->resolution);
	ss_put_bytes(w, "mouse-rates", m->rates, sizeof(m->rates));
	ss_put_u64(w, "mouse-arg", m->arg_cmd);
	ss_put_bytes(w, "mouse-last", m->last, m->last_len);
	ss_put_u64(w, "mouse-flags", (m->scaling21 ? F_SCALING21 : 0) | (m->remote ? F_REMOTE : 0) |
		   (m->wrap ? F_WRAP : 0) | (m->enabled ? F_ENABLED : 0));
	ss_put_u64(w, "mouse-buttons", m->buttons);
	/* Signed motion, two's complement in the u64. */
	ss_put_u64(w, "mouse-dx", (uint64_t)(int64_t)m->dx);
	ss_put_u64(w, "mouse-dy", (uint64_t)(int64_t)m->dy);
	ss_put_u64(w, "mouse-dz", (uint64_t)(int64_t)m->dz);
	queue_save(&m->q, w, "mouse-queue");
}

static bool motion_ok(uint64_t v)
{
	int64_t s = (int64_t)v;

	return s >= -MOTION_MAX && s <= MOTION_MAX;
}

int ps2_mouse_load(struct ps2_mouse *m, const struct ss_section *s, struct vk_err *err)
{
	static const char *const names[] = { "mouse-id", "mouse-rate", "mouse-resolution",
					     "mouse-arg", "mouse-flags", "mouse-buttons",
					     "mouse-dx", "mouse-dy", "mouse-dz" };
	struct ps2_mouse n = { 0 };
	const uint8_t *last;
	size_t nlast;
	uint64_t v[9];
	int r = get_all(s, names, v, 9, err);

	if (!r)
		r = ss_get_blob(s, "mouse-last", &last, &nlast, err);
	if (!r && ((v[0] != 0 && v[0] != 3 && v[0] != 4) || v[1] > 0xff || v[2] > 3 ||
		   (v[3] && v[3] != 0xe8 && v[3] != 0xf3) || v[4] > 0xf || v[5] > 0xffff ||
		   !motion_ok(v[6]) || !motion_ok(v[7]) || !motion_ok(v[8]) ||
		   nlast > sizeof(n.last)))
		r = vk_fail(err, -EINVAL, "state of i8042: mouse mode out of range");
	if (!r)
		r = ss_get_bytes(s, "mouse-rates", n.rates, sizeof(n.rates), err);
	if (!r)
		r = queue_load(&n.q, s, "mouse-queue", err);
	if (r)
		return r;
	n.id = v[0], n.rate = v[1], n.resolution = v[2], n.arg_cmd = v[3];
	n.scaling21 = v[4] & F_SCALING21;
	n.remote = v[4] & F_REMOTE;
	n.wrap = v[4] & F_WRAP;
	n.enabled = v[4] & F_ENABLED;
	n.buttons = v[5];
	n.dx = (int64_t)v[6], n.dy = (int64_t)v[7], n.dz = (int64_t)v[8];
	memcpy(n.last, last, nlast);
	n.last_len = nlast;
	*m = n;
	return 0;
}
