// SPDX-License-Identifier: GPL-2.0-or-later
/* epoll loop for device backends (console input, queue notifications, disk completions). */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vmkit/evloop.h"

struct ev_handler {
	int fd;
	uint32_t events;	/* 0: registered here but not in the epoll set */
	evloop_fn fn;
	void *opaque;
	struct ev_handler *next;
};

struct evloop {
	int epfd;
	struct ev_handler *handlers;
};

int evloop_new(struct evloop **out)
{
	struct evloop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = errno;

		free(l);
		return -e;
	}
	*out = l;
	return 0;
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	struct ev_handler *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = events };

	if (!h)
		return -ENOMEM;
	*h = (struct ev_handler){ fd, events, fn, opaque, l->handlers };
	ev.data.ptr = h;
	if (events && epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;

		free(h);
		return -e;
	}
	l->handlers = h;
	return 0;
}

int evloop_del(struct evloop *l, int fd)
{
	struct ev_handler **p;

	for (p = &l->handlers; *p; p = &(*p)->next) {
		struct ev_handler *h = *p;

		if (h->fd != fd)
			continue;
		if (h->events)
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		/* Keep the handler: an event for it may be pending in this round. */
		h->fn = NULL;
		return 0;
	}
	return -ENOENT;
}

/*
 * Out of the epoll set entirely for 0, since epoll reports EPOLLERR and
 * EPOLLHUP even for an empty mask (a detached tap queue would spin).
 */
int evloop_mod(struct evloop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	struct ev_handler *h;
	int op;

	for (h = l->handlers; h && (h->fd != fd || !h->fn); h = h->next)
		;
	if (!h)
		return -ENOENT;
	if (h->events == events)
		return 0;
	op = !events ? EPOLL_CTL_DEL : !h->events ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	ev.data.ptr = h;
	if (epoll_ctl(l->epfd, op, fd, &ev) < 0)
		return -errno;
	h->events = events;
	return 0;
}

int evloop_run(struct evloop *l)
{
	struct epoll_event evs[16];
	int n, i, r;

	for (;;) {
		n = epoll_wait(l->epfd, evs, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (i = 0; i < n; i++) {
			struct ev_handler *h = evs[i].data.ptr;

			if (!h->fn)
				continue;
			r = h->fn(h->opaque, h->fd, evs[i].events);
			if (r)
				return r;
		}
	}
}

void evloop_free(struct evloop *l)
{
	struct ev_handler *h, *next;

	if (!l)
		return;
	for (h = l->handlers; h; h = next) {
		next = h->next;
		free(h);
	}
	close(l->epfd);
	free(l);
}
