// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PS/2 mouse behind the i8042's auxiliary port: standard 3-byte
 * packets, and the IntelliMouse (id 3, wheel in a fourth byte) and
 * IntelliMouse Explorer (id 4) modes a driver turns on with its "knock" of
 * sample rates (200, 100, 80, then 200, 200, 80), as Linux's psmouse and
 * Windows' i8042prt probe for them. Motion is reported in stream mode once
 * the driver enables it, or on request (read data) in remote mode.
 */
#include <stdlib.h>

#include "vmkit/input.h"
#include "ps2.h"

#define MOUSE_SCALE_11		0xe6
#define MOUSE_SCALE_21		0xe7
#define MOUSE_RESOLUTION	0xe8
#define MOUSE_STATUS		0xe9
#define MOUSE_STREAM		0xea
#define MOUSE_READ_DATA		0xeb
#define MOUSE_RESET_WRAP	0xec
#define MOUSE_WRAP		0xee
#define MOUSE_REMOTE		0xf0
#define MOUSE_GET_ID		0xf2
#define MOUSE_RATE		0xf3
#define MOUSE_ENABLE		0xf4
#define MOUSE_DISABLE		0xf5
#define MOUSE_DEFAULTS		0xf6
#define MOUSE_RESEND		0xfe
#define MOUSE_RESET		0xff

/* A packet's first byte. */
#define PKT_LEFT	0x01
#define PKT_RIGHT	0x02
#define PKT_MIDDLE	0x04
#define PKT_ALWAYS1	0x08
#define PKT_XSIGN	0x10
#define PKT_YSIGN	0x20
#define PKT_XOVER	0x40
#define PKT_YOVER	0x80

/* Motion kept between packets is bounded: sources may send anything. */
#define MOTION_MAX	(1 << 16)
/* One event becomes at most this many packets; what is left sets the overflow bits. */
#define MAX_PACKETS	4

/* Queue a reply or packet, kept for the resend command. */
static bool reply(struct ps2_mouse *m, const uint8_t *b, unsigned int n)
{
	unsigned int i;

	if (!ps2_queue_put(&m->q, b, n))
		return false;
	for (i = 0; i < n && i < sizeof(m->last); i++)
		m->last[i] = b[i];
	m->last_len = i;
	return true;
}

static void reply1(struct ps2_mouse *m, uint8_t b)
{
	reply(m, &b, 1);
}

static void defaults(struct ps2_mouse *m)
{
	m->rate = 100;
	m->resolution = 2;
	m->scaling21 = false;
	m->remote = false;
	m->enabled = false;
	m->dx = m->dy = m->dz = 0;
}

void ps2_mouse_reset(struct ps2_mouse *m)
{
	ps2_queue_clear(&m->q);
	defaults(m);
	m->id = 0;
	m->arg_cmd = 0;
	m->wrap = false;
	m->rates[0] = m->rates[1] = m->rates[2] = 0;
	m->last_len = 0;
}

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* 2:1 scaling, applied to stream packets: small motions stay, larger ones double. */
static int scale21(int v)
{
	static const int small[] = { 0, 1, 1, 3, 6, 9 };
	int a = abs(v);

	if (a > 5)
		return 2 * v;
	return v < 0 ? -small[a] : small[a];
}

/* One packet from the motion pending; what it cannot carry stays pending. */
static unsigned int make_packet(struct ps2_mouse *m, bool stream, uint8_t p[4])
{
	int x = clamp(m->dx, -256, 255), y = clamp(m->dy, -256, 255);
	int zmax = m->id == 4 ? 7 : 127, z = clamp(m->dz, -zmax - 1, zmax);
	int sx = stream && m->scaling21 ? clamp(scale21(x), -256, 255) : x;
	int sy = stream && m->scaling21 ? clamp(scale21(y), -256, 255) : y;

	p[0] = PKT_ALWAYS1 | (sx < 0 ? PKT_XSIGN : 0) | (sy < 0 ? PKT_YSIGN : 0);
	p[0] |= (m->buttons & INPUT_BTN_LEFT ? PKT_LEFT : 0) |
		(m->buttons & INPUT_BTN_RIGHT ? PKT_RIGHT : 0) |
		(m->buttons & INPUT_BTN_MIDDLE ? PKT_MIDDLE : 0);
	p[1] = sx & 0xff;
	p[2] = sy & 0xff;
	m->dx -= x;
	m->dy -= y;
	m->dz -= z;
	if (m->id < 3) {
		m->dz = 0;
		return 3;
	}
	p[3] = m->id == 4 ? (z & 0x0f) : (z & 0xff);
	return 4;
}

/* Send the pending motion and buttons (stream mode), in as many packets as it takes. */
static void send_motion(struct ps2_mouse *m)
{
	uint8_t p[4];
	unsigned int i, n;

	for (i = 0; i < MAX_PACKETS; i++) {
		n = make_packet(m, true, p);
		if (i == MAX_PACKETS - 1) {
			p[0] |= (m->dx ? PKT_XOVER : 0) | (m->dy ? PKT_YOVER : 0);
			m->dx = m->dy = m->dz = 0;
		}
		if (!reply(m, p, n)) {
			m->dx = m->dy = m->dz = 0;	/* the guest is not reading: drop it */
			return;
		}
		if (!m->dx && !m->dy && !m->dz)
			return;
	}
}

