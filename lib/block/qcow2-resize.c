// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 resize: growing the L1 table (a new table is written and synced
 * before the header points at it, the old one freed after), growing the
 * virtual size with optional preallocation, and shrinking: what lies past
 * the new end is discarded and the file cut after its last used cluster.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "qcow2.h"

static int sync_file(struct qcow2_state *s, struct vk_err *err)
{
	if (fdatasync(s->bs->fd) < 0)
		return vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	return 0;
}

int qcow2_write_l1(struct qcow2_state *s, struct vk_err *err)
{
	uint64_t bytes = (uint64_t)s->l1_size * 8, i;
	_cleanup_free_ uint8_t *buf = malloc(bytes + 1);
	int r;

	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < s->l1_size; i++)
		qcow2_set_be64(buf, i, s->l1[i]);
	r = vk_blk_file_pwrite(s->bs, buf, s->l1_offset, bytes, err);
	return r < 0 ? r : sync_file(s, err);
}

int qcow2_grow_l1(struct qcow2_state *s, uint64_t min_size, struct vk_err *err)
{
	uint64_t bytes = ALIGN_UP(min_size * 8, s->cluster_size), off, i;
	uint64_t old_off = s->l1_offset, old_bytes = (uint64_t)s->l1_size * 8;
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t *l1;
	uint8_t hdr[12];
	int r;

	if (min_size <= s->l1_size)
		return 0;
	if (min_size * 8 > QCOW2_MAX_L1_BYTES)
		return vk_fail(err, -EFBIG, "Failed to grow the L1 table: File too large");
	buf = calloc(1, bytes);
	l1 = calloc(min_size + 1, 8);
	if (!buf || !l1) {
		free(l1);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < s->l1_size; i++) {
		qcow2_set_be64(buf, i, s->l1[i]);
		l1[i] = s->l1[i];
	}
	r = qcow2_alloc_clusters(s, bytes >> s->cluster_bits, &off, err);
	/*
	 * The table's own bytes only, as QEMU writes it: the rest of its last
	 * cluster is never read, and at the end of the file stays a hole (a
	 * resized image's file ends where qemu-img's does).
	 */
	if (!r)
		r = vk_blk_file_pwrite(s->bs, buf, off, min_size * 8, err);
	if (!r)
		r = qcow2_flush(s->bs, err);	/* the table and its refcounts, then the header */
	if (r < 0) {
		free(l1);
		return r;
	}
	be_put32(hdr, (uint32_t)min_size);
	be_put64(hdr + 4, off);
	r = vk_blk_file_pwrite(s->bs, hdr, HDR_L1_SIZE, sizeof(hdr), err);
	if (!r)
		r = sync_file(s, err);
	if (r < 0) {
		free(l1);
		return r;
	}
	free(s->l1);
	s->l1 = l1;
	s->l1_size = (uint32_t)min_size;
	s->l1_offset = off;
	return old_bytes ? qcow2_free_range(s, old_off, old_bytes, err) : 0;
}

static int write_size(struct qcow2_state *s, uint64_t size, struct vk_err *err)
{
	uint8_t b[8];
	int r;

	be_put64(b, size);
	r = vk_blk_file_pwrite(s->bs, b, HDR_SIZE, 8, err);
	if (!r)
		r = sync_file(s, err);
	if (!r)
		s->size = size;
	return r;
}

/* Entries of the L2 table that holds virtual cluster vc, from vc to the table's end, go. */
static int discard_tail(struct qcow2_state *s, uint64_t vc, struct vk_err *err)
{
	uint64_t l1i = vc >> s->l2_bits, per_l2 = 1ULL << s->l2_bits, j, n = 0;
	_cleanup_free_ uint64_t *old = calloc(per_l2, 8);
	void *l2;
	int r;

	if (!old)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (l1i >= s->l1_size || !(s->l1[l1i] & L1E_OFFSET_MASK))
		return 0;
	if (!(s->l1[l1i] & QCOW_OFLAG_COPIED)) {
		r = qcow2_cow_l2(s, l1i, err);
		if (r < 0)
			return r;
	}
	r = qcow2_read_l2(s, (uint32_t)l1i, &l2, err);
	if (r < 0)
		return r;
	for (j = vc & (per_l2 - 1); j < per_l2; j++) {
		old[n++] = qcow2_be64(l2, j);
		qcow2_set_be64(l2, j, 0);
	}
	qcow2_cache_mark_dirty(s->l2_cache, l2);
	qcow2_cache_put(s->l2_cache, &l2);
	r = qcow2_flush(s->bs, err);	/* entries gone (on disk) before their clusters are freed */
	return r < 0 ? r : qcow2_unref_entries(s, old, n, err);
}

/* L1 entries from new_l1 on go (the table keeps its size, as QEMU's). */
static int drop_l2_tables(struct qcow2_state *s, uint64_t new_l1, struct vk_err *err)
{
	uint64_t n = s->l1_size > new_l1 ? s->l1_size - new_l1 : 0, i;
	_cleanup_free_ uint64_t *old = calloc(n + 1, 8);
	int r;

	if (!old)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (!n)
		return 0;
	memcpy(old, s->l1 + new_l1, n * 8);
	memset(s->l1 + new_l1, 0, n * 8);
	r = qcow2_write_l1(s, err);
	for (i = 0; i < n && r >= 0; i++)
		if (old[i] & L1E_OFFSET_MASK)
			r = qcow2_unref_l2(s, old[i] & L1E_OFFSET_MASK, err);
	return r;
}

