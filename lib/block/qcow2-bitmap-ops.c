// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What qemu-img bitmap does to an image's persistent bitmaps: add, remove,
 * clear, enable, disable, merge. The changes are made in memory and reach
 * the file when the image is closed (qcow2-bitmap-mem.c), except removal,
 * which rewrites the directory at once, as QEMU does. Errors are worded as
 * QEMU words them.
 */
#include <errno.h>
#include <string.h>

#include "qcow2.h"

/* The image's bitmaps in memory; NULL (no error) for an image that cannot have any. */
static struct qcow2_state *bitmaps_of(struct vk_blk *bs, struct vk_err *err, int *r)
{
	struct qcow2_state *s = bs->opaque;

	*r = 0;
	if (bs->drv != &vk_blk_qcow2)
		return NULL;
	*r = qcow2_bitmaps_open(s, err);
	return *r < 0 ? NULL : s;
}

static struct qcow2_bm *lookup(struct vk_blk *bs, const char *name, struct qcow2_state **ps,
			       struct vk_err *err)
{
	struct qcow2_state *s;
	struct qcow2_bm *m;
	int r;

	s = bitmaps_of(bs, err, &r);
	if (r < 0)
		return NULL;
	m = s ? qcow2_bm_find(s->bms, name) : NULL;
	if (!m)
		vk_fail(err, -ENOENT, "Dirty bitmap '%s' not found", name);
	if (ps)
		*ps = s;
	return m;
}

/* QEMU's bdrv_dirty_bitmap_check: modify needs a writable bitmap, any use a consistent one. */
static int usable(const struct qcow2_bm *m, bool modify, struct vk_err *err)
{
	if (modify && m->readonly)
		return vk_fail(err, -EPERM, "Bitmap '%s' is readonly and cannot be modified",
			       m->name);
	if (m->inconsistent)
		return vk_fail(err, -EINVAL, "Bitmap '%s' is inconsistent and cannot be used",
			       m->name);
	return 0;
}

static int can_store(struct qcow2_state *s, const char *name, uint8_t gbits, struct vk_err *err)
{
	uint64_t size = 0, off = 0;
	uint32_t nb = 0;
	int r;

	if (s->version < 3)
		return vk_fail(err, -EPERM, "Cannot store dirty bitmaps in qcow2 v2 files");
	r = qcow2_bitmap_constraints(s, name, gbits, err);
	if (r < 0)
		return r == -ENOMEM ? r : -EPERM;
	if (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS) {
		r = qcow2_bitmaps_ext(s, &nb, &size, &off, err);
		if (r < 0)
			return r;
	}
	if (nb >= QCOW2_BITMAPS_MAX)
		return vk_fail(err, -EPERM,
			       "Maximum number of persistent bitmaps is already reached");
	if (nb && size + ALIGN_UP(24 + strlen(name), 8) > QCOW2_BITMAP_DIR_MAX)
		return vk_fail(err, -EPERM, "Not enough space in the bitmap directory");
	return 0;
}

/* QEMU's default: the cluster size, within 4 KiB and 64 KiB. */
static uint32_t default_granularity(const struct qcow2_state *s)
{
	return (uint32_t)MIN(MAX(s->cluster_size, 4096), 65536);
}

int vk_blk_bitmap_add(struct vk_blk *bs, const char *name, uint32_t granularity,
		      struct vk_err *err)
{
	struct qcow2_state *s;
	struct qcow2_bm *m;
	int r;

	if (!name[0])
		return vk_fail(err, -EINVAL, "Bitmap name cannot be empty");
	if (granularity && (granularity < 512 || (granularity & (granularity - 1))))
		return vk_fail(err, -EINVAL, "Granularity must be power of 2 and at least 512");
	s = bitmaps_of(bs, err, &r);
	if (r < 0)
		return r;
	if (!s)
		return vk_fail(err, -ENOTSUP, "%s", strerror(ENOTSUP));
	if (!granularity)
		granularity = default_granularity(s);
	r = can_store(s, name, (uint8_t)__builtin_ctz(granularity), err);
	if (r < 0)
		return r;
	if (qcow2_bm_find(s->bms, name))
		return vk_fail(err, -EEXIST, "Bitmap already exists: %s", name);
	m = qcow2_bm_new(s, name, (uint8_t)__builtin_ctz(granularity), true, err);
	if (!m)
		return -ENOMEM;
	m->enabled = true;
	return 0;
}

/* The directory without name, then the clusters it used. */
static int remove_on_disk(struct qcow2_state *s, const char *name, struct vk_err *err)
{
	struct qcow2_bitmaps list;
	struct qcow2_bitmap gone;
	uint32_t i;
	int r;

	r = qcow2_bitmaps_load(s, &list, err);
	if (r < 0)
		return r;
	for (i = 0; i < list.nb && strcmp(list.e[i].name, name); i++)
		;
	if (i == list.nb) {
		qcow2_bitmaps_free(&list);
		return 0;
	}
	gone = list.e[i];
	memmove(&list.e[i], &list.e[i + 1], (list.nb - i - 1) * sizeof(gone));
	list.nb--;
	r = qcow2_bitmaps_update_dir(s, &list, err);
	if (r < 0)
		r = vk_fail(err, r, "Failed to update bitmap extension: %s", strerror(-r));
	else
		r = qcow2_bitmap_free_clusters(s, gone.table_offset, gone.table_size, err);
	free(gone.name);
	qcow2_bitmaps_free(&list);
	return r;
}

