// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2's hot path for an asynchronous caller (vk_blk_map_io): the host
 * offset of a run of clusters, found in the metadata cache alone. What it
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
