/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the i8042: the controller (i8042.c) and the two PS/2 devices
 * behind it, the keyboard (ps2-kbd.c) and the mouse (ps2-mouse.c), with
 * the scancode tables (ps2-scancodes.c). A device answers the bytes the
 * controller sends it by putting bytes in its own queue; the controller
 * moves them into its one-byte output buffer as the guest reads it. All of
 * it runs under the controller's lock.
 */
#ifndef VMKIT_HW_PS2_H
#define VMKIT_HW_PS2_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A device's output queue. Real keyboards buffer 16 bytes; ours holds
 * more so that a burst of keys sent through QMP or VNC before the guest
 * reads them is not lost, and is still bounded: what does not fit is
 * dropped, a whole key or packet at a time.
 */
#define PS2_QUEUE_SIZE 256

struct ps2_queue {
	uint8_t buf[PS2_QUEUE_SIZE];
	unsigned int head, count;
};

static inline unsigned int ps2_queue_space(const struct ps2_queue *q)
{
	return PS2_QUEUE_SIZE - q->count;
}

static inline void ps2_queue_clear(struct ps2_queue *q)
{
	q->head = q->count = 0;
}

/* Append n bytes, all or none; false when they do not fit. */
static inline bool ps2_queue_put(struct ps2_queue *q, const uint8_t *b, unsigned int n)
{
	unsigned int i;

	if (n > ps2_queue_space(q))
		return false;
	for (i = 0; i < n; i++)
		q->buf[(q->head + q->count++) % PS2_QUEUE_SIZE] = b[i];
	return true;
}

/* The oldest byte, or -1 when empty. */
static inline int ps2_queue_get(struct ps2_queue *q)
{
	uint8_t v;

	if (!q->count)
		return -1;
	v = q->buf[q->head];
	q->head = (q->head + 1) % PS2_QUEUE_SIZE;
	q->count--;
	return v;
}

/* Replies shared by both devices. */
#define PS2_ACK		0xfa
#define PS2_RESEND	0xfe
#define PS2_BAT_OK	0xaa	/* basic assurance test passed, after reset */

/* ---- keyboard ---- */

struct ps2_kbd {
	struct ps2_queue q;
	uint8_t set;		/* scancode set the keyboard sends: 1 or 2 */
	uint8_t leds;		/* bit 0 scroll, 1 num, 2 caps lock */
	uint8_t typematic;
	uint8_t arg_cmd;	/* command whose argument byte comes next, 0: none */
	uint8_t last;		/* last byte sent, for the resend command */
	bool scanning;		/* enabled: keys are reported */
};

void ps2_kbd_reset(struct ps2_kbd *k);
/* A byte the controller sends to the keyboard (a command or its argument). */
void ps2_kbd_write(struct ps2_kbd *k, uint8_t v);
/* A key (evdev code) pressed or released: its make or break codes. */
void ps2_kbd_key(struct ps2_kbd *k, unsigned int keycode, bool down);

/* ---- mouse ---- */

struct ps2_mouse {
	struct ps2_queue q;
	uint8_t id;		/* 0 standard, 3 IntelliMouse (wheel), 4 Explorer (5 buttons) */
	uint8_t rate, resolution;
	uint8_t rates[3];	/* the last sample rates set, for the IntelliMouse knock */
	uint8_t arg_cmd;
	uint8_t last[5], last_len;	/* the last reply or packet, for resend */
	bool scaling21, remote, wrap, enabled;
	unsigned int buttons;	/* INPUT_BTN_* held now */
	int dx, dy, dz;		/* motion not yet reported (PS/2 axes: y up, z down) */
};

void ps2_mouse_reset(struct ps2_mouse *m);
void ps2_mouse_write(struct ps2_mouse *m, uint8_t v);
/* Motion in evdev's sense (dy > 0 down, dz > 0 wheel towards the user) and buttons held. */
void ps2_mouse_event(struct ps2_mouse *m, int dx, int dy, int dz, unsigned int buttons);

/* ---- state for save/restore (ps2-state.c): fields of the i8042's section ---- */

struct ss_writer;
struct ss_section;
struct vk_err;
void ps2_kbd_save(const struct ps2_kbd *k, struct ss_writer *w);
int ps2_kbd_load(struct ps2_kbd *k, const struct ss_section *s, struct vk_err *err);
void ps2_mouse_save(const struct ps2_mouse *m, struct ss_writer *w);
int ps2_mouse_load(struct ps2_mouse *m, const struct ss_section *s, struct vk_err *err);

/* ---- scancodes (ps2-scancodes.c) ---- */

/* Bytes of a key's make or break code in set 1 or 2; 0 when the key has none. */
#define PS2_MAX_CODE 8
unsigned int ps2_scancode(unsigned int keycode, unsigned int set, bool down,
			  uint8_t out[PS2_MAX_CODE]);
/* The controller's set 2 -> set 1 translation of one byte (no break flag). */
uint8_t ps2_translate(uint8_t set2);

#endif
