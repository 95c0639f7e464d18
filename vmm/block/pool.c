// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A small pool of threads making blocking calls: the aio=threads engine,
 * and flush/discard/write-zeroes for engines that have no asynchronous
 * form of them. Workers take jobs from one queue and put finished ones on a
 * done list; an eventfd in the backend's loop runs their callbacks there,
 * so the device sees completions on one thread whatever the engine.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmkit/vmm-sandbox.h"
#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/evloop.h"

#define POOL_MAX_THREADS	16

struct pool_job {
	enum blk_pool_op op;
	const struct iovec *iov;
	int n;
	uint64_t off, len;
	blk_done_fn done;
	void *opaque;
	int result;
	struct pool_job *next;
	int (*fn)(struct blk_backend *bb, void *arg);	/* BLK_POOL_FN */
	void *arg;
};

struct blk_pool {
	struct blk_backend *bb;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pool_job *todo, **todo_tail;
	struct pool_job *finished;		/* LIFO: completion order is free */
	bool stopping;
	int efd;
	unsigned int nr_threads;
	pthread_t threads[POOL_MAX_THREADS];
	/*
	 * The image path's bounce buffer, kept: image jobs run one at a time
	 * (under the image lock), and a fresh buffer per request costs a page
	 * fault per page (on this kind of host, most of a 1 MiB write's time).
	 */
	uint8_t *bounce;
	size_t bounce_len;
};

static int retry(ssize_t r)
{
	return r < 0 ? -errno : (int)r;
}

/* Aligned, so that the library's O_DIRECT I/O goes straight to it (cache=none). */
static uint8_t *bounce(struct blk_pool *p, size_t len)
{
	void *b;

	if (len <= p->bounce_len)
		return p->bounce;
	if (posix_memalign(&b, BLK_ALIGN_DIRECT, len))
		return NULL;
	free(p->bounce);
	p->bounce = b;
	p->bounce_len = len;
	return b;
}

/* Gather or scatter iov through one buffer: the library takes flat buffers. */
int blk_pool_image_rw(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
		      bool write)
{
	struct vk_err e = { 0 };
	size_t len = vk_iov_len(iov, n), done = 0;
	uint8_t *buf;
	int i, r;

	buf = bounce(bb->pool, len ? len : 1);
	if (!buf)
		return -ENOMEM;
	for (i = 0; write && i < n; done += iov[i].iov_len, i++)
		memcpy(buf + done, iov[i].iov_base, iov[i].iov_len);
	r = write ? vk_blk_pwrite(bb->image, buf, off, len, &e) :
		    vk_blk_pread(bb->image, buf, off, len, &e);
	for (i = 0, done = 0; !write && r >= 0 && i < n; done += iov[i].iov_len, i++)
		memcpy(iov[i].iov_base, buf + done, iov[i].iov_len);
	return r < 0 ? r : (int)len;
}

static int run_image_job(struct blk_backend *bb, struct pool_job *j)
{
	struct vk_err e = { 0 };
	int r;

	pthread_mutex_lock(&bb->image_lock);
	switch (j->op) {
	case BLK_POOL_READ:
	case BLK_POOL_WRITE:
		r = blk_pool_image_rw(bb, j->iov, j->n, j->off, j->op == BLK_POOL_WRITE);
		break;
	case BLK_POOL_FLUSH:
		r = vk_blk_flush(bb->image, &e);
		break;
	case BLK_POOL_FN:
		r = j->fn(bb, j->arg);
		break;
	case BLK_POOL_DISCARD:
		/* Whole clusters go back to the image's free space (partial ones stay). */
		r = vk_blk_discard(bb->image, j->off, j->len, &e);
		break;
	default:
		r = vk_blk_pwrite_zeroes(bb->image, j->off, j->len, &e);
		break;
	}
	/*
	 * writethrough/directsync (no FLUSH offered): what completes must be
	 * durable, so the metadata the write changed is written now (as QEMU's
	 * block backend flushes after each write without a write cache); the
	 * files are O_DSYNC, so that costs no fdatasync.
	 */
	if (r >= 0 && j->op != BLK_POOL_READ && j->op != BLK_POOL_FLUSH &&
	    bb->image_writethrough) {
		int f = vk_blk_flush(bb->image, &e);

		r = f < 0 ? f : r;
	}
	blk_image_unlock(bb);
	return r;
}

