// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * epoll loop for device backends (console input, queue notifications, disk
 * completions), with polling as QEMU's aio_poll has it (poll handlers):
 * before blocking, the loop spins over its sources' poll functions for up
 * to poll_ns, so a guest's next request is taken from its ring without the
 * guest exiting to notify us (the ring's notifications are off meanwhile),
 * and a disk's completion without an eventfd wake-up. On a host where each
 * exit is costly (PVM's switcher) that is most of a small request's time.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "vmkit/evloop.h"

struct ev_handler {
	int fd;
	uint32_t events;	/* 0: registered here but not in the epoll set */
	evloop_fn fn;
	evloop_poll_fn poll;		/* NULL: waited for only */
	evloop_poll_mode_fn poll_mode;
	void *opaque;
	struct ev_handler *next;
};

struct evloop {
	int epfd;
	struct ev_handler *handlers;
	unsigned int npoll;		/* handlers with a poll function */
	uint64_t poll_max_ns;		/* 0: never poll */
	uint64_t poll_ns;		/* this round's window, adapted up to poll_max_ns */
	bool polling;			/* sources told to poll_mode(true) */
	int holds;			/* atomic: evloop_poll_hold()s in force */
};

/* Where a closed window opens again (QEMU's poll-grow starts at 4 us too). */
#define POLL_START_NS	4000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
	*h = (struct ev_handler){ .fd = fd, .events = events, .fn = fn, .opaque = opaque,
				  .next = l->handlers };
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
		if (h->poll)
			l->npoll--;
		h->poll = NULL;
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

int evloop_set_poll(struct evloop *l, int fd, evloop_poll_fn poll, evloop_poll_mode_fn mode)
{
	struct ev_handler *h;

	for (h = l->handlers; h && (h->fd != fd || !h->fn); h = h->next)
		;
	if (!h)
		return -ENOENT;
	l->npoll += !h->poll && poll;
	h->poll = poll;
	h->poll_mode = mode;
	return 0;
}

void evloop_poll_hold(struct evloop *l, bool on)
{
	__atomic_add_fetch(&l->holds, on ? 1 : -1, __ATOMIC_RELAXED);
}

void evloop_set_poll_max(struct evloop *l, uint64_t ns)
{
	l->poll_max_ns = ns;
	l->poll_ns = ns;
}

static bool poll_all(struct evloop *l)
{
	struct ev_handler *h;
	bool progress = false;

	for (h = l->handlers; h; h = h->next)
		if (h->poll && h->fn)
			progress |= h->poll(h->opaque);
	return progress;
}

static void poll_mode_all(struct evloop *l, bool on)
{
	struct ev_handler *h;

	for (h = l->handlers; h; h = h->next)
		if (h->poll && h->fn && h->poll_mode)
			h->poll_mode(h->opaque, on);
	l->polling = on;
}

/*
 * Spin over the poll functions for up to poll_ns, looking at the fds
 * without blocking every FD_CHECK_NS: sources that cannot be polled (a
 * thread pool's completions, the console, a tap) must not wait for the
 * window to end. Returns how many fd events it collected into evs (> 0),
 * 0 if a poll function did something (look at the fds, then poll again),
 * or -1: the sources are back to notifying and nothing came in meanwhile,
 * so the loop may block.
 */
#define FD_CHECK_NS	5000

static int poll_round(struct evloop *l, struct epoll_event *evs, int max)
{
	uint64_t now = now_ns(), end = now + l->poll_ns, check = now + FD_CHECK_NS;
	int n;

	if (!l->polling)
		poll_mode_all(l, true);
	do {
		if (poll_all(l))
			return 0;
		now = now_ns();
		if (now >= check) {
			n = epoll_wait(l->epfd, evs, max, 0);
			if (n > 0)
				return n;
			check = now + FD_CHECK_NS;
		}
	} while (now < end);
	poll_mode_all(l, false);
	/* What came in before the notifications were on again. */
	return poll_all(l) ? 0 : -1;
}

/*
 * The window adapts as QEMU's (aio_poll's grow and shrink): a blocking
 * wait longer than the largest window means polling would not have
 * caught it (an idle guest, a slow disk), so the window closes; one
 * shorter than the window it followed would have been caught by a wider
 * one, which doubles, up to the largest. A disk's completions then come
 * within the window and the loop stops blocking while requests run.
 */
static void adapt(struct evloop *l, uint64_t waited)
{
	if (waited > l->poll_max_ns)
		l->poll_ns = 0;
	else if (waited > l->poll_ns)
		l->poll_ns = l->poll_ns ? l->poll_ns * 2 : POLL_START_NS;
	if (l->poll_ns > l->poll_max_ns)
		l->poll_ns = l->poll_max_ns;
}

int evloop_run(struct evloop *l)
{
	struct epoll_event evs[16];
	int n = -1, i, r;
	uint64_t before;

	for (;;) {
		if (l->npoll && l->poll_max_ns) {
			n = l->poll_ns && !__atomic_load_n(&l->holds, __ATOMIC_RELAXED) ?
			    poll_round(l, evs, 16) : -1;
			if (n < 0 && l->polling)
				poll_mode_all(l, false);	/* a closed window: notifications on */
		}
		if (n == 0) {
			n = epoll_wait(l->epfd, evs, 16, 0);
		} else if (n < 0) {
			before = now_ns();
			n = epoll_wait(l->epfd, evs, 16, -1);
			if (l->npoll && l->poll_max_ns)
				adapt(l, now_ns() - before);
		}
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
		n = -1;
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
