// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * aio=native: Linux AIO (io_submit) for reads and writes, with an eventfd
 * (io_set_eventfd) in the backend's loop that reaps completions. Linux AIO
 * is only asynchronous on O_DIRECT files, so the backend refuses it with a
 * page-cache mode (as QEMU does). io_submit is thread-safe; only the loop
 * reaps. Flush, discard and write-zeroes go to the thread pool: Linux AIO's
 * fdsync is not implemented by most filesystems.
 */
#include <errno.h>
#include <libaio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmkit/blk-backend.h"
#include "vmkit/evloop.h"

#define AIO_MIN		64
#define AIO_MAX		4096
#define REAP_BATCH	64

struct aio_req {
	struct iocb iocb;
	blk_done_fn done;
	void *opaque;
};

struct native {
	io_context_t ctx;
	int efd;
	unsigned int inflight;		/* atomic: submitted, not reaped */
};

static struct native *to_native(struct blk_backend *bb)
{
	return bb->engine;
}

/* The result of one event: bytes, or a negative errno (res is unsigned in libaio). */
static int event_result(const struct io_event *ev)
{
	return (int)(long)ev->res;
}

/* Reap up to what is there (min_nr 0) or wait for at least one (min_nr 1). */
static int reap(struct native *a, long min_nr)
{
	struct io_event evs[REAP_BATCH];
	struct timespec zero = { 0, 0 };
	int n, i;

	do
		n = io_getevents(a->ctx, min_nr, REAP_BATCH, evs, min_nr ? NULL : &zero);
	while (n == -EINTR);
	for (i = 0; i < n; i++) {
		struct aio_req *req = evs[i].data;

		__atomic_sub_fetch(&a->inflight, 1, __ATOMIC_RELAXED);
		req->done(req->opaque, event_result(&evs[i]));
		free(req);
	}
	return n;
}

static int on_aio(void *opaque, int fd, uint32_t events)
{
	eventfd_t cnt;

	eventfd_read(fd, &cnt);
	while (reap(opaque, 0) == REAP_BATCH)
		;
	return 0;
}

static int submit(struct blk_backend *bb, bool write, const struct iovec *iov, int n,
		  uint64_t off, blk_done_fn done, void *opaque)
{
	struct native *a = to_native(bb);
	struct aio_req *req = malloc(sizeof(*req));
	struct iocb *cb;
	int r;

	if (!req)
		return -ENOMEM;
	req->done = done;
	req->opaque = opaque;
	cb = &req->iocb;
	if (write)
		io_prep_pwritev(cb, bb->fd, iov, n, off);
	else
		io_prep_preadv(cb, bb->fd, iov, n, off);
	cb->data = req;
	io_set_eventfd(cb, a->efd);
	__atomic_add_fetch(&a->inflight, 1, __ATOMIC_RELAXED);
	do
		r = io_submit(a->ctx, 1, &cb);
	while (r == -EINTR);
	if (r == 1)
		return 0;
	__atomic_sub_fetch(&a->inflight, 1, __ATOMIC_RELAXED);
	free(req);
	return r < 0 ? r : -EAGAIN;
}

static int native_preadv(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
			 blk_done_fn done, void *opaque)
{
	return submit(bb, false, iov, n, off, done, opaque);
}

static int native_pwritev(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
			  blk_done_fn done, void *opaque)
{
	return submit(bb, true, iov, n, off, done, opaque);
}

static int native_flush(struct blk_backend *bb, blk_done_fn done, void *opaque)
{
	return blk_pool_submit(bb->pool, BLK_POOL_FLUSH, NULL, 0, 0, 0, done, opaque);
}

static void native_close(struct blk_backend *bb)
{
	struct native *a = to_native(bb);

	if (!a)
		return;
	/* The loop no longer runs: wait here for what is in flight. */
	while (__atomic_load_n(&a->inflight, __ATOMIC_RELAXED) && reap(a, 1) >= 0)
		;
	if (a->efd >= 0) {
		evloop_del(bb->loop, a->efd);
		close(a->efd);
	}
	if (a->ctx)
		io_destroy(a->ctx);
	free(a);
	bb->engine = NULL;
}

static int native_open(struct blk_backend *bb, struct vk_err *err)
{
	struct native *a = calloc(1, sizeof(*a));
	unsigned int nr = MIN(MAX(bb->max_inflight, AIO_MIN), AIO_MAX);
	int r;

	if (!a)
		return vk_fail(err, -ENOMEM, "out of memory");
	bb->engine = a;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		r = -errno;
		goto err_close;
	}
	r = io_setup(nr, &a->ctx);
	if (!r)
		r = evloop_add(bb->loop, a->efd, EPOLLIN, on_aio, a);
	if (!r)
		return 0;
err_close:
	native_close(bb);
	return vk_fail(err, r, "--disk %s: aio=native: %s", bb->path, strerror(-r));
}

const struct blk_backend_ops blk_native_ops = {
	.name = "native",
	.open = native_open,
	.close = native_close,
	.preadv = native_preadv,
	.pwritev = native_pwritev,
	.flush = native_flush,
	.discard = blk_pool_discard,
	.write_zeroes = blk_pool_write_zeroes,
};
