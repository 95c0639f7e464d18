// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the write path does beyond the engines (include/vmkit/blk-backend.h):
 * a backup's copy-before-write, and the dirty tracking a migration with
 * local disks copies by; and plain synchronous reads and writes of a disk
 * as the guest sees it, for those two and for the migration's receiver.
 *
 * Tracking marks a chunk when a write to it completes, not when it is
 * submitted: a round that reads a chunk while a write to it is in flight
 * sends the old bytes, and the completion marks the chunk again for the
 * next round. (Marked at submission, that write would be lost.) The
 * completion wrapper is allocated per write, only while tracking.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"

struct blk_track {
	uint64_t *bits;			/* bit per BLK_TRACK_CHUNK, set atomically */
	uint64_t nchunks, words;
};

struct tracked {
	struct blk_track *t;
	uint64_t off, len;
	blk_done_fn done;
	void *opaque;
};

static void mark(struct blk_track *t, uint64_t off, uint64_t len)
{
	uint64_t c, last;

	if (!len)
		return;
	last = (off + len - 1) / BLK_TRACK_CHUNK;
	for (c = off / BLK_TRACK_CHUNK; c <= last && c < t->nchunks; c++)
		__atomic_fetch_or(&t->bits[c / 64], 1ull << (c % 64), __ATOMIC_RELEASE);
}

static void tracked_done(void *opaque, int result)
{
	struct tracked *w = opaque;

	mark(w->t, w->off, w->len);
	w->done(w->opaque, result);
	free(w);
}

int blk_write_hooked(struct blk_backend *bb, enum blk_held_kind kind, const struct iovec *iov,
		     int n, uint64_t off, uint64_t len, bool unmap, blk_done_fn done, void *opaque)
{
	struct blk_track *t;
	struct tracked *w;
	int r;

	if (__atomic_load_n(&bb->backup, __ATOMIC_ACQUIRE)) {
		r = blk_backup_before_write(bb, kind, iov, n, off, len, unmap, done, opaque);
		if (r != 1)
			return r;
	}
	t = __atomic_load_n(&bb->track, __ATOMIC_ACQUIRE);
	if (!t)
		return 1;
	if (kind == BLK_HELD_WRITE)
		len = vk_iov_len(iov, n);
	w = malloc(sizeof(*w));
	if (!w) {
		mark(t, off, len);	/* the best there is: at submission */
		return 1;
	}
	*w = (struct tracked){ t, off, len, done, opaque };
	switch (kind) {
	case BLK_HELD_WRITE:
		r = bb->ops->pwritev(bb, iov, n, off, tracked_done, w);
		break;
	case BLK_HELD_DISCARD:
		r = bb->ops->discard(bb, off, len, tracked_done, w);
		break;
	default:
		r = bb->ops->write_zeroes(bb, off, len, unmap, tracked_done, w);
		break;
	}
	if (r < 0)
		free(w);
	return r;
}

int blk_track_start(struct blk_backend *bb, struct vk_err *err)
{
	struct blk_track *t = bb->track_mem;

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (t) {
			t->nchunks = (bb->size + BLK_TRACK_CHUNK - 1) / BLK_TRACK_CHUNK;
			t->words = (t->nchunks + 63) / 64;
			t->bits = calloc(t->words ? t->words : 1, 8);
		}
		if (!t || !t->bits) {
			if (t)
				free(t);
			return vk_fail(err, -ENOMEM, "out of memory");
		}
		bb->track_mem = t;	/* kept until the backend closes: completions may still mark */
	}
	memset(t->bits, 0, t->words * 8);
	__atomic_store_n(&bb->track, t, __ATOMIC_RELEASE);
	return 0;
}

void blk_track_stop(struct blk_backend *bb)
{
	__atomic_store_n(&bb->track, NULL, __ATOMIC_RELEASE);
}

