// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * aio=threads: every request is a blocking call on the backend's thread
 * pool (vmm/block/pool.c). Works on any file and any cache mode.
 */
#include "vmkit/blk-backend.h"

static int threads_open(struct blk_backend *bb, struct vk_err *err)
{
	return 0;	/* the pool every backend has is all this engine needs */
}

static void threads_close(struct blk_backend *bb)
{
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
