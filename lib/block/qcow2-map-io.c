// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2's hot path for an asynchronous caller (vk_blk_map_io): the host
 * offset of a run of clusters, found in the metadata cache alone; and
 * allocating writes of whole clusters (or of part of clusters that read as
 * zeros, the caller writing zeros around its data) in two parts (vk_blk_alloc_io, then
 * vk_blk_alloc_commit once the data is written). What it
 * maps needs no metadata change: reads of data, zero and unallocated
 * clusters, and writes into clusters that are allocated and this image's
 * alone (COPIED in L1 and L2), the ones qcow2_write would write in place.
 * Everything else (a table to read, allocation, copy-on-write, compressed
 * clusters, extended L2 entries, an error to report) is -EAGAIN: the
 * caller then runs the request through qcow2_read/qcow2_write, which do
 * the same checks and say what is wrong.
 */
#include <errno.h>

#include "qcow2.h"

#define ALLOC_MAX_CLUSTERS	1024	/* one allocating write on the hot path, at most */

/*
 * How many entries from l2i on (at most n) are unallocated or plain zero
 * (nothing to copy, nothing to free), in table l1i read from the cache
 * only; -EAGAIN if the table is not there. zero: only entries that read as
 * zeros (unallocated ones do not where a backing file shows through).
 */
static int empty_run(struct qcow2_state *s, uint64_t l1i, uint64_t l2i, uint64_t n, bool zero)
{
	bool backing = zero && (s->bs->backing || s->bs->backing_file);
	enum qcow2_cluster_type t;
	uint64_t k;
	void *l2;
	int r;

	qcow2_cache_set_cached_only(s->l2_cache, true);
	r = qcow2_read_l2(s, (uint32_t)l1i, &l2, NULL);
	qcow2_cache_set_cached_only(s->l2_cache, false);
	if (r < 0)
		return -EAGAIN;
	for (k = 0; k < n; k++) {
		t = qcow2_entry_type(s, qcow2_be64(l2, l2i + k));
		if ((t != QCOW2_UNALLOCATED || backing) && t != QCOW2_ZERO_PLAIN)
			break;
	}
	qcow2_cache_put(s->l2_cache, &l2);
	return (int)k;
}

/* The run's first L2 entry is COPIED, and so is its table (get_extent keeps COPIED alike in a run). */
static bool in_place(struct qcow2_state *s, uint64_t off)
{
	uint64_t vc = off >> s->cluster_bits, l1i = vc >> s->l2_bits;
	void *l2;
	bool r;

	if (!(s->l1[l1i] & QCOW_OFLAG_COPIED) || qcow2_read_l2(s, (uint32_t)l1i, &l2, NULL) < 0)
		return false;
	r = qcow2_be64(l2, vc & ((1ULL << s->l2_bits) - 1)) & QCOW_OFLAG_COPIED;
	qcow2_cache_put(s->l2_cache, &l2);
	return r;
}

int qcow2_map_io(struct vk_blk *bs, uint64_t off, uint64_t len, bool write, uint64_t *pnum,
		 int *fd, uint64_t *host)
{
	struct qcow2_state *s = bs->opaque;
	enum qcow2_cluster_type t;
	uint64_t n, h;
	int r;

	if (s->incompat & QCOW2_INCOMPAT_EXTL2)
		return -EAGAIN;
	if (write && qcow2_writable(s, NULL) < 0)
		return -EAGAIN;
	if (qcow2_has_data_file(s) && !s->data)
		return -EAGAIN;
	qcow2_cache_set_cached_only(s->l2_cache, true);
	r = qcow2_get_extent(s, off, len, &n, &h, &t, NULL);
	if (!r && write && t == QCOW2_NORMAL && !in_place(s, off))
		r = -EAGAIN;
	qcow2_cache_set_cached_only(s->l2_cache, false);
	if (r < 0)
		return -EAGAIN;
	*pnum = MIN(n, len);
	switch (t) {
	case QCOW2_UNALLOCATED:
		return write ? -EAGAIN : VK_MAP_BACKING;
	case QCOW2_ZERO_PLAIN:
	case QCOW2_ZERO_ALLOC:
		return write ? -EAGAIN : VK_MAP_ZERO;
	case QCOW2_NORMAL:
		break;
	default:
		return -EAGAIN;
	}
	/* Data never lands on metadata: a hit goes the slow way, which refuses it and marks the image. */
	if (write && !qcow2_has_data_file(s) && qcow2_overlaps_metadata(s, h, *pnum))
		return -EAGAIN;
	if (write)
		qcow2_bitmaps_note_write(s, off, *pnum);
	*fd = s->data ? s->data->fd : bs->fd;
	*host = h;
	return VK_MAP_DATA;
}