uint64_t blk_track_collect(struct blk_backend *bb, uint64_t *out)
{
	struct blk_track *t = bb->track_mem;
	uint64_t w, n = 0;

	for (w = 0; t && w < t->words; w++) {
		out[w] = __atomic_exchange_n(&t->bits[w], 0, __ATOMIC_ACQ_REL);
		n += (uint64_t)__builtin_popcountll(out[w]);
	}
	return n;
}

void blk_track_free(struct blk_backend *bb)
{
	if (bb->track_mem) {
		free(bb->track_mem->bits);
		free(bb->track_mem);
		bb->track_mem = NULL;
	}
}

/* ---- synchronous I/O as the guest sees the disk ---- */

bool blk_backend_reads_zero(struct blk_backend *bb, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, pnum = 0, map;
	struct vk_err e = { 0 };
	bool zero = true;
	off_t d;
	int f;

	if (!bb->image) {
		d = lseek(bb->fd, (off_t)off, SEEK_DATA);
		return (d < 0 && errno == ENXIO) || (d >= 0 && (uint64_t)d >= end);
	}
	pthread_mutex_lock(&bb->image_lock);
	for (; zero && off < end; off += pnum) {
		f = vk_blk_block_status(bb->image, off, end - off, &pnum, &map, &e);
		/* Zeros: said so, or nothing here and nothing below. */
		zero = f >= 0 && pnum && ((f & VK_BS_ZERO) ||
					  (!(f & VK_BS_ALLOCATED) && !bb->image->backing));
	}
	blk_image_unlock(bb);
	return zero;
}

int blk_backend_pread_sync(struct blk_backend *bb, void *buf, uint64_t off, size_t len,
			   struct vk_err *err)
{
	struct vk_err e = { 0 };
	size_t at = 0, want;
	ssize_t got;
	int r;

	if (bb->image) {
		pthread_mutex_lock(&bb->image_lock);
		r = vk_blk_pread(bb->image, buf, off, len, &e);
		blk_image_unlock(bb);
		return r < 0 ? vk_fail(err, r, "disk %s: %s", bb->path, e.msg) : 0;
	}
	/* O_DIRECT: whole aligned blocks (buf is aligned); the file ends where the disk does. */
	want = bb->direct ? ALIGN_UP(len, BLK_ALIGN_DIRECT) : len;
	while (at < len) {
		got = pread(bb->fd, (uint8_t *)buf + at, want - at, (off_t)(off + at));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return vk_fail(err, -errno, "disk %s: read at %llu: %s", bb->path,
				       (unsigned long long)(off + at), strerror(errno));
		if (!got) {
			memset((uint8_t *)buf + at, 0, len - at);
			break;
		}
		at += (size_t)got;
	}
	return 0;
}

int blk_backend_pwrite_sync(struct blk_backend *bb, const void *buf, uint64_t off, size_t len,
			    struct vk_err *err)
{
	struct vk_err e = { 0 };
	size_t at = 0;
	ssize_t put;
	int r;

	if (off > bb->size || len > bb->size - off)
		return vk_fail(err, -EINVAL, "disk %s: a write past its end", bb->path);
	if (bb->image) {
		pthread_mutex_lock(&bb->image_lock);
		r = buf ? vk_blk_pwrite(bb->image, buf, off, len, &e)
			: vk_blk_pwrite_zeroes(bb->image, off, len, &e);
		blk_image_unlock(bb);
		return r < 0 ? vk_fail(err, r, "disk %s: %s", bb->path, e.msg) : 0;
	}
	if (!buf) {
		if (!fallocate(bb->fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len))
			return 0;
		if (!fallocate(bb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			       (off_t)len))
			return 0;
		return vk_fail(err, -errno, "disk %s: zeroing at %llu: %s", bb->path,
			       (unsigned long long)off, strerror(errno));
	}
	while (at < len) {
		put = pwrite(bb->fd, (const uint8_t *)buf + at, len - at, (off_t)(off + at));
		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return vk_fail(err, put < 0 ? -errno : -EIO, "disk %s: write at %llu: %s",
				       bb->path, (unsigned long long)(off + at),
				       put < 0 ? strerror(errno) : "nothing written");
		at += (size_t)put;
	}
	return 0;
}
