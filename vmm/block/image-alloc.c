// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Allocating writes on the image engine's hot path. Where a write meets
 * clusters that are unallocated (or plain zero) it gets new clusters from
 * the library's cache (vk_blk_alloc_io: no I/O, the L2 entries unchanged)
 * for each such run, up to MAX_PIECES of them between pieces written in
 * place; all its data goes to the file's engine with everything else in
 * flight, and then the runs are committed. A run that covers only part of
 * a cluster that reads as zeros (no backing file under it) gets zeros from
 * a read-only mapping around its data in the same write (QEMU's qcow2
 * writes zeros for such a copy-on-write too); partial writes over a
 * backing file go to the library, which copies. The commit runs on the
 * loop when the image lock is free and it needs only the cache, else in
 * the pool (which also writes the metadata for writethrough before the
 * write completes). A crash before the commit leaves allocated clusters
 * nothing points at (a leak, never an entry pointing at unwritten data).
 *
 * Two writes must not allocate the same clusters: a write over clusters
 * being allocated waits for their commit (alloc_waiting), and no
 * allocation starts over a write the library is doing (slow_writes, until
 * its library call returns), whose own allocation could meet it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image-int.h"

static bool meets_slow(struct image_io *io, uint64_t off, size_t len)
{
	struct waiter *w;

	for (w = io->slow_writes; w; w = w->next)
		if (off < w->off + w->len && w->off < off + len)
			return true;
	return false;
}

bool image_meets_alloc(struct image_io *io, uint64_t off, size_t len)
{
	struct image_req *a;
	unsigned int i;

	for (a = io->allocs; a; a = a->alloc_next)
		for (i = 0; i < a->nalloc; i++)
			if (off < a->run[i].off + a->run[i].len && a->run[i].off < off + len)
				return true;
	return false;
}

/* The runs not committed yet go back (their L2 entries never changed). */
static void give_back(struct vk_blk *bs, const struct alloc_run *run, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		vk_blk_alloc_abort(bs, run[i].host, run[i].len);
}

static int commit_fn(struct blk_backend *bb, void *arg)
{
	struct image_req *r = arg;
	struct vk_err e = { 0 };
	struct alloc_run *a;
	int res = 0;

	for (; r->ncommitted < r->nalloc; r->ncommitted++) {
		a = &r->run[r->ncommitted];
		res = vk_blk_alloc_commit(bb->image, a->off, a->len, a->host, &e);
		if (res < 0)
			break;
	}
	/* A failed commit (its metadata not written) leaves it and the rest unused: back they go. */
	if (res < 0)
		give_back(bb->image, r->run + r->ncommitted, r->nalloc - r->ncommitted);
	return res;
}

static int abort_fn(struct blk_backend *bb, void *arg)
{
	struct image_req *r = arg;

	give_back(bb->image, r->run + r->ncommitted, r->nalloc - r->ncommitted);
	return 0;
}

/*
 * Committed (or given back): the request completes, and the writes that
 * waited for it try again. At close they are cancelled instead: the
 * files' engines are gone.
 */
static void alloc_done(void *opaque, int res)
{
	struct image_req *r = opaque;
	struct image_io *io = r->io;
	blk_done_fn done = r->done;
	void *done_opaque = r->opaque;
	int result = r->error ? r->error : res < 0 ? res : (int)r->total;
	struct image_req **p;
	struct waiter *w, *next;
	bool closing;
	int e;

	pthread_mutex_lock(&io->lock);
	for (p = &io->allocs; *p && *p != r; p = &(*p)->alloc_next)
		;
	if (*p)
		*p = r->alloc_next;
	w = io->alloc_waiting;
	io->alloc_waiting = NULL;
	closing = io->closing;
	r->next_free = io->free_reqs;
	io->free_reqs = r;
	pthread_mutex_unlock(&io->lock);
	done(done_opaque, result);
	for (; w; w = next) {
		next = w->next;
		e = closing ? -ECANCELED : image_rw(io->bb, w->write, w->iov, w->n, w->off, w->done,
						     w->opaque);
		if (e < 0)
			w->done(w->opaque, e);
		free(w);
	}
}