void ps2_mouse_event(struct ps2_mouse *m, int dx, int dy, int dz, unsigned int buttons)
{
	unsigned int pressed = buttons & ~m->buttons;
	unsigned int old = m->buttons;

	/* The wheel "buttons" are notches: one step each time they go down. */
	dz = clamp(dz, -MOTION_MAX, MOTION_MAX);
	dz += (pressed & INPUT_BTN_WHEEL_DOWN ? 1 : 0) - (pressed & INPUT_BTN_WHEEL_UP ? 1 : 0);
	m->buttons = buttons;
	if (!m->enabled || m->wrap)
		return;
	m->dx = clamp(m->dx + clamp(dx, -MOTION_MAX, MOTION_MAX), -MOTION_MAX, MOTION_MAX);
	m->dy = clamp(m->dy - clamp(dy, -MOTION_MAX, MOTION_MAX), -MOTION_MAX, MOTION_MAX);
	if (m->id >= 3)
		m->dz = clamp(m->dz + dz, -MOTION_MAX, MOTION_MAX);
	if (m->remote)
		return;
	if (m->dx || m->dy || m->dz || ((old ^ buttons) & (INPUT_BTN_LEFT | INPUT_BTN_RIGHT |
							  INPUT_BTN_MIDDLE)))
		send_motion(m);
}

static void set_rate(struct ps2_mouse *m, uint8_t rate)
{
	m->rate = rate;
	m->rates[0] = m->rates[1];
	m->rates[1] = m->rates[2];
	m->rates[2] = rate;
	if (m->rates[0] == 200 && m->rates[1] == 100 && rate == 80 && m->id == 0)
		m->id = 3;
	else if (m->rates[0] == 200 && m->rates[1] == 200 && rate == 80 && m->id == 3)
		m->id = 4;
}

static void status(struct ps2_mouse *m)
{
	uint8_t b[4] = { PS2_ACK, 0, m->resolution, m->rate };

	b[1] = (m->remote ? 0x40 : 0) | (m->enabled ? 0x20 : 0) | (m->scaling21 ? 0x10 : 0) |
	       (m->buttons & INPUT_BTN_LEFT ? 0x04 : 0) |
	       (m->buttons & INPUT_BTN_MIDDLE ? 0x02 : 0) |
	       (m->buttons & INPUT_BTN_RIGHT ? 0x01 : 0);
	reply(m, b, sizeof(b));
}

static void read_data(struct ps2_mouse *m)
{
	uint8_t p[5] = { PS2_ACK };
	unsigned int n = make_packet(m, false, p + 1);

	p[1] |= (m->dx ? PKT_XOVER : 0) | (m->dy ? PKT_YOVER : 0);
	m->dx = m->dy = m->dz = 0;
	reply(m, p, n + 1);
}

/* Wrap (echo) mode: every byte comes back but these two. */
static bool wrapped(struct ps2_mouse *m, uint8_t v)
{
	if (!m->wrap || v == MOUSE_RESET_WRAP || v == MOUSE_RESET)
		return false;
	reply1(m, v);
	return true;
}

static void command(struct ps2_mouse *m, uint8_t v)
{
	static const uint8_t bat[] = { PS2_ACK, PS2_BAT_OK, 0x00 };
	uint8_t id[2] = { PS2_ACK, m->id };

	switch (v) {
	case MOUSE_SCALE_11: m->scaling21 = false; break;
	case MOUSE_SCALE_21: m->scaling21 = true; break;
	case MOUSE_RESOLUTION: case MOUSE_RATE: m->arg_cmd = v; break;
	case MOUSE_STATUS: status(m); return;
	case MOUSE_STREAM: m->remote = false; break;
	case MOUSE_READ_DATA: read_data(m); return;
	case MOUSE_RESET_WRAP: m->wrap = false; break;
	case MOUSE_WRAP: m->wrap = true; break;
	case MOUSE_REMOTE: m->remote = true; break;
	case MOUSE_GET_ID: reply(m, id, sizeof(id)); return;
	case MOUSE_ENABLE: m->enabled = true; break;
	case MOUSE_DISABLE: m->enabled = false; break;
	case MOUSE_DEFAULTS: defaults(m); break;
	case MOUSE_RESET:
		ps2_mouse_reset(m);
		reply(m, bat, sizeof(bat));
		return;
	default:
		reply1(m, PS2_RESEND);
		return;
	}
	reply1(m, PS2_ACK);
}

void ps2_mouse_write(struct ps2_mouse *m, uint8_t v)
{
	uint8_t cmd = m->arg_cmd;

	if (wrapped(m, v))
		return;
	m->arg_cmd = 0;
	if (cmd == MOUSE_RATE) {
		set_rate(m, v);
		reply1(m, PS2_ACK);
		return;
	}
	if (cmd == MOUSE_RESOLUTION) {
		m->resolution = v & 3;
		reply1(m, PS2_ACK);
		return;
	}
	if (v == MOUSE_RESEND) {
		if (m->last_len)
			reply(m, m->last, m->last_len);
		else
			reply1(m, PS2_RESEND);
		return;
	}
	/* Replies to a command come before any motion still queued. */
	ps2_queue_clear(&m->q);
	command(m, v);
}
