// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The qcow2 metadata cache: L2 tables and refcount blocks by host offset,
 * taken with get, given back with put, marked dirty after a change and
 * written back on eviction or flush. A cache may depend on another (L2
 * tables on refcount blocks): the dependency is flushed first, so a table
 * never points at a cluster whose refcount is not yet on disk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "qcow2.h"

struct qcow2_cache_entry {
	uint64_t offset;	/* 0: empty (cluster 0 is the header, never a table) */
	void *table;
	unsigned int ref;
	bool dirty;
	uint64_t lru;
};

struct qcow2_cache {
	struct vk_blk *bs;
	struct qcow2_cache *dep;
	size_t table_size;
	unsigned int n;
	uint64_t tick;
	uint64_t clean_tick;	/* c->tick at the last qcow2_cache_clean */
	struct qcow2_cache_entry *e;
	unsigned int ol_kind;	/* what its tables are, for the overlap check (QCOW2_OL_*) */
	bool cached_only;	/* a miss is -EAGAIN, not a read (qcow2_map_io) */
};

static struct qcow2_cache_entry *find(struct qcow2_cache *c, uint64_t offset);

struct qcow2_cache *qcow2_cache_create(struct vk_blk *bs, unsigned int entries, size_t table_size)
{
	struct qcow2_cache *c = calloc(1, sizeof(*c));
	unsigned int i;

	if (!c)
		return NULL;
	c->bs = bs;
	c->n = MAX(entries, 2u);
	c->table_size = table_size;
	c->e = calloc(c->n, sizeof(*c->e));
	if (!c->e)
		goto fail;
	for (i = 0; i < c->n; i++)
		/* Page-aligned, so O_DIRECT reads and writes the tables without a bounce. */
		if (posix_memalign(&c->e[i].table, 4096, table_size))
			goto fail;
	return c;
fail:
	qcow2_cache_destroy(c);
	return NULL;
}

void qcow2_cache_destroy(struct qcow2_cache *c)
{
	unsigned int i;

	if (!c)
		return;
	for (i = 0; c->e && i < c->n; i++)
		free(c->e[i].table);
	free(c->e);
	free(c);
}

void qcow2_cache_set_dependency(struct qcow2_cache *c, struct qcow2_cache *dep)
{
	c->dep = dep;
}

void qcow2_cache_set_cached_only(struct qcow2_cache *c, bool on)
{
	c->cached_only = on;
}

bool qcow2_cache_has(struct qcow2_cache *c, uint64_t offset)
{
	return find(c, offset) != NULL;
}

void qcow2_cache_set_kind(struct qcow2_cache *c, unsigned int ol_kind)
{
	c->ol_kind = ol_kind;
}

static int write_entry(struct qcow2_cache *c, struct qcow2_cache_entry *e, struct vk_err *err)
{
	int r;

	if (!e->dirty)
		return 0;
	if (c->dep) {
		r = qcow2_cache_flush(c->dep, err);
		if (r < 0)
			return r;
	}
	/* A table may only land where no other kind of metadata lives. */
	r = qcow2_overlap_check(c->bs->opaque, c->ol_kind, e->offset, c->table_size, err);
	if (r < 0)
		return r;
	r = vk_blk_file_pwrite(c->bs, e->table, e->offset, c->table_size, err);
	if (r < 0)
		return r;
	e->dirty = false;
	return 0;
}

/*
 * Write every dirty table, then make them durable before anything that
 * points at them is written (QEMU's qcow2_cache_flush is a write and a
 * bdrv_flush too): the refcount blocks before the L2 tables that use their
 * clusters, the L2 tables before the L1 entries naming them. Writes under
 * O_DSYNC are durable already; cache=unsafe gives the ordering up.
 */
int qcow2_cache_flush(struct qcow2_cache *c, struct vk_err *err)
{
	bool wrote = false;
	int r = qcow2_cache_write(c, &wrote, err);

	return r < 0 || !wrote ? r : vk_blk_file_sync(c->bs, err);
}

