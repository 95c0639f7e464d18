// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qemu-img measure for qcow2: the size of a new image, fully allocated and
 * for the data an input holds. The numbers must equal qemu-img's, so the
 * sums follow the layout QEMU assumes: one header cluster, whole L2
 * tables, an L1 table in whole clusters, and refcount metadata for all of
 * it (found as a fixed point, since refcount blocks count themselves).
 * The options are checked in the order and words of qemu-img's measure,
 * which differ from create's (compat takes no "v2" or "v3").
 */
#include <errno.h>
#include <string.h>

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

/* The file size of a fully allocated image of this size (metadata included). */
static uint64_t full_size(uint64_t size, uint64_t cs, unsigned int refcount_order)
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

/* -ENOTSUP: the input cannot hold bitmaps (not qcow2 v3): the field is not shown. */
static int input_bitmaps(struct vk_blk *bs, uint64_t cs, uint64_t *out, struct vk_err *err)
{
	if (bs->drv != &vk_blk_qcow2 || ((struct qcow2_state *)bs->opaque)->version < 3)
		return -ENOTSUP;
	return bitmaps_size(bs->opaque, cs, out, err);
}

struct measure_params {
	uint64_t cs;
	int version;
	unsigned int refcount_order;
	bool prealloc_data;		/* falloc, full: every data cluster is written */
};

static int measure_params(const struct vk_blk_create_opts *o, struct measure_params *p,
			  struct vk_err *err)
{
	uint64_t cs = o->cluster_size || o->cluster_size_given ? o->cluster_size : 64 * KiB;
	unsigned int bits = o->refcount_bits ? o->refcount_bits : 16;
	const char *compat = o->compat_str;
	int mode = o->prealloc_str ? vk_blk_prealloc_parse(o->prealloc_str) : (int)o->prealloc;

	if (cs < 512 || cs > 2 * MiB || (cs & (cs - 1)))
		return vk_fail(err, -EINVAL, "Cluster size must be a power of two between 512 and 2048k");
	if (compat && strcmp(compat, "0.10") && strcmp(compat, "1.1"))
		return vk_fail(err, -EINVAL, "Invalid compatibility level: '%s'", compat);
	p->version = o->compat == 2 ? 2 : 3;
	if (bits > 64 || (bits & (bits - 1)))
		return vk_fail(err, -EINVAL, "Refcount width must be a power of two and may not exceed 64 bits");
	if (p->version < 3 && bits != 16)
		return vk_fail(err, -EINVAL, "Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
	if (mode < 0)
		return vk_fail(err, -EINVAL, "invalid parameter value: %s", o->prealloc_str);
	p->cs = cs;
	p->refcount_order = (unsigned int)__builtin_ctz(bits);
	p->prealloc_data = mode == VK_PREALLOC_FALLOC || mode == VK_PREALLOC_FULL;
	return 0;
}

/* Bytes of whole clusters that hold data in the input (qemu's count: zeros are skipped). */
static int data_bytes(struct vk_blk *in, uint64_t cs, uint64_t *out, struct vk_err *err)
{
	uint64_t size = vk_blk_length(in), off, n, req = 0;
	struct vk_blk_status st;
	int r;

	for (off = 0; off < size; off += n) {
		r = vk_blk_chain_status(in, off, size - off, &st, err);
		if (r < 0)
			return r;
		n = st.pnum;
		if ((st.flags & VK_BS_ZERO) || !(st.flags & VK_BS_DATA))
			continue;
		n = ALIGN_UP(off + n, cs) - off;
		req += off % cs + n;
	}
	*out = req;
	return 0;
}

/*
 * What the new image's data clusters take: none, the input's, or all of
 * them. An external data file (data_file=) would hold them instead, yet
 * qemu-img counts them here all the same: so does vmkit.
 */
static int data_needed(const struct vk_blk_create_opts *o, const struct measure_params *p,
		       struct vk_blk *in, uint64_t vsize, uint64_t *out, struct vk_err *err)
{
	int r = 0;

	*out = 0;
	/* Over a new backing file, nothing of the input may be shared with it. */
	if (in && o->backing_file)
		*out = vsize;
	else if (in)
		r = data_bytes(in, p->cs, out, err);
	if (!r && p->prealloc_data)
		*out = vsize;
	return r;
}

int qcow2_measure(const struct vk_blk_create_opts *o, struct vk_blk *in,
		  struct vk_blk_measure *res, struct vk_err *err)
{
	struct measure_params p = { 0 };
	uint64_t vsize, data, bm = 0;
	int64_t bitmaps = -1;
	int r;

	r = measure_params(o, &p, err);
	if (r < 0)
		return r;
	/* The size given is checked even when an input's size replaces it, as qemu-img does. */
	vsize = ALIGN_UP(o->size, p.cs);
	if (div_up(vsize / p.cs, p.cs / 8) * 8 > QCOW2_MAX_L1_BYTES)
		return vk_fail(err, -EFBIG, "The image size is too large (try using a larger cluster size)");
	if (in)
		vsize = ALIGN_UP(vk_blk_length(in), p.cs);
	r = data_needed(o, &p, in, vsize, &data, err);
	if (r < 0)
		return r;
	if (in && p.version >= 3) {
		r = input_bitmaps(in, p.cs, &bm, err);
		if (r < 0 && r != -ENOTSUP)
			return r;
		bitmaps = r < 0 ? -1 : (int64_t)bm;
	}
	res->fully_allocated = full_size(vsize, p.cs, p.refcount_order);
	/* The metadata of a fully allocated file is kept: qemu-img overestimates the same way. */
	res->required = res->fully_allocated - vsize + data;
	res->bitmaps = bitmaps;
	return 0;
}
