// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 internal snapshots: create, apply (goto), delete and list (the
 * table itself is qcow2-snapshot-table.c). A snapshot is a copy of the active L1 table; everything
 * it reaches gets one more reference, so the refcount of a data cluster is
 * the number of L1 tables (active and snapshots) that reach it, and an L2
 * table's is the number of L1 tables that name it. A write to anything with
 * a refcount above one copies it first (COPIED flag clear).
 *
 * Crash safety: every step first adds references, then commits (snapshot
 * table or active L1 written and synced), then drops references. A crash
 * in between leaves leaked clusters, never a cluster in use with too low a
 * refcount; COPIED flags are only ever clear where they could be set.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "qcow2.h"

#define MAX_SNAPSHOTS		65536

/* ---- reference counting over whole L1 tables ---- */

struct adjust {
	struct qcow2_state *s;
	int addend;		/* +1 or -1 */
	uint64_t file_clusters;
};

static int adjust_cluster(struct adjust *a, uint64_t c, bool *freed, struct vk_err *err)
{
	struct qcow2_state *s = a->s;
	uint64_t rc;
	int r;

	if (c >= a->file_clusters || !c)
		return vk_fail(err, -EINVAL, "%s: a table points at cluster %llu, outside the image",
			       s->bs->filename, (unsigned long long)c);
	r = qcow2_get_refcount(s, c, &rc, err);
	if (r < 0)
		return r;
	if (a->addend < 0 && !rc)
		return vk_fail(err, -EUCLEAN, "%s: refcount of cluster %llu is already 0",
			       s->bs->filename, (unsigned long long)c);
	r = qcow2_set_refcount(s, c, a->addend > 0 ? rc + 1 : rc - 1, err);
	if (freed)
		*freed = a->addend < 0 && rc == 1;
	return r;
}

static int adjust_entry(struct adjust *a, uint64_t e, struct vk_err *err)
{
	struct qcow2_state *s = a->s;
	uint64_t off, len, c;
	int r = 0;

	switch (qcow2_entry_type(s, e)) {
	case QCOW2_COMPRESSED:
		qcow2_compressed_range(s, e, &off, &len);
		for (c = off >> s->cluster_bits; r >= 0 && c <= (off + len - 1) >> s->cluster_bits; c++)
			r = adjust_cluster(a, c, NULL, err);
		return r;
	case QCOW2_NORMAL:
	case QCOW2_ZERO_ALLOC:
		if (qcow2_has_data_file(s))
			return 0;	/* in the data file, where nothing is refcounted */
		off = e & L2E_OFFSET_MASK;
		if (off & (s->cluster_size - 1))
			return vk_fail(err, -EINVAL, "%s: data cluster offset %#llx not cluster aligned",
				       s->bs->filename, (unsigned long long)off);
		return adjust_cluster(a, off >> s->cluster_bits, NULL, err);
	default:
		return 0;
	}
}

static int adjust_l2(struct adjust *a, uint64_t l2off, struct vk_err *err)
{
	struct qcow2_state *s = a->s;
	bool freed = false;
	uint64_t j;
	void *l2;
	int r;

	r = qcow2_check_offset(s, "L2 table", l2off, s->cluster_size, err);
	if (r < 0)
		return r;
	r = qcow2_cache_get(s->l2_cache, l2off, &l2, err);
	if (r < 0)
		return r;
	for (j = 0; j < (1ULL << s->l2_bits) && r >= 0; j++)
		r = adjust_entry(a, qcow2_be64(l2, j), err);
	qcow2_cache_put(s->l2_cache, &l2);
	if (r < 0)
		return r;
	r = adjust_cluster(a, l2off >> s->cluster_bits, &freed, err);
	if (freed)
		qcow2_cache_discard(s->l2_cache, l2off);
	return r;
}