int qcow2_cache_write(struct qcow2_cache *c, bool *wrote, struct vk_err *err)
{
	unsigned int i;
	int r;

	for (i = 0; i < c->n; i++) {
		*wrote |= c->e[i].dirty;
		r = write_entry(c, &c->e[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct qcow2_cache_entry *find(struct qcow2_cache *c, uint64_t offset)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		if (c->e[i].offset == offset)
			return &c->e[i];
	return NULL;
}

/* Free an entry for offset: the least recently used one nobody holds. */
static int evict(struct qcow2_cache *c, struct qcow2_cache_entry **out, struct vk_err *err)
{
	struct qcow2_cache_entry *victim = NULL;
	unsigned int i;
	int r;

	for (i = 0; i < c->n; i++) {
		if (c->e[i].ref)
			continue;
		if (!victim || c->e[i].lru < victim->lru)
			victim = &c->e[i];
	}
	if (!victim)
		return vk_fail(err, -ENOSPC, "%s: metadata cache exhausted", c->bs->filename);
	r = write_entry(c, victim, err);
	if (r < 0)
		return r;
	victim->offset = 0;
	*out = victim;
	return 0;
}

static int get(struct qcow2_cache *c, uint64_t offset, void **table, bool read,
	       struct vk_err *err)
{
	struct qcow2_cache_entry *e = find(c, offset);
	int r;

	if (!e && c->cached_only)
		return -EAGAIN;
	if (!e) {
		r = evict(c, &e, err);
		if (r < 0)
			return r;
		if (read) {
			r = vk_blk_file_pread(c->bs, e->table, offset, c->table_size, false, err);
			if (r < 0)
				return r;
		}
		e->offset = offset;
	}
	if (!read)
		memset(e->table, 0, c->table_size);
	e->ref++;
	e->lru = ++c->tick;
	*table = e->table;
	return 0;
}

int qcow2_cache_get(struct qcow2_cache *c, uint64_t offset, void **table, struct vk_err *err)
{
	return get(c, offset, table, true, err);
}

int qcow2_cache_get_empty(struct qcow2_cache *c, uint64_t offset, void **table,
			  struct vk_err *err)
{
	return get(c, offset, table, false, err);
}

static struct qcow2_cache_entry *entry_of(struct qcow2_cache *c, void *table)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		if (c->e[i].table == table)
			return &c->e[i];
	return NULL;
}

void qcow2_cache_put(struct qcow2_cache *c, void **table)
{
	struct qcow2_cache_entry *e = entry_of(c, *table);

	if (e && e->ref)
		e->ref--;
	*table = NULL;
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, void *table)
{
	struct qcow2_cache_entry *e = entry_of(c, table);

	if (e)
		e->dirty = true;
}

void qcow2_cache_discard(struct qcow2_cache *c, uint64_t offset)
{
	struct qcow2_cache_entry *e = find(c, offset);

	if (e && !e->ref) {
		e->offset = 0;
		e->dirty = false;
	}
}

/*
 * cache-clean-interval (QEMU's option): drop the tables nobody used since
 * the last call and give their memory back to the host (MADV_DONTNEED on
 * the page-aligned tables: the pages are zero-filled when next touched, by
 * the read from the image that refills the entry).
 * Only clean, unheld entries go; a dirty one waits for its write-back.
 */
unsigned int qcow2_cache_clean(struct qcow2_cache *c)
{
	unsigned int i, freed = 0;

	for (i = 0; i < c->n; i++) {
		struct qcow2_cache_entry *e = &c->e[i];

		if (!e->offset || e->ref || e->dirty || e->lru > c->clean_tick)
			continue;
		e->offset = 0;
		/*
		 * Whole pages only: a table smaller than a page shares it with
		 * the allocator's other chunks, which MADV_DONTNEED would zero.
		 */
		if (c->table_size % 4096 == 0)
			madvise(e->table, c->table_size, MADV_DONTNEED);
		freed++;
	}
	c->clean_tick = c->tick;
	return freed;
}
