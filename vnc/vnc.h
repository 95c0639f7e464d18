/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vmkit-vnc helper (vnc/main.c: the server; keymap.c: keysyms to evdev
 * codes; sandbox.c: its seccomp allow-list).
 */
#ifndef VMKIT_VNC_HELPER_H
#define VMKIT_VNC_HELPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Compile layout name (QEMU's names: en-us, de, fr, ...); an error goes to errbuf. */
int keymap_load(const char *name, char *errbuf, size_t len);
/* The evdev key code making keysym sym, and its level (0 plain, 1 Shift, 2 AltGr, 3 both). */
bool keymap_lookup(uint32_t sym, unsigned int *code, unsigned int *level);

/* sandbox.c: the helper's allow-list (issue 16) */
struct sandbox_kind;
extern const struct sandbox_kind vnc_sandbox_kind;

#endif
