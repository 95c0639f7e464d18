// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Consoles in the browser: a WebSocket (binary frames both ways) joined
 * to the VM's console socket (vms/NAME/run/console.sock, the one
 * `vmkit console` uses), for xterm.js. The socket is read from the poll
 * timer (serve/job.c) while a console is open; a slow browser makes us
 * stop reading, so the monitor's own buffering applies, never ours
 * growing without bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve.h"

#define BUF	16384

struct wscon {
	int fd;
	unsigned char buf[LWS_PRE + BUF];
	size_t len;			/* bytes waiting for the browser */
	struct sess *s;
	struct wscon *next;
};

static struct wscon *open_list;

bool wscon_active(void)
{
	return open_list != NULL;
}

int wscon_open(struct sess *s)
{
	struct vk_err err = { 0 };
	char path[PATH_MAX];
	struct vm_status st;
	struct wscon *c;
	int fd;

	/* Only the serial/virtio console: VMs have no display to give noVNC yet. */
	if (!strstr(s->path, "/console"))
		return -1;
	if (!vm_exists(s->arg[0]) || vm_status_get(s->arg[0], &st) ||
	    (st.state != VM_RUNNING && st.state != VM_PAUSED))
		return -1;
	fd = mgmt_unix_connect(mgmt_path(path, "vms/%s/run/console.sock", s->arg[0]), &err);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->s = s;
	c->next = open_list;
	open_list = c;
	s->con = c;
	job_poll_kick();
	return 0;
}

int wscon_from_client(struct sess *s, const void *buf, size_t len)
{
	const char *p = buf;

	if (!s->con)
		return -1;
	while (len) {
		ssize_t n = write(s->con->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		/* The guest does not read its console: typing into it is lost, as on a real one. */
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
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
	free(c);
	s->con = NULL;
}

void wscon_poll(void)
{
	struct wscon *c;

	for (c = open_list; c; c = c->next) {
		ssize_t n;

		if (c->fd < 0 || c->len)
			continue;
		n = read(c->fd, c->buf + LWS_PRE, BUF);
		if (n > 0)
			c->len = (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			close(c->fd);
			c->fd = -1;
		} else {
			continue;
		}
		lws_callback_on_writable(c->s->wsi);
	}
}