/* Add addend to the refcount of every L2 table and data cluster l1 reaches. */
static int adjust_l1(struct qcow2_state *s, const uint64_t *l1, uint32_t n, int addend,
		     struct vk_err *err)
{
	int64_t fsize = vk_blk_file_size(s->bs);
	struct adjust a = { .s = s, .addend = addend };
	uint32_t i;
	int r;

	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", s->bs->filename, strerror((int)-fsize));
	a.file_clusters = ((uint64_t)fsize + s->cluster_size - 1) >> s->cluster_bits;
	s->zbuf_offset = 0;
	for (i = 0; i < n; i++) {
		if (!(l1[i] & L1E_OFFSET_MASK))
			continue;
		r = adjust_l2(&a, l1[i] & L1E_OFFSET_MASK, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* clear_all: every flag goes (a snapshot is about to share everything). */
static int want_copied(struct qcow2_state *s, uint64_t off, bool clear_all, uint64_t *flag,
		       struct vk_err *err)
{
	uint64_t rc;
	int r;

	*flag = 0;
	if (clear_all)
		return 0;
	r = qcow2_get_refcount(s, off >> s->cluster_bits, &rc, err);
	*flag = rc == 1 ? QCOW_OFLAG_COPIED : 0;
	return r;
}

static int fix_copied_l2(struct qcow2_state *s, uint64_t l2off, bool clear_all,
			 struct vk_err *err)
{
	enum qcow2_cluster_type t;
	uint64_t j, e, flag;
	void *l2;
	int r;

	r = qcow2_cache_get(s->l2_cache, l2off, &l2, err);
	if (r < 0)
		return r;
	for (j = 0; j < (1ULL << s->l2_bits); j++) {
		e = qcow2_be64(l2, j);
		t = qcow2_entry_type(s, e);
		flag = 0;
		if (t == QCOW2_NORMAL || t == QCOW2_ZERO_ALLOC) {
			r = want_copied(s, e & L2E_OFFSET_MASK, clear_all, &flag, err);
			if (r < 0)
				break;
		} else if (t != QCOW2_COMPRESSED) {
			continue;
		}
		if ((e & QCOW_OFLAG_COPIED) == flag)
			continue;
		qcow2_set_be64(l2, j, (e & ~QCOW_OFLAG_COPIED) | flag);
		qcow2_cache_mark_dirty(s->l2_cache, l2);
	}
	qcow2_cache_put(s->l2_cache, &l2);
	return r;
}

/*
 * Set the COPIED flags of the active tables from the refcounts (QEMU's
 * addend 0 pass), or clear them all. Flags only ever go wrong the safe
 * way: clear where they could be set costs a needless copy later.
 */
static int set_copied(struct qcow2_state *s, bool clear_all, struct vk_err *err)
{
	uint64_t l2off, flag;
	bool l1_dirty = false;
	uint32_t i;
	int r;

	for (i = 0; i < s->l1_size; i++) {
		l2off = s->l1[i] & L1E_OFFSET_MASK;
		if (!l2off)
			continue;
		r = want_copied(s, l2off, clear_all, &flag, err);
		if (r < 0)
			return r;
		if ((s->l1[i] & QCOW_OFLAG_COPIED) != flag) {
			s->l1[i] = (s->l1[i] & ~QCOW_OFLAG_COPIED) | flag;
			l1_dirty = true;
		}
		r = fix_copied_l2(s, l2off, clear_all, err);
		if (r < 0)
			return r;
	}
	r = qcow2_flush(s->bs, err);	/* refcounts and L2 tables before the L1 entries */
	if (r < 0 || !l1_dirty)
		return r;
	return qcow2_write_l1(s, err);
}

int qcow2_fix_copied(struct qcow2_state *s, struct vk_err *err)
{
	return set_copied(s, false, err);
}

/* Give L1 entry l1i a private copy of its L2 table (the old one stays with the snapshots). */
int qcow2_cow_l2(struct qcow2_state *s, uint64_t l1i, struct vk_err *err)
{
	uint64_t old = s->l1[l1i] & L1E_OFFSET_MASK, rc, host, be;
	void *src, *dst;
	int r;

	r = qcow2_get_refcount(s, old >> s->cluster_bits, &rc, err);
	if (r < 0)
		return r;
	if (rc != 1) {
		r = qcow2_alloc_clusters(s, 1, &host, err);
		if (r < 0)
			return r;
		r = qcow2_cache_get(s->l2_cache, old, &src, err);
		if (r < 0)
			return r;
		r = qcow2_cache_get_empty(s->l2_cache, host, &dst, err);
		if (r < 0) {
			qcow2_cache_put(s->l2_cache, &src);
			return r;
		}
		/* The old table was shared, so is everything in it: no entry may say otherwise. */
		for (uint64_t j = 0; j < (1ULL << s->l2_bits); j++)
			qcow2_set_be64(dst, j, qcow2_be64(src, j) & ~QCOW_OFLAG_COPIED);
		qcow2_cache_mark_dirty(s->l2_cache, dst);
		qcow2_cache_put(s->l2_cache, &dst);
		qcow2_cache_put(s->l2_cache, &src);
		r = qcow2_cache_flush(s->l2_cache, err);	/* copy and its refcount first */
		if (r < 0)
			return r;
	} else {
		host = old;	/* only the flag was stale */
	}
	s->l1[l1i] = host | QCOW_OFLAG_COPIED;
	be = htobe64(s->l1[l1i]);
	r = vk_blk_file_pwrite(s->bs, &be, s->l1_offset + 8 * l1i, 8, err);
	if (r < 0 || host == old)
		return r;
	/* The L1 entry is on disk before the old table loses its reference. */
	r = qcow2_flush(s->bs, err);
	return r < 0 ? r : qcow2_free_range(s, old, s->cluster_size, err);
}

/* ---- the operations ---- */

int qcow2_snapshot_list(struct vk_blk *bs, struct vk_blk_snapshot **out, unsigned int *n,
			struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	struct vk_blk_snapshot *v = calloc(s->nb_snapshots + 1, sizeof(*v));
	uint32_t i;

	if (!v)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < s->nb_snapshots; i++) {
		const struct qcow2_snapshot *sn = &s->snapshots[i];

		v[i] = (struct vk_blk_snapshot){
			.id = sn->id, .name = sn->name, .date_sec = sn->date_sec,
			.date_nsec = sn->date_nsec, .vm_clock_nsec = sn->vm_clock_nsec,
			.vm_state_size = sn->vm_state_size, .disk_size = sn->disk_size,
			.icount = sn->icount == UINT64_MAX ? -1 : (int64_t)sn->icount,
		};
	}
	*out = v;
	*n = s->nb_snapshots;
	return 0;
}

/* The next free numeric ID, as QEMU numbers them. */
static char *new_id(struct qcow2_state *s)
{
	unsigned long max = 0, v;
	char buf[32];
	uint32_t i;

	for (i = 0; i < s->nb_snapshots; i++) {
		v = strtoul(s->snapshots[i].id, NULL, 10);
		max = MAX(max, v);
	}
	snprintf(buf, sizeof(buf), "%lu", max + 1);
	return strdup(buf);
}

/* Append sn to the table (taking its strings) and write it. */
static int append(struct qcow2_state *s, struct qcow2_snapshot *sn, struct vk_err *err)
{
	struct qcow2_snapshot *list = calloc(s->nb_snapshots + 1, sizeof(*list));
	int r;

	if (!list)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (s->nb_snapshots)
		memcpy(list, s->snapshots, s->nb_snapshots * sizeof(*list));
	list[s->nb_snapshots] = *sn;
	r = qcow2_snapshots_write(s, list, s->nb_snapshots + 1, err);
	if (r < 0) {
		free(list);
		return r;
	}
	free(s->snapshots);
	s->snapshots = list;
	s->nb_snapshots++;
	return 0;
}

static int copy_active_l1(struct qcow2_state *s, uint64_t *off, struct vk_err *err)
{
	uint64_t bytes = (uint64_t)s->l1_size * 8, i;
	_cleanup_free_ uint8_t *buf = malloc(bytes + 1);
	int r;

	*off = 0;
	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (!bytes)
		return 0;
	for (i = 0; i < s->l1_size; i++)
		qcow2_set_be64(buf, i, s->l1[i]);
	r = qcow2_alloc_clusters(s, (bytes + s->cluster_size - 1) >> s->cluster_bits, off, err);
	if (r < 0)
		return r;
	return vk_blk_file_pwrite(s->bs, buf, *off, bytes, err);
}

int qcow2_snapshot_create(struct vk_blk *bs, const char *name, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_snapshot sn = { 0 };
	struct timespec ts;
	int r;

	/* A snapshot could not keep the data file's clusters: QEMU refuses, in errno words. */
	if (qcow2_has_data_file(s))
		return vk_fail(err, -ENOTSUP, "%d (%s)", -ENOTSUP, strerror(ENOTSUP));
	if (s->nb_snapshots >= MAX_SNAPSHOTS)
		return vk_fail(err, -EFBIG, "%s: too many snapshots", bs->filename);
	if (strlen(name) > 0xffff)
		return vk_fail(err, -EINVAL, "%s: snapshot name too long", bs->filename);
	r = qcow2_flush(bs, err);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &ts);
	sn.date_sec = (uint32_t)ts.tv_sec;
	sn.date_nsec = (uint32_t)(ts.tv_nsec / 1000 * 1000);	/* microseconds, as qemu-img */
	sn.disk_size = s->size;
	sn.icount = 0;
	sn.l1_size = s->l1_size;
	sn.id = new_id(s);
	sn.name = strdup(name);
	if (!sn.id || !sn.name) {
		r = vk_fail(err, -ENOMEM, "out of memory");
		goto fail;
	}
	/* Flags cleared (on disk) before any refcount rises: no moment where one says "mine alone". */
	r = set_copied(s, true, err);
	if (!r)
		r = copy_active_l1(s, &sn.l1_offset, err);
	if (!r)
		r = adjust_l1(s, s->l1, s->l1_size, +1, err);
	if (!r)
		r = qcow2_flush(bs, err);
	if (!r)
		r = append(s, &sn, err);
	if (!r)
		return 0;
fail:
	qcow2_snapshot_clear(&sn);
	return r;
}

static int find(struct qcow2_state *s, const char *id, const char *name)
{
	uint32_t i;

	for (i = 0; i < s->nb_snapshots; i++)
		if ((!id || !strcmp(s->snapshots[i].id, id)) &&
		    (!name || !strcmp(s->snapshots[i].name, name)))
			return (int)i;
	return -1;
}

static int write_size(struct qcow2_state *s, uint64_t size, struct vk_err *err)
{
	uint8_t b[8];
	int r;

	be_put64(b, size);
	r = vk_blk_file_pwrite(s->bs, b, HDR_SIZE, 8, err);
	if (!r && fdatasync(s->bs->fd) < 0)
		r = vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	if (!r)
		s->size = size;
	return r;
}

/* The active L1 becomes a copy of the snapshot's (references added first, old ones dropped after). */
static int load_snapshot_l1(struct qcow2_state *s, const uint64_t *sn_l1, uint32_t n,
			    struct vk_err *err)
{
	uint64_t *old = s->l1, *l1;
	int r;

