/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An iothread: a thread running an event loop of its own, for a device
 * whose queue notifications and backend completions should not share the
 * VM's device loop (--disk ...,iothread=on).
 */
#ifndef VMKIT_IOTHREAD_H
#define VMKIT_IOTHREAD_H

#include <stdint.h>

struct evloop;
struct iothread;

/*
 * Start the thread; its loop runs until iothread_stop (or iothread_destroy),
 * polling up to poll_max_ns before it blocks (evloop_set_poll_max).
 */
int iothread_create(const char *name, uint64_t poll_max_ns, struct iothread **out);
struct evloop *iothread_loop(struct iothread *t);
/* Stop the thread and join it (its loop is then free to be drained elsewhere). */
void iothread_stop(struct iothread *t);
/* Stop if running, then free the loop. NULL-safe. */
void iothread_destroy(struct iothread *t);

#endif
