// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-blk (virtio 1.2, 5.2) on a raw file or block device. Requests are
 * served synchronously on the thread that noticed them (the notifying
 * vCPU); every field the guest wrote (type, sector, lengths) is checked, and
 * a bad request fails with IOERR or UNSUPP while the device keeps working.
 *
 * Cache modes as QEMU defines them: none = O_DIRECT with flushes reaching
 * the disk, writeback = page cache with flushes as fdatasync, writethrough
 * = O_DSYNC and no volatile cache shown, directsync = O_DIRECT|O_DSYNC,
 * unsafe = page cache with flushes ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmkit/virtio.h"
#include "vmkit/virtio-blk.h"
#include "vmkit/vm.h"

#define SECTOR		512
#define QUEUE_SIZE	256
#define SEG_MAX		(QUEUE_SIZE - 2)

/* Features */
#define F_SEG_MAX	2
#define F_RO		5
#define F_BLK_SIZE	6
#define F_FLUSH		9
#define F_TOPOLOGY	10
#define F_DISCARD	13
#define F_WRITE_ZEROES	14

/* Request types and status */
#define T_IN		0
#define T_OUT		1
#define T_FLUSH		4
#define T_GET_ID	8
#define T_DISCARD	11
#define T_WRITE_ZEROES	13
#define S_OK		0
#define S_IOERR		1
#define S_UNSUPP	2

#define ALIGN_DIRECT	4096	/* what O_DIRECT accepts on every disk */

struct blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	struct { uint16_t cylinders; uint8_t heads, sectors; } geometry;
	uint32_t blk_size;
	struct { uint8_t physical_block_exp, alignment_offset; uint16_t min_io_size;
		 uint32_t opt_io_size; } topology;
	uint8_t writeback, unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap, unused1[3];
} __attribute__((packed));

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_discard {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;		/* bit 0: unmap (for write zeroes) */
};

struct virtio_blk {
	struct virtio_dev vdev;
	const struct disk_config *cfg;
	int fd;
	bool is_bdev;
	uint64_t size;			/* bytes */
	struct blk_config config;
	pthread_mutex_t qlock;		/* one queue, served by whichever vCPU kicks */
	struct virtq_elem elem;		/* big: kept here, not on a vCPU stack */
	struct iovec data_iov[VIRTQ_MAX_SEGS];	/* the data part of elem */
	void *bounce;
	size_t bounce_size;
};

static struct virtio_blk *to_blk(struct virtio_dev *v)
{
	return v->priv;
}

static int open_flags(const struct disk_config *c)
{
	int f = (c->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	if (c->cache == CACHE_NONE || c->cache == CACHE_DIRECTSYNC)
		f |= O_DIRECT;
	if (c->cache == CACHE_WRITETHROUGH || c->cache == CACHE_DIRECTSYNC)
		f |= O_DSYNC;
	return f;
}

/* The guest's buffers are anywhere in its RAM; O_DIRECT needs them aligned. */
static bool iov_aligned(const struct iovec *iov, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (ALIGN_DIRECT - 1))
			return false;
	return true;
}

static void *bounce(struct virtio_blk *b, size_t len)
{
	if (len > b->bounce_size) {
		free(b->bounce);
		b->bounce = NULL;
		b->bounce_size = 0;
		if (posix_memalign(&b->bounce, ALIGN_DIRECT, ALIGN_UP(len, ALIGN_DIRECT)))
			return NULL;
		b->bounce_size = ALIGN_UP(len, ALIGN_DIRECT);
	}
	return b->bounce;
}

static bool direct(struct virtio_blk *b)
{
	return b->cfg->cache == CACHE_NONE || b->cfg->cache == CACHE_DIRECTSYNC;
}

static ssize_t full_preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	ssize_t r;

	do
		r = preadv(fd, iov, n, off);
	while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t full_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	ssize_t r;

	do
		r = pwritev(fd, iov, n, off);
	while (r < 0 && errno == EINTR);
	return r;
}

/*
 * The part [skip, skip+len) of iov[0..n) as iovecs in out (at most max).
 * virtio 1.x lets a driver frame a request any way it likes (2.7.4): the
 * header may share a buffer with the data, the status byte may end one.
 */
static unsigned int iov_slice(const struct iovec *iov, unsigned int n, size_t skip, size_t len,
			      struct iovec *out, unsigned int max)
{
	unsigned int i, k = 0;

	for (i = 0; i < n && len && k < max; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[k].iov_len = MIN(l - skip, len);
		len -= out[k].iov_len;
		skip = 0;
		k++;
	}
	return k;
}

