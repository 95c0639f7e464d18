// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PC keyboard scancodes for evdev key codes: set 1 (the XT codes, which
 * firmware and Linux see through the i8042's translation) and set 2 (what
 * an AT/PS/2 keyboard sends). A code above 0xff carries the 0xE0 prefix.
 * Print Screen and Pause send sequences of their own and are built in
 * code. The controller's set 2 -> set 1 translation is derived from the
 * same table, so the two sets cannot disagree.
 */
#include <linux/input-event-codes.h>
#include <pthread.h>
#include <stddef.h>

#include "vmkit/qcode.h"
#include "vmkit/util.h"
#include "ps2.h"

#define E0(c) (0xe000 | (c))

struct scancode {
	uint16_t key, set1, set2;
};

static const struct scancode codes[] = {
	{ KEY_ESC, 0x01, 0x76 }, { KEY_1, 0x02, 0x16 }, { KEY_2, 0x03, 0x1e },
	{ KEY_3, 0x04, 0x26 }, { KEY_4, 0x05, 0x25 }, { KEY_5, 0x06, 0x2e },
	{ KEY_6, 0x07, 0x36 }, { KEY_7, 0x08, 0x3d }, { KEY_8, 0x09, 0x3e },
	{ KEY_9, 0x0a, 0x46 }, { KEY_0, 0x0b, 0x45 }, { KEY_MINUS, 0x0c, 0x4e },
	{ KEY_EQUAL, 0x0d, 0x55 }, { KEY_BACKSPACE, 0x0e, 0x66 }, { KEY_TAB, 0x0f, 0x0d },
	{ KEY_Q, 0x10, 0x15 }, { KEY_W, 0x11, 0x1d }, { KEY_E, 0x12, 0x24 },
	{ KEY_R, 0x13, 0x2d }, { KEY_T, 0x14, 0x2c }, { KEY_Y, 0x15, 0x35 },
	{ KEY_U, 0x16, 0x3c }, { KEY_I, 0x17, 0x43 }, { KEY_O, 0x18, 0x44 },
	{ KEY_P, 0x19, 0x4d }, { KEY_LEFTBRACE, 0x1a, 0x54 }, { KEY_RIGHTBRACE, 0x1b, 0x5b },
	{ KEY_ENTER, 0x1c, 0x5a }, { KEY_LEFTCTRL, 0x1d, 0x14 }, { KEY_A, 0x1e, 0x1c },
	{ KEY_S, 0x1f, 0x1b }, { KEY_D, 0x20, 0x23 }, { KEY_F, 0x21, 0x2b },
	{ KEY_G, 0x22, 0x34 }, { KEY_H, 0x23, 0x33 }, { KEY_J, 0x24, 0x3b },
	{ KEY_K, 0x25, 0x42 }, { KEY_L, 0x26, 0x4b }, { KEY_SEMICOLON, 0x27, 0x4c },
	{ KEY_APOSTROPHE, 0x28, 0x52 }, { KEY_GRAVE, 0x29, 0x0e }, { KEY_LEFTSHIFT, 0x2a, 0x12 },
	{ KEY_BACKSLASH, 0x2b, 0x5d }, { KEY_Z, 0x2c, 0x1a }, { KEY_X, 0x2d, 0x22 },
	{ KEY_C, 0x2e, 0x21 }, { KEY_V, 0x2f, 0x2a }, { KEY_B, 0x30, 0x32 },
	{ KEY_N, 0x31, 0x31 }, { KEY_M, 0x32, 0x3a }, { KEY_COMMA, 0x33, 0x41 },
	{ KEY_DOT, 0x34, 0x49 }, { KEY_SLASH, 0x35, 0x4a }, { KEY_RIGHTSHIFT, 0x36, 0x59 },
	{ KEY_KPASTERISK, 0x37, 0x7c }, { KEY_LEFTALT, 0x38, 0x11 }, { KEY_SPACE, 0x39, 0x29 },
	{ KEY_CAPSLOCK, 0x3a, 0x58 }, { KEY_F1, 0x3b, 0x05 }, { KEY_F2, 0x3c, 0x06 },
	{ KEY_F3, 0x3d, 0x04 }, { KEY_F4, 0x3e, 0x0c }, { KEY_F5, 0x3f, 0x03 },
	{ KEY_F6, 0x40, 0x0b }, { KEY_F7, 0x41, 0x83 }, { KEY_F8, 0x42, 0x0a },
	{ KEY_F9, 0x43, 0x01 }, { KEY_F10, 0x44, 0x09 }, { KEY_NUMLOCK, 0x45, 0x77 },
	{ KEY_SCROLLLOCK, 0x46, 0x7e }, { KEY_KP7, 0x47, 0x6c }, { KEY_KP8, 0x48, 0x75 },
	{ KEY_KP9, 0x49, 0x7d }, { KEY_KPMINUS, 0x4a, 0x7b }, { KEY_KP4, 0x4b, 0x6b },
	{ KEY_KP5, 0x4c, 0x73 }, { KEY_KP6, 0x4d, 0x74 }, { KEY_KPPLUS, 0x4e, 0x79 },
	{ KEY_KP1, 0x4f, 0x69 }, { KEY_KP2, 0x50, 0x72 }, { KEY_KP3, 0x51, 0x7a },
	{ KEY_KP0, 0x52, 0x70 }, { KEY_KPDOT, 0x53, 0x71 }, { KEY_102ND, 0x56, 0x61 },
	{ KEY_F11, 0x57, 0x78 }, { KEY_F12, 0x58, 0x07 }, { KEY_KPEQUAL, 0x59, 0x0f },
	/* Japanese and Brazilian keyboards */
	{ KEY_KATAKANAHIRAGANA, 0x70, 0x13 }, { KEY_RO, 0x73, 0x51 }, { KEY_HENKAN, 0x79, 0x64 },
	{ KEY_MUHENKAN, 0x7b, 0x67 }, { KEY_YEN, 0x7d, 0x6a }, { KEY_KPCOMMA, 0x7e, 0x6d },
	/* the 0xE0 keys */
	{ KEY_KPENTER, E0(0x1c), E0(0x5a) }, { KEY_RIGHTCTRL, E0(0x1d), E0(0x14) },
	{ KEY_KPSLASH, E0(0x35), E0(0x4a) }, { KEY_RIGHTALT, E0(0x38), E0(0x11) },
	{ KEY_HOME, E0(0x47), E0(0x6c) }, { KEY_UP, E0(0x48), E0(0x75) },
	{ KEY_PAGEUP, E0(0x49), E0(0x7d) }, { KEY_LEFT, E0(0x4b), E0(0x6b) },
	{ KEY_RIGHT, E0(0x4d), E0(0x74) }, { KEY_END, E0(0x4f), E0(0x69) },
	{ KEY_DOWN, E0(0x50), E0(0x72) }, { KEY_PAGEDOWN, E0(0x51), E0(0x7a) },
	{ KEY_INSERT, E0(0x52), E0(0x70) }, { KEY_DELETE, E0(0x53), E0(0x71) },
	{ KEY_LEFTMETA, E0(0x5b), E0(0x1f) }, { KEY_RIGHTMETA, E0(0x5c), E0(0x27) },
	{ KEY_COMPOSE, E0(0x5d), E0(0x2f) }, { KEY_POWER, E0(0x5e), E0(0x37) },
	{ KEY_SLEEP, E0(0x5f), E0(0x3f) }, { KEY_WAKEUP, E0(0x63), E0(0x5e) },
	/* multimedia and browser keys */
	{ KEY_PREVIOUSSONG, E0(0x10), E0(0x15) }, { KEY_NEXTSONG, E0(0x19), E0(0x4d) },
	{ KEY_MUTE, E0(0x20), E0(0x23) }, { KEY_CALC, E0(0x21), E0(0x2b) },
	{ KEY_PLAYPAUSE, E0(0x22), E0(0x34) }, { KEY_STOPCD, E0(0x24), E0(0x3b) },
	{ KEY_VOLUMEDOWN, E0(0x2e), E0(0x21) }, { KEY_VOLUMEUP, E0(0x30), E0(0x32) },
	{ KEY_HOMEPAGE, E0(0x32), E0(0x3a) }, { KEY_SEARCH, E0(0x65), E0(0x10) },
	{ KEY_BOOKMARKS, E0(0x66), E0(0x18) }, { KEY_REFRESH, E0(0x67), E0(0x20) },
	{ KEY_STOP, E0(0x68), E0(0x28) }, { KEY_FORWARD, E0(0x69), E0(0x30) },
	{ KEY_BACK, E0(0x6a), E0(0x38) }, { KEY_COMPUTER, E0(0x6b), E0(0x40) },
	{ KEY_MAIL, E0(0x6c), E0(0x48) }, { KEY_MEDIA, E0(0x6d), E0(0x50) },
};

