// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writing qcow2 persistent bitmaps: the header's bitmaps extension, the
 * bitmap directory, each bitmap's table and data clusters.
 *
 * The directory is never changed where a reader could see half of it: a new
 * one is written to new clusters and made durable, then the header's
 * extension is switched to it, then the old clusters are freed. The one
 * in-place rewrite (setting in-use flags on open) first clears the autoclear
 * bit, so that a crash in between leaves bitmaps that every reader ignores.
 *
 * The order of allocations and frees follows QEMU's (data clusters of each
 * bitmap, its table, the directory; old tables freed last), so that images
 * come out byte for byte as qemu-img leaves them.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "qcow2.h"

#define EXT_DATA_FILE	0x44415441u
#define EXT_CRYPTO	0x0537be77u

/* QEMU writes the extensions it knows first, in this order, bitmaps after them, the rest last. */
static bool known_first(uint32_t type)
{
	return type == QCOW2_EXT_BACKING_FMT || type == EXT_DATA_FILE || type == EXT_CRYPTO ||
	       type == QCOW2_EXT_FEATURES;
}

/* Append old's extensions of one group (known_first() == first) to out at *pos. */
static int copy_exts(struct qcow2_state *s, const uint8_t *old, uint64_t limit, bool first,
		     uint8_t *out, uint64_t *pos, uint64_t *end, struct vk_err *err)
{
	uint64_t off = s->header_length, n;
	uint32_t type, len;

	while (off + 8 <= limit) {
		type = be_get32(old + off);
		len = be_get32(old + off + 4);
		if (type == QCOW2_EXT_END)
			break;
		n = 8 + ALIGN_UP((uint64_t)len, 8);
		if (n > limit - off)
			return vk_fail(err, -EINVAL, "%s: header extension %#x overruns the header",
				       s->bs->filename, type);
		if (type != QCOW2_EXT_BITMAPS && known_first(type) == first) {
			if (*pos + n + 8 > s->cluster_size)
				return vk_fail(err, -ENOSPC, "%s: header extensions do not fit",
					       s->bs->filename);
			memcpy(out + *pos, old + off, n);
			*pos += n;
		}
		off += n;
	}
	*end = off + 8;
	return 0;
}

static void put_bitmaps_ext(uint8_t *p, uint32_t nb, uint64_t dir_size, uint64_t dir_off)
{
	be_put32(p, QCOW2_EXT_BITMAPS);
	be_put32(p + 4, 24);
	be_put32(p + 8, nb);
	be_put32(p + 12, 0);
	be_put64(p + 16, dir_size);
	be_put64(p + 24, dir_off);
}

/* The backing file name goes right after the extensions, as QEMU places it. */
static int move_name(struct qcow2_state *s, const uint8_t *old, uint8_t *out, uint64_t *pos,
		     struct vk_err *err)
{
	uint64_t name_off = be_get64(old + 8), name_len = be_get32(old + 16);

	if (!name_off || !name_len)
		return 0;
	if (name_off > s->cluster_size || name_len > s->cluster_size - name_off ||
	    *pos + name_len > s->cluster_size)
		return vk_fail(err, -ENOSPC, "%s: backing file name does not fit in the header",
			       s->bs->filename);
	memcpy(out + *pos, old + name_off, name_len);
	be_put64(out + 8, *pos);
	*pos += name_len;
	return 0;
}

int qcow2_header_write_bitmaps(struct qcow2_state *s, uint32_t nb, uint64_t dir_size,
			       uint64_t dir_off, struct vk_err *err)
{
	uint64_t cs = s->cluster_size, pos = s->header_length, end1, end2, limit, old_end;
	_cleanup_free_ uint8_t *old = malloc(cs), *out = calloc(1, cs);
	int r;

	if (!old || !out)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(s->bs, old, 0, cs, true, err);
	if (r < 0)
		return r;
	limit = be_get64(old + 8) ? MIN(be_get64(old + 8), cs) : cs;
	memcpy(out, old, s->header_length);
	be_put64(out + HDR_AUTOCLEAR, s->autoclear);
	r = copy_exts(s, old, limit, true, out, &pos, &end1, err);
	if (!r && nb) {
		if (pos + 40 > cs)
			return vk_fail(err, -ENOSPC, "%s: header extensions do not fit",
				       s->bs->filename);
		put_bitmaps_ext(out + pos, nb, dir_size, dir_off);
		pos += 32;
	}
	if (!r)
		r = copy_exts(s, old, limit, false, out, &pos, &end2, err);
	if (r < 0)
		return r;
	pos += 8;	/* end of extensions: zeros */
	old_end = end1;
	if (be_get64(old + 8) && be_get64(old + 8) < cs)
		old_end = MAX(old_end, MIN(be_get64(old + 8) + be_get32(old + 16), cs));
	r = move_name(s, old, out, &pos, err);
	if (r < 0)
		return r;
	r = vk_blk_file_pwrite(s->bs, out, 0, MAX(pos, MIN(old_end, cs)), err);
	return r < 0 ? r : vk_blk_file_sync(s->bs, err);
}