/* Read or write len bytes at off through the element's data buffers. */
static uint8_t do_rw(struct virtio_blk *b, struct virtq_elem *e, bool write, uint64_t off,
		     size_t len)
{
	struct iovec *iov = b->data_iov;
	unsigned int n = write ?
		iov_slice(e->iov, e->n_out, sizeof(struct blk_req_hdr), len, iov, VIRTQ_MAX_SEGS) :
		iov_slice(e->iov + e->n_out, e->n_in, 0, len, iov, VIRTQ_MAX_SEGS);
	struct iovec one;
	ssize_t r;
	void *buf;

	if (!direct(b) || iov_aligned(iov, n)) {
		r = write ? full_pwritev(b->fd, iov, n, off) : full_preadv(b->fd, iov, n, off);
		return r == (ssize_t)len ? S_OK : S_IOERR;
	}
	buf = bounce(b, len);
	if (!buf)
		return S_IOERR;
	one = (struct iovec){ buf, ALIGN_UP(len, ALIGN_DIRECT) };
	if (write) {
		virtq_copy_from_out(e, sizeof(struct blk_req_hdr), buf, len);
		one.iov_len = len;
		r = full_pwritev(b->fd, &one, 1, off);
		return r == (ssize_t)len ? S_OK : S_IOERR;
	}
	one.iov_len = len;
	r = full_preadv(b->fd, &one, 1, off);
	if (r != (ssize_t)len)
		return S_IOERR;
	virtq_copy_to_in(e, 0, buf, len);
	return S_OK;
}

static uint8_t do_flush(struct virtio_blk *b)
{
	if (b->cfg->cache == CACHE_UNSAFE)
		return S_OK;
	return fdatasync(b->fd) ? S_IOERR : S_OK;
}

/* Punch (discard) or zero a range; files and block devices each have their call. */
static int range_op(struct virtio_blk *b, bool zero, uint64_t off, uint64_t len, bool unmap)
{
	uint64_t range[2] = { off, len };

	if (b->is_bdev)
		return ioctl(b->fd, zero ? BLKZEROOUT : BLKDISCARD, range);
	if (!zero || unmap)
		return fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
	return fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
}

static uint8_t do_discard(struct virtio_blk *b, struct virtq_elem *e, bool zero)
{
	struct blk_discard d;
	size_t off = sizeof(struct blk_req_hdr);
	uint64_t bytes;

	if (e->out_len == off || (e->out_len - off) % sizeof(d))
		return S_UNSUPP;
	/* One segment per request (max_discard_seg = 1). */
	if (e->out_len - off != sizeof(d))
		return S_UNSUPP;
	virtq_copy_from_out(e, off, &d, sizeof(d));
	bytes = (uint64_t)d.num_sectors * SECTOR;
	if ((d.flags & ~1u) || (!zero && d.flags) || d.sector > b->size / SECTOR ||
	    bytes > b->size - d.sector * SECTOR)
		return S_IOERR;
	if (!bytes)
		return S_OK;
	if (range_op(b, zero, d.sector * SECTOR, bytes, d.flags & 1) == 0)
		return S_OK;
	/* A filesystem without hole punching: discard is advisory, zeroes are not. */
	return zero ? S_IOERR : S_OK;
}

static uint8_t do_get_id(struct virtio_blk *b, struct virtq_elem *e)
{
	char id[DISK_SERIAL_MAX] = { 0 };

	memcpy(id, b->cfg->serial, strnlen(b->cfg->serial, sizeof(id)));
	virtq_copy_to_in(e, 0, id, MIN(sizeof(id), e->in_len - 1));
	return S_OK;
}

/* Check one request against the rules and the disk, then do it. */
static uint8_t handle(struct virtio_blk *b, struct virtq_elem *e, uint32_t *written)
{
	struct blk_req_hdr h;
	uint64_t len;

	*written = 0;
	if (e->out_len < sizeof(h))
		return S_IOERR;
	virtq_copy_from_out(e, 0, &h, sizeof(h));
	switch (h.type) {
	case T_IN:
	case T_OUT:
		len = h.type == T_IN ? e->in_len - 1 : e->out_len - sizeof(h);
		if (h.type == T_OUT && b->cfg->readonly)
			return S_IOERR;
		if (len % SECTOR || h.sector > b->size / SECTOR || len > b->size - h.sector * SECTOR)
			return S_IOERR;
		if (h.type == T_IN)
			*written = len;
		return do_rw(b, e, h.type == T_OUT, h.sector * SECTOR, len);
	case T_FLUSH:
		return do_flush(b);
	case T_GET_ID:
		*written = MIN((size_t)DISK_SERIAL_MAX, e->in_len - 1);
		return do_get_id(b, e);
	case T_DISCARD:
	case T_WRITE_ZEROES:
		if (b->cfg->readonly)
			return S_IOERR;
		return do_discard(b, e, h.type == T_WRITE_ZEROES);
	}
	return S_UNSUPP;
}

