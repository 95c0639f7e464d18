// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QKeyCode names (QEMU's qapi/ui.json lists them; clients such as virsh,
 * Proxmox and scripts send them in send-key and input-send-event) to
 * evdev key codes. Written from the schema's documentation of each name;
 * "unmap" (no key) is left out, and a name whose key a PC keyboard lacks
 * still maps, so that a tablet or virtio keyboard could take it.
 */
#include <linux/input-event-codes.h>
#include <stddef.h>
#include <string.h>

#include "vmkit/qcode.h"
#include "vmkit/util.h"

struct qcode {
	const char *name;
	unsigned short key;
};

static const struct qcode qcodes[] = {
	{ "shift", KEY_LEFTSHIFT }, { "shift_r", KEY_RIGHTSHIFT },
	{ "alt", KEY_LEFTALT }, { "alt_r", KEY_RIGHTALT },
	{ "ctrl", KEY_LEFTCTRL }, { "ctrl_r", KEY_RIGHTCTRL },
	{ "menu", KEY_COMPOSE }, { "compose", KEY_COMPOSE },
	{ "meta_l", KEY_LEFTMETA }, { "meta_r", KEY_RIGHTMETA },
	{ "esc", KEY_ESC },
	{ "1", KEY_1 }, { "2", KEY_2 }, { "3", KEY_3 }, { "4", KEY_4 }, { "5", KEY_5 },
	{ "6", KEY_6 }, { "7", KEY_7 }, { "8", KEY_8 }, { "9", KEY_9 }, { "0", KEY_0 },
	{ "minus", KEY_MINUS }, { "equal", KEY_EQUAL }, { "backspace", KEY_BACKSPACE },
	{ "tab", KEY_TAB },
	{ "q", KEY_Q }, { "w", KEY_W }, { "e", KEY_E }, { "r", KEY_R }, { "t", KEY_T },
	{ "y", KEY_Y }, { "u", KEY_U }, { "i", KEY_I }, { "o", KEY_O }, { "p", KEY_P },
	{ "bracket_left", KEY_LEFTBRACE }, { "bracket_right", KEY_RIGHTBRACE },
	{ "ret", KEY_ENTER },
	{ "a", KEY_A }, { "s", KEY_S }, { "d", KEY_D }, { "f", KEY_F }, { "g", KEY_G },
	{ "h", KEY_H }, { "j", KEY_J }, { "k", KEY_K }, { "l", KEY_L },
	{ "semicolon", KEY_SEMICOLON }, { "apostrophe", KEY_APOSTROPHE },
	{ "grave_accent", KEY_GRAVE }, { "backslash", KEY_BACKSLASH },
	{ "z", KEY_Z }, { "x", KEY_X }, { "c", KEY_C }, { "v", KEY_V }, { "b", KEY_B },
	{ "n", KEY_N }, { "m", KEY_M },
	{ "comma", KEY_COMMA }, { "dot", KEY_DOT }, { "slash", KEY_SLASH },
	{ "asterisk", KEY_KPASTERISK }, { "spc", KEY_SPACE }, { "caps_lock", KEY_CAPSLOCK },
	{ "f1", KEY_F1 }, { "f2", KEY_F2 }, { "f3", KEY_F3 }, { "f4", KEY_F4 },
	{ "f5", KEY_F5 }, { "f6", KEY_F6 }, { "f7", KEY_F7 }, { "f8", KEY_F8 },
	{ "f9", KEY_F9 }, { "f10", KEY_F10 }, { "f11", KEY_F11 }, { "f12", KEY_F12 },
	{ "f13", KEY_F13 }, { "f14", KEY_F14 }, { "f15", KEY_F15 }, { "f16", KEY_F16 },
	{ "f17", KEY_F17 }, { "f18", KEY_F18 }, { "f19", KEY_F19 }, { "f20", KEY_F20 },
	{ "f21", KEY_F21 }, { "f22", KEY_F22 }, { "f23", KEY_F23 }, { "f24", KEY_F24 },
	{ "num_lock", KEY_NUMLOCK }, { "scroll_lock", KEY_SCROLLLOCK },
	{ "kp_divide", KEY_KPSLASH }, { "kp_multiply", KEY_KPASTERISK },
	{ "kp_subtract", KEY_KPMINUS }, { "kp_add", KEY_KPPLUS }, { "kp_enter", KEY_KPENTER },
	{ "kp_decimal", KEY_KPDOT }, { "kp_comma", KEY_KPCOMMA }, { "kp_equals", KEY_KPEQUAL },
	{ "kp_0", KEY_KP0 }, { "kp_1", KEY_KP1 }, { "kp_2", KEY_KP2 }, { "kp_3", KEY_KP3 },
	{ "kp_4", KEY_KP4 }, { "kp_5", KEY_KP5 }, { "kp_6", KEY_KP6 }, { "kp_7", KEY_KP7 },
	{ "kp_8", KEY_KP8 }, { "kp_9", KEY_KP9 },
	{ "sysrq", KEY_SYSRQ }, { "print", KEY_SYSRQ }, { "pause", KEY_PAUSE },
	{ "less", KEY_102ND },
	{ "home", KEY_HOME }, { "pgup", KEY_PAGEUP }, { "pgdn", KEY_PAGEDOWN }, { "end", KEY_END },
	{ "left", KEY_LEFT }, { "up", KEY_UP }, { "down", KEY_DOWN }, { "right", KEY_RIGHT },
	{ "insert", KEY_INSERT }, { "delete", KEY_DELETE },
	{ "power", KEY_POWER }, { "sleep", KEY_SLEEP }, { "wake", KEY_WAKEUP },
	{ "ro", KEY_RO }, { "hiragana", KEY_HIRAGANA }, { "henkan", KEY_HENKAN },
	{ "muhenkan", KEY_MUHENKAN }, { "katakanahiragana", KEY_KATAKANAHIRAGANA },
	{ "yen", KEY_YEN }, { "lang1", KEY_HANGEUL }, { "lang2", KEY_HANJA },
	{ "audionext", KEY_NEXTSONG }, { "audioprev", KEY_PREVIOUSSONG },
	{ "audiostop", KEY_STOPCD }, { "audioplay", KEY_PLAYPAUSE }, { "audiomute", KEY_MUTE },
	{ "volumeup", KEY_VOLUMEUP }, { "volumedown", KEY_VOLUMEDOWN },
	{ "mediaselect", KEY_MEDIA }, { "mail", KEY_MAIL }, { "calculator", KEY_CALC },
	{ "computer", KEY_COMPUTER }, { "ac_home", KEY_HOMEPAGE }, { "ac_back", KEY_BACK },
	{ "ac_forward", KEY_FORWARD }, { "ac_refresh", KEY_REFRESH },
	{ "ac_bookmarks", KEY_BOOKMARKS },
	{ "stop", KEY_STOP }, { "again", KEY_AGAIN }, { "props", KEY_PROPS }, { "undo", KEY_UNDO },
	{ "front", KEY_FRONT }, { "copy", KEY_COPY }, { "open", KEY_OPEN }, { "paste", KEY_PASTE },
	{ "find", KEY_FIND }, { "cut", KEY_CUT }, { "lf", KEY_LINEFEED }, { "help", KEY_HELP },
};

unsigned int input_qcode_to_keycode(const char *name)
{
	size_t i;

	for (i = 0; name && i < ARRAY_SIZE(qcodes); i++)
		if (!strcmp(qcodes[i].name, name))
			return qcodes[i].key;
	return 0;
}

const char *input_qcode_name(unsigned int i)
{
	return i < ARRAY_SIZE(qcodes) ? qcodes[i].name : NULL;
}
