// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * aio=threads: every request is a blocking call on the backend's thread
 * pool (vmm/block/pool.c). Works on any file and any cache mode.
 */
#include "vmkit/blk-backend.h"
#include "vmkit/evloop.h"

/*
 * The pool every backend has is all this engine needs. Its loop does not
 * poll meanwhile: measured on a 2-CPU host, a spinning loop beside the
 * vCPU left the pool's threads so little CPU that 4 KiB QD32 reads fell
 * from 51k to 27k IOPS.
 */
static int threads_open(struct blk_backend *bb, struct vk_err *err)
{
	if (bb->loop)
		evloop_poll_hold(bb->loop, true);
	return 0;
}

static void threads_close(struct blk_backend *bb)
{
	if (bb->loop)
		evloop_poll_hold(bb->loop, false);
}

static int threads_preadv(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
			  blk_done_fn done, void *opaque)
{
	return blk_pool_submit(bb->pool, BLK_POOL_READ, iov, n, off, 0, done, opaque);
}

static int threads_pwritev(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
			   blk_done_fn done, void *opaque)
{
	return blk_pool_submit(bb->pool, BLK_POOL_WRITE, iov, n, off, 0, done, opaque);
}

static int threads_flush(struct blk_backend *bb, blk_done_fn done, void *opaque)
{
	return blk_pool_submit(bb->pool, BLK_POOL_FLUSH, NULL, 0, 0, 0, done, opaque);
}

const struct blk_backend_ops blk_threads_ops = {
	.name = "threads",
	.open = threads_open,
	.close = threads_close,
	.preadv = threads_preadv,
	.pwritev = threads_pwritev,
	.flush = threads_flush,
	.discard = blk_pool_discard,
	.write_zeroes = blk_pool_write_zeroes,
};
