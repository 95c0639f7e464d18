// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The QMP input commands, with QEMU's names and argument shapes: send-key
 * (a chord of keys pressed in order, held, released in reverse: what virsh
 * send-key and Proxmox's sendkey send), input-send-event (key, button and
 * pointer events, as VNC-less clients and test scripts send them) and
 * query-mice. Keys are QKeyCode names or QEMU's key numbers; events reach
 * the guest through the input router. A request is checked whole before
 * any of it reaches the guest, so a bad one sends nothing.
 */
#include <string.h>
#include <time.h>

#include "qmp.h"
#include "vmkit/input.h"
#include "vmkit/qcode.h"

#define MAX_KEYS	16	/* QEMU has no limit; a chord longer than this is a mistake */
#define MAX_EVENTS	256
#define MAX_HOLD_MS	5000	/* the control thread waits this long, at most */
#define DEFAULT_HOLD_MS	100

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

/* A KeyValue ({"type": "qcode", "data": "ctrl"} or {"type": "number", "data": 29}) to an evdev code. */
static int key_value(json_object *kv, const char *where, unsigned int *code, struct qmp_error *e)
{
	json_object *type = member(kv, "type"), *data = member(kv, "data");
	const char *t = json_object_get_string(type);

	if (!json_object_is_type(kv, json_type_object) || !json_object_is_type(type, json_type_string))
		return qmp_fail(e, "GenericError", "Parameter '%s' expects an object with 'type' "
				"\"qcode\" or \"number\" and 'data'", where);
	if (!strcmp(t, "qcode")) {
		if (!json_object_is_type(data, json_type_string))
			return qmp_fail(e, "GenericError", "Parameter '%s.data' expects a key name", where);
		*code = input_qcode_to_keycode(json_object_get_string(data));
		if (!*code)
			return qmp_fail(e, "GenericError", "Parameter '%s.data' does not accept value '%s'",
					where, json_object_get_string(data));
		return 0;
	}
	if (!strcmp(t, "number")) {
		int64_t n = json_object_get_int64(data);

		if (!json_object_is_type(data, json_type_int))
			return qmp_fail(e, "GenericError", "Parameter '%s.data' expects a key number", where);
		*code = n > 0 && n < 0x100 ? input_qnum_to_keycode(n) : 0;
		if (!*code)
			return qmp_fail(e, "GenericError", "Parameter '%s.data': no key has number %lld",
					where, (long long)n);
		return 0;
	}
	return qmp_fail(e, "GenericError", "Parameter '%s.type' does not accept value '%s'", where, t);
}

int qmp_cmd_send_key(struct control *c, json_object *args, json_object **ret,
		     struct qmp_error *e)
{
	json_object *keys = member(args, "keys"), *hold = member(args, "hold-time");
	unsigned int codes[MAX_KEYS], i, n = json_object_array_length(keys);
	int64_t ms = hold ? json_object_get_int64(hold) : DEFAULT_HOLD_MS;
	struct timespec ts;
	char where[32];

	if (!n || n > MAX_KEYS)
		return qmp_fail(e, "GenericError", "Parameter 'keys' expects 1 to %d keys", MAX_KEYS);
	if (ms < 0 || ms > MAX_HOLD_MS)
		return qmp_fail(e, "GenericError", "Parameter 'hold-time' expects milliseconds from 0 to %d",
				MAX_HOLD_MS);
	for (i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "keys[%u]", i);
		if (key_value(json_object_array_get_idx(keys, i), where, &codes[i], e))
			return -1;
	}
	for (i = 0; i < n; i++)
		input_key(c->vm, codes[i], true);
	/* The guest reads the presses meanwhile; vCPUs and devices never take vm_lock. */
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (ms && nanosleep(&ts, &ts))
		;
	while (n--)
		input_key(c->vm, codes[n], false);
	return 0;
}

/* ---- input-send-event ---- */

struct event {
	enum { EV_KEY, EV_BTN, EV_REL, EV_ABS } type;
	bool down;
	unsigned int code;	/* key code, button bit, or axis (0 x, 1 y) */
	int value;
};

static const struct { const char *name; unsigned int bit; } buttons[] = {
	{ "left", INPUT_BTN_LEFT }, { "middle", INPUT_BTN_MIDDLE }, { "right", INPUT_BTN_RIGHT },
	{ "wheel-up", INPUT_BTN_WHEEL_UP }, { "wheel-down", INPUT_BTN_WHEEL_DOWN },
	/* QEMU's side, extra, wheel-left/right: no device here has them; taken, no effect. */
	{ "side", 0 }, { "extra", 0 }, { "wheel-left", 0 }, { "wheel-right", 0 },
};

static int parse_btn(json_object *d, const char *where, struct event *ev, struct qmp_error *e)
{
	const char *b = json_object_get_string(member(d, "button"));
	unsigned int i;

	if (!json_object_is_type(member(d, "button"), json_type_string))
		return qmp_fail(e, "GenericError", "Parameter '%s.data.button' expects a button name", where);
	for (i = 0; i < ARRAY_SIZE(buttons); i++)
		if (!strcmp(b, buttons[i].name)) {
			ev->code = buttons[i].bit;
			return 0;
		}
	return qmp_fail(e, "GenericError", "Parameter '%s.data.button' does not accept value '%s'",
			where, b);
}

