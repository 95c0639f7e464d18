/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The device event loop: one epoll thread that runs fd callbacks. */
#ifndef VMKIT_EVLOOP_H
#define VMKIT_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;

/* events are EPOLLIN/EPOLLOUT/...; return non-zero to stop the loop. */
typedef int (*evloop_fn)(void *opaque, int fd, uint32_t events);

int evloop_new(struct evloop **out);
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque);
int evloop_del(struct evloop *l, int fd);
/*
 * Change what fd is watched for; 0 keeps the handler but stops watching
 * (a callback may still run once for events already collected). Safe from
 * any thread, as long as fd is not deleted meanwhile.
 */
int evloop_mod(struct evloop *l, int fd, uint32_t events);
/*
 * Polling (QEMU's aio poll handlers): poll(opaque) does what is ready on
 * fd's source without blocking and says whether it did anything;
 * poll_mode(opaque, on) tells the source the loop is polling it (so a
 * virtqueue asks its driver not to notify) or is about to block (notify
 * again). Both run on the loop's thread. Set on a handler evloop_add made.
 */
typedef bool (*evloop_poll_fn)(void *opaque);
typedef void (*evloop_poll_mode_fn)(void *opaque, bool on);
int evloop_set_poll(struct evloop *l, int fd, evloop_poll_fn poll, evloop_poll_mode_fn mode);
/*
 * The longest the loop spins over the poll functions before it blocks (the
 * window adapts below it, as QEMU's poll-max-ns); 0: never (the default).
 */
void evloop_set_poll_max(struct evloop *l, uint64_t ns);
/*
 * A source whose work other threads do (aio=threads' pool): while any
 * hold is on, the loop does not poll, since its spinning would take the
 * CPU those threads need (QEMU's rule: a handler without a poll function
 * turns polling off in its context). Any thread.
 */
void evloop_poll_hold(struct evloop *l, bool on);
/* Runs until a callback returns non-zero; returns that value. */
int evloop_run(struct evloop *l);
void evloop_free(struct evloop *l);

#endif
