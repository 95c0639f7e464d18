// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for virtio-scsi (vmm/virtio/scsi.c) and the SCSI target
 * emulation behind it (vmm/scsi/) on the fake VM (fake-vm.h): the input is
 * a driver's script. Target 0 is a disk, target 1 a CD-ROM, each on a 1 MiB
 * buffer behind a backend of this file's own that completes requests when
 * the script settles, so commands in flight meet task management, resets
 * and media changes. Every buffer handed to the backend is read or written
 * in full, so ASan sees any that is not in the guest's RAM or a bounce.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/blk-backend.h"
#include "vmkit/scsi.h"
#include "vmkit/virtio-scsi.h"
#include "fake-vm.h"

#define DISK_SIZE	(1u << 20)
#define MAX_PENDING	4096

struct pending {
	blk_done_fn done;
	void *opaque;
	int result;
};

static uint8_t *disk;
static struct pending pending[MAX_PENDING];
static unsigned int npending;
static bool direct;

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
	if (bb->size != DISK_SIZE)
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
	if (off > DISK_SIZE || len > DISK_SIZE - off)
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

static void settle_all(void)
{
	unsigned int i, n;

	while ((n = npending)) {
		npending = 0;
		for (i = n; i-- > 0;)
			pending[i].done(pending[i].opaque, pending[i].result);
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
	bb->size = cfg->cdrom ? DISK_SIZE - 6144 : DISK_SIZE;
	bb->max_inflight = max_inflight;
	bb->loop = loop;
	bb->direct = direct;
	*out = bb;
	return 0;
}

/* As the engines' close: what is in flight completes here. */
void blk_backend_close(struct blk_backend *bb)
{
	settle_all();
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

static void settle(struct virtio_dev *v)
{
	settle_all();
}

/* vmm/core/devices.c's slots (that file names every device class): one will do. */
void **vm_device_state(struct vm *vm, const struct vm_device_class *cls)
{
	static void *slot;

	return &slot;
}

static struct virtio_scsi *dev;

/*
 * Action byte: bit 0 O_DIRECT for media opened from now on; bits 1-2: 1
 * ejects the CD-ROM (bit 3: force), 2 inserts a new medium, 3 resets the
 * CD-ROM LUN as a bus reset would.
 */
static size_t action(struct virtio_dev *v, const uint8_t *data, size_t size)
{
	struct scsi_lun *cd = virtio_scsi_target(dev, 1);
	struct vk_err err;

	if (!size)
		return 0;
	direct = data[0] & 1;
	switch (data[0] >> 1 & 3) {
	case 1: scsi_lun_eject(cd, data[0] & 8, &err); break;
	case 2: scsi_lun_change(cd, "fuzz.iso", DISK_FORMAT_QCOW2, &err); break;
	case 3: scsi_lun_reset(cd); break;
	}
	return 1;
}

static const struct fake_dev_hooks hooks = { .action = action, .settle = settle };

/*
 * The CD-ROM is declared qcow2 so that opening it skips the ISO check (a
 * read of a real file); the fake backend serves every format alike.
 */
static void make_config(struct vm_config *c)
{
	c->disks[0] = (struct disk_config){ .path = "fuzz.img", .cache = CACHE_WRITEBACK,
					    .serial = "fuzz-serial", .num_queues = 2,
					    .queue_size = 64, .bus = DISK_BUS_SCSI };
	c->disks[1] = (struct disk_config){ .path = "fuzz.iso", .cache = CACHE_NONE,
					    .format = DISK_FORMAT_QCOW2, .cdrom = true,
					    .readonly = true, .bus = DISK_BUS_SCSI };
	c->nr_disks = 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int idx[] = { 0, 1 };
	struct vk_err err = { 0 };

	if (!dev) {
		disk = calloc(1, DISK_SIZE);
		make_config(&fake_vm()->cfg);
		if (!disk || virtio_scsi_create(&fake_vm()->vm, idx, 2, &dev, &err))
			abort();
	}
	direct = false;
	fake_driver_run(fake_vm()->dev, &hooks, data, size);
	return 0;
}
