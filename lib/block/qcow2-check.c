// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 consistency check, as qemu-img check: count every reference to
 * every cluster from the metadata, compare with the refcounts, check the
 * COPIED flags; optionally repair leaks and errors in place. Findings are
 * handed to the caller's report function with QEMU's wording.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qcow2.h"

#define MAX_CHECK_CLUSTERS (1ULL << 28)

struct check {
	struct qcow2_state *s;
	struct vk_blk_check *res;
	uint32_t *ref;
	uint64_t nb;
	uint64_t next_contig;
	bool snapshot;		/* counting a snapshot's tables: no allocation statistics */
	/*
	 * The refcount structures cannot be trusted (an entry with reserved
	 * bits, a block outside the file or shared with other metadata):
	 * repairing through them would write refcounts over live tables, so
	 * they are rebuilt elsewhere instead (qcow2-rebuild.c), as QEMU does.
	 */
	bool rebuild;
};

static void report(struct vk_blk_check *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void report(struct vk_blk_check *res, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!res->report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	res->report(res->opaque, line);
}

static void inc(struct check *c, uint64_t off, uint64_t len)
{
	uint64_t first = off >> c->s->cluster_bits, last, i;

	if (!len)
		return;
	last = (off + len - 1) >> c->s->cluster_bits;
	if (last >= c->nb) {
		report(c->res, "ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x%llx size 0x%llx",
		       (unsigned long long)off, (unsigned long long)len);
		c->res->corruptions++;
		return;
	}
	for (i = first; i <= last; i++)
		if (c->ref[i] < UINT32_MAX)
			c->ref[i]++;
}

static void count_l2_entry(struct check *c, uint64_t e, uint64_t index)
{
	struct qcow2_state *s = c->s;
	enum qcow2_cluster_type t = qcow2_entry_type(s, e);
	uint64_t off, len;

	/* A data file maps clusters one to one: a compressed entry is a corruption. */
	if (t == QCOW2_COMPRESSED && qcow2_has_data_file(s)) {
		report(c->res, "ERROR compressed cluster %llu with data file, entry=0x%llx",
		       (unsigned long long)index, (unsigned long long)e);
		c->res->corruptions++;
		return;
	}

	if (t != QCOW2_COMPRESSED && (e & L2E_STD_RESERVED_MASK)) {
		report(c->res, "ERROR found l2 entry with reserved bits set: %llx",
		       (unsigned long long)e);
		c->res->corruptions++;
	}
	switch (t) {
	case QCOW2_COMPRESSED:
		if (e & QCOW_OFLAG_COPIED) {
			qcow2_compressed_range(s, e, &off, &len);
			report(c->res, "ERROR: coffset=0x%llx: copied flag must never be set for compressed clusters",
			       (unsigned long long)off);
			c->res->corruptions++;
			e &= ~QCOW_OFLAG_COPIED;
		}
		qcow2_compressed_range(s, e, &off, &len);
		inc(c, off, len);
		if (c->snapshot)
			break;
		c->res->allocated_clusters++;
		c->res->compressed_clusters++;
		c->res->fragmented_clusters++;
		break;
	case QCOW2_NORMAL:
	case QCOW2_ZERO_ALLOC:
		off = e & L2E_OFFSET_MASK;
		if (off & (s->cluster_size - 1)) {
			report(c->res, "ERROR offset=%llx: Cluster is not properly aligned; L2 entry corrupted.",
			       (unsigned long long)off);
			c->res->corruptions++;
			break;
		}
		/* Clusters of an external data file are not the image file's: no refcount. */
		if (!qcow2_has_data_file(s))
			inc(c, off, s->cluster_size);
		if (c->snapshot)
			break;
		c->res->allocated_clusters++;
		if (c->next_contig && off != c->next_contig)
			c->res->fragmented_clusters++;
		c->next_contig = off + s->cluster_size;
		break;
	default:
		break;
	}
}

/* One L1 table (the active one or a snapshot's): the table, its L2 tables, their clusters. */
static int count_l1(struct check *c, const uint64_t *l1, uint64_t l1_offset, uint32_t l1_size,
		    struct vk_err *err)
{
	struct qcow2_state *s = c->s;
	uint64_t l2off, i, j;
	void *l2;
	int r;

	inc(c, l1_offset, (uint64_t)l1_size * 8);
	for (i = 0; i < l1_size; i++) {
		l2off = l1[i] & L1E_OFFSET_MASK;
		if (!l2off)
			continue;
		if (l1[i] & L1E_RESERVED_MASK) {
			report(c->res, "ERROR found L1 entry with reserved bits set: %llx",
			       (unsigned long long)l1[i]);
			c->res->corruptions++;
		}
		if (l2off & (s->cluster_size - 1)) {
			report(c->res, "ERROR l2_offset=%llx: Table is not cluster aligned; L1 entry corrupted",
			       (unsigned long long)l2off);
			c->res->corruptions++;
			continue;
		}
		inc(c, l2off, s->cluster_size);
		c->next_contig = 0;	/* contiguity is counted within one L2 table, as QEMU */
		if ((l2off >> s->cluster_bits) >= c->nb || l2off < s->cluster_size)
			continue;
		r = qcow2_check_offset(s, "L2 table", l2off, s->cluster_size, err);
		if (!r)
			r = qcow2_cache_get(s->l2_cache, l2off, &l2, err);
		if (r < 0)
			return r;
		for (j = 0; j < (1ULL << s->l2_bits); j++)
			count_l2_entry(c, qcow2_be64(l2, qcow2_l2_index(s, j)), j);
		qcow2_cache_put(s->l2_cache, &l2);
	}
	return 0;
}

static void inc_cluster(void *opaque, uint64_t off)
{
	struct check *c = opaque;

	inc(c, off, c->s->cluster_size);
}

/* Persistent bitmaps (while valid): the directory, each table, each data cluster. */
static int count_bitmaps(struct check *c, struct vk_err *err)
{
	struct qcow2_bitmaps b;
	uint32_t i;
	int r = qcow2_bitmaps_load(c->s, &b, err);

	if (r < 0 || !b.nb)
		return r;
	inc(c, b.dir_offset, b.dir_size);
	for (i = 0; i < b.nb && r >= 0; i++) {
		inc(c, b.e[i].table_offset, (uint64_t)b.e[i].table_size * 8);
		r = qcow2_bitmap_table_each(c->s, &b.e[i], inc_cluster, c, err);
	}
	qcow2_bitmaps_free(&b);
	return r;
}

static int count_tables(struct check *c, struct vk_err *err)
{
	struct qcow2_state *s = c->s;
	uint64_t *l1;
	uint32_t i;
	int r;

	inc(c, 0, s->cluster_size);
	c->snapshot = false;
	r = count_l1(c, s->l1, s->l1_offset, s->l1_size, err);
	if (r < 0)
		return r;
	r = count_bitmaps(c, err);
	if (r < 0)
		return r;
	inc(c, s->snapshots_offset, s->snapshots_size);
	c->snapshot = true;
	for (i = 0; i < s->nb_snapshots && r >= 0; i++) {
		r = qcow2_snapshot_read_l1(s, &s->snapshots[i], &l1, err);
		if (r < 0)
			return r;
		r = count_l1(c, l1, s->snapshots[i].l1_offset, s->snapshots[i].l1_size, err);
		free(l1);
	}
	c->snapshot = false;
	return r;
}

static int count_refcount_structures(struct check *c, struct vk_err *err)
{
	struct qcow2_state *s = c->s;
	_cleanup_free_ uint8_t *raw = malloc(s->rt_size * 8);
	uint64_t i, off;
	int r;

	/* The table as it is on disk: the loaded copy has the reserved bits masked off. */
	if (!raw)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(s->bs, raw, s->rt_offset, s->rt_size * 8, false, err);
	if (r < 0)
		return r;
	inc(c, s->rt_offset, (uint64_t)s->rt_clusters * s->cluster_size);
	for (i = 0; i < s->rt_size; i++) {
		off = s->rt[i];
		if (qcow2_be64(raw, i) & RT_RESERVED_MASK) {
			report(c->res, "ERROR refcount table entry %llu has reserved bits set",
			       (unsigned long long)i);
			c->res->corruptions++;
			c->rebuild = true;
			continue;
		}
		if (!off)
			continue;
		if (off & (s->cluster_size - 1)) {
			report(c->res, "ERROR refcount block %llu is not cluster aligned; refcount table entry corrupted",
			       (unsigned long long)i);
			c->res->corruptions++;
			c->rebuild = true;
			s->rt[i] = 0;	/* never read it */
			continue;
		}
		if ((off >> s->cluster_bits) >= c->nb || off < s->cluster_size) {
			report(c->res, "ERROR refcount block %llu is outside image",
			       (unsigned long long)i);
			c->res->corruptions++;
			c->rebuild = true;
			s->rt[i] = 0;
			continue;
		}
		inc(c, off, s->cluster_size);
	}
	return 0;
}

/*
 * Once every reference is counted, a refcount block must be referenced by
 * its table entry alone: one that is also an L1 or L2 table, the refcount
 * table or another block would have repairs written over that metadata.
 */
static void check_refblocks_apart(struct check *c)
{
	struct qcow2_state *s = c->s;
	uint64_t i, cl;

	for (i = 0; i < s->rt_size; i++) {
		if (!s->rt[i])
			continue;
		cl = s->rt[i] >> s->cluster_bits;
		/*
		 * An entry with reserved bits was reported and left as it is: its
		 * block may lie anywhere, past the end of the file included.
		 */
		if (cl >= c->nb || c->ref[cl] <= 1)
			continue;
		report(c->res, "ERROR refcount block %llu refcount=%llu", (unsigned long long)i,
		       (unsigned long long)c->ref[cl]);
		c->res->corruptions++;
		c->rebuild = true;
	}
}

static int compare(struct check *c, unsigned int fix, struct vk_err *err)
{
	struct vk_blk_check *res = c->res;
	uint64_t i, rc, highest = 0;
	bool found = false;
	int64_t *fixed;
	int r;

	for (i = 0; i < c->nb; i++) {
		r = qcow2_get_refcount(c->s, i, &rc, err);
		if (r < 0) {
			report(res, "ERROR: Can't get refcount for cluster %llu: %s",
			       (unsigned long long)i, strerror(-r));
			res->check_errors++;
			continue;
		}
		if (rc || c->ref[i]) {
			highest = i;
			found = true;
		}
		if (rc == c->ref[i])
			continue;
		fixed = NULL;
		if (rc > c->ref[i] && (fix & VK_CHECK_FIX_LEAKS))
			fixed = &res->leaks_fixed;
		else if (rc < c->ref[i] && (fix & VK_CHECK_FIX_ERRORS))
			fixed = &res->corruptions_fixed;
		report(res, "%s cluster %llu refcount=%llu reference=%llu",
		       fixed ? "Repairing" : rc < c->ref[i] ? "ERROR" : "Leaked",
		       (unsigned long long)i, (unsigned long long)rc, (unsigned long long)c->ref[i]);
		if (fixed && qcow2_set_refcount(c->s, i, c->ref[i], NULL) == 0) {
			(*fixed)++;
			continue;
		}
		if (rc < c->ref[i])
			res->corruptions++;
		else
			res->leaks++;
	}
	res->image_end_offset = found ? (int64_t)((highest + 1) << c->s->cluster_bits) : 0;
	return 0;
}

static int check_copied_l2(struct check *c, uint64_t l1i, unsigned int fix, struct vk_err *err)
{
	struct qcow2_state *s = c->s;
	uint64_t j, e, rc;
	void *l2;
	int r;

	r = qcow2_read_l2(s, (uint32_t)l1i, &l2, err);
	if (r < 0)
		return r;
	for (j = 0; j < (1ULL << s->l2_bits); j++) {
		enum qcow2_cluster_type t;

		e = qcow2_be64(l2, qcow2_l2_index(s, j));
		t = qcow2_entry_type(s, e);
		if ((t != QCOW2_NORMAL && t != QCOW2_ZERO_ALLOC) ||
		    ((e & L2E_OFFSET_MASK) & (s->cluster_size - 1)))
			continue;
		/* A data file's cluster counts as referenced once, as QEMU takes it. */
		rc = 1;
		r = qcow2_has_data_file(s) ? 0 :
		    qcow2_get_refcount(s, (e & L2E_OFFSET_MASK) >> s->cluster_bits, &rc, err);
		if (r < 0)
			break;
		if ((rc == 1) == !!(e & QCOW_OFLAG_COPIED))
			continue;
		report(c->res, "%s OFLAG_COPIED data cluster: l2_entry=%llx refcount=%llu",
		       (fix & VK_CHECK_FIX_ERRORS) ? "Repairing" : "ERROR",
		       (unsigned long long)e, (unsigned long long)rc);
		if (fix & VK_CHECK_FIX_ERRORS) {
			qcow2_set_be64(l2, qcow2_l2_index(s, j), rc == 1 ? e | QCOW_OFLAG_COPIED : e & ~QCOW_OFLAG_COPIED);
			qcow2_cache_mark_dirty(s->l2_cache, l2);
			c->res->corruptions_fixed++;
		} else {
			c->res->corruptions++;
		}
	}
	qcow2_cache_put(s->l2_cache, &l2);
	return r;
}

static int check_copied(struct check *c, unsigned int fix, struct vk_err *err)
{
	struct qcow2_state *s = c->s;
	uint64_t i, l2off, rc, be;
	int r;

	for (i = 0; i < s->l1_size; i++) {
		l2off = s->l1[i] & L1E_OFFSET_MASK;
		if (!l2off || (l2off & (s->cluster_size - 1)) || (l2off >> s->cluster_bits) >= c->nb ||
		    l2off < s->cluster_size)
			continue;
		r = qcow2_get_refcount(s, l2off >> s->cluster_bits, &rc, err);
		if (r < 0)
			return r;
		if ((rc == 1) != !!(s->l1[i] & QCOW_OFLAG_COPIED)) {
			report(c->res, "%s OFLAG_COPIED L2 cluster: l1_index=%llu l1_entry=%llx refcount=%llu",
			       (fix & VK_CHECK_FIX_ERRORS) ? "Repairing" : "ERROR",
			       (unsigned long long)i, (unsigned long long)s->l1[i],
			       (unsigned long long)rc);
			if (fix & VK_CHECK_FIX_ERRORS) {
				s->l1[i] ^= QCOW_OFLAG_COPIED;
				be = htobe64(s->l1[i]);
				r = vk_blk_file_pwrite(s->bs, &be, s->l1_offset + 8 * i, 8, err);
				if (r < 0)
					return r;
				c->res->corruptions_fixed++;
			} else {
				c->res->corruptions++;
			}
		}
		r = check_copied_l2(c, i, fix, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static void reset(struct vk_blk_check *res)
{
	res->corruptions = res->leaks = res->check_errors = 0;
	res->corruptions_fixed = res->leaks_fixed = 0;
	res->allocated_clusters = res->fragmented_clusters = res->compressed_clusters = 0;
}

static int run(struct check *c, unsigned int fix, struct vk_err *err)
{
	void (*say)(void *opaque, const char *line) = c->res->report;
	int r;

	reset(c->res);
	memset(c->ref, 0, c->nb * sizeof(*c->ref));
	c->next_contig = 0;
	c->res->total_clusters = (int64_t)((c->s->size + c->s->cluster_size - 1) >> c->s->cluster_bits);
	c->rebuild = false;
	/* A repairing pass after the first: what counting finds was said already. */
	if (fix)
		c->res->report = NULL;
	r = count_refcount_structures(c, err);
	if (!r)
		r = count_tables(c, err);
	if (!r)
		check_refblocks_apart(c);
	c->res->report = say;
	if (r < 0)
		return r;
	if (c->rebuild)
		fix = 0;	/* never write through blocks that are not theirs */
	r = compare(c, fix, err);
	if (r < 0)
		return r;
	return check_copied(c, fix, err);
}

/* The reference counters for every cluster of the file as it is now (it grows on rebuild). */
static int size_ref(struct check *c, struct vk_err *err)
{
	struct qcow2_state *s = c->s;
	int64_t fsize = vk_blk_file_size(s->bs);

	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", s->bs->filename, strerror((int)-fsize));
	c->nb = ((uint64_t)fsize + s->cluster_size - 1) >> s->cluster_bits;
	if (c->nb > MAX_CHECK_CLUSTERS)
		return vk_fail(err, -EFBIG, "%s: too many clusters to check", s->bs->filename);
	free(c->ref);
	c->ref = calloc(c->nb + 1, sizeof(*c->ref));
	if (!c->ref)
		return vk_fail(err, -ENOMEM, "out of memory");
	return 0;
}

/*
 * -r all on untrusted refcount structures: new ones from the counted
 * references, then the old ones (now leaks) freed; the result is what is
 * left after, with the difference counted as fixed (as QEMU reports it).
 */
static int rebuild(struct check *c, struct vk_err *err)
{
	struct vk_blk_check old = *c->res;
	struct vk_blk_check *res = c->res;
	int r;

	report(res, "Rebuilding refcount structure");
	r = qcow2_rebuild_refcounts(c->s, c->ref, c->nb, err);
	if (!r)
		r = size_ref(c, err);
	if (!r)
		r = run(c, VK_CHECK_FIX_LEAKS, err);
	if (!r)
		r = qcow2_flush(c->s->bs, err);
	if (!r)
		r = run(c, 0, err);
	if (r < 0)
		return r;
	if (c->rebuild) {
		report(res, "ERROR rebuilt refcount structure is still broken");
		res->check_errors++;
	}
	res->corruptions_fixed = MAX(old.corruptions - res->corruptions, 0);
	res->leaks_fixed = MAX(old.leaks - res->leaks, 0);
	return 0;
}

int qcow2_check(struct vk_blk *bs, struct vk_blk_check *res, unsigned int fix,
		struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	struct check c = { .s = s, .res = res };
	int r;

	r = size_ref(&c, err);
	if (!r)
		r = run(&c, 0, err);
	if (!r && c.rebuild && (fix & VK_CHECK_FIX_ERRORS)) {
		r = rebuild(&c, err);
	} else if (!r && c.rebuild && fix) {
		report(res, "ERROR need to rebuild refcount structures");
		res->check_errors++;
		r = vk_fail(err, -EIO, "%s: the refcount structures must be rebuilt (-r all)",
			    bs->filename);
	} else if (!r && fix && (res->leaks || res->corruptions)) {
		/* New refcount blocks go past the end, never onto a cluster still in use. */
		s->free_index = MAX(s->free_index, c.nb);
		r = run(&c, fix, err);
		if (!r)
			r = qcow2_flush(bs, err);
	}
	if (!r && fix && !res->corruptions && !res->check_errors)
		qcow2_mark_consistent(s);
	free(c.ref);
	return r;
}