/*
 * An allocating write on the hot path, part one: the leading run of the
 * whole clusters the write covers that are unallocated or plain zero
 * (nothing to copy, nothing to free), in an L2 table that is this image's
 * alone and cached, gets new contiguous host clusters, refcounts set in
 * the cache; *pnum says how much (what follows is the caller's to map). Their L2 entries are left as
 * they are until qcow2_alloc_commit, after the data is written: readers
 * meanwhile see the old content, and a crash leaves at most a leak.
 */
int qcow2_alloc_io(struct vk_blk *bs, uint64_t off, uint64_t len, unsigned int flags,
		   uint64_t *pnum, int *fd, uint64_t *host)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t cs = s->cluster_size, vc = off >> s->cluster_bits, l1i = vc >> s->l2_bits;
	uint64_t l2i = vc & ((1ULL << s->l2_bits) - 1), n, h;
	int k;

	if ((s->incompat & QCOW2_INCOMPAT_EXTL2) || qcow2_has_data_file(s) ||
	    (s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS) || (off & (cs - 1)) || len < cs ||
	    len / cs > ALLOC_MAX_CLUSTERS || qcow2_writable(s, NULL) < 0 || l1i >= s->l1_size ||
	    !(s->l1[l1i] & L1E_OFFSET_MASK) || !(s->l1[l1i] & QCOW_OFLAG_COPIED))
		return -EAGAIN;
	n = MIN(len / cs, (1ULL << s->l2_bits) - l2i);
	k = empty_run(s, l1i, l2i, n, flags & VK_BLK_ALLOC_ZERO_FILL);
	if (k <= 0 || qcow2_alloc_clusters_cached(s, (uint64_t)k, &h) < 0)
		return -EAGAIN;
	qcow2_bitmaps_note_write(s, off, k * cs);
	*pnum = k * cs;
	*fd = bs->fd;
	*host = h;
	return VK_MAP_DATA;
}

/*
 * Part two, the data written: the L2 entries point at it (and what they
 * held is let go). err NULL: only if that needs no I/O and frees nothing
 * (the table cached and this image's alone, the entries still empty),
 * else -EAGAIN with nothing changed: the caller's thread may not wait.
 */
int qcow2_alloc_commit(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t host,
		       struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t vc = off >> s->cluster_bits, n = len / s->cluster_size;
	uint64_t l1i = vc >> s->l2_bits, l2i = vc & ((1ULL << s->l2_bits) - 1);
	uint64_t old[ALLOC_MAX_CLUSTERS];

	if (!n || n > ALLOC_MAX_CLUSTERS)
		return vk_fail(err, -EINVAL, "%s: allocation of %llu clusters to commit",
			       bs->filename, (unsigned long long)n);
	if (!err && (!(s->l1[l1i] & QCOW_OFLAG_COPIED) || empty_run(s, l1i, l2i, n, false) != (int)n))
		return -EAGAIN;
	return qcow2_link_clusters(s, vc, n, host, old, err);
}

/* The data write failed: the clusters go back (their L2 entries never changed). */
void qcow2_alloc_abort(struct vk_blk *bs, uint64_t host, uint64_t len)
{
	qcow2_free_range(bs->opaque, host, len, NULL);
}
