/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QEMU's key names (the QKeyCode enum of its QAPI schema: "ctrl", "alt",
 * "delete", "a", "kp_enter", ...) and key numbers, as QMP send-key,
 * input-send-event and HMP sendkey take them, to evdev key codes, the
 * currency of the input router (include/vmkit/input.h).
 */
#ifndef VMKIT_QCODE_H
#define VMKIT_QCODE_H

/* The evdev code of a QKeyCode name, or 0 if there is no such name. */
unsigned int input_qcode_to_keycode(const char *name);
/* The name of the i-th QKeyCode this table knows (NULL past the end). */
const char *input_qcode_name(unsigned int i);
/*
 * QEMU's key numbers: set 1 scancodes, with bit 7 standing for the 0xE0
 * prefix (0x1d left ctrl, 0x9d right ctrl). The evdev code, or 0.
 */
unsigned int input_qnum_to_keycode(unsigned int qnum);

#endif