static uint64_t entry_size(const struct qcow2_bitmap *e)
{
	return ALIGN_UP(24 + (uint64_t)strlen(e->name), 8);
}

static void serialize_dir(const struct qcow2_bitmaps *list, uint8_t *dir)
{
	uint64_t pos = 0, nlen;
	uint32_t i;

	for (i = 0; i < list->nb; i++) {
		const struct qcow2_bitmap *e = &list->e[i];

		nlen = strlen(e->name);
		be_put64(dir + pos, e->table_offset);
		be_put32(dir + pos + 8, e->table_size);
		be_put32(dir + pos + 12, e->flags);
		dir[pos + 16] = 1;	/* dirty tracking bitmap, the one type there is */
		dir[pos + 17] = e->granularity_bits;
		dir[pos + 18] = (uint8_t)(nlen >> 8);
		dir[pos + 19] = (uint8_t)nlen;
		memcpy(dir + pos + 24, e->name, nlen);
		pos += entry_size(e);
	}
}

/* The directory of list in new clusters, durable, refcounts included. */
static int write_new_dir(struct qcow2_state *s, const struct qcow2_bitmaps *list,
			 uint64_t *off, uint64_t *size, struct vk_err *err)
{
	_cleanup_free_ uint8_t *dir = NULL;
	uint64_t bytes = 0;
	uint32_t i;
	int r;

	for (i = 0; i < list->nb; i++)
		bytes += entry_size(&list->e[i]);
	if (list->nb > QCOW2_BITMAPS_MAX || bytes > QCOW2_BITMAP_DIR_MAX)
		return vk_fail(err, -EINVAL, "%s: bitmap directory too large", s->bs->filename);
	dir = calloc(1, bytes);
	if (!dir)
		return vk_fail(err, -ENOMEM, "out of memory");
	serialize_dir(list, dir);
	r = qcow2_alloc_clusters(s, qcow2_div_up(bytes, s->cluster_size), off, err);
	if (r < 0)
		return r;
	r = qcow2_overlap_check(s, 0, *off, bytes, err);
	if (!r)
		r = vk_blk_file_pwrite(s->bs, dir, *off, bytes, err);
	if (!r)
		r = qcow2_flush(s->bs, err);
	if (r < 0) {
		qcow2_free_range(s, *off, bytes, NULL);
		return r;
	}
	*size = bytes;
	return 0;
}

/* Where the directory is now, if the header's bitmaps are valid. */
static int current_dir(struct qcow2_state *s, uint32_t *nb, uint64_t *size, uint64_t *off,
		       struct vk_err *err)
{
	*nb = 0;
	*size = *off = 0;
	if (!(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
		return 0;
	return qcow2_bitmaps_ext(s, nb, size, off, err);
}

int qcow2_bitmaps_update_dir(struct qcow2_state *s, struct qcow2_bitmaps *list,
			     struct vk_err *err)
{
	uint64_t old_off, old_size, off = 0, size = 0, old_autoclear = s->autoclear;
	uint32_t old_nb;
	int r;

	r = current_dir(s, &old_nb, &old_size, &old_off, err);
	if (r < 0)
		return r;
	if (list->nb) {
		r = write_new_dir(s, list, &off, &size, err);
		if (r < 0)
			return r;
		s->autoclear |= QCOW2_AUTOCLEAR_BITMAPS;
	} else {
		s->autoclear &= ~QCOW2_AUTOCLEAR_BITMAPS;
	}
	r = qcow2_header_write_bitmaps(s, list->nb, size, off, err);
	if (r < 0) {
		s->autoclear = old_autoclear;
		if (size)
			qcow2_free_range(s, off, size, NULL);
		return r;
	}
	if (old_size)
		return qcow2_free_range(s, old_off, old_size, err);
	return 0;
}

int qcow2_bitmaps_dir_in_place(struct qcow2_state *s, struct qcow2_bitmaps *list,
			       struct vk_err *err)
{
	_cleanup_free_ uint8_t *dir = calloc(1, list->dir_size ? list->dir_size : 1);
	uint64_t bytes = 0;
	uint32_t i;
	int r;

	if (!dir)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < list->nb; i++)
		bytes += entry_size(&list->e[i]);
	if (bytes != list->dir_size || !list->nb)
		return vk_fail(err, -EINVAL, "%s: bitmap directory size changed", s->bs->filename);
	serialize_dir(list, dir);
	/* Bitmaps off while the directory is rewritten: a torn write is then ignored. */
	s->autoclear &= ~QCOW2_AUTOCLEAR_BITMAPS;
	r = qcow2_header_write_bitmaps(s, list->nb, list->dir_size, list->dir_offset, err);
	if (!r)
		r = vk_blk_file_pwrite(s->bs, dir, list->dir_offset, bytes, err);
	if (!r)
		r = qcow2_header_write_bitmaps(s, list->nb, list->dir_size, list->dir_offset, err);
	if (r < 0)
		return r;
	s->autoclear |= QCOW2_AUTOCLEAR_BITMAPS;
	return qcow2_header_write_bitmaps(s, list->nb, list->dir_size, list->dir_offset, err);
}

static void punch(struct qcow2_state *s, uint64_t off, uint64_t len)
{
	/* As QEMU discards a freed bitmap data cluster: the file system gets it back. */
	(void)fallocate(s->bs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			(off_t)len);
}

int qcow2_bitmap_free_clusters(struct qcow2_state *s, uint64_t table_offset, uint32_t table_size,
			       struct vk_err *err)
{
	uint64_t bytes = (uint64_t)table_size * 8, i, v;
	_cleanup_free_ uint8_t *tb = NULL;
	int r;

