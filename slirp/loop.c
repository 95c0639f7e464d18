// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The helper's one thread: poll the frame socket and slirp's sockets, feed
 * frames from the guest to slirp_input, hand slirp's frames to the monitor,
 * and run slirp's timers. Frames slirp sends while the socket is full wait
 * in a queue (dropping them would stall slirp's TCP until its slow
 * retransmission timers fire).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "slirp-helper.h"

#define FRAME_MAX 65536
#define RX_BATCH 64

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static ssize_t send_frame(const void *buf, size_t len, void *opaque)
{
	struct slirp_helper *h = opaque;
	struct sh_frame *f;
	ssize_t n;

	if (!h->q_len) {
		n = send(h->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0 || (errno != EAGAIN && errno != ENOBUFS))
			return (ssize_t)len;	/* sent, or the monitor is gone (poll sees it) */
	}
	if (h->q_len == SH_QUEUE_FRAMES || len > UINT16_MAX) {
		h->dropped++;
		return (ssize_t)len;
	}
	f = malloc(sizeof(*f) + len);
	if (!f) {
		h->dropped++;
		return (ssize_t)len;
	}
	f->len = (uint16_t)len;
	memcpy(f->data, buf, len);
	h->queue[(h->q_head + h->q_len++) % SH_QUEUE_FRAMES] = f;
	return (ssize_t)len;
}

static void flush_queue(struct slirp_helper *h)
{
	struct sh_frame *f;

	while (h->q_len) {
		f = h->queue[h->q_head];
		if (send(h->fd, f->data, f->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
		    (errno == EAGAIN || errno == ENOBUFS))
			return;
		free(f);
		h->q_head = (h->q_head + 1) % SH_QUEUE_FRAMES;
		h->q_len--;
	}
}

static void guest_error(const char *msg, void *opaque)
{
	fprintf(stderr, "vmkit-slirp: guest: %s\n", msg);
}

static int64_t clock_get_ns(void *opaque)
{
	return now_ns();
}

static struct sh_timer *timer_add(struct slirp_helper *h)
{
	struct sh_timer *t = calloc(1, sizeof(*t));

	if (!t) {
		fprintf(stderr, "vmkit-slirp: out of memory\n");
		exit(1);
	}
	t->expire_ms = -1;
	t->next = h->timers;
	h->timers = t;
	return t;
}

static void *timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct sh_timer *t = timer_add(opaque);

	t->cb = cb;
	t->cb_opaque = cb_opaque;
	return t;
}

static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct sh_timer *t = timer_add(opaque);

	t->by_id = true;
	t->id = id;
	t->cb_opaque = cb_opaque;
	return t;
}

static void timer_free(void *timer, void *opaque)
{
	struct slirp_helper *h = opaque;
	struct sh_timer **p;

	for (p = &h->timers; *p; p = &(*p)->next)
		if (*p == timer) {
			*p = (*p)->next;
			free(timer);
			return;
		}
}

static void timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	((struct sh_timer *)timer)->expire_ms = expire_ms;
}

static void register_poll_fd(int fd, void *opaque)
{
}

static void unregister_poll_fd(int fd, void *opaque)
{
}

static void notify(void *opaque)
{
	/* One thread: the next loop iteration sees whatever changed. */
}

const SlirpCb sh_callbacks = {
	.send_packet = send_frame,
	.guest_error = guest_error,
	.clock_get_ns = clock_get_ns,
	.timer_new = timer_new,
	.timer_free = timer_free,
	.timer_mod = timer_mod,
	.register_poll_fd = register_poll_fd,
	.unregister_poll_fd = unregister_poll_fd,
	.notify = notify,
	.timer_new_opaque = timer_new_opaque,
};

static int add_poll(int fd, int events, void *opaque)
{
	struct slirp_helper *h = opaque;
	struct pollfd *p;
	short ev = 0;

	if (h->npfds == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		p = realloc(h->pfds, h->cap * sizeof(*p));
		if (!p) {
			fprintf(stderr, "vmkit-slirp: out of memory\n");
			exit(1);
		}
		h->pfds = p;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	h->pfds[h->npfds] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)h->npfds++;
}