static void queue_notify(struct virtio_dev *v, unsigned int qi)
{
	struct virtio_blk *b = to_blk(v);
	struct virtq *q = &v->vq[qi];
	struct virtq_elem *e = &b->elem;
	uint32_t written;
	uint8_t status;
	bool pushed = false;
	int r;

	pthread_mutex_lock(&b->qlock);
	while ((r = virtq_pop(q, e)) == 0) {
		/* The status byte is the last writable byte, wherever it is. */
		if (e->in_len) {
			status = handle(b, e, &written);
			virtq_copy_to_in(e, e->in_len - 1, &status, 1);
			written += 1;
		} else {
			written = 0;	/* nowhere to say how it went: dropped */
		}
		virtq_push(q, e, written);
		pushed = true;
	}
	if (r != -ENOENT)
		virtio_needs_reset(v);	/* a chain that broke the rules */
	if (pushed)
		v->tops->notify_queue(v, qi);
	pthread_mutex_unlock(&b->qlock);
}

static void config_read(struct virtio_dev *v, unsigned int off, void *data, unsigned int len)
{
	struct virtio_blk *b = to_blk(v);

	memset(data, 0, len);
	if (off < sizeof(b->config))
		memcpy(data, (uint8_t *)&b->config + off, MIN(len, sizeof(b->config) - off));
}

static const struct virtio_dev_ops blk_ops = {
	.name = "blk",
	.type = VIRTIO_ID_BLOCK,
	.pci_class = 0x018000,	/* mass storage, other */
	.config_read = config_read,
	.queue_notify = queue_notify,
};

static int open_disk(struct virtio_blk *b, struct vk_err *err)
{
	const char *path = b->cfg->path;
	struct stat st;

	b->fd = open(path, open_flags(b->cfg));
	if (b->fd < 0)
		return vk_fail(err, -errno, "--disk %s: %s", path, strerror(errno));
	if (fstat(b->fd, &st) < 0)
		return vk_fail(err, -errno, "--disk %s: %s", path, strerror(errno));
	b->is_bdev = S_ISBLK(st.st_mode);
	if (!b->is_bdev && !S_ISREG(st.st_mode))
		return vk_fail(err, -EINVAL, "--disk %s: not a regular file or block device", path);
	if (b->is_bdev ? ioctl(b->fd, BLKGETSIZE64, &b->size) < 0 : 0)
		return vk_fail(err, -errno, "--disk %s: %s", path, strerror(errno));
	if (!b->is_bdev)
		b->size = st.st_size;
	b->size = ALIGN_DOWN(b->size, SECTOR);
	return 0;
}

static uint64_t features(const struct disk_config *c)
{
	uint64_t f = (1ULL << F_SEG_MAX) | (1ULL << F_BLK_SIZE) | (1ULL << F_TOPOLOGY) |
		     (1ULL << F_DISCARD) | (1ULL << F_WRITE_ZEROES);

	if (c->readonly)
		f = (f & ~((1ULL << F_DISCARD) | (1ULL << F_WRITE_ZEROES))) | (1ULL << F_RO);
	/* writethrough and directsync show no volatile cache: no FLUSH. */
	if (c->cache != CACHE_WRITETHROUGH && c->cache != CACHE_DIRECTSYNC)
		f |= 1ULL << F_FLUSH;
	return f;
}

static void fill_config(struct virtio_blk *b)
{
	struct blk_config *c = &b->config;

	c->capacity = b->size / SECTOR;
	c->seg_max = SEG_MAX;
	c->blk_size = SECTOR;
	c->topology.min_io_size = 1;
	c->num_queues = 1;
	c->writeback = b->cfg->cache != CACHE_WRITETHROUGH && b->cfg->cache != CACHE_DIRECTSYNC;
	c->max_discard_sectors = c->max_write_zeroes_sectors = UINT32_MAX / SECTOR;
	c->max_discard_seg = c->max_write_zeroes_seg = 1;
	c->discard_sector_alignment = 1;
	c->write_zeroes_may_unmap = 1;
}

int virtio_blk_create(struct vm *vm, const struct disk_config *cfg, struct virtio_blk **out,
		      struct vk_err *err)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return vk_fail(err, -ENOMEM, "out of memory");
	b->cfg = cfg;
	b->fd = -1;
	pthread_mutex_init(&b->qlock, NULL);
	r = open_disk(b, err);
	if (!r) {
		fill_config(b);
		virtio_dev_init(&b->vdev, vm, &blk_ops, b, features(cfg), 1, QUEUE_SIZE);
		r = virtio_pci_create(&b->vdev, err);
	}
	if (r) {
		virtio_blk_destroy(b);
		return r;
	}
	*out = b;
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_pci_destroy(&b->vdev);
	if (b->fd >= 0)
		close(b->fd);
	free(b->bounce);
	free(b);
}