	r = adjust_l1(s, sn_l1, n, +1, err);
	if (!r)
		r = qcow2_flush(s->bs, err);
	if (r < 0)
		return r;
	l1 = calloc((uint64_t)s->l1_size + 1, 8);
	if (!l1)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n; i++)
		l1[i] = sn_l1[i] & ~QCOW_OFLAG_COPIED;	/* shared now; fix_copied sets what it may */
	s->l1 = l1;
	r = qcow2_write_l1(s, err);
	if (r < 0) {
		s->l1 = old;	/* the file may hold either: both are referenced */
		free(l1);
		return r;
	}
	r = adjust_l1(s, old, s->l1_size, -1, err);
	free(old);
	return r;
}

int qcow2_snapshot_goto(struct vk_blk *bs, const char *id_or_name, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	_cleanup_free_ uint64_t *sn_l1 = NULL;
	const struct qcow2_snapshot *sn;
	uint64_t per_l1 = s->cluster_size << s->l2_bits, need;
	int i, r;

	/* The bitmaps would not describe the reverted data: QEMU refuses while there are any. */
	if (s->bms && s->bms->n)
		return vk_fail(err, -EBUSY, "Device has active dirty bitmaps");
	if (qcow2_has_data_file(s))
		return vk_fail(err, -ENOTSUP, "Failed to load snapshot: %s", strerror(ENOTSUP));
	i = find(s, id_or_name, NULL);
	if (i < 0)
		i = find(s, NULL, id_or_name);
	if (i < 0)
		return vk_fail(err, -ENOENT, "Failed to load snapshot: No such file or directory");
	sn = &s->snapshots[i];
	if (sn->disk_size != s->size && s->version < 3)
		return vk_fail(err, -ENOTSUP, "Can't resize a v2 image which has snapshots");
	r = qcow2_flush(bs, err);
	if (!r)
		r = qcow2_snapshot_read_l1(s, sn, &sn_l1, err);
	/* Room for the snapshot's table and for its disk size (an L1 table may be short). */
	need = MAX((uint64_t)sn->l1_size, (sn->disk_size + per_l1 - 1) / per_l1);
	if (!r && need > s->l1_size)
		r = qcow2_grow_l1(s, need, err);
	if (!r)
		r = load_snapshot_l1(s, sn_l1, sn->l1_size, err);
	if (!r && sn->disk_size != s->size)
		r = write_size(s, sn->disk_size, err);
	if (!r)
		r = qcow2_fix_copied(s, err);
	return r;
}

