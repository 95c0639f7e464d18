// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * aio=io_uring (the default): reads, writes and flushes (fdatasync) go
 * through one ring per backend; the ring's eventfd sits in the backend's
 * loop, which reaps completions. Submitters may be any thread (the loop,
 * or a vCPU on an MMIO notify), so the submission side takes a lock; only
 * the loop reaps. Discard and write-zeroes go to the thread pool: block
 * devices need ioctls the ring does not carry.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmkit/blk-backend.h"
#include "vmkit/evloop.h"

#define RING_MIN	64
#define RING_MAX	4096

struct uring_req {
	blk_done_fn done;
	void *opaque;
	struct uring_req *next_free;
};

struct uring {
	struct io_uring ring;
	pthread_mutex_t sq_lock;
	int efd;
	unsigned int inflight;		/* submitted, not reaped (under sq_lock) */
	unsigned int plugged;		/* plug depth: SQEs wait for the last unplug */
	/*
	 * Reaped requests' records, for the next submissions (under sq_lock):
	 * no allocation per request once as many have been in flight.
	 */
	struct uring_req *free_reqs;
};

static struct uring *to_uring(struct blk_backend *bb)
{
	return bb->engine;
}

/* Reap what completed; callbacks run without the lock, so they may submit. */
static void reap(struct uring *u)
{
	struct io_uring_cqe *cqe;
	struct uring_req *req;
	blk_done_fn done;
	void *opaque;
	int res;

	for (;;) {
		pthread_mutex_lock(&u->sq_lock);
		if (io_uring_peek_cqe(&u->ring, &cqe)) {
			pthread_mutex_unlock(&u->sq_lock);
			return;
		}
		req = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
		u->inflight--;
		done = req->done;
		opaque = req->opaque;
		req->next_free = u->free_reqs;
		u->free_reqs = req;
		pthread_mutex_unlock(&u->sq_lock);
		done(opaque, res);
	}
}

static int on_ring(void *opaque, int fd, uint32_t events)
{
	eventfd_t cnt;

	eventfd_read(fd, &cnt);
	reap(opaque);
	return 0;
}

/* The loop's poll function: completions taken from the CQ without the eventfd's wake-up. */
static bool uring_poll(void *opaque)
{
	struct uring *u = opaque;

	if (!io_uring_cq_ready(&u->ring))
		return false;
	reap(u);
	return true;
}

/* Take an SQE (submitting what is queued once if none is free), fill it in, submit it. */
static int submit(struct blk_backend *bb, int opcode, const struct iovec *iov, int n,
		  uint64_t off, blk_done_fn done, void *opaque)
{
	struct uring *u = to_uring(bb);
	struct io_uring_sqe *sqe;
	struct uring_req *req;
	int r, tries = 0;

	pthread_mutex_lock(&u->sq_lock);
	req = u->free_reqs;
	if (req)
		u->free_reqs = req->next_free;
	else if (!(req = malloc(sizeof(*req)))) {
		pthread_mutex_unlock(&u->sq_lock);
		return -ENOMEM;
	}
	*req = (struct uring_req){ done, opaque, NULL };
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe) {
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	if (!sqe) {
		req->next_free = u->free_reqs;
		u->free_reqs = req;
		pthread_mutex_unlock(&u->sq_lock);
		return -EBUSY;
	}
	if (opcode == IORING_OP_READV)
		io_uring_prep_readv(sqe, bb->fd, iov, n, off);
	else if (opcode == IORING_OP_WRITEV)
		io_uring_prep_writev(sqe, bb->fd, iov, n, off);
	else
		io_uring_prep_fsync(sqe, bb->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, req);
	/*
	 * The SQE is in the ring now: whatever io_uring_enter says, it goes
	 * with this call or the next one, and its callback runs. So it is
	 * accepted; a transient refusal is retried as uring_unplug does.
	 */
	if (!u->plugged) {
		do
			r = io_uring_submit(&u->ring);
		while ((r == -EINTR || r == -EAGAIN || r == -EBUSY) && ++tries < 1000);
	}
	u->inflight++;
	pthread_mutex_unlock(&u->sq_lock);
	return 0;
}