/* Cut the file after the last cluster with a reference. */
static int cut_file(struct qcow2_state *s, struct vk_err *err)
{
	int64_t fsize = vk_blk_file_size(s->bs);
	uint64_t c, rc = 0;
	int r;

	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", s->bs->filename, strerror((int)-fsize));
	c = ((uint64_t)fsize + s->cluster_size - 1) >> s->cluster_bits;
	while (c > 1) {
		r = qcow2_get_refcount(s, c - 1, &rc, err);
		if (r < 0)
			return r;
		if (rc)
			break;
		c--;
	}
	if (c << s->cluster_bits >= (uint64_t)fsize)
		return 0;
	if (ftruncate(s->bs->fd, (off_t)(c << s->cluster_bits)) < 0)
		return vk_fail(err, -errno, "%s: %s", s->bs->filename, strerror(errno));
	s->end_cluster = c;
	s->free_index = MIN(s->free_index, c);
	s->file_size_seen = c << s->cluster_bits;
	return 0;
}

static int shrink(struct qcow2_state *s, uint64_t size, struct vk_err *err)
{
	uint64_t per_l1 = s->cluster_size << s->l2_bits;
	uint64_t vc = ALIGN_UP(size, s->cluster_size) >> s->cluster_bits;
	uint64_t new_l1 = (size + per_l1 - 1) / per_l1;
	int r;

	if (vc & ((1ULL << s->l2_bits) - 1)) {
		r = discard_tail(s, vc, err);
		if (r < 0)
			return r;
	}
	r = drop_l2_tables(s, new_l1, err);
	if (!r)
		r = qcow2_flush(s->bs, err);
	if (!r)
		r = write_size(s, size, err);
	return r < 0 ? r : cut_file(s, err);
}

static int fill_falloc(struct qcow2_state *s, uint64_t host, uint64_t len, struct vk_err *err)
{
	int r = qcow2_cache_flush(s->rb_cache, err);

	struct vk_blk *d = s->data ? s->data : s->bs;	/* data clusters' file */

	if (!r && fallocate(d->fd, 0, (off_t)host, (off_t)len) < 0)
		r = vk_fail(err, -errno, "%s: fallocate: %s", d->filename, strerror(errno));
	return r;
}

static int fill_full(struct qcow2_state *s, uint64_t host, uint64_t len, struct vk_err *err)
{
	_cleanup_free_ uint8_t *zero = calloc(1, MIN(len, 1 * MiB));
	uint64_t n;
	int r;

	if (!zero)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (; len; host += n, len -= n) {
		n = MIN(len, 1 * MiB);
		r = qcow2_data_pwrite(s, zero, host, n, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Allocate the clusters from guest cluster vc on: metadata only, or with their data (falloc, full). */
int qcow2_preallocate_mode(struct qcow2_state *s, uint64_t vc, enum vk_prealloc prealloc,
			   struct vk_err *err)
{
	/* With a data file the data is not in this file: preallocate_from extends the data file. */
	if (qcow2_has_data_file(s))
		return qcow2_preallocate_from(s, vc, NULL, err);
	return qcow2_preallocate_from(s, vc, prealloc == VK_PREALLOC_FALLOC ? fill_falloc :
					     prealloc == VK_PREALLOC_FULL ? fill_full : NULL, err);
}

static int do_truncate(struct vk_blk *bs, uint64_t size, enum vk_prealloc prealloc,
		       struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t per_l1 = s->cluster_size << s->l2_bits, old = s->size;
	int r;

	if (size % 512)
		return vk_fail(err, -EINVAL, "The new size must be a multiple of 512");
	if (s->nb_snapshots && s->version < 3)
		return vk_fail(err, -ENOTSUP, "Can't resize a v2 image which has snapshots");
	if (size > QCOW2_MAX_OFFSET)
		return vk_fail(err, -EFBIG, "Failed to grow the L1 table: File too large");
	if (size < old) {
		if (prealloc != VK_PREALLOC_OFF)
			return vk_fail(err, -EINVAL, "Preallocation can't be used for shrinking an image");
		r = shrink(s, size, err);
		return r < 0 ? r : qcow2_data_truncate(s, size, err);
	}
	/* The data file follows the image's size; a raw one has every cluster mapped, as QEMU. */
	r = qcow2_data_truncate(s, size, err);
	if (r < 0)
		return r;
	if (qcow2_data_raw(s) && prealloc == VK_PREALLOC_OFF)
		prealloc = VK_PREALLOC_METADATA;
	r = qcow2_grow_l1(s, (size + per_l1 - 1) / per_l1, err);
	if (!r)
		r = write_size(s, size, err);
	if (r < 0 || prealloc == VK_PREALLOC_OFF)
		return r;
	r = qcow2_preallocate_mode(s, old >> s->cluster_bits, prealloc, err);
	return r < 0 ? r : qcow2_flush(bs, err);
}

/* The bitmaps in memory follow the new size, as QEMU's do: written back at their new length. */
int qcow2_truncate(struct vk_blk *bs, uint64_t size, enum vk_prealloc prealloc,
		   struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	int r = qcow2_bitmaps_can_resize(s, err);

	if (!r)
		r = do_truncate(bs, size, prealloc, err);
	if (!r)
		r = qcow2_bitmaps_resize(s, err);
	return r;
}
