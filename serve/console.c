// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Consoles in the browser: a WebSocket (binary frames both ways) joined
 * to one of the VM's sockets in vms/NAME/run/: console.sock (the serial or
 * virtio console `vmkit console` uses) for xterm.js, vnc.sock (the VNC
 * server of a VM with a display, which the management layer starts on a
 * unix socket) for noVNC.
 *
 * Guest to browser: the socket is read from the poll timer (serve/job.c)
 * and again as soon as a frame went out, so a VNC update streams at the
 * browser's pace; a slow browser makes us stop reading, so the monitor's
 * own buffering applies, never ours growing without bound.
 *
 * Browser to guest: typed text may be dropped when the guest does not
 * read its console (as on a real one), but a VNC stream must arrive
 * whole or not at all: bytes the socket cannot take yet wait in a
 * bounded buffer, and a client that outruns it is disconnected rather
 * than given a corrupted stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve.h"

#define BUF	65536
#define TX_MAX	65536

enum wscon_kind { WSCON_TEXT, WSCON_VNC };

static const struct {
	const char *suffix, *sock;
} kinds[] = {
	[WSCON_TEXT] = { "/console", "console.sock" },
	[WSCON_VNC] = { "/vnc", "vnc.sock" },
};

struct wscon {
	enum wscon_kind kind;
	int fd;
	unsigned char buf[LWS_PRE + BUF];
	size_t len;			/* bytes waiting for the browser */
	unsigned char *tx;		/* VNC: bytes waiting for the socket */
	size_t tx_len;
	struct sess *s;
	struct wscon *next;
};

static struct wscon *open_list;

bool wscon_active(void)
{
	return open_list != NULL;
}

/* Which console the upgrade's path names; -1 if none. */
static int kind_of(const char *path)
{
	size_t n = strlen(path), k;
	unsigned int i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		k = strlen(kinds[i].suffix);
		if (n > k && !strcmp(path + n - k, kinds[i].suffix))
			return (int)i;
	}
	return -1;
}

bool wscon_can_open(struct sess *s)
{
	struct vm_status st;
	char sock[PATH_MAX];
	int kind = kind_of(s->path);

	if (kind < 0 || !vm_exists(s->arg[0]) || vm_status_get(s->arg[0], &st) ||
	    (st.state != VM_RUNNING && st.state != VM_PAUSED))
		return false;
	/* A VM without a display has no vnc.sock: refused in the handshake, as noVNC expects. */
	mgmt_path(sock, "vms/%s/run/%s", s->arg[0], kinds[kind].sock);
	return access(sock, F_OK) == 0;
}

int wscon_open(struct sess *s)
{
	struct vk_err err = { 0 };
	char path[PATH_MAX];
	struct wscon *c;
	int kind = kind_of(s->path), fd;

	if (kind < 0)
		return -1;
	fd = mgmt_unix_connect(mgmt_path(path, "vms/%s/run/%s", s->arg[0], kinds[kind].sock),
			       &err);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	c = calloc(1, sizeof(*c));
	if (c && kind == WSCON_VNC && !(c->tx = malloc(TX_MAX))) {
		free(c);
		c = NULL;
	}
	if (!c) {
		close(fd);
		return -1;
	}
	c->kind = kind;
	c->fd = fd;
	c->s = s;
	c->next = open_list;
	open_list = c;
	s->con = c;
	job_poll_kick();
	return 0;
}

/* Write what the socket takes now; returns the bytes written or -1 on an error. */
static ssize_t write_some(int fd, const void *p, size_t len)
{
	ssize_t n;

	do
		n = write(fd, p, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	return n;
}

/* VNC: what waits in tx first, then as much of p as fits; the rest joins tx. */
static int vnc_to_socket(struct wscon *c, const unsigned char *p, size_t len)
{
	ssize_t n;

	if (c->tx_len) {
		n = write_some(c->fd, c->tx, c->tx_len);
		if (n < 0)
			return -1;
		memmove(c->tx, c->tx + n, c->tx_len - n);
		c->tx_len -= n;
	}
	if (!c->tx_len && len) {
		n = write_some(c->fd, p, len);
		if (n < 0)
			return -1;
		p += n;
		len -= n;
	}
	if (len > TX_MAX - c->tx_len)
		return -1;	/* the server does not keep up: end it, never cut the stream */
	memcpy(c->tx + c->tx_len, p, len);
	c->tx_len += len;
	if (c->tx_len)
		job_poll_kick();
	return 0;
}

int wscon_from_client(struct sess *s, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	if (!s->con || s->con->fd < 0)
		return -1;
	if (s->con->kind == WSCON_VNC)
		return vnc_to_socket(s->con, buf, len);
	while (len) {
		n = write_some(s->con->fd, p, len);
		/* The guest does not read its console: typing into it is lost, as on a real one. */
		if (n <= 0)
			return n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read what the socket has for the browser (when nothing waits); true if the browser must be woken. */
static bool fill(struct wscon *c)
{
	ssize_t n;

	if (c->fd < 0 || c->len)
		return false;
	n = read(c->fd, c->buf + LWS_PRE, BUF);
	if (n > 0) {
		c->len = (size_t)n;
		return true;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(c->fd);
		c->fd = -1;
		return true;	/* so that the writeable callback closes the WebSocket */
	}
	return false;
}

int wscon_writeable(struct sess *s)
{
	struct wscon *c = s->con;

	if (!c)
		return -1;
	if (c->fd < 0 && !c->len)
		return -1;	/* the VM went away: close */
	if (!c->len)
		return 0;
	if (lws_write(s->wsi, c->buf + LWS_PRE, c->len, LWS_WRITE_BINARY) < (int)c->len)
		return -1;
	c->len = 0;
	/* Stream on at the browser's pace rather than the poll timer's. */
	if (fill(c))
		lws_callback_on_writable(s->wsi);
	return 0;
}

void wscon_close(struct sess *s)
{
	struct wscon **pp, *c = s->con;

	if (!c)
		return;
	for (pp = &open_list; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->fd >= 0)
		close(c->fd);
	free(c->tx);
	free(c);
	s->con = NULL;
}

void wscon_poll(void)
{
	struct wscon *c;

	for (c = open_list; c; c = c->next) {
		if (c->kind == WSCON_VNC && c->tx_len && c->fd >= 0 && vnc_to_socket(c, NULL, 0) < 0) {
			close(c->fd);
			c->fd = -1;
			lws_callback_on_writable(c->s->wsi);
			continue;
		}
		if (fill(c))
			lws_callback_on_writable(c->s->wsi);
	}
}