/*
 * The data is written (or failed). The commits are done here when the
 * image lock is free and they need nothing but the cache (a hop to the
 * pool and back costs more than the write on some hosts); else what is
 * left of them, or the give-back, runs in the pool, under the lock.
 * Writethrough wants the metadata written before completion: the pool
 * does that.
 */
void image_alloc_written(struct image_req *r)
{
	struct image_io *io = r->io;
	struct blk_backend *bb = io->bb;
	int e = 0;

	if (!r->error && !bb->image_writethrough && !pthread_mutex_trylock(&bb->image_lock)) {
		for (; r->ncommitted < r->nalloc; r->ncommitted++) {
			struct alloc_run *a = &r->run[r->ncommitted];

			e = vk_blk_alloc_commit(bb->image, a->off, a->len, a->host, NULL);
			if (e < 0)
				break;
		}
		blk_image_unlock(bb);
		if (e != -EAGAIN) {
			alloc_done(r, e);
			return;
		}
	}
	e = blk_pool_submit_fn(bb->pool, r->error ? abort_fn : commit_fn, r, alloc_done, r);
	if (e < 0)
		alloc_done(r, e);	/* the clusters stay allocated: a leak, never a loss */
}

/*
 * [pos, pos + left) of write r (the rest of it) could not be mapped: new
 * clusters for the leading run of the clusters it covers, with zeros
 * around the data where it covers part of one (*zhead before, *ztail
 * after). m: where the data goes and how many of the request's bytes.
 * Image lock and io->lock held.
 */
int image_alloc_piece(struct image_io *io, struct image_req *r, uint64_t pos, uint64_t left,
		      struct vk_blk_mapping *m, uint32_t *zhead, uint32_t *ztail)
{
	struct vk_blk *bs = io->bb->image;
	uint64_t cs = vk_blk_cluster_size(bs), start, end, head, tail, run_end;
	struct vk_blk_mapping am;
	int layer = image_layer_of(io, bs->fd);
	uint32_t a = layer < 0 ? 0 : io->align[layer];

	if (layer < 0 || !cs || r->nalloc == MAX_PIECES || io->closing)
		return -EAGAIN;
	start = pos & ~(cs - 1);
	end = ALIGN_UP(pos + left, cs);
	head = pos - start;
	tail = end - pos - left;
	if ((head || tail) && !io->zeros)
		return -EAGAIN;
	/* Under O_DIRECT the new clusters (cluster aligned) and the zeros must be aligned as the file wants. */
	if (a && ((cs | head | tail) & (a - 1)))
		return -EAGAIN;
	if (meets_slow(io, start, end - start) || image_meets_alloc(io, start, end - start))
		return -EAGAIN;
	if (vk_blk_alloc_io(bs, start, end - start, head || tail ? VK_BLK_ALLOC_ZERO_FILL : 0,
			    &am) < 0)
		return -EAGAIN;
	r->run[r->nalloc++] = (struct alloc_run){ start, am.len, am.host };
	run_end = start + am.len;
	*zhead = (uint32_t)head;
	*ztail = run_end > pos + left ? (uint32_t)(run_end - pos - left) : 0;
	m->kind = VK_MAP_DATA;
	m->fd = am.fd;
	m->host = am.host + head;
	m->len = MIN(run_end, pos + left) - pos;
	return 0;
}

/*
 * A write whose mapping stopped part way gives back what it allocated.
 * In the pool: freeing clusters waits for the hot path to be idle, which
 * the loop (here) must not. If that cannot be queued, they leak.
 */
struct give_back_job {
	unsigned int n;
	struct alloc_run run[MAX_PIECES];
};

static int give_back_fn(struct blk_backend *bb, void *arg)
{
	struct give_back_job *j = arg;

	give_back(bb->image, j->run, j->n);
	return 0;
}

static void give_back_done(void *opaque, int res)
{
	free(opaque);
}

void image_alloc_cancel(struct image_io *io, struct image_req *r)
{
	struct give_back_job *j;

	if (!r->nalloc)
		return;
	j = malloc(sizeof(*j));
	if (j) {
		j->n = r->nalloc;
		memcpy(j->run, r->run, sizeof(r->run[0]) * r->nalloc);
		if (blk_pool_submit_fn(io->bb->pool, give_back_fn, j, give_back_done, j) < 0)
			free(j);
	}
	r->nalloc = 0;
}