int vk_blk_bitmap_remove(struct vk_blk *bs, const char *name, struct vk_err *err)
{
	struct qcow2_state *s;
	struct qcow2_bm *m = lookup(bs, name, &s, err);
	int r;

	if (!m)
		return -ENOENT;
	if (m->readonly)
		return vk_fail(err, -EPERM, "Bitmap '%s' is readonly and cannot be modified", name);
	r = remove_on_disk(s, name, err);
	if (r < 0)
		return r;
	qcow2_bm_delete(s, m);
	return 0;
}

int vk_blk_bitmap_clear(struct vk_blk *bs, const char *name, struct vk_err *err)
{
	struct qcow2_bm *m = lookup(bs, name, NULL, err);
	int r;

	if (!m)
		return -ENOENT;
	r = usable(m, true, err);
	if (r < 0)
		return r;
	memset(m->data, 0, m->bytes);
	return 0;
}

int vk_blk_bitmap_enable(struct vk_blk *bs, const char *name, bool enable, struct vk_err *err)
{
	struct qcow2_bm *m = lookup(bs, name, NULL, err);
	int r;

	if (!m)
		return -ENOENT;
	r = usable(m, false, err);
	if (r < 0)
		return r;
	m->enabled = enable;
	return 0;
}

/* Every range src has set, set in dst (granularities may differ). */
static void merge_bits(struct qcow2_bm *dst, const struct qcow2_bm *src, uint64_t size)
{
	uint64_t i, nbits = qcow2_div_up(size, 1ULL << src->gbits), first, last;

	if (dst->gbits == src->gbits) {
		for (i = 0; i < dst->bytes; i++)
			dst->data[i] |= src->data[i];
		return;
	}
	for (i = 0; i < nbits; i++) {
		if (!(src->data[i >> 3] & (1u << (i & 7))))
			continue;
		first = (i << src->gbits) >> dst->gbits;
		last = (MIN((i + 1) << src->gbits, size) - 1) >> dst->gbits;
		qcow2_bm_set_bits(dst, first, last);
	}
}

int vk_blk_bitmap_merge(struct vk_blk *bs, const char *name, struct vk_blk *src_bs,
			const char *src_name, struct vk_err *err)
{
	struct qcow2_bm *dst = lookup(bs, name, NULL, err), *src;
	uint64_t dsize = ALIGN_DOWN(vk_blk_length(bs), 512), ssize;
	int r;

	if (!dst)
		return -ENOENT;
	r = usable(dst, true, err);
	if (r < 0)
		return r;
	src = lookup(src_bs, src_name, NULL, err);
	if (!src)
		return -ENOENT;
	r = usable(src, false, err);
	if (r < 0)
		return r;
	ssize = ALIGN_DOWN(vk_blk_length(src_bs), 512);
	if (ssize != dsize)
		return vk_fail(err, -EINVAL,
			       "Bitmaps are of different sizes (destination size is %llu, source size is %llu) and can't be merged",
			       (unsigned long long)dsize, (unsigned long long)ssize);
	merge_bits(dst, src, dsize);
	return 0;
}

int vk_blk_bitmaps_flush(struct vk_blk *bs, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	int r = 0;

	if (bs->drv != &vk_blk_qcow2 || !s->bms || bs->read_only)
		return 0;
	/* As on close: the image is about to be closed, nothing is tracked after this. */
	if (!(s->incompat & QCOW2_INCOMPAT_CORRUPT))
		r = qcow2_bitmaps_store(s, err);
	qcow2_bitmaps_close(s, false);
	return r;
}

int vk_blk_bitmap_dirty_each(struct vk_blk *bs, const char *name,
			     int (*fn)(void *opaque, uint64_t off, uint64_t len), void *opaque,
			     struct vk_err *err)
{
	struct qcow2_bm *m = lookup(bs, name, NULL, err);
	uint64_t size = ALIGN_DOWN(vk_blk_length(bs), 512), nbits, i, run;
	int r;

	if (!m)
		return -ENOENT;
	r = usable(m, false, err);
	if (r < 0)
		return r;
	nbits = qcow2_div_up(size, 1ULL << m->gbits);
	for (i = 0; i < nbits; i++) {
		if (!(m->data[i >> 3] & (1u << (i & 7)))) {
			if (!m->data[i >> 3] && !(i & 7))
				i += 7;		/* a whole clean byte */
			continue;
		}
		for (run = i; run + 1 < nbits && (m->data[(run + 1) >> 3] & (1u << ((run + 1) & 7)));)
			run++;
		r = fn(opaque, i << m->gbits, MIN((run + 1) << m->gbits, size) - (i << m->gbits));
		if (r)
			return r;
		i = run;
	}
	return 0;
}

int vk_blk_bitmap_mark(struct vk_blk *bs, const char *name, uint64_t off, uint64_t len,
		       struct vk_err *err)
{
	struct qcow2_bm *m = lookup(bs, name, NULL, err);
	uint64_t size = ALIGN_DOWN(vk_blk_length(bs), 512);
	int r;

	if (!m)
		return -ENOENT;
	r = usable(m, true, err);
	if (r < 0)
		return r;
	if (len && off < size)
		qcow2_bm_set_bits(m, off >> m->gbits, (MIN(off + len, size) - 1) >> m->gbits);
	return 0;
}