static const struct scancode *find_key(unsigned int key)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(codes); i++)
		if (codes[i].key == key)
			return &codes[i];
	return NULL;
}

/* Print Screen: a fake left shift around the key, as AT keyboards send it. */
static unsigned int print_screen(unsigned int set, bool down, uint8_t *o)
{
	static const uint8_t s1_make[] = { 0xe0, 0x2a, 0xe0, 0x37 };
	static const uint8_t s1_break[] = { 0xe0, 0xb7, 0xe0, 0xaa };
	static const uint8_t s2_make[] = { 0xe0, 0x12, 0xe0, 0x7c };
	static const uint8_t s2_break[] = { 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12 };
	const uint8_t *p = set == 1 ? (down ? s1_make : s1_break) : (down ? s2_make : s2_break);
	unsigned int n = set == 2 && !down ? sizeof(s2_break) : 4;
	unsigned int i;

	for (i = 0; i < n; i++)
		o[i] = p[i];
	return n;
}

/* Pause: make and break at once on the press (Ctrl+NumLock with 0xE1), nothing on release. */
static unsigned int pause_key(unsigned int set, bool down, uint8_t *o)
{
	static const uint8_t s1[] = { 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5 };
	static const uint8_t s2[] = { 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 };
	const uint8_t *p = set == 1 ? s1 : s2;
	unsigned int n = set == 1 ? sizeof(s1) : sizeof(s2);
	unsigned int i;

	if (!down)
		return 0;
	for (i = 0; i < n; i++)
		o[i] = p[i];
	return n;
}