	if (!table_size)
		return 0;
	r = qcow2_check_offset(s, "bitmap table", table_offset, bytes, err);
	if (r < 0)
		return r;
	tb = malloc(bytes);
	if (!tb)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(s->bs, tb, table_offset, bytes, false, err);
	for (i = 0; !r && i < table_size; i++) {
		v = qcow2_be64(tb, i) & L2E_OFFSET_MASK;
		if (!v)
			continue;
		r = qcow2_free_range(s, v, s->cluster_size, err);
		if (!r)
			punch(s, v, s->cluster_size);
	}
	return r < 0 ? r : qcow2_free_range(s, table_offset, bytes, err);
}

/* Data clusters (only those with a bit set), then the table; the entry gets the table. */
int qcow2_bitmap_store_one(struct qcow2_state *s, struct qcow2_bitmap *e, const struct qcow2_bm *m,
		     struct vk_err *err)
{
	uint64_t cs = s->cluster_size, n = qcow2_div_up(m->bytes, cs), i, len, off, tb_off;
	_cleanup_free_ uint8_t *tb = NULL, *buf = NULL;
	int r = 0;

	if (n > QCOW2_BITMAP_MAX_TABLE || n * cs > QCOW2_BITMAP_MAX_PHYS)
		return vk_fail(err, -EINVAL, "Bitmap '%s' is too big", m->name);
	/* An image of size 0: no table can describe it. QEMU fails here, in these words. */
	if (!n)
		return vk_fail(err, -ENOMEM, "No memory");
	tb = calloc(n, 8);
	buf = malloc(cs);
	if (!tb || !buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < n && !r; i++) {
		len = MIN(cs, m->bytes - i * cs);
		if (vk_buf_is_zero(m->data + i * cs, len))
			continue;
		r = qcow2_alloc_clusters(s, 1, &off, err);
		if (r < 0)
			break;
		memcpy(buf, m->data + i * cs, len);
		memset(buf + len, 0, cs - len);
		r = qcow2_overlap_check(s, 0, off, cs, err);
		if (!r)
			r = vk_blk_file_pwrite(s->bs, buf, off, cs, err);
		qcow2_set_be64(tb, i, off);
	}
	if (!r)
		r = qcow2_alloc_clusters(s, qcow2_div_up(n * 8, cs), &tb_off, err);
	if (!r)
		r = qcow2_overlap_check(s, 0, tb_off, n * 8, err);
	if (!r)
		r = vk_blk_file_pwrite(s->bs, tb, tb_off, n * 8, err);
	if (r < 0)
		return r;	/* what was allocated leaks: check -r gets it back */
	e->table_offset = tb_off;
	e->table_size = (uint32_t)n;
	return 0;
}

int qcow2_bitmap_constraints(struct qcow2_state *s, const char *name, uint8_t gbits,
			     struct vk_err *err)
{
	uint64_t len = ALIGN_DOWN(s->size, 512), bytes;

	if (gbits > 31)
		return vk_fail(err, -EINVAL, "Granularity exceeds maximum (%llu bytes)", 1ULL << 31);
	if (gbits < 9)
		return vk_fail(err, -EINVAL, "Granularity is under minimum (%llu bytes)", 1ULL << 9);
	bytes = qcow2_div_up(qcow2_div_up(len, 1ULL << gbits), 8);
	if (bytes > QCOW2_BITMAP_MAX_PHYS || bytes > (uint64_t)QCOW2_BITMAP_MAX_TABLE * s->cluster_size)
		return vk_fail(err, -EINVAL,
			       "Too much space will be occupied by the bitmap. Use larger granularity");
	if (strlen(name) > QCOW2_BITMAP_NAME_MAX)
		return vk_fail(err, -EINVAL, "Name length exceeds maximum (%u characters)",
			       QCOW2_BITMAP_NAME_MAX);
	return 0;
}
