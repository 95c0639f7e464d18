// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * convert -c's compression pipeline: the main thread reads clusters into a
 * ring of slots, worker threads compress whichever slot is next, and the
 * main thread writes finished slots in order (the image library is used
 * from the main thread only). No barrier per chunk: a worker the scheduler
 * holds back delays its own cluster, not the others (which matters on a
 * busy host), as qemu-img's coroutines feeding a thread pool do.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "img.h"

#define MAX_THREADS 16
#define RING_BYTES (32 * MiB)

enum { SLOT_FREE, SLOT_QUEUED, SLOT_DONE };

struct zslot {
	uint64_t off;
	size_t len;
	ssize_t clen;		/* compressed length; 0 incompressible; -1 all zeros */
	int state;
	uint8_t *in, *out;
};

struct img_zpool {
	struct vk_blk *dst;
	uint64_t cs;
	bool write_zeros;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct zslot *slot;
	uint64_t nslots;
	uint64_t head, next, tail;	/* filled, taken by a worker, written: all grow */
	bool stop;
	pthread_t tid[MAX_THREADS];
	unsigned int nthreads;
};

static void *worker(void *opaque)
{
	struct img_zpool *p = opaque;
	struct zslot *s;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->next == p->head)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->next == p->head)
			break;
		s = &p->slot[p->next++ % p->nslots];
		pthread_mutex_unlock(&p->lock);
		if (vk_buf_is_zero(s->in, s->len))
			s->clen = -1;
		else
			s->clen = vk_blk_compress(p->dst, s->out, p->cs, s->in, s->len);
		if (s->clen < -1)
			s->clen = 0;	/* compression failed: store it as it is */
		pthread_mutex_lock(&p->lock);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void img_zpool_free(struct img_zpool *p)
{
	uint64_t i;
	unsigned int t;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (t = 0; t < p->nthreads; t++)
		pthread_join(p->tid[t], NULL);
	for (i = 0; p->slot && i < p->nslots; i++) {
		free(p->slot[i].in);
		free(p->slot[i].out);
	}
	free(p->slot);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p);
}

int img_zpool_start(struct img_zpool **out, struct vk_blk *dst, unsigned int threads,
		    uint64_t cs, bool write_zeros)
{
	struct img_zpool *p = calloc(1, sizeof(*p));
	uint64_t i;

	if (!p)
		return -ENOMEM;
	p->dst = dst;
	p->cs = cs;
	p->write_zeros = write_zeros;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	threads = MAX(1u, MIN(threads, MAX_THREADS));
	p->nslots = MAX(2, MIN(32ULL * threads, RING_BYTES / (2 * cs)));
	p->slot = calloc(p->nslots, sizeof(*p->slot));
	for (i = 0; p->slot && i < p->nslots; i++) {
		p->slot[i].in = malloc(cs);
		p->slot[i].out = malloc(cs);
		if (!p->slot[i].in || !p->slot[i].out)
			break;
	}
	if (!p->slot || i < p->nslots) {
		img_zpool_free(p);
		return -ENOMEM;
	}
	for (; p->nthreads < threads; p->nthreads++)
		if (pthread_create(&p->tid[p->nthreads], NULL, worker, p))
			break;
	if (!p->nthreads) {
		img_zpool_free(p);
		return -EAGAIN;
	}
	*out = p;
	return 0;
}

/* Write the oldest slot once it is compressed (wait: block until it is). */
static int write_one(struct img_zpool *p, bool wait, bool *wrote, struct vk_err *err)
{
	struct zslot *s = &p->slot[p->tail % p->nslots];
	int r = 0;

	*wrote = false;
	pthread_mutex_lock(&p->lock);
	while (wait && p->tail < p->head && s->state != SLOT_DONE)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
	if (p->tail == p->head || s->state != SLOT_DONE)
		return 0;
	if (s->clen < 0) {
		if (p->write_zeros)
			r = vk_blk_pwrite_zeroes(p->dst, s->off, s->len, err);
	} else {
		r = vk_blk_pwrite_compressed(p->dst, s->off, s->in, s->len, s->out,
					     (size_t)s->clen, err);
	}
	s->state = SLOT_FREE;
	p->tail++;
	*wrote = true;
	return r;
}

int img_zpool_queue(struct img_zpool *p, uint64_t off, const void *data, size_t len,
		    struct vk_err *err)
{
	struct zslot *s;
	bool wrote = true;
	int r;

	while (p->head - p->tail == p->nslots) {
		r = write_one(p, true, &wrote, err);
		if (r < 0)
			return r;
	}
	s = &p->slot[p->head % p->nslots];
	memcpy(s->in, data, len);
	s->off = off;
	s->len = len;
	s->state = SLOT_QUEUED;
	pthread_mutex_lock(&p->lock);
	p->head++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	/* Write what is ready already, without waiting. */
	while (wrote) {
		r = write_one(p, false, &wrote, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int img_zpool_drain(struct img_zpool *p, struct vk_err *err)
{
	bool wrote;
	int r;

	while (p->tail < p->head) {
		r = write_one(p, true, &wrote, err);
		if (r < 0)
			return r;
	}
	return vk_blk_pwrite_compressed(p->dst, 0, NULL, 0, NULL, 0, err);	/* end of stream */
}
