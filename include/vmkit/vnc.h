/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VNC server of a VM's display. libvncserver and libxkbcommon come as
 * shared libraries only (Debian ships no static ones) and vmkit is linked
 * statically, so the server runs in a helper process, vmkit-vnc, next to
 * vmkit (as vmkit-slirp does for libslirp). The monitor side (vnc-link.c)
 * is a display listener: it copies changed pixels into a memfd the helper
 * maps as its framebuffer and tells it what changed; the helper sends back
 * keys (already evdev codes: it owns the keymap), pointer events and how
 * many clients it has (the refresh timer runs only while there are some).
 */
#ifndef VMKIT_VNC_H
#define VMKIT_VNC_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"

struct display;
struct vnc;

#define VNC_PORT_BASE		5900
#define VNC_MAX_DISPLAY		(65535 - VNC_PORT_BASE)
#define VNC_KEYMAP_MAX		32

struct vnc_opts {
	char host[64];			/* "127.0.0.1" unless given; "" with a unix socket */
	unsigned int display;		/* port = VNC_PORT_BASE + display */
	char unix_path[108];		/* --vnc unix:PATH */
	bool password;			/* clients refused until a password is set */
	unsigned int websocket;		/* port of the WebSocket listener, 0: none */
	char keymap[VNC_KEYMAP_MAX];	/* QEMU's names (en-us, de, fr, ...); "" = en-us */
	/* Not from the spec: vmkit run --sandbox off, passed on as vmkit-vnc --sandbox=off. */
	bool sandbox_off;
};

/* Parse --vnc's argument; a bad one is one line in err and -EINVAL. */
int vnc_parse(const char *spec, struct vnc_opts *o, struct vk_err *err);

/* Start the helper serving display d; fails (port in use, ...) before any VM runs. */
int vnc_open(struct vnc **out, struct display *d, const struct vnc_opts *o, struct vk_err *err);
/*
 * The same in two steps (see control_bind): the helper, then the thread
 * that reads it, once the monitor has its final root.
 */
int vnc_spawn(struct vnc **out, struct display *d, const struct vnc_opts *o, struct vk_err *err);
int vnc_start(struct vnc *v, struct vk_err *err);
void vnc_close(struct vnc *v);

/* QMP change-vnc-password (empty: none, which refuses everyone with password=on). */
int vnc_set_password(struct vnc *v, const char *password, struct vk_err *err);

struct vnc_info {
	char host[64];
	char service[16];		/* the port, as QEMU's query-vnc */
	char unix_path[108];
	unsigned int websocket;
	bool password;			/* password=on */
	unsigned int clients;
};
void vnc_query(struct vnc *v, struct vnc_info *info);

#endif
