// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PS/2 (AT) keyboard behind the i8042: the commands firmware and
 * Linux's atkbd send it, answered as a keyboard does (ACK, or RESEND for
 * what it does not know), and keys reported in scancode set 2 by default
 * or set 1. Set 3 is acknowledged but not taken, as many keyboards do:
 * a driver that reads the set back sees 2 and stays with it.
 */
#include "ps2.h"

#define KBD_SET_LEDS	0xed
#define KBD_ECHO	0xee
#define KBD_SCANSET	0xf0
#define KBD_GET_ID	0xf2
#define KBD_TYPEMATIC	0xf3
#define KBD_ENABLE	0xf4
#define KBD_DISABLE	0xf5	/* and restore defaults */
#define KBD_DEFAULTS	0xf6
#define KBD_RESEND	0xfe
#define KBD_RESET	0xff

#define TYPEMATIC_DEFAULT 0x2b	/* 10.9 characters/s after 500 ms */

static void reply(struct ps2_kbd *k, const uint8_t *b, unsigned int n)
{
	if (ps2_queue_put(&k->q, b, n))
		k->last = b[n - 1];
}

static void reply1(struct ps2_kbd *k, uint8_t b)
{
	reply(k, &b, 1);
}

static void defaults(struct ps2_kbd *k)
{
	k->set = 2;
	k->typematic = TYPEMATIC_DEFAULT;
	k->leds = 0;
}

void ps2_kbd_reset(struct ps2_kbd *k)
{
	ps2_queue_clear(&k->q);
	defaults(k);
	k->arg_cmd = 0;
	k->last = 0;
	k->scanning = true;
}

/* The argument byte of the command in k->arg_cmd. */
static void write_arg(struct ps2_kbd *k, uint8_t v)
{
	uint8_t cmd = k->arg_cmd;
	uint8_t b[2] = { PS2_ACK, 0 };

	k->arg_cmd = 0;
	switch (cmd) {
	case KBD_SET_LEDS:
		k->leds = v & 7;
		break;
	case KBD_TYPEMATIC:
		k->typematic = v & 0x7f;
		break;
	case KBD_SCANSET:
		if (v > 3) {
			reply1(k, PS2_RESEND);
			return;
		}
		if (v == 0) {
			b[1] = k->set;
			reply(k, b, 2);
			return;
		}
		if (v != 3)
			k->set = v;
		break;
	}
	reply1(k, PS2_ACK);
}

void ps2_kbd_write(struct ps2_kbd *k, uint8_t v)
{
	static const uint8_t id[] = { PS2_ACK, 0xab, 0x83 };
	static const uint8_t bat[] = { PS2_ACK, PS2_BAT_OK };

	/* A command's argument; a command byte in its place starts over (as keyboards do). */
	if (k->arg_cmd && v < KBD_SET_LEDS) {
		write_arg(k, v);
		return;
	}
	k->arg_cmd = 0;
	if (v == KBD_RESEND) {
		reply1(k, k->last);
		return;
	}
	/* A keyboard empties its buffer when it gets a command, so replies come first. */
	ps2_queue_clear(&k->q);
	switch (v) {
	case KBD_SET_LEDS: case KBD_TYPEMATIC: case KBD_SCANSET:
		k->arg_cmd = v;
		reply1(k, PS2_ACK);
		break;
	case KBD_ECHO:
		reply1(k, KBD_ECHO);
		break;
	case KBD_GET_ID:
		reply(k, id, sizeof(id));
		break;
	case KBD_ENABLE:
		k->scanning = true;
		reply1(k, PS2_ACK);
		break;
	case KBD_DISABLE:
		k->scanning = false;
		defaults(k);
		reply1(k, PS2_ACK);
		break;
	case KBD_DEFAULTS:
		defaults(k);
		reply1(k, PS2_ACK);
		break;
	case KBD_RESET:
		ps2_kbd_reset(k);
		reply(k, bat, sizeof(bat));
		break;
	case 0xf7: case 0xf8: case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd:
		/* Set 3's per-key modes: taken and ignored, since set 3 is never on. */
		reply1(k, PS2_ACK);
		break;
	default:
		reply1(k, PS2_RESEND);
		break;
	}
}

void ps2_kbd_key(struct ps2_kbd *k, unsigned int keycode, bool down)
{
	uint8_t b[PS2_MAX_CODE];
	unsigned int n;

	if (!k->scanning || k->arg_cmd)
		return;
	n = ps2_scancode(keycode, k->set, down, b);
	/* A whole code or nothing: half a sequence would leave the driver mid-prefix. */
	if (n)
		ps2_queue_put(&k->q, b, n);
}
