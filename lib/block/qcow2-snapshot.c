// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 internal snapshots: the snapshot table, and create, apply (goto),
 * delete and list. A snapshot is a copy of the active L1 table; everything
 * it reaches gets one more reference, so the refcount of a data cluster is
 * the number of L1 tables (active and snapshots) that reach it, and an L2
 * table's is the number of L1 tables that name it. A write to anything with
 * a refcount above one copies it first (COPIED flag clear).
 *
 * Crash safety: every step first adds references, then commits (snapshot
 * table or active L1 written and synced), then drops references. A crash
 * in between leaves leaked clusters, never a cluster in use with too low a
 * refcount.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "qcow2.h"

#define SN_HDR_BYTES		40
#define SN_EXTRA_BYTES		24	/* vm_state_size_large, disk_size, icount */
#define MAX_SNAPSHOTS		65536
#define MAX_SN_EXTRA		1024
#define MAX_TABLE_BYTES		(64 * MiB)

static void free_one(struct qcow2_snapshot *sn)
{
	free(sn->id);
	free(sn->name);
	free(sn->extra);
}

void qcow2_snapshots_free(struct qcow2_state *s)
{
	uint32_t i;

	for (i = 0; s->snapshots && i < s->nb_snapshots; i++)
		free_one(&s->snapshots[i]);
	free(s->snapshots);
	s->snapshots = NULL;
}

static uint64_t be_field(const uint8_t *extra, uint32_t size, uint32_t at, uint64_t dflt)
{
	return size >= at + 8 ? be_get64(extra + at) : dflt;
}

/* Read [off, off+len) of the table, which must lie inside the file. */
static int read_part(struct qcow2_state *s, void *buf, uint64_t off, uint64_t len,
		     uint64_t fsize, struct vk_err *err)
{
	if (off > fsize || len > fsize - off)
		return vk_fail(err, -EINVAL, "%s: snapshot table runs past the end of the file",
			       s->bs->filename);
	return vk_blk_file_pread(s->bs, buf, off, len, false, err);
}

static int parse_entry(struct qcow2_state *s, struct qcow2_snapshot *sn, uint64_t *pos,
		       uint64_t fsize, struct vk_err *err)
{
	uint8_t h[SN_HDR_BYTES];
	uint32_t id_len, name_len;
	int r;

	r = read_part(s, h, *pos, sizeof(h), fsize, err);
	if (r < 0)
		return r;
	sn->l1_offset = be_get64(h);
	sn->l1_size = be_get32(h + 8);
	id_len = be_get32(h + 12) >> 16;
	name_len = be_get32(h + 12) & 0xffff;
	sn->date_sec = be_get32(h + 16);
	sn->date_nsec = be_get32(h + 20);
	sn->vm_clock_nsec = be_get64(h + 24);
	sn->extra_size = be_get32(h + 36);
	if (sn->extra_size > MAX_SN_EXTRA)
		return vk_fail(err, -EFBIG, "%s: snapshot extra data of %u bytes is too large",
			       s->bs->filename, sn->extra_size);
	if (*pos + SN_HDR_BYTES + sn->extra_size + id_len + name_len >
	    s->snapshots_offset + MAX_TABLE_BYTES)
		return vk_fail(err, -EFBIG, "%s: snapshot table too large", s->bs->filename);
	sn->extra = calloc(1, sn->extra_size + 1);
	sn->id = calloc(1, id_len + 1);
	sn->name = calloc(1, name_len + 1);
	if (!sn->extra || !sn->id || !sn->name)
		return vk_fail(err, -ENOMEM, "out of memory");
	*pos += SN_HDR_BYTES;
	r = read_part(s, sn->extra, *pos, sn->extra_size, fsize, err);
	if (!r)
		r = read_part(s, sn->id, *pos + sn->extra_size, id_len, fsize, err);
	if (!r)
		r = read_part(s, sn->name, *pos + sn->extra_size + id_len, name_len, fsize, err);
	if (r < 0)
		return r;
	*pos = ALIGN_UP(*pos + sn->extra_size + id_len + name_len, 8);
	sn->vm_state_size = be_field(sn->extra, sn->extra_size, 0, be_get32(h + 32));
	sn->disk_size = be_field(sn->extra, sn->extra_size, 8, s->size);
	sn->icount = be_field(sn->extra, sn->extra_size, 16, UINT64_MAX);
	return 0;
}