static int run_job(struct blk_backend *bb, struct pool_job *j)
{
	ssize_t r;

	if (bb->image)
		return run_image_job(bb, j);

	switch (j->op) {
	case BLK_POOL_READ:
	case BLK_POOL_WRITE:
		do
			r = j->op == BLK_POOL_READ ? preadv(bb->fd, j->iov, j->n, j->off) :
						     pwritev(bb->fd, j->iov, j->n, j->off);
		while (r < 0 && errno == EINTR);
		return retry(r);
	case BLK_POOL_FLUSH:
		return retry(fdatasync(bb->fd));
	case BLK_POOL_FN:
		return j->fn(bb, j->arg);
	case BLK_POOL_DISCARD:
		return blk_range_discard(bb, j->off, j->len);
	default:
		return blk_range_zeroes(bb, j->off, j->len, j->op == BLK_POOL_ZEROES_UNMAP);
	}
}

static void *worker(void *arg)
{
	struct blk_pool *p = arg;
	struct pool_job *j;

	vmm_sandbox_enter(&vmm_sandbox_iothread);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->todo && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		j = p->todo;
		if (!j)
			break;		/* stopping, and nothing left to do */
		p->todo = j->next;
		if (!p->todo)
			p->todo_tail = &p->todo;
		pthread_mutex_unlock(&p->lock);
		j->result = run_job(p->bb, j);
		pthread_mutex_lock(&p->lock);
		j->next = p->finished;
		p->finished = j;
		eventfd_write(p->efd, 1);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void run_finished(struct blk_pool *p)
{
	struct pool_job *j, *next;

	pthread_mutex_lock(&p->lock);
	j = p->finished;
	p->finished = NULL;
	pthread_mutex_unlock(&p->lock);
	for (; j; j = next) {
		next = j->next;
		j->done(j->opaque, j->result);
		free(j);
	}
}

static int on_finished(void *opaque, int fd, uint32_t events)
{
	eventfd_t cnt;

	eventfd_read(fd, &cnt);
	run_finished(opaque);
	return 0;
}

static int enqueue(struct blk_pool *p, const struct pool_job *job)
{
	struct pool_job *j = malloc(sizeof(*j));

	if (!j)
		return -ENOMEM;
	*j = *job;
	pthread_mutex_lock(&p->lock);
	*p->todo_tail = j;
	p->todo_tail = &j->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int blk_pool_submit(struct blk_pool *p, enum blk_pool_op op, const struct iovec *iov, int n,
		    uint64_t off, uint64_t len, blk_done_fn done, void *opaque)
{
	return enqueue(p, &(struct pool_job){ .op = op, .iov = iov, .n = n, .off = off, .len = len,
					      .done = done, .opaque = opaque });
}

int blk_pool_submit_fn(struct blk_pool *p, int (*fn)(struct blk_backend *bb, void *arg),
		       void *arg, blk_done_fn done, void *opaque)
{
	return enqueue(p, &(struct pool_job){ .op = BLK_POOL_FN, .done = done, .opaque = opaque,
					      .fn = fn, .arg = arg });
}

static int start_threads(struct blk_pool *p, unsigned int n)
{
	int r;

	for (p->nr_threads = 0; p->nr_threads < MIN(n, POOL_MAX_THREADS); p->nr_threads++) {
		r = pthread_create(&p->threads[p->nr_threads], NULL, worker, p);
		if (r)
			return -r;
	}
	return 0;
}

int blk_pool_new(struct blk_backend *bb, unsigned int threads, struct blk_pool **out)
{
	struct blk_pool *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->bb = bb;
	p->todo_tail = &p->todo;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = p->efd < 0 ? -errno : evloop_add(bb->loop, p->efd, EPOLLIN, on_finished, p);
	if (!r)
		r = start_threads(p, threads);
	if (r) {
		blk_pool_free(p);
		return r;
	}
	*out = p;
	return 0;
}

void blk_pool_free(struct blk_pool *p)
{
	unsigned int i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nr_threads; i++)
		pthread_join(p->threads[i], NULL);
	run_finished(p);
	if (p->efd >= 0) {
		evloop_del(p->bb->loop, p->efd);
		close(p->efd);
	}
	free(p->bounce);
	free(p);
}

int blk_pool_discard(struct blk_backend *bb, uint64_t off, uint64_t len, blk_done_fn done,
		     void *opaque)
{
	return blk_pool_submit(bb->pool, BLK_POOL_DISCARD, NULL, 0, off, len, done, opaque);
}

int blk_pool_write_zeroes(struct blk_backend *bb, uint64_t off, uint64_t len, bool unmap,
			  blk_done_fn done, void *opaque)
{
	return blk_pool_submit(bb->pool, unmap ? BLK_POOL_ZEROES_UNMAP : BLK_POOL_ZEROES, NULL,
			       0, off, len, done, opaque);
}