static int get_revents(int idx, void *opaque)
{
	struct slirp_helper *h = opaque;
	short re = h->pfds[idx].revents;
	int ev = 0;

	if (re & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (re & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

/* The poll timeout in ms: slirp's own, shortened by the nearest armed timer. */
static int next_timeout(struct slirp_helper *h, uint32_t slirp_ms)
{
	int64_t now = now_ns() / 1000000, t = slirp_ms == UINT32_MAX ? -1 : (int64_t)slirp_ms;
	struct sh_timer *tm;

	for (tm = h->timers; tm; tm = tm->next) {
		if (tm->expire_ms < 0)
			continue;
		if (tm->expire_ms <= now)
			return 0;
		if (t < 0 || tm->expire_ms - now < t)
			t = tm->expire_ms - now;
	}
	return t > INT32_MAX ? INT32_MAX : (int)t;
}

static void run_timers(struct slirp_helper *h)
{
	int64_t now = now_ns() / 1000000;
	struct sh_timer *t;

again:
	for (t = h->timers; t; t = t->next) {
		if (t->expire_ms < 0 || t->expire_ms > now)
			continue;
		t->expire_ms = -1;
		/* A callback may free or add timers: walk again from the start. */
		if (t->by_id)
			slirp_handle_timer(h->slirp, t->id, t->cb_opaque);
		else
			t->cb(t->cb_opaque);
		goto again;
	}
}

/*
 * Frames from the monitor, a batch per recvmmsg (one syscall for up to
 * RX_BATCH frames). Returns -1 once its end has closed.
 */
static int read_frames(struct slirp_helper *h, uint8_t *buf)
{
	struct mmsghdr m[RX_BATCH];
	struct iovec iov[RX_BATCH];
	int n, i;

	for (i = 0; i < RX_BATCH; i++) {
		iov[i] = (struct iovec){ buf + (size_t)i * FRAME_MAX, FRAME_MAX };
		m[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1 };
	}
	n = recvmmsg(h->fd, m, RX_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++) {
		/* A zero-length message is the monitor's end closing (SEQPACKET EOF). */
		if (!m[i].msg_len)
			return -1;
		slirp_input(h->slirp, buf + (size_t)i * FRAME_MAX, (int)m[i].msg_len);
	}
	return n == 0 ? -1 : 0;
}

int sh_run(struct slirp_helper *h)
{
	uint8_t *buf = malloc((size_t)FRAME_MAX * RX_BATCH);
	uint32_t timeout;
	int r, own;

	if (!buf)
		return 1;
	for (;;) {
		h->npfds = 0;
		own = add_poll(h->fd, SLIRP_POLL_IN, h);
		if (h->q_len)
			h->pfds[own].events |= POLLOUT;
		timeout = UINT32_MAX;
		slirp_pollfds_fill(h->slirp, &timeout, add_poll, h);
		r = poll(h->pfds, h->npfds, next_timeout(h, timeout));
		if (r < 0 && errno != EINTR) {
			perror("vmkit-slirp: poll");
			return 1;
		}
		/*
		 * Sockets before frames: libslirp's clock advances only here,
		 * and a socket slirp_input creates takes its expiry from that
		 * clock. With frames first, a new DNS socket was now and then
		 * expired by the very next fill, its query's answer lost.
		 */
		slirp_pollfds_poll(h->slirp, r < 0, get_revents, h);
		if (r > 0 && (h->pfds[own].revents & POLLOUT))
			flush_queue(h);
		if (r > 0 && (h->pfds[own].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (read_frames(h, buf) < 0)
				break;
			/*
			 * What the frames made slirp queue (replies, datagrams
			 * that waited for an ARP answer) leaves now, not at the
			 * next wakeup: a poll pass told to skip the sockets only
			 * advances slirp's clock and flushes its output queue.
			 */
			slirp_pollfds_poll(h->slirp, 1, get_revents, h);
		}
		run_timers(h);
	}
	free(buf);
	return 0;
}