static bool ranges_meet(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* A snapshot's L1 table: sane size, inside the file, clear of the other tables. */
static int check_snapshot_l1(struct qcow2_state *s, const struct qcow2_snapshot *sn,
			     struct vk_err *err)
{
	uint64_t bytes = (uint64_t)sn->l1_size * 8;
	int r;

	if (bytes > QCOW2_MAX_L1_BYTES)
		return vk_fail(err, -EFBIG, "%s: snapshot '%s': L1 size %u too large",
			       s->bs->filename, sn->name, sn->l1_size);
	if (!bytes)
		return 0;
	r = qcow2_check_offset(s, "snapshot L1 table", sn->l1_offset, bytes, err);
	if (r < 0)
		return r;
	if (ranges_meet(sn->l1_offset, bytes, s->l1_offset, (uint64_t)s->l1_size * 8) ||
	    ranges_meet(sn->l1_offset, bytes, s->rt_offset,
			(uint64_t)s->rt_clusters * s->cluster_size) ||
	    ranges_meet(sn->l1_offset, bytes, s->snapshots_offset, s->snapshots_size))
		return vk_fail(err, -EINVAL, "%s: snapshot '%s': L1 table overlaps other metadata",
			       s->bs->filename, sn->name);
	return 0;
}

static int check_table(struct qcow2_state *s, struct vk_err *err)
{
	uint32_t i;
	int r;

	if (ranges_meet(s->snapshots_offset, s->snapshots_size, s->l1_offset,
			(uint64_t)s->l1_size * 8) ||
	    ranges_meet(s->snapshots_offset, s->snapshots_size, s->rt_offset,
			(uint64_t)s->rt_clusters * s->cluster_size))
		return vk_fail(err, -EINVAL, "%s: snapshot table overlaps other metadata",
			       s->bs->filename);
	for (i = 0; i < s->nb_snapshots; i++) {
		r = check_snapshot_l1(s, &s->snapshots[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

int qcow2_snapshots_load(struct qcow2_state *s, uint64_t offset, struct vk_err *err)
{
	int64_t fsize = vk_blk_file_size(s->bs);
	uint64_t pos = offset;
	uint32_t i, n = s->nb_snapshots;
	int r;

	s->nb_snapshots = 0;
	s->snapshots_offset = offset;
	if (!n)
		return 0;
	if (n > MAX_SNAPSHOTS)
		return vk_fail(err, -EFBIG, "%s: %u snapshots are too many (at most %d)",
			       s->bs->filename, n, MAX_SNAPSHOTS);
	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", s->bs->filename, strerror((int)-fsize));
	r = qcow2_check_offset(s, "snapshot table", offset, (uint64_t)n * SN_HDR_BYTES, err);
	if (r < 0)
		return r;
	s->snapshots = calloc(n, sizeof(*s->snapshots));
	if (!s->snapshots)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		s->nb_snapshots = i + 1;	/* so that a failure frees this entry too */
		r = parse_entry(s, &s->snapshots[i], &pos, (uint64_t)fsize, err);
		if (r < 0)
			return r;
	}
	s->snapshots_size = pos - offset;
	return check_table(s, err);
}

int qcow2_snapshot_read_l1(struct qcow2_state *s, const struct qcow2_snapshot *sn, uint64_t **l1,
			   struct vk_err *err)
{
	uint64_t bytes = (uint64_t)sn->l1_size * 8, i;
	uint64_t *t = malloc(bytes + 8);
	int r;

	if (!t)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = bytes ? vk_blk_file_pread(s->bs, t, sn->l1_offset, bytes, false, err) : 0;
	if (r < 0) {
		free(t);
		return r;
	}
	for (i = 0; i < sn->l1_size; i++)
		t[i] = be64toh(t[i]);
	*l1 = t;
	return 0;
}

bool qcow2_snapshot_overlap(struct qcow2_state *s, uint64_t host, uint64_t len)
{
	uint32_t i;

	if (ranges_meet(host, len, s->snapshots_offset, s->snapshots_size))
		return true;
	for (i = 0; i < s->nb_snapshots; i++)
		if (ranges_meet(host, len, s->snapshots[i].l1_offset,
				(uint64_t)s->snapshots[i].l1_size * 8))
			return true;
	return false;
}

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

/* ---- the table on disk ---- */

static uint64_t entry_bytes(const struct qcow2_snapshot *sn)
{
	return ALIGN_UP(SN_HDR_BYTES + MAX(sn->extra_size, SN_EXTRA_BYTES) + strlen(sn->id) +
			strlen(sn->name), 8);
}

static void put_entry(uint8_t *p, const struct qcow2_snapshot *sn)
{
	uint32_t extra = MAX(sn->extra_size, SN_EXTRA_BYTES);
	size_t id_len = strlen(sn->id), name_len = strlen(sn->name);

	be_put64(p, sn->l1_offset);
	be_put32(p + 8, sn->l1_size);
	be_put32(p + 12, (uint32_t)(id_len << 16 | name_len));
	be_put32(p + 16, sn->date_sec);
	be_put32(p + 20, sn->date_nsec);
	be_put64(p + 24, sn->vm_clock_nsec);
	be_put32(p + 32, sn->vm_state_size > UINT32_MAX ? 0 : (uint32_t)sn->vm_state_size);
	be_put32(p + 36, extra);
	p += SN_HDR_BYTES;
	if (sn->extra_size)
		memcpy(p, sn->extra, sn->extra_size);	/* fields we do not know stay */
	be_put64(p, sn->vm_state_size);
	be_put64(p + 8, sn->disk_size);
	be_put64(p + 16, sn->icount);
	p += extra;
	memcpy(p, sn->id, id_len);
	memcpy(p + id_len, sn->name, name_len);
}

/*
 * Write list as the new snapshot table: new clusters, synced, then the
 * header names them (one 12-byte write), then the old table is freed.
 */
static int write_table(struct qcow2_state *s, struct qcow2_snapshot *list, uint32_t n,
		       struct vk_err *err)
{
	uint64_t size = 0, off = 0, old_off = s->snapshots_offset, old_size = s->snapshots_size;
	_cleanup_free_ uint8_t *buf = NULL;
	uint8_t hdr[12], *p;
	uint32_t i;
	int r;

	for (i = 0; i < n; i++)
		size += entry_bytes(&list[i]);
	if (size > MAX_TABLE_BYTES)
		return vk_fail(err, -EFBIG, "%s: snapshot table would exceed %llu bytes",
			       s->bs->filename, (unsigned long long)MAX_TABLE_BYTES);
	buf = calloc(1, size + 1);
	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0, p = buf; i < n; i++) {
		put_entry(p, &list[i]);
		p += entry_bytes(&list[i]);
	}
	if (size) {
		r = qcow2_alloc_clusters(s, (size + s->cluster_size - 1) >> s->cluster_bits, &off, err);
		if (!r)
			r = vk_blk_file_pwrite(s->bs, buf, off, size, err);
		if (r < 0)
			return r;
	}
	r = qcow2_flush(s->bs, err);
	if (r < 0)
		return r;
	be_put32(hdr, n);
	be_put64(hdr + 4, off);
	r = vk_blk_file_pwrite(s->bs, hdr, HDR_NB_SNAPSHOTS, sizeof(hdr), err);
	if (!r && fdatasync(s->bs->fd) < 0)
		r = vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	if (r < 0)
		return r;
	s->snapshots_offset = off;
	s->snapshots_size = size;
	return old_size ? qcow2_free_range(s, old_off, old_size, err) : 0;
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
	r = write_table(s, list, s->nb_snapshots + 1, err);
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
	free_one(&sn);
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
	int i, r;

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
	if (!r && sn->l1_size > s->l1_size)
		r = qcow2_grow_l1(s, sn->l1_size, err);
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
	r = write_table(s, list, s->nb_snapshots - 1, err);
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
	free_one(&sn);
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
