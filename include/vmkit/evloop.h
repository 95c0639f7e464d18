/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The device event loop: one epoll thread that runs fd callbacks. */
#ifndef VMKIT_EVLOOP_H
#define VMKIT_EVLOOP_H

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
/* Runs until a callback returns non-zero; returns that value. */
int evloop_run(struct evloop *l);
void evloop_free(struct evloop *l);

#endif