static int parse_axis(json_object *d, const char *where, struct event *ev, struct qmp_error *e)
{
	json_object *axis = member(d, "axis"), *value = member(d, "value");
	const char *a = json_object_get_string(axis);
	int64_t v = json_object_get_int64(value);

	if (!json_object_is_type(axis, json_type_string) || (strcmp(a, "x") && strcmp(a, "y")))
		return qmp_fail(e, "GenericError", "Parameter '%s.data.axis' expects \"x\" or \"y\"", where);
	if (!json_object_is_type(value, json_type_int) || v < INT32_MIN || v > INT32_MAX)
		return qmp_fail(e, "GenericError", "Parameter '%s.data.value' expects a 32-bit integer",
				where);
	ev->code = a[0] == 'y';
	ev->value = v;
	return 0;
}

static int parse_event(json_object *o, unsigned int i, struct event *ev, struct qmp_error *e)
{
	json_object *type = member(o, "type"), *d = member(o, "data");
	const char *t = json_object_get_string(type);
	char where[32];

	snprintf(where, sizeof(where), "events[%u]", i);
	if (!json_object_is_type(type, json_type_string) || !json_object_is_type(d, json_type_object))
		return qmp_fail(e, "GenericError", "Parameter '%s' expects an object with 'type' and "
				"'data'", where);
	if (!strcmp(t, "key") || !strcmp(t, "btn")) {
		if (!json_object_is_type(member(d, "down"), json_type_boolean))
			return qmp_fail(e, "GenericError", "Parameter '%s.data.down' expects a boolean", where);
		ev->down = json_object_get_boolean(member(d, "down"));
	}
	if (!strcmp(t, "key")) {
		ev->type = EV_KEY;
		snprintf(where + strlen(where), sizeof(where) - strlen(where), ".data.key");
		return key_value(member(d, "key"), where, &ev->code, e);
	}
	if (!strcmp(t, "btn")) {
		ev->type = EV_BTN;
		return parse_btn(d, where, ev, e);
	}
	if (!strcmp(t, "rel") || !strcmp(t, "abs")) {
		ev->type = t[0] == 'r' ? EV_REL : EV_ABS;
		return parse_axis(d, where, ev, e);
	}
	return qmp_fail(e, "GenericError", "Parameter '%s.type' does not accept value '%s'", where, t);
}

static int clamp_add(int a, int b)
{
	int64_t s = (int64_t)a + b;

	return s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : s;
}

/* The pointer state a command builds up, sent when a button changes and at the end. */
struct pointer {
	bool absolute, dirty;
	int dx, dy;
};

static void pointer_flush(struct control *c, struct pointer *p)
{
	if (!p->dirty)
		return;
	if (p->absolute)
		input_abs(c->vm, c->abs_x, c->abs_y, c->buttons);
	else
		input_rel(c->vm, p->dx, p->dy, 0, c->buttons);
	p->dx = p->dy = 0;
	p->dirty = false;
}

static void send_event(struct control *c, const struct event *ev, struct pointer *p)
{
	switch (ev->type) {
	case EV_KEY:
		input_key(c->vm, ev->code, ev->down);
		break;
	case EV_BTN:
		/* Each change goes out on its own, so a press and release in one command click. */
		if (ev->down == !!(c->buttons & ev->code))
			break;
		c->buttons ^= ev->code;
		p->dirty = true;
		pointer_flush(c, p);
		break;
	case EV_REL:
		if (ev->code)
			p->dy = clamp_add(p->dy, ev->value);
		else
			p->dx = clamp_add(p->dx, ev->value);
		p->dirty = true;
		break;
	case EV_ABS:
		*(ev->code ? &c->abs_y : &c->abs_x) = ev->value < 0 ? 0 :
			ev->value > INPUT_ABS_MAX ? INPUT_ABS_MAX : ev->value;
		p->dirty = true;
		break;
	}
}

int qmp_cmd_input_send_event(struct control *c, json_object *args, json_object **ret,
			     struct qmp_error *e)
{
	json_object *events = member(args, "events");
	unsigned int i, n = json_object_array_length(events);
	struct event ev[MAX_EVENTS];
	struct pointer p = { 0 };

	if (member(args, "device"))
		return qmp_fail(e, "GenericError", "Parameter 'device': events go to the VM's "
				"current input devices; naming one is not supported");
	if (!n || n > MAX_EVENTS)
		return qmp_fail(e, "GenericError", "Parameter 'events' expects 1 to %d events",
				MAX_EVENTS);
	for (i = 0; i < n; i++) {
		if (parse_event(json_object_array_get_idx(events, i), i, &ev[i], e))
			return -1;
		if (ev[i].type == EV_ABS)
			p.absolute = true;
	}
	for (i = 0; i < n; i++)
		send_event(c, &ev[i], &p);
	pointer_flush(c, &p);
	return 0;
}

static json_object *mouse_obj(const char *name, int index, bool current, bool absolute)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "index", json_object_new_int(index));
	json_object_object_add(o, "current", json_object_new_boolean(current));
	json_object_object_add(o, "absolute", json_object_new_boolean(absolute));
	return o;
}

int qmp_cmd_query_mice(struct control *c, json_object *args, json_object **ret,
		       struct qmp_error *e)
{
	bool tablet = input_has(c->vm, INPUT_ABS);

	*ret = json_object_new_array();
	if (input_has(c->vm, INPUT_REL))
		json_object_array_add(*ret, mouse_obj("PS/2 Mouse", 0, !tablet, false));
	if (tablet)
		json_object_array_add(*ret, mouse_obj("Tablet", 1, true, true));
	return 0;
}

const struct qmp_param qmp_send_key_params[] = {
	{ .name = "keys", .type = json_type_array },
	{ .name = "hold-time", .type = json_type_int, .optional = true },
	{ .name = NULL },
};

const struct qmp_param qmp_input_send_event_params[] = {
	{ .name = "events", .type = json_type_array },
	{ .name = "device", .type = json_type_string, .optional = true },
	{ .name = "head", .type = json_type_int, .optional = true },
	{ .name = NULL },
};