int qcow2_snapshot_delete(struct vk_blk *bs, const char *id, const char *name,
			  struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	_cleanup_free_ uint64_t *sn_l1 = NULL;
	struct qcow2_snapshot *list, sn;
	int i, r;

	i = find(s, id, name);
	if (i < 0)
		return vk_fail(err, -ENOENT, "snapshot not found");
	r = qcow2_flush(bs, err);
	if (!r)
		r = qcow2_snapshot_read_l1(s, &s->snapshots[i], &sn_l1, err);
	if (r < 0)
		return r;
	list = calloc(s->nb_snapshots, sizeof(*list));
	if (!list)
		return vk_fail(err, -ENOMEM, "out of memory");
	sn = s->snapshots[i];
	memcpy(list, s->snapshots, (size_t)i * sizeof(*list));
	memcpy(list + i, s->snapshots + i + 1, (s->nb_snapshots - (uint32_t)i - 1) * sizeof(*list));
	r = qcow2_snapshots_write(s, list, s->nb_snapshots - 1, err);
	if (r < 0) {
		free(list);
		return r;
	}
	free(s->snapshots);
	s->snapshots = list;
	s->nb_snapshots--;
	r = adjust_l1(s, sn_l1, sn.l1_size, -1, err);
	if (!r && sn.l1_size)
		r = qcow2_free_range(s, sn.l1_offset, (uint64_t)sn.l1_size * 8, err);
	qcow2_snapshot_clear(&sn);
	if (!r)
		r = qcow2_fix_copied(s, err);
	return r;
}

static int unref_start(struct qcow2_state *s, struct adjust *a, struct vk_err *err)
{
	int64_t fsize = vk_blk_file_size(s->bs);

	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", s->bs->filename, strerror((int)-fsize));
	*a = (struct adjust){ .s = s, .addend = -1 };
	a->file_clusters = ((uint64_t)fsize + s->cluster_size - 1) >> s->cluster_bits;
	s->zbuf_offset = 0;
	return 0;
}

int qcow2_unref_entries(struct qcow2_state *s, const uint64_t *e, uint64_t n, struct vk_err *err)
{
	struct adjust a;
	uint64_t i;
	int r = unref_start(s, &a, err);

	for (i = 0; i < n && r >= 0; i++)
		r = adjust_entry(&a, e[i], err);
	return r;
}

int qcow2_unref_l2(struct qcow2_state *s, uint64_t l2off, struct vk_err *err)
{
	struct adjust a;
	int r = unref_start(s, &a, err);

	return r < 0 ? r : adjust_l2(&a, l2off, err);
}
