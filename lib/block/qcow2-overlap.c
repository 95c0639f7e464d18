// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QEMU's metadata overlap checks ("cached" mode): before data or a metadata
 * table is written, the range must not meet the header, the active L1 and L2
 * tables, the refcount table or blocks, the snapshot table or the snapshots'
 * L1 tables. A hit means the metadata is inconsistent (an L2 entry pointing
 * at a table, a refcount of 0 on a block in use): the write is refused, the
 * image is marked corrupt (it can then only be opened read-only, for check
 * -r all or convert) and no further write is attempted.
 */
#include <errno.h>

#include "qcow2.h"

static const char *const names[] = {
	[QCOW2_OL_HEADER_BIT] = "qcow2_header",
	[QCOW2_OL_L1_BIT] = "active L1 table",
	[QCOW2_OL_L2_BIT] = "active L2 table",
	[QCOW2_OL_RT_BIT] = "refcount table",
	[QCOW2_OL_RB_BIT] = "refcount block",
	[QCOW2_OL_SNAPSHOTS_BIT] = "snapshot table or inactive L1 table",
};

static bool meet(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* The first kind of metadata (not in ignore) that [host, host+len) meets, or -1. */
static int first_overlap(struct qcow2_state *s, unsigned int ignore, uint64_t host, uint64_t len)
{
	uint64_t cs = s->cluster_size, i;

	if (!(ignore & QCOW2_OL_HEADER) && meet(host, len, 0, cs))
		return QCOW2_OL_HEADER_BIT;
	if (!(ignore & QCOW2_OL_L1) && meet(host, len, s->l1_offset, (uint64_t)s->l1_size * 8))
		return QCOW2_OL_L1_BIT;
	if (!(ignore & QCOW2_OL_RT) &&
	    meet(host, len, s->rt_offset, (uint64_t)s->rt_clusters * cs))
		return QCOW2_OL_RT_BIT;
	if (!(ignore & QCOW2_OL_SNAPSHOTS) && qcow2_snapshot_overlap(s, host, len))
		return QCOW2_OL_SNAPSHOTS_BIT;
	for (i = 0; !(ignore & QCOW2_OL_L2) && i < s->l1_size; i++)
		if (meet(host, len, s->l1[i] & L1E_OFFSET_MASK, cs))
			return QCOW2_OL_L2_BIT;
	for (i = 0; !(ignore & QCOW2_OL_RB) && i < MIN(s->rt_hi, s->rt_size); i++)
		if (meet(host, len, s->rt[i], cs))
			return QCOW2_OL_RB_BIT;
	return -1;
}

int qcow2_mark_corrupt(struct qcow2_state *s)
{
	uint8_t b[8];

	s->incompat |= QCOW2_INCOMPAT_CORRUPT;
	if (s->version < 3)
		return 0;	/* version 2 has no feature bits: refused for this open only */
	be_put64(b, s->incompat);
	return vk_blk_file_pwrite(s->bs, b, HDR_INCOMPAT, sizeof(b), NULL);
}

void qcow2_mark_consistent(struct qcow2_state *s)
{
	uint8_t b[8];

	if (!(s->incompat & QCOW2_INCOMPAT_CORRUPT))
		return;
	s->incompat &= ~QCOW2_INCOMPAT_CORRUPT;
	be_put64(b, s->incompat);
	if (s->version >= 3)
		vk_blk_file_pwrite(s->bs, b, HDR_INCOMPAT, sizeof(b), NULL);
}

int qcow2_writable(struct qcow2_state *s, struct vk_err *err)
{
	/* Repairs (check -r) are the one way out of the corrupt state. */
	if ((s->incompat & QCOW2_INCOMPAT_CORRUPT) && !(s->bs->flags & VK_BLK_CHECK))
		return vk_fail(err, -EUCLEAN, "%s: image is marked corrupt; refusing to write",
			       s->bs->filename);
	return 0;
}

bool qcow2_overlaps_metadata(struct qcow2_state *s, uint64_t host, uint64_t len)
{
	return first_overlap(s, 0, host, len) >= 0;
}

int qcow2_overlap_check(struct qcow2_state *s, unsigned int ignore, uint64_t host, uint64_t len,
			struct vk_err *err)
{
	int kind = qcow2_writable(s, err);

	if (kind < 0)
		return kind;
	kind = first_overlap(s, ignore, host, len);
	if (kind < 0)
		return 0;
	qcow2_mark_corrupt(s);
	return vk_fail(err, -EUCLEAN,
		       "%s: Preventing invalid write on metadata (overlaps with %s) at %#llx; image marked corrupt",
		       s->bs->filename, names[kind], (unsigned long long)host);
}
