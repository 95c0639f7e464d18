// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --vnc's argument: [HOST]:N (display N, port 5900+N; HOST defaults to
 * 127.0.0.1, where QEMU's ":N" means every address: a screen with a
 * keyboard is not something to offer the network by accident), or
 * unix:PATH; then password=on|off, websocket=PORT, keymap=LAYOUT.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/vnc.h"

struct kv_ctx {
	struct vnc_opts *o;
	struct vk_err *err;
};

static int vnc_kv(void *opaque, const char *key, const char *val)
{
	struct kv_ctx *c = opaque;
	uint64_t v;

	if (!strcmp(key, "password")) {
		if (strcmp(val, "on") && strcmp(val, "off") && *val)
			return vk_fail(c->err, -EINVAL, "--vnc: password=%s: expected on or off", val);
		c->o->password = strcmp(val, "off") != 0;
	} else if (!strcmp(key, "websocket")) {
		if (vk_parse_uint(val, 1, 65535, &v))
			return vk_fail(c->err, -EINVAL, "--vnc: websocket=%s: expected a TCP port (1-65535)",
				       val);
		c->o->websocket = v;
	} else if (!strcmp(key, "keymap")) {
		if (!*val || strlen(val) >= sizeof(c->o->keymap) || strspn(val,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(val))
			return vk_fail(c->err, -EINVAL, "--vnc: keymap=%s: expected a layout name (en-us, de, fr, ...)",
				       val);
		strcpy(c->o->keymap, val);
	} else {
		return vk_fail(c->err, -EINVAL, "--vnc: unknown option '%s' (password, websocket, keymap)",
			       key);
	}
	return 0;
}

static int parse_addr(const char *a, size_t n, struct vnc_opts *o, struct vk_err *err)
{
	const char *colon;
	char num[16];
	uint64_t d;

	if (n > 5 && !strncmp(a, "unix:", 5)) {
		if (n - 5 >= sizeof(o->unix_path))
			return vk_fail(err, -EINVAL, "--vnc %.*s: socket path too long", (int)n, a);
		memcpy(o->unix_path, a + 5, n - 5);
		o->host[0] = 0;
		return 0;
	}
	colon = memrchr(a, ':', n);
	if (!colon || (size_t)(a + n - colon - 1) >= sizeof(num) || colon - a >= (long)sizeof(o->host))
		return vk_fail(err, -EINVAL, "--vnc %.*s: expected [HOST]:DISPLAY or unix:PATH", (int)n, a);
	snprintf(num, sizeof(num), "%.*s", (int)(a + n - colon - 1), colon + 1);
	if (vk_parse_uint(num, 0, VNC_MAX_DISPLAY, &d))
		return vk_fail(err, -EINVAL, "--vnc %.*s: display '%s' is not 0 to %u", (int)n, a, num,
			       VNC_MAX_DISPLAY);
	o->display = d;
	if (colon > a)
		snprintf(o->host, sizeof(o->host), "%.*s", (int)(colon - a), a);
	return 0;
}

int vnc_parse(const char *spec, struct vnc_opts *o, struct vk_err *err)
{
	size_t n = strcspn(spec, ",");
	struct kv_ctx c = { o, err };
	int r;

	memset(o, 0, sizeof(*o));
	strcpy(o->host, "127.0.0.1");
	r = parse_addr(spec, n, o, err);
	if (!r && spec[n])
		r = vk_parse_kv(spec + n + 1, vnc_kv, &c);
	if (!r && o->websocket && o->unix_path[0])
		r = vk_fail(err, -EINVAL, "--vnc %s: websocket= needs a TCP listener, not unix:", spec);
	if (!r && o->websocket && o->websocket == VNC_PORT_BASE + o->display)
		r = vk_fail(err, -EINVAL, "--vnc %s: websocket port %u is the VNC port", spec,
			    o->websocket);
	return r ? (err->code ? err->code : r) : 0;
}
