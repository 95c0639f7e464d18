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

#define QCOW2_EXT_BITMAPS	0x23852875u
#define BITMAP_DIR_MAX		(64 * MiB)
#define AUTOCLEAR_BITMAPS	(1ULL << 0)

/* The bitmap directory extension: count, directory size and offset (0 if there is none). */
static int find_bitmap_ext(struct qcow2_state *s, uint32_t *nb, uint64_t *size, uint64_t *off,
			   struct vk_err *err)
{
	_cleanup_free_ uint8_t *h = malloc(s->cluster_size);
	uint64_t pos = s->header_length;
	uint32_t type, len;
	int r;

	*nb = 0;
	if (!h)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(s->bs, h, 0, s->cluster_size, true, err);
	while (!r && pos + 8 <= s->cluster_size) {
		type = be_get32(h + pos);
		len = be_get32(h + pos + 4);
		if (type == QCOW2_EXT_END || len > s->cluster_size - pos - 8)
			break;
		if (type == QCOW2_EXT_BITMAPS && len >= 24) {
			*nb = be_get32(h + pos + 8);
			*size = be_get64(h + pos + 16);
			*off = be_get64(h + pos + 24);
			break;
		}
		pos += 8 + ALIGN_UP((uint64_t)len, 8);
	}
	return r;
}

/*
 * What copying the image's persistent bitmaps would take in clusters of cs
 * bytes, counted as qemu-img measure does: every bitmap fully allocated,
 * its table, and the directory.
 */
static int bitmaps_size(struct qcow2_state *s, uint64_t cs, uint64_t *out, struct vk_err *err)
{
	_cleanup_free_ uint8_t *dir = NULL;
	uint64_t dsize = 0, doff = 0, pos = 0, bytes, n, dir_bytes = 0, total = 0;
	uint32_t nb, i, name_len, extra, g;
	int r;

	*out = 0;
	r = find_bitmap_ext(s, &nb, &dsize, &doff, err);
	if (r < 0 || !nb || !(s->autoclear & AUTOCLEAR_BITMAPS))
		return r;	/* without the autoclear bit the bitmaps are stale: QEMU ignores them */
	if (dsize > BITMAP_DIR_MAX || nb > 65535)
		return vk_fail(err, -EFBIG, "%s: bitmap directory too large", s->bs->filename);
	r = qcow2_check_offset(s, "bitmap directory", doff, dsize, err);
	if (r < 0)
		return r;
	dir = malloc(dsize + 1);
	if (!dir)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(s->bs, dir, doff, dsize, false, err);
	for (i = 0; !r && i < nb; i++) {
		if (pos + 24 > dsize)
			return vk_fail(err, -EINVAL, "%s: bitmap directory is truncated", s->bs->filename);
		g = dir[pos + 17];
		name_len = (uint32_t)dir[pos + 18] << 8 | dir[pos + 19];
		extra = be_get32(dir + pos + 20);
		if (g < 9 || g > 31 || extra > dsize)
			return vk_fail(err, -EINVAL, "%s: bitmap directory entry %u is invalid",
				       s->bs->filename, i);
		bytes = s->size ? (((s->size - 1) >> g >> 6) + 1) * 8 : 0;
		n = div_up(bytes, cs);
		total += n * cs + ALIGN_UP(n * 8, cs);
		dir_bytes += ALIGN_UP(24 + (uint64_t)name_len, 8);
		pos += ALIGN_UP(24 + (uint64_t)extra + name_len, 8);
	}
	if (!r)
		*out = total + ALIGN_UP(dir_bytes, cs);
	return r;
}

int vk_blk_bitmaps_size(struct vk_blk *bs, uint64_t cluster_size, uint64_t *out,
			struct vk_err *err)
{
	*out = 0;
	if (bs->drv != &vk_blk_qcow2 || ((struct qcow2_state *)bs->opaque)->version < 3)
		return -ENOTSUP;
	return bitmaps_size(bs->opaque, cluster_size, out, err);
}