unsigned int ps2_scancode(unsigned int keycode, unsigned int set, bool down,
			  uint8_t out[PS2_MAX_CODE])
{
	const struct scancode *s;
	unsigned int n = 0, code;

	if (keycode == KEY_SYSRQ)
		return print_screen(set, down, out);
	if (keycode == KEY_PAUSE)
		return pause_key(set, down, out);
	s = find_key(keycode);
	if (!s)
		return 0;
	code = set == 1 ? s->set1 : s->set2;
	if (code > 0xff)
		out[n++] = 0xe0;
	if (set == 1) {
		out[n++] = (code & 0x7f) | (down ? 0 : 0x80);
		return n;
	}
	if (!down)
		out[n++] = 0xf0;
	out[n++] = code & 0xff;
	return n;
}

static uint8_t xlate[256];
static pthread_once_t xlate_once = PTHREAD_ONCE_INIT;

/*
 * The 8042 translates set 2 bytes below 0x80 (and 0x83, F7's code) to set
 * 1; other bytes (the prefixes, keyboard replies FA, AA, EE, FE) pass
 * through. Codes no key uses pass through too, except the replies to the
 * scancode set query, which firmware reads translated.
 */
static void xlate_init(void)
{
	size_t i;

	for (i = 0; i < 256; i++)
		xlate[i] = i;
	for (i = 0; i < ARRAY_SIZE(codes); i++)
		xlate[codes[i].set2 & 0xff] = codes[i].set1 & 0xff;
	xlate[0x02] = 0x41;	/* "set 2" reads as F7's set 1 code, as 0x83 does */
	xlate[0x12] = 0x2a;	/* Print Screen's fake shift and key */
	xlate[0x7c] = 0x37;
	xlate[0x77] = 0x45;	/* Pause */
}

uint8_t ps2_translate(uint8_t set2)
{
	pthread_once(&xlate_once, xlate_init);
	return xlate[set2];
}

unsigned int input_qnum_to_keycode(unsigned int qnum)
{
	unsigned int want = qnum & 0x80 ? E0(qnum & 0x7f) : qnum;
	size_t i;

	if (qnum == 0x54)	/* Alt+Print Screen's own code */
		return KEY_SYSRQ;
	if (qnum == 0xb7)
		return KEY_SYSRQ;
	if (qnum == 0xc6)
		return KEY_PAUSE;
	for (i = 0; qnum && qnum < 0x100 && i < ARRAY_SIZE(codes); i++)
		if (codes[i].set1 == want)
			return codes[i].key;
	return 0;
}
