// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qemu-img measure for qcow2: the size of a fully allocated image. The
 * numbers must equal qemu-img's, so the sums follow the layout QEMU
 * assumes: one header cluster, whole L2 tables, an L1 table in whole
 * clusters, and refcount metadata for all of it (found as a fixed point,
 * since refcount blocks count themselves).
 */
#include <errno.h>

#include "qcow2.h"

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/* Refcount table and block bytes for `clusters` clusters plus themselves. */
static uint64_t refcount_bytes(uint64_t clusters, uint64_t cs, unsigned int order)
{
	uint64_t per_block = cs * 8 >> order, per_table = cs / 8;
	uint64_t blocks = 0, table = 0, n = 0, last;

	do {
		last = n;
		blocks = div_up(clusters + table + blocks, per_block);
		table = div_up(blocks, per_table);
		n = clusters + blocks + table;
	} while (n != last);
	return (blocks + table) * cs;
}

uint64_t vk_qcow2_full_size(uint64_t size, uint64_t cs, unsigned int refcount_order)
{
	uint64_t data = ALIGN_UP(size, cs), meta = cs, l2e, l1e;

	l2e = ALIGN_UP(data / cs, cs / 8);
	meta += l2e * 8;
	l1e = ALIGN_UP(l2e * 8 / cs, cs / 8);
	meta += l1e * 8;
	meta += refcount_bytes((meta + data) / cs, cs, refcount_order);
	return meta + data;
}

/*
 * What copying the image's persistent bitmaps would take in clusters of cs
 * bytes, counted as qemu-img measure does: every bitmap fully allocated,
 * its table, and the directory.
 */
static int bitmaps_size(struct qcow2_state *s, uint64_t cs, uint64_t *out, struct vk_err *err)
{
	struct qcow2_bitmaps b;
	uint64_t bytes, n, dir_bytes = 0, total = 0;
	uint32_t i;
	int r;

	*out = 0;
	r = qcow2_bitmaps_load(s, &b, err);
	if (r < 0 || !b.nb)
		return r;
	for (i = 0; i < b.nb; i++) {
		bytes = s->size ? (((s->size - 1) >> b.e[i].granularity_bits >> 6) + 1) * 8 : 0;
		n = div_up(bytes, cs);
		total += n * cs + ALIGN_UP(n * 8, cs);
		dir_bytes += ALIGN_UP(24 + (uint64_t)b.e[i].name_len, 8);
	}
	qcow2_bitmaps_free(&b);
	*out = total + ALIGN_UP(dir_bytes, cs);
	return 0;
}

int vk_blk_bitmaps_size(struct vk_blk *bs, uint64_t cluster_size, uint64_t *out,
			struct vk_err *err)
{
	*out = 0;
	if (bs->drv != &vk_blk_qcow2 || ((struct qcow2_state *)bs->opaque)->version < 3)
		return -ENOTSUP;
	return bitmaps_size(bs->opaque, cluster_size, out, err);
}
