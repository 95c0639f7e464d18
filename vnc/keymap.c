// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * X11 keysyms (what VNC clients send) to evdev key codes (what vmkit's
 * input router takes), for the guest's keyboard layout: the layout is
 * compiled with libxkbcommon and every key's levels are walked once, so
 * that a keysym finds the key that makes it and the modifiers it needs
 * (level 2: Shift, 3: AltGr, 4: both). xkb key codes are evdev + 8.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xkbcommon/xkbcommon.h>

#include "vnc.h"

struct key_entry {
	uint32_t sym;
	uint16_t code;
	uint8_t level;
};

static struct key_entry *table;
static size_t nr, cap;

/* QEMU's keymap names (-k, seed 002) to xkb layout and variant. */
static const struct { const char *qemu, *layout, *variant; } names[] = {
	{ "en-us", "us", "" }, { "en-gb", "gb", "" }, { "de-ch", "ch", "de" },
	{ "fr-ch", "ch", "fr" }, { "fr-be", "be", "" }, { "fr-ca", "ca", "" },
	{ "pt-br", "br", "" }, { "nl-be", "be", "" }, { "da", "dk", "" }, { "sv", "se", "" },
	{ "ja", "jp", "" }, { "et", "ee", "" }, { "sl", "si", "" }, { "en", "us", "" },
};

static int add(uint32_t sym, unsigned int code, unsigned int level)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (table[i].sym == sym)
			return 0;	/* the first key (lowest level) that makes it wins */
	if (nr == cap) {
		struct key_entry *t = realloc(table, (cap ? cap * 2 : 512) * sizeof(*t));

		if (!t)
			return -ENOMEM;
		table = t;
		cap = cap ? cap * 2 : 512;
	}
	table[nr++] = (struct key_entry){ sym, code, level };
	return 0;
}

static int walk(struct xkb_keymap *km)
{
	xkb_keycode_t kc;
	unsigned int lvl, n, i, levels;
	const xkb_keysym_t *syms;

	/* Levels first, so that a keysym on some key's level 1 beats another's level 2. */
	for (lvl = 0; lvl < 4; lvl++) {
		for (kc = xkb_keymap_min_keycode(km); kc <= xkb_keymap_max_keycode(km); kc++) {
			if (kc < 8 || kc - 8 > 0x2ff)
				continue;
			levels = xkb_keymap_num_levels_for_key(km, kc, 0);
			if (lvl >= levels)
				continue;
			n = xkb_keymap_key_get_syms_by_level(km, kc, 0, lvl, &syms);
			for (i = 0; i < n; i++)
				if (add(syms[i], kc - 8, lvl))
					return -ENOMEM;
		}
	}
	return 0;
}

int keymap_load(const char *name, char *errbuf, size_t len)
{
	struct xkb_rule_names rn = { .model = "pc105", .layout = name, .variant = "" };
	struct xkb_context *ctx;
	struct xkb_keymap *km;
	size_t i;
	int r;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i].qemu)) {
			rn.layout = names[i].layout;
			rn.variant = names[i].variant;
		}
	}
	ctx = xkb_context_new(XKB_CONTEXT_NO_FLAGS);
	if (!ctx)
		return snprintf(errbuf, len, "keymap: no xkb context"), -ENOMEM;
	km = xkb_keymap_new_from_names(ctx, &rn, XKB_KEYMAP_COMPILE_NO_FLAGS);
	if (!km) {
		xkb_context_unref(ctx);
		snprintf(errbuf, len, "keymap=%s: no such keyboard layout (xkb-data)", name);
		return -ENOENT;
	}
	r = walk(km);
	xkb_keymap_unref(km);
	xkb_context_unref(ctx);
	if (r)
		snprintf(errbuf, len, "keymap=%s: out of memory", name);
	return r;
}

bool keymap_lookup(uint32_t sym, unsigned int *code, unsigned int *level)
{
	size_t i;

	for (i = 0; i < nr; i++) {
		if (table[i].sym == sym) {
			*code = table[i].code;
			*level = table[i].level;
			return true;
		}
	}
	return false;
}
