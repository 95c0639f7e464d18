// SPDX-License-Identifier: GPL-2.0-or-later
/* An iothread: one pthread, one evloop, stopped by an eventfd in that loop. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmkit/vmm-sandbox.h"
#include "vmkit/evloop.h"
#include "vmkit/iothread.h"

struct iothread {
	struct evloop *loop;
	int stop_efd;
	bool running;
	pthread_t thread;
	char name[16];			/* what pthread_setname_np accepts */
};

static int on_stop(void *opaque, int fd, uint32_t events)
{
	return 1;	/* ends evloop_run */
}

static void *run(void *arg)
{
	struct iothread *t = arg;

	pthread_setname_np(pthread_self(), t->name);
	vmm_sandbox_enter(&vmm_sandbox_iothread);
	evloop_run(t->loop);
	return NULL;
}

int iothread_create(const char *name, uint64_t poll_max_ns, struct iothread **out)
{
	struct iothread *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->stop_efd = -1;
	strncpy(t->name, name, sizeof(t->name) - 1);
	r = evloop_new(&t->loop);
	if (!r)
		evloop_set_poll_max(t->loop, poll_max_ns);
	if (!r) {
		t->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = t->stop_efd < 0 ? -errno : evloop_add(t->loop, t->stop_efd, EPOLLIN, on_stop, t);
	}
	if (!r)
		r = -pthread_create(&t->thread, NULL, run, t);
	if (r) {
		iothread_destroy(t);
		return r;
	}
	t->running = true;
	*out = t;
	return 0;
}

struct evloop *iothread_loop(struct iothread *t)
{
	return t->loop;
}

void iothread_stop(struct iothread *t)
{
	if (!t || !t->running)
		return;
	eventfd_write(t->stop_efd, 1);
	pthread_join(t->thread, NULL);
	t->running = false;
}

void iothread_destroy(struct iothread *t)
{
	if (!t)
		return;
	iothread_stop(t);
	evloop_free(t->loop);
	if (t->stop_efd >= 0)
		close(t->stop_efd);
	free(t);
}
