// SPDX-License-Identifier: GPL-2.0-or-later
/* The fuzz targets' block backend: see fake-blk.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/blk-backend.h"
#include "fake-blk.h"

#define MAX_PENDING	4096

struct pending {
	blk_done_fn done;
	void *opaque;
	int result;
};

static uint8_t disk[FAKE_DISK_SIZE];
static struct pending pending[MAX_PENDING];
static unsigned int npending;
bool fake_blk_direct;

static int later(blk_done_fn done, void *opaque, int result)
{
	if (npending == MAX_PENDING)
		return -EAGAIN;
	pending[npending++] = (struct pending){ done, opaque, result };
	return 0;
}

static int rw(const struct iovec *iov, int n, uint64_t off, bool write)
{
	size_t done = 0, chunk;
	int i;

	for (i = 0; i < n; i++) {
		if (off + done >= FAKE_DISK_SIZE)
			break;
		chunk = iov[i].iov_len;
		if (chunk > FAKE_DISK_SIZE - off - done)
			chunk = FAKE_DISK_SIZE - off - done;
		if (write)
			memcpy(disk + off + done, iov[i].iov_base, chunk);
		else
			memcpy(iov[i].iov_base, disk + off + done, chunk);
		done += chunk;
	}
	return done;
}

static int fake_preadv(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
		       blk_done_fn done, void *opaque)
{
	return later(done, opaque, rw(iov, n, off, false));
}

static int fake_pwritev(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
			blk_done_fn done, void *opaque)
{
	if (bb->size != FAKE_DISK_SIZE)
		abort();
	return later(done, opaque, rw(iov, n, off, true));
}

static int fake_flush(struct blk_backend *bb, blk_done_fn done, void *opaque)
{
	return later(done, opaque, 0);
}

static int fake_discard(struct blk_backend *bb, uint64_t off, uint64_t len, blk_done_fn done,
			void *opaque)
{
	if (off > FAKE_DISK_SIZE || len > FAKE_DISK_SIZE - off)
		abort();	/* the LUN checks ranges before it discards */
	memset(disk + off, 0, len);
	return later(done, opaque, 0);
}

static int fake_zeroes(struct blk_backend *bb, uint64_t off, uint64_t len, bool unmap,
		       blk_done_fn done, void *opaque)
{
	return fake_discard(bb, off, len, done, opaque);
}

static const struct blk_backend_ops fake_ops = {
	.name = "fuzz",
	.preadv = fake_preadv,
	.pwritev = fake_pwritev,
	.flush = fake_flush,
	.discard = fake_discard,
	.write_zeroes = fake_zeroes,
};

/*
 * A completion may submit more (a write's flush, for FUA): those go to the
 * next round, so each batch is taken out of the array before it runs.
 */
void fake_blk_settle(void)
{
	static struct pending batch[MAX_PENDING];
	unsigned int i, n;

	while ((n = npending)) {
		memcpy(batch, pending, n * sizeof(*batch));
		npending = 0;
		for (i = n; i-- > 0;)
			batch[i].done(batch[i].opaque, batch[i].result);
	}
}

int blk_backend_open(const struct disk_config *cfg, struct evloop *loop,
		     unsigned int max_inflight, struct blk_backend **out, struct vk_err *err)
{
	struct blk_backend *bb = calloc(1, sizeof(*bb));

	if (!bb)
		return vk_fail(err, -ENOMEM, "out of memory");
	bb->ops = &fake_ops;
	bb->path = cfg->path;
	bb->fd = -1;
	/* The CD-ROM's medium is a bit smaller: an odd number of 2048-byte blocks. */
	bb->size = cfg->cdrom ? FAKE_DISK_SIZE - 6144 : FAKE_DISK_SIZE;
	bb->max_inflight = max_inflight;
	bb->loop = loop;
	bb->direct = fake_blk_direct;
	*out = bb;
	return 0;
}

/* As the engines' close: what is in flight completes here. */
void blk_backend_close(struct blk_backend *bb)
{
	fake_blk_settle();
	free(bb);
}

uint64_t blk_backend_length(const struct blk_backend *bb)
{
	return bb->size;
}

bool blk_backend_is_direct(const struct blk_backend *bb)
{
	return bb->direct;
}

int blk_probed_raw_check(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off)
{
	return 0;
}

/* No backup or migration runs here: the write path's hooks never hold anything. */
int blk_write_hooked(struct blk_backend *bb, enum blk_held_kind kind, const struct iovec *iov,
		     int n, uint64_t off, uint64_t len, bool unmap, blk_done_fn done, void *opaque)
{
	return 1;
}

