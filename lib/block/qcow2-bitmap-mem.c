// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 persistent bitmaps in memory while an image is open, as QEMU keeps
 * them: opened for writing, every bitmap is loaded and marked in use on
 * disk; writes set their bits in the enabled ones; closing writes them back
 * and clears the in-use flags. A crash in between leaves them in use, which
 * every reader takes as "contents unknown": a bitmap never claims that
 * nothing changed when something did.
 *
 * A bitmap found in use is inconsistent: kept as it is on disk, never
 * written back, good only for removal.
 */
#include <errno.h>
#include <string.h>

#include "qcow2.h"

static void bm_free(struct qcow2_bm *m)
{
	free(m->name);
	free(m->data);
}

static void set_free(struct qcow2_bm_set *set)
{
	unsigned int i;

	if (!set)
		return;
	for (i = 0; i < set->n; i++)
		bm_free(&set->v[i]);
	free(set->v);
	free(set);
}

struct qcow2_bm *qcow2_bm_find(struct qcow2_bm_set *set, const char *name)
{
	unsigned int i;

	for (i = 0; set && i < set->n; i++)
		if (!strcmp(set->v[i].name, name))
			return &set->v[i];
	return NULL;
}

struct qcow2_bm *qcow2_bm_new(struct qcow2_state *s, const char *name, uint8_t gbits,
			      bool with_data, struct vk_err *err)
{
	struct qcow2_bm_set *set = s->bms;
	struct qcow2_bm *v = realloc(set->v, (set->n + 1) * sizeof(*v)), *m;

	if (!v)
		return vk_fail(err, -ENOMEM, "out of memory"), NULL;
	set->v = v;
	m = &v[set->n];
	memset(m, 0, sizeof(*m));
	m->gbits = gbits;
	/* A bitmap in use holds no data: it is never read, set or written back. */
	m->bytes = with_data ? qcow2_bitmap_bytes(ALIGN_DOWN(s->size, 512), gbits) : 0;
	m->name = strdup(name);
	m->data = calloc(1, m->bytes ? m->bytes : 1);
	if (!m->name || !m->data) {
		bm_free(m);
		return vk_fail(err, -ENOMEM, "out of memory"), NULL;
	}
	m->seq = set->seq++;
	set->n++;
	return m;
}

void qcow2_bm_delete(struct qcow2_state *s, struct qcow2_bm *m)
{
	struct qcow2_bm_set *set = s->bms;
	size_t i = (size_t)(m - set->v);

	bm_free(m);
	memmove(m, m + 1, (set->n - i - 1) * sizeof(*m));
	set->n--;
}

