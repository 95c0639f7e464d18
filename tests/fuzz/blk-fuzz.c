// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for virtio-blk's request handling (vmm/virtio/blk.c) on
 * the fake VM (fake-vm.h): the input is a driver's script. The disk is a
 * 1 MiB buffer behind a backend of this file's own that completes requests
 * when the script settles (as an engine would, later, on the loop), so
 * requests in flight meet kicks, merges and resets. Every buffer a request
 * hands the backend is read or written in full, so ASan sees any that is
 * not where the guest's RAM or the device's bounce buffer is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/blk-backend.h"
#include "vmkit/virtio-blk.h"
#include "fake-vm.h"

#define DISK_SIZE	(1u << 20)
#define MAX_PENDING	4096

struct pending {
	blk_done_fn done;
	void *opaque;
	int result;
};

static struct blk_backend backend;
static uint8_t *disk;
static struct pending pending[MAX_PENDING];
static unsigned int npending;

static int later(blk_done_fn done, void *opaque, int result)
{
	if (npending == MAX_PENDING)
		return -EAGAIN;	/* a full engine refuses: the request fails with IOERR */
	pending[npending++] = (struct pending){ done, opaque, result };
	return 0;
}

/* Bytes [off, off + len) of the disk, clipped as pread/pwrite clip at the end. */
static int rw(const struct iovec *iov, int n, uint64_t off, bool write)
{
	size_t done = 0, chunk;
	int i;

	for (i = 0; i < n; i++) {
		if (off + done >= DISK_SIZE)
			break;
		chunk = iov[i].iov_len;
		if (chunk > DISK_SIZE - off - done)
			chunk = DISK_SIZE - off - done;
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
	return later(done, opaque, rw(iov, n, off, true));
}

static int fake_flush(struct blk_backend *bb, blk_done_fn done, void *opaque)
{
	return later(done, opaque, 0);
}

static int fake_discard(struct blk_backend *bb, uint64_t off, uint64_t len, blk_done_fn done,
			void *opaque)
{
	if (off > DISK_SIZE || len > DISK_SIZE - off)
		abort();	/* blk.c checks ranges before it discards */
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

/* vmm/block/backend.c's entry points, on the buffer. */
int blk_backend_open(const struct disk_config *cfg, struct evloop *loop,
		     unsigned int max_inflight, struct blk_backend **out, struct vk_err *err)
{
	backend.ops = &fake_ops;
	backend.path = cfg->path;
	backend.fd = -1;
	backend.size = DISK_SIZE;
	backend.max_inflight = max_inflight;
	backend.loop = loop;
	*out = &backend;
	return 0;
}

void blk_backend_close(struct blk_backend *bb)
{
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

static void settle(struct virtio_dev *v)
{
	unsigned int i, n;

	/* Completions in an order of their own: last submitted first. */
	while ((n = npending)) {
		npending = 0;
		for (i = n; i-- > 0;)
			pending[i].done(pending[i].opaque, pending[i].result);
	}
}

/* Action: bit 0 of the next byte says O_DIRECT (unaligned buffers go through a bounce). */
static size_t action(struct virtio_dev *v, const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	backend.direct = data[0] & 1;
	return 1;
}

static const struct fake_dev_hooks hooks = { .action = action, .settle = settle };

static struct virtio_blk *dev;
static const struct disk_config disk_cfg = {
	.path = "fuzz.img", .cache = CACHE_WRITEBACK, .serial = "fuzz-serial-01234567",
	.num_queues = 2, .queue_size = 64,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_err err = { 0 };

	if (!dev) {
		disk = calloc(1, DISK_SIZE);
		if (!disk || virtio_blk_create(&fake_vm()->vm, &disk_cfg, &dev, &err))
			abort();
	}
	backend.direct = false;
	fake_driver_run(fake_vm()->dev, &hooks, data, size);
	return 0;
}
