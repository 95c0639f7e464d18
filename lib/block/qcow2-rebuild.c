// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Rebuild the refcount structures of a qcow2 image from the references the
 * check counted (qemu-img check -r all when the old ones cannot be trusted:
 * a table entry with reserved bits, a block outside the file or on top of
 * other metadata). The new blocks and table go past everything the file
 * holds, so that no write lands on a cluster in use; only then does the
 * header point at them. The old structures become leaks the caller frees.
 */
#include <errno.h>
#include <string.h>

#include "qcow2.h"

/* How many refcount blocks and table clusters cover the file up to and including both. */
static void plan(struct qcow2_state *s, uint64_t at, uint64_t *nblocks, uint64_t *k)
{
	uint64_t per_block = 1ULL << s->rb_bits, per_table = s->cluster_size / 8, b, t;

	*nblocks = (at + per_block - 1) / per_block;
	*k = 1;
	for (;;) {
		b = (at + *nblocks + *k + per_block - 1) / per_block;
		t = (b + per_table - 1) / per_table;
		if (b == *nblocks && t == *k)
			return;
		*nblocks = b;
		*k = t;
	}
}

static int write_blocks(struct qcow2_state *s, const uint32_t *ref, uint64_t nb, uint64_t at,
			uint64_t nblocks, uint64_t k, struct vk_err *err)
{
	uint64_t per_block = 1ULL << s->rb_bits, end = at + nblocks + k, b, j, c, v;
	_cleanup_free_ uint8_t *block = malloc(s->cluster_size);
	int r;

	if (!block)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (b = 0; b < nblocks; b++) {
		memset(block, 0, s->cluster_size);
		for (j = 0; j < per_block; j++) {
			c = b * per_block + j;
			v = c < nb ? ref[c] : (c >= at && c < end);
			if (v > s->refcount_max)
				return vk_fail(err, -ERANGE,
					       "%s: cluster %llu has more references than refcount_bits can hold",
					       s->bs->filename, (unsigned long long)c);
			qcow2_rb_set(block, s->refcount_order, j, v);
		}
		r = vk_blk_file_pwrite(s->bs, block, (at + b) << s->cluster_bits, s->cluster_size,
				       err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_table(struct qcow2_state *s, uint64_t at, uint64_t nblocks, uint64_t k,
		       uint64_t *rt, struct vk_err *err)
{
	uint64_t n = k * s->cluster_size / 8, i;
	_cleanup_free_ uint8_t *raw = calloc(n, 8);

	if (!raw)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < nblocks; i++) {
		rt[i] = (at + i) << s->cluster_bits;
		qcow2_set_be64(raw, i, rt[i]);
	}
	return vk_blk_file_pwrite(s->bs, raw, (at + nblocks) << s->cluster_bits,
				  k * s->cluster_size, err);
}

static int sync_file(struct qcow2_state *s, struct vk_err *err)
{
	if (fdatasync(s->bs->fd) < 0)
		return vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	return 0;
}

/* The header names the new table: the one write that switches structures. */
static int switch_header(struct qcow2_state *s, uint64_t table, uint64_t k, struct vk_err *err)
{
	uint8_t hdr[12];

	be_put64(hdr, table << s->cluster_bits);
	be_put32(hdr + 8, (uint32_t)k);
	return vk_blk_file_pwrite(s->bs, hdr, HDR_RT_OFFSET, sizeof(hdr), err);
}

int qcow2_rebuild_refcounts(struct qcow2_state *s, const uint32_t *ref, uint64_t nb,
			    struct vk_err *err)
{
	uint64_t at = MAX(nb, s->end_cluster), nblocks, k, i, *rt;
	int r;

	plan(s, at, &nblocks, &k);
	if (k * s->cluster_size > QCOW2_MAX_RT_BYTES)
		return vk_fail(err, -EFBIG, "%s: refcount table would exceed %llu bytes",
			       s->bs->filename, (unsigned long long)QCOW2_MAX_RT_BYTES);
	rt = calloc(k * s->cluster_size / 8, 8);
	if (!rt)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = write_blocks(s, ref, nb, at, nblocks, k, err);
	if (!r)
		r = write_table(s, at, nblocks, k, rt, err);
	if (!r)
		r = sync_file(s, err);
	if (!r)
		r = switch_header(s, at + nblocks, k, err);
	if (!r)
		r = sync_file(s, err);
	if (r < 0) {
		free(rt);
		return r;
	}
	/* What the cache holds of the old blocks is stale now (never to be written). */
	for (i = 0; i < s->rt_size; i++)
		if (s->rt[i])
			qcow2_cache_discard(s->rb_cache, s->rt[i]);
	free(s->rt);
	s->rt = rt;
	s->rt_size = k * s->cluster_size / 8;
	s->rt_offset = (at + nblocks) << s->cluster_bits;
	s->rt_clusters = (uint32_t)k;
	s->rt_hi = nblocks;
	s->end_cluster = MAX(s->end_cluster, at + nblocks + k);
	s->free_index = 0;
	return 0;
}
