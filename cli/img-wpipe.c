// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A writer thread behind a ring of buffers: the caller reads the source into
 * the next free buffer and queues it; the writer thread writes queued
 * buffers in order. Reading the source and writing the target then overlap
 * on two CPUs, as qemu-img convert's coroutines over its thread pool do
 * (most of a convert's time is copying pages in and out of the page cache).
 *
 * Each image is used by one thread only: the caller's thread reads the
 * source, the writer thread alone writes the target.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

struct wslot {
	uint8_t *buf;
	uint64_t off, n;
	bool zero;
};

struct img_wpipe {
	img_wpipe_fn fn;
	void *ctx;
	pthread_mutex_t lock;
	pthread_cond_t queued, freed;
	struct wslot *slot;
	unsigned int nslots;
	uint64_t head, tail;	/* queued, written: both only grow */
	bool stop, started;
	int ret;		/* the writer's first error; it stops there */
	struct vk_err err;
	pthread_t tid;
};

static void *writer(void *opaque)
{
	struct img_wpipe *p = opaque;
	struct vk_err err = { 0 };
	struct wslot *s;
	int r;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->tail == p->head)
			pthread_cond_wait(&p->queued, &p->lock);
		if (p->tail == p->head)
			break;
		s = &p->slot[p->tail % p->nslots];
		pthread_mutex_unlock(&p->lock);
		r = p->fn(p->ctx, s->buf, s->off, s->n, s->zero, &err);
		pthread_mutex_lock(&p->lock);
		p->tail++;
		pthread_cond_signal(&p->freed);
		if (r < 0) {
			p->ret = r;
			p->err = err;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int img_wpipe_start(struct img_wpipe **out, unsigned int nbufs, size_t bufsize,
		    img_wpipe_fn fn, void *ctx)
{
	struct img_wpipe *p = calloc(1, sizeof(*p));
	unsigned int i;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->ctx = ctx;
	p->nslots = nbufs;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->queued, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->slot = calloc(nbufs, sizeof(*p->slot));
	if (!p->slot)
		goto fail;
	for (i = 0; i < nbufs; i++)
		if (!(p->slot[i].buf = malloc(bufsize)))
			goto fail;
	if (pthread_create(&p->tid, NULL, writer, p))
		goto fail;
	p->started = true;
	*out = p;
	return 0;
fail:
	img_wpipe_free(p);
	return -ENOMEM;
}

/* The writer failed: its error, once. */
static int writer_failed(struct img_wpipe *p, struct vk_err *err)
{
	*err = p->err;
	return p->ret;
}

uint8_t *img_wpipe_buf(struct img_wpipe *p, struct vk_err *err)
{
	uint8_t *buf = NULL;

	pthread_mutex_lock(&p->lock);
	while (!p->ret && p->head - p->tail == p->nslots)
		pthread_cond_wait(&p->freed, &p->lock);
	if (p->ret)
		writer_failed(p, err);
	else
		buf = p->slot[p->head % p->nslots].buf;
	pthread_mutex_unlock(&p->lock);
	return buf;
}

int img_wpipe_queue(struct img_wpipe *p, uint64_t off, uint64_t n, bool zero, struct vk_err *err)
{
	struct wslot *s;
	int r = 0;

	pthread_mutex_lock(&p->lock);
	if (p->ret) {
		r = writer_failed(p, err);
	} else {
		/* img_wpipe_buf made sure this slot is free. */
		s = &p->slot[p->head % p->nslots];
		s->off = off;
		s->n = n;
		s->zero = zero;
		p->head++;
		pthread_cond_signal(&p->queued);
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int img_wpipe_finish(struct img_wpipe *p, struct vk_err *err)
{
	int r = 0;

	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->queued);
	pthread_mutex_unlock(&p->lock);
	if (p->started)
		pthread_join(p->tid, NULL);
	p->started = false;
	if (p->ret)
		r = writer_failed(p, err);
	return r;
}

void img_wpipe_free(struct img_wpipe *p)
{
	struct vk_err err;
	unsigned int i;

	if (!p)
		return;
	if (p->started)
		img_wpipe_finish(p, &err);
	for (i = 0; p->slot && i < p->nslots; i++)
		free(p->slot[i].buf);
	free(p->slot);
	pthread_cond_destroy(&p->queued);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
