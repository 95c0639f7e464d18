// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 discard: whole clusters lose their L2 entries (they read from the
 * backing file again, or as zeros without one) and what the entries
 * pointed at is freed. The L2 table reaches the file before the refcounts
 * drop (qcow2_release_entries), so a crash in between leaks clusters at
 * worst. Freed data clusters become holes in the file. Partial clusters at
 * either end are left alone: discard is advisory.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "qcow2.h"

/*
 * Give the file system back the data clusters that are free now, so the
 * file shrinks on disk (qemu-img info's disk size after commit). Nothing
 * points at them any more: were the refcount update lost in a crash, the
 * cluster would leak, zeroed.
 */
static void punch(struct qcow2_state *s, uint64_t off, uint64_t len)
{
	if (len)
		(void)fallocate(s->bs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				(off_t)len);
}

/* One hole per run of host-contiguous free clusters: a punch costs a file system transaction. */
static int punch_freed(struct qcow2_state *s, const uint64_t *old, uint64_t n,
		       struct vk_err *err)
{
	enum qcow2_cluster_type t;
	uint64_t i, host, rc, start = 0, len = 0;
	int r;

	for (i = 0; i < n; i++) {
		t = qcow2_entry_type(s, old[i]);
		if (t != QCOW2_NORMAL && t != QCOW2_ZERO_ALLOC)
			continue;
		host = old[i] & L2E_OFFSET_MASK;
		r = qcow2_get_refcount(s, host >> s->cluster_bits, &rc, err);
		if (r < 0)
			return r;
		if (rc)
			continue;
		if (len && host == start + len) {
			len += s->cluster_size;
			continue;
		}
		punch(s, start, len);
		start = host;
		len = s->cluster_size;
	}
	punch(s, start, len);
	return 0;
}

/* Clusters [vc, vc+n) of one L2 table. */
static int discard_in_table(struct qcow2_state *s, uint64_t vc, uint64_t n, struct vk_err *err)
{
	uint64_t per_l2 = 1ULL << s->l2_bits, i, l2i;
	_cleanup_free_ uint64_t *old = calloc(n, sizeof(*old));
	/* A raw data file reads as the disk: what it gave back reads as zeros, so must we. */
	uint64_t gone = qcow2_data_raw(s) ? QCOW_OFLAG_ZERO : 0;
	bool any = false;
	void *l2;
	int r;

	if (!old)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (!(s->l1[vc >> s->l2_bits] & L1E_OFFSET_MASK))
		return 0;	/* no L2 table: nothing allocated here */
	r = qcow2_get_l2_for_write(s, vc, &l2, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		l2i = (vc + i) & (per_l2 - 1);
		old[i] = qcow2_be64(l2, l2i);
		if (old[i] && old[i] != gone) {
			qcow2_set_be64(l2, l2i, gone);
			any = true;
		}
	}
	if (any)
		qcow2_cache_mark_dirty(s->l2_cache, l2);
	qcow2_cache_put(s->l2_cache, &l2);
	if (!any)
		return 0;
	r = qcow2_release_entries(s, old, n, err);
	if (r < 0)
		return r;
	if (qcow2_has_data_file(s))
		return qcow2_data_punch_entries(s, old, n, err);
	return punch_freed(s, old, n, err);
}

int qcow2_discard(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t cs = s->cluster_size, per_l2 = 1ULL << s->l2_bits, vc, end, n;
	int r;

	/* The image's last cluster counts as whole when the range reaches the end. */
	vc = ALIGN_UP(off, cs) >> s->cluster_bits;
	end = (off + len == s->size ? ALIGN_UP(s->size, cs) : ALIGN_DOWN(off + len, cs)) >>
	      s->cluster_bits;
	for (; vc < end; vc += n) {
		n = MIN(end - vc, per_l2 - (vc & (per_l2 - 1)));
		r = discard_in_table(s, vc, n, err);
		if (r < 0)
			return r;
	}
	return 0;
}
