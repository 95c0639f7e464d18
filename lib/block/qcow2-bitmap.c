// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 persistent dirty bitmaps as they are on disk: the bitmap directory
 * (header extension 0x23852875) is read, checked and bounded, for info,
 * measure, check (the clusters bitmaps use) and for loading them into
 * memory (qcow2-bitmap-mem.c). They are valid only while the autoclear bit
 * says so: a program that does not know bitmaps clears it when it writes.
 */
#include <errno.h>
#include <string.h>

#include "qcow2.h"

/* The extension's count, directory size and offset (count 0 if there is none). */
int qcow2_bitmaps_ext(struct qcow2_state *s, uint32_t *nb, uint64_t *size, uint64_t *off,
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

static int parse_dir(struct qcow2_state *s, struct qcow2_bitmaps *b, const uint8_t *dir,
		     struct vk_err *err)
{
	uint64_t pos = 0;
	uint32_t i, extra;

	for (i = 0; i < b->nb; i++) {
		struct qcow2_bitmap *e = &b->e[i];

		if (pos + 24 > b->dir_size)
			return vk_fail(err, -EINVAL, "%s: bitmap directory is truncated",
				       s->bs->filename);
		e->table_offset = be_get64(dir + pos);
		e->table_size = be_get32(dir + pos + 8);
		e->granularity_bits = dir[pos + 17];
		e->flags = be_get32(dir + pos + 12);
		e->name_len = (uint16_t)(dir[pos + 18] << 8 | dir[pos + 19]);
		extra = be_get32(dir + pos + 20);
		/* QEMU's words for what it refuses, so that a refused open reads the same. */
		if (extra > b->dir_size || pos + 24 + extra + e->name_len > b->dir_size)
			return vk_fail(err, -EINVAL, "%s: Broken bitmap directory", s->bs->filename);
		if (extra)
			return vk_fail(err, -EINVAL, "%s: Bitmap extra data is not supported",
				       s->bs->filename);
		e->name = strndup((const char *)dir + pos + 24 + extra, e->name_len);
		if (!e->name)
			return vk_fail(err, -ENOMEM, "out of memory");
		if (e->granularity_bits < 9 || e->granularity_bits > 31)
			return vk_fail(err, -EINVAL, "%s: Bitmap '%s' doesn't satisfy the constraints",
				       s->bs->filename, e->name);
		pos += ALIGN_UP(24 + (uint64_t)extra + e->name_len, 8);
	}
	return 0;
}

int qcow2_bitmaps_load(struct qcow2_state *s, struct qcow2_bitmaps *b, struct vk_err *err)
{
	_cleanup_free_ uint8_t *dir = NULL;
	uint32_t nb;
	int r;

	memset(b, 0, sizeof(*b));
	if (s->version < 3 || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
		return 0;	/* without the autoclear bit the bitmaps are stale: QEMU ignores them */
	r = qcow2_bitmaps_ext(s, &nb, &b->dir_size, &b->dir_offset, err);
	if (r < 0 || !nb)
		return r;
	if (b->dir_size > QCOW2_BITMAP_DIR_MAX || nb > QCOW2_BITMAPS_MAX)
		return vk_fail(err, -EFBIG, "%s: bitmap directory too large", s->bs->filename);
	r = qcow2_check_offset(s, "bitmap directory", b->dir_offset, b->dir_size, err);
	if (r < 0)
		return r;
	dir = malloc(b->dir_size + 1);
	b->e = calloc(nb, sizeof(*b->e));
	if (!dir || !b->e) {
		qcow2_bitmaps_free(b);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	b->nb = nb;
	r = vk_blk_file_pread(s->bs, dir, b->dir_offset, b->dir_size, false, err);
	if (!r)
		r = parse_dir(s, b, dir, err);
	if (r < 0)
		qcow2_bitmaps_free(b);
	return r;
}

void qcow2_bitmaps_free(struct qcow2_bitmaps *b)
{
	uint32_t i;

	for (i = 0; b->e && i < b->nb; i++)
		free(b->e[i].name);
	free(b->e);
	b->e = NULL;
	b->nb = 0;
}

/* Every data cluster a bitmap table names (offset bits 9-55; 0 means all zeros or all ones). */
int qcow2_bitmap_table_each(struct qcow2_state *s, const struct qcow2_bitmap *e,
			    void (*fn)(void *opaque, uint64_t off), void *opaque,
			    struct vk_err *err)
{
	uint64_t bytes = (uint64_t)e->table_size * 8, done, n, i, v;
	_cleanup_free_ uint8_t *buf = malloc(64 * KiB);
	int r;

	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = qcow2_check_offset(s, "bitmap table", e->table_offset, bytes, err);
	for (done = 0; !r && done < bytes; done += n) {
		n = MIN(bytes - done, 64 * KiB);
		r = vk_blk_file_pread(s->bs, buf, e->table_offset + done, n, false, err);
		for (i = 0; !r && i < n / 8; i++) {
			v = qcow2_be64(buf, i) & L2E_OFFSET_MASK;
			if (v)
				fn(opaque, v);
		}
	}
	return r;
}

int vk_blk_bitmap_list(struct vk_blk *bs, struct vk_blk_bitmap **out, unsigned int *n,
		       struct vk_err *err)
{
	struct qcow2_bitmaps b;
	struct vk_blk_bitmap *v;
	uint32_t i;
	int r;

	*out = NULL;
	*n = 0;
	if (bs->drv != &vk_blk_qcow2)
		return 0;
	r = qcow2_bitmaps_load(bs->opaque, &b, err);
	if (r < 0 || !b.nb)
		return r;
	v = calloc(b.nb, sizeof(*v));
	if (!v) {
		qcow2_bitmaps_free(&b);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < b.nb; i++) {
		v[i].name = b.e[i].name;	/* handed over */
		b.e[i].name = NULL;
		v[i].granularity = 1u << b.e[i].granularity_bits;
		v[i].in_use = b.e[i].flags & 1;
		v[i].autom = b.e[i].flags & 2;
	}
	*out = v;
	*n = b.nb;
	qcow2_bitmaps_free(&b);
	return 0;
}

void vk_blk_bitmap_list_free(struct vk_blk_bitmap *list, unsigned int n)
{
	unsigned int i;

	for (i = 0; list && i < n; i++)
		free(list[i].name);
	free(list);
}

int vk_blk_bitmaps_stale(struct vk_blk *bs)
{
	return bs->drv == &vk_blk_qcow2 ? ((struct qcow2_state *)bs->opaque)->bitmaps_stale : 0;
}