/* Set bits [first, last]. */
void qcow2_bm_set_bits(struct qcow2_bm *m, uint64_t first, uint64_t last)
{
	uint64_t i;

	for (i = first; i <= last && (i & 7); i++)
		m->data[i >> 3] |= (uint8_t)(1u << (i & 7));
	if (i + 8 <= last + 1) {
		memset(m->data + (i >> 3), 0xff, (last + 1 - i) >> 3);
		i += ((last + 1 - i) >> 3) << 3;
	}
	for (; i <= last; i++)
		m->data[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* One table entry's cluster of bitmap data into m (all ones: bit 0 with no offset). */
static int load_entry(struct qcow2_state *s, struct qcow2_bm *m, uint64_t i, uint64_t v,
		      struct vk_err *err)
{
	uint64_t cs = s->cluster_size, len = MIN(cs, m->bytes - i * cs), off;
	uint64_t nbits = qcow2_div_up(ALIGN_DOWN(s->size, 512), 1ULL << m->gbits);
	int r;

	off = v & L2E_OFFSET_MASK;
	if ((v & 0xff000000000001feULL) || (off && ((v & 1) || off % cs)))
		return vk_fail(err, -EINVAL, "Could not read bitmap_table table from image for bitmap '%s': %s",
			       m->name, strerror(EINVAL));
	if (off) {
		r = qcow2_check_offset(s, "bitmap data", off, cs, err);
		return r < 0 ? r : vk_blk_file_pread(s->bs, m->data + i * cs, off, len, false, err);
	}
	if ((v & 1) && i * cs * 8 < nbits)
		qcow2_bm_set_bits(m, i * cs * 8, MIN((i + 1) * cs * 8, nbits) - 1);
	return 0;
}

static int load_data(struct qcow2_state *s, const struct qcow2_bitmap *e, struct qcow2_bm *m,
		     struct vk_err *err)
{
	uint64_t n = qcow2_div_up(m->bytes, s->cluster_size), bytes = (uint64_t)e->table_size * 8, i;
	_cleanup_free_ uint8_t *tb = NULL;
	int r;

	if (e->table_size != n || !n)
		return vk_fail(err, -EINVAL, "Could not read bitmap '%s' from image: %s", m->name,
			       strerror(EINVAL));
	r = qcow2_check_offset(s, "bitmap table", e->table_offset, bytes, err);
	if (r < 0)
		return r;
	tb = malloc(bytes);
	if (!tb)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(s->bs, tb, e->table_offset, bytes, false, err);
	for (i = 0; !r && i < n; i++)
		r = load_entry(s, m, i, qcow2_be64(tb, i), err);
	return r;
}

/* A program without bitmap support wrote the image: QEMU drops the stale extension. */
static int drop_stale(struct qcow2_state *s, struct vk_err *err)
{
	uint64_t size = 0, off = 0;
	uint32_t nb = 0;
	int r = qcow2_bitmaps_ext(s, &nb, &size, &off, err);

	if (r < 0 || !nb)
		return r;
	return qcow2_header_write_bitmaps(s, 0, 0, 0, err);
}

/*
 * QEMU's limits on an entry: a table of at most 512 MiB of bitmap that covers
 * the image (unless in use: its contents are not read). Bounds what we allocate.
 */
static int check_entry(struct qcow2_state *s, const struct qcow2_bitmap *e, struct vk_err *err)
{
	uint64_t phys = (uint64_t)e->table_size * s->cluster_size;

	if (!e->table_size || !e->table_offset || e->table_offset % s->cluster_size ||
	    e->table_size > QCOW2_BITMAP_MAX_TABLE || phys > QCOW2_BITMAP_MAX_PHYS ||
	    (e->flags & ~(QCOW2_BME_IN_USE | QCOW2_BME_AUTO)) ||
	    e->name_len > QCOW2_BITMAP_NAME_MAX ||
	    (!(e->flags & QCOW2_BME_IN_USE) &&
	     ALIGN_DOWN(s->size, 512) > ((phys * 8) << e->granularity_bits)))
		return vk_fail(err, -EINVAL, "Bitmap '%s' doesn't satisfy the constraints", e->name);
	return 0;
}

static int load_all(struct qcow2_state *s, struct qcow2_bitmaps *list, bool *mark,
		    struct vk_err *err)
{
	struct qcow2_bm *m;
	uint32_t i;
	int r;

	for (i = 0; i < list->nb; i++) {
		struct qcow2_bitmap *e = &list->e[i];

		r = check_entry(s, e, err);
		if (r < 0)
			return r;
		m = qcow2_bm_new(s, e->name, e->granularity_bits,
				 !(e->flags & QCOW2_BME_IN_USE), err);
		if (!m)
			return -ENOMEM;
		m->enabled = e->flags & QCOW2_BME_AUTO;
		m->readonly = s->bs->read_only;
		m->inconsistent = e->flags & QCOW2_BME_IN_USE;
		if (m->inconsistent)
			continue;
		r = load_data(s, e, m, err);
		if (r < 0)
			return r;
		e->flags |= QCOW2_BME_IN_USE;
		*mark = true;
	}
	return 0;
}

int qcow2_bitmaps_validate(struct qcow2_state *s, struct vk_err *err)
{
	struct qcow2_bitmaps list;
	uint32_t i;
	int r;

	if (s->version < 3 || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
		return 0;
	r = qcow2_bitmaps_load(s, &list, err);
	for (i = 0; !r && i < list.nb; i++)
		r = check_entry(s, &list.e[i], err);
	qcow2_bitmaps_free(&list);
	return r;
}

int qcow2_bitmaps_open(struct qcow2_state *s, struct vk_err *err)
{
	struct qcow2_bitmaps list;
	bool mark = false;
	int r;

	if (s->bms)
		return 0;
	s->bms = calloc(1, sizeof(*s->bms));
	if (!s->bms)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (s->version < 3)
		return 0;
	if (!(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
		return s->bs->read_only ? 0 : drop_stale(s, err);
	r = qcow2_bitmaps_load(s, &list, err);
	if (r < 0)
		return r;
	r = load_all(s, &list, &mark, err);
	/* In use on disk from now on, until they are written back. */
	if (!r && mark && !s->bs->read_only)
		r = qcow2_bitmaps_dir_in_place(s, &list, err);
	qcow2_bitmaps_free(&list);
	return r;
}

int qcow2_bitmaps_can_resize(struct qcow2_state *s, struct vk_err *err)
{
	unsigned int i;

	for (i = 0; s->bms && i < s->bms->n; i++)
		if (s->bms->v[i].inconsistent)
			return vk_fail(err, -ENOTSUP, "Bitmap '%s' is inconsistent and cannot be used",
				       s->bms->v[i].name);
	return 0;
}

static int resize_one(struct qcow2_bm *m, uint64_t size, struct vk_err *err)
{
	uint64_t bytes = qcow2_bitmap_bytes(size, m->gbits), nbits, i;
	uint8_t *d = realloc(m->data, bytes ? bytes : 1);

	if (!d)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (bytes > m->bytes)
		memset(d + m->bytes, 0, bytes - m->bytes);
	m->data = d;
	m->bytes = bytes;
	nbits = qcow2_div_up(size, 1ULL << m->gbits);
	for (i = nbits; i < bytes * 8 && (i & 7); i++)
		d[i >> 3] &= (uint8_t)~(1u << (i & 7));
	if (i < bytes * 8)
		memset(d + (i >> 3), 0, bytes - (i >> 3));
	return 0;
}

int qcow2_bitmaps_resize(struct qcow2_state *s, struct vk_err *err)
{
	unsigned int i;
	int r = 0;

	for (i = 0; s->bms && i < s->bms->n && !r; i++)
		r = resize_one(&s->bms->v[i], ALIGN_DOWN(s->size, 512), err);
	return r;
}

void qcow2_bitmaps_note_write(struct qcow2_state *s, uint64_t off, uint64_t len)
{
	uint64_t size = ALIGN_DOWN(s->size, 512), end;
	unsigned int i;

	if (!s->bms || !len || off >= size)
		return;
	end = MIN(off + len, size) - 1;
	for (i = 0; i < s->bms->n; i++) {
		struct qcow2_bm *m = &s->bms->v[i];

		if (m->enabled && !m->inconsistent && !m->readonly)
			qcow2_bm_set_bits(m, off >> m->gbits, end >> m->gbits);
	}
}

/* Which bitmaps to write, in the directory: QEMU's walk goes newest first. */
static int plan_store(struct qcow2_state *s, struct qcow2_bitmaps *list, bool *need,
		      struct vk_err *err)
{
	struct qcow2_bitmap *e, *v;
	struct vk_err why = { 0 };
	struct qcow2_bm *m;
	unsigned int k;
	uint32_t j;
	int r;

	for (k = s->bms->n; k-- > 0;) {
		m = &s->bms->v[k];
		if (m->inconsistent || m->readonly)
			continue;
		*need = true;
		r = qcow2_bitmap_constraints(s, m->name, m->gbits, &why);
		if (r < 0)
			return vk_fail(err, r, "Bitmap '%s' doesn't satisfy the constraints: %s",
				       m->name, why.msg);
		for (e = NULL, j = 0; j < list->nb && !e; j++)
			if (!strcmp(list->e[j].name, m->name))
				e = &list->e[j];
		if (!e) {
			if (list->nb >= QCOW2_BITMAPS_MAX)
				return vk_fail(err, -EINVAL, "Too many persistent bitmaps");
			v = realloc(list->e, (list->nb + 1) * sizeof(*v));
			if (!v)
				return vk_fail(err, -ENOMEM, "out of memory");
			list->e = v;
			e = &v[list->nb++];
			memset(e, 0, sizeof(*e));
			e->name = strdup(m->name);
			if (!e->name)
				return vk_fail(err, -ENOMEM, "out of memory");
		} else if (!(e->flags & QCOW2_BME_IN_USE)) {
			return vk_fail(err, -EEXIST, "Bitmap '%s' already exists in the image",
				       m->name);
		}
		e->flags = m->enabled ? QCOW2_BME_AUTO : 0;
		e->granularity_bits = m->gbits;
		e->mem = m;
	}
	return 0;
}

int qcow2_bitmaps_store(struct qcow2_state *s, struct vk_err *err)
{
	struct qcow2_bitmaps list = { 0 };
	_cleanup_free_ uint64_t *old = NULL;
	bool need = false;
	uint32_t i;
	int r = 0;

	if (!s->bms || s->bs->read_only || s->version < 3)
		return 0;
	if (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS)
		r = qcow2_bitmaps_load(s, &list, err);
	if (!r)
		r = plan_store(s, &list, &need, err);
	/* The tables replaced: freed once the new directory is in place. */
	old = calloc(list.nb ? list.nb : 1, 2 * sizeof(*old));
	if (!r && !old)
		r = vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; !r && need && i < list.nb; i++) {
		if (!list.e[i].mem)
			continue;
		old[2 * i] = list.e[i].table_offset;
		old[2 * i + 1] = list.e[i].table_size;
		r = qcow2_bitmap_store_one(s, &list.e[i], list.e[i].mem, err);
	}
	if (!r && need)
		r = qcow2_bitmaps_update_dir(s, &list, err);
	for (i = 0; !r && need && i < list.nb; i++)
		if (old[2 * i + 1])
			r = qcow2_bitmap_free_clusters(s, old[2 * i], (uint32_t)old[2 * i + 1], err);
	qcow2_bitmaps_free(&list);
	return r;
}

void qcow2_bitmaps_close(struct qcow2_state *s, bool store)
{
	if (store && s->bms && !s->bs->read_only)
		qcow2_bitmaps_store(s, NULL);
	set_free(s->bms);
	s->bms = NULL;
}
