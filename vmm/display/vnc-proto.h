/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the monitor (vmm/display/vnc-link.c) and the VNC helper (vnc/)
 * say to each other: fixed-size messages on a SOCK_SEQPACKET socketpair,
 * and a memfd of VNC_SHM_SIZE bytes holding the framebuffer (XRGB8888,
 * stride = width) that both map whole, so a resize never remaps.
 */
#ifndef VMKIT_VNC_PROTO_H
#define VMKIT_VNC_PROTO_H

#include <stdint.h>

#include "vmkit/display.h"

#define VNC_SHM_SIZE	((uint64_t)DISPLAY_MAX_WIDTH * DISPLAY_MAX_HEIGHT * 4)
#define VNC_TEXT_MAX	256

enum vnc_msg_type {
	/* monitor -> helper */
	VNC_MSG_RESIZE = 1,	/* a = width, b = height: the framebuffer is black at that size */
	VNC_MSG_DAMAGE,		/* a, b, c, d = x, y, w, h */
	VNC_MSG_PASSWORD,	/* text: the new password ("" = none) */
	/* helper -> monitor */
	VNC_MSG_READY,		/* listening; text: "HOST PORT" or the unix path */
	VNC_MSG_ERROR,		/* text: why it could not start */
	VNC_MSG_KEY,		/* a = evdev key code, b = down */
	VNC_MSG_POINTER,	/* a = x, b = y, c = buttons (INPUT_BTN_*) */
	VNC_MSG_CLIENTS,	/* a = clients connected now */
	VNC_MSG_PASSWORD_SET,	/* the password message was applied */
};

struct vnc_msg {
	uint32_t type;
	uint32_t a, b, c, d;
	char text[VNC_TEXT_MAX];
};

#define VNC_HELPER	"vmkit-vnc"

#endif