static void uring_plug(struct blk_backend *bb)
{
	struct uring *u = to_uring(bb);

	pthread_mutex_lock(&u->sq_lock);
	u->plugged++;
	pthread_mutex_unlock(&u->sq_lock);
}

/*
 * One io_uring_enter for everything queued while plugged. The SQEs were
 * accepted already (their callbacks will run), so a refusal here can only
 * be retried: the ring's CQ holds twice the most requests ever in flight,
 * so the kernel's transient -EBUSY/-EAGAIN clear.
 */
static void uring_unplug(struct blk_backend *bb)
{
	struct uring *u = to_uring(bb);
	int r, tries = 0;

	pthread_mutex_lock(&u->sq_lock);
	if (u->plugged && !--u->plugged) {
		do
			r = io_uring_submit(&u->ring);
		while ((r == -EINTR || r == -EAGAIN || r == -EBUSY) && ++tries < 1000);
	}
	pthread_mutex_unlock(&u->sq_lock);
}

static int uring_preadv(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
			blk_done_fn done, void *opaque)
{
	return submit(bb, IORING_OP_READV, iov, n, off, done, opaque);
}

static int uring_pwritev(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
			 blk_done_fn done, void *opaque)
{
	return submit(bb, IORING_OP_WRITEV, iov, n, off, done, opaque);
}

static int uring_flush(struct blk_backend *bb, blk_done_fn done, void *opaque)
{
	return submit(bb, IORING_OP_FSYNC, NULL, 0, 0, done, opaque);
}

static void uring_close(struct blk_backend *bb)
{
	struct uring *u = to_uring(bb);
	struct io_uring_cqe *cqe;

	if (!u)
		return;
	/* The loop no longer runs: wait here for what is in flight. */
	while (u->inflight && io_uring_wait_cqe(&u->ring, &cqe) == 0)
		reap(u);
	if (u->efd >= 0) {
		evloop_del(bb->loop, u->efd);
		close(u->efd);
	}
	io_uring_queue_exit(&u->ring);
	while (u->free_reqs) {
		struct uring_req *next = u->free_reqs->next_free;

		free(u->free_reqs);
		u->free_reqs = next;
	}
	free(u);
	bb->engine = NULL;
}

static unsigned int ring_entries(unsigned int want)
{
	unsigned int n = RING_MIN;

	while (n < want && n < RING_MAX)
		n <<= 1;
	return n;
}

static int uring_open(struct blk_backend *bb, struct vk_err *err)
{
	struct uring *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return vk_fail(err, -ENOMEM, "out of memory");
	u->efd = -1;
	pthread_mutex_init(&u->sq_lock, NULL);
	r = io_uring_queue_init(ring_entries(bb->max_inflight), &u->ring, 0);
	if (r) {
		free(u);
		return vk_fail(err, r, "--disk %s: aio=io_uring: %s", bb->path, strerror(-r));
	}
	bb->engine = u;
	u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = u->efd < 0 ? -errno : io_uring_register_eventfd(&u->ring, u->efd);
	if (!r)
		r = evloop_add(bb->loop, u->efd, EPOLLIN, on_ring, u);
	if (!r)
		r = evloop_set_poll(bb->loop, u->efd, uring_poll, NULL);
	if (r) {
		uring_close(bb);
		return vk_fail(err, r, "--disk %s: aio=io_uring eventfd: %s", bb->path,
			       strerror(-r));
	}
	return 0;
}

const struct blk_backend_ops blk_io_uring_ops = {
	.name = "io_uring",
	.open = uring_open,
	.close = uring_close,
	.preadv = uring_preadv,
	.pwritev = uring_pwritev,
	.flush = uring_flush,
	.discard = blk_pool_discard,
	.write_zeroes = blk_pool_write_zeroes,
	.plug = uring_plug,
	.unplug = uring_unplug,
};
