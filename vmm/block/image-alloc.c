// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Allocating writes on the image engine's hot path. A write of whole
 * unallocated clusters gets new clusters from the library's cache
 * (vk_blk_alloc_io: no I/O, the L2 entries unchanged), its data goes to
 * the file's engine with everything else in flight, and then the entries
 * are committed. A write of part of clusters that read as zeros (no
 * backing file under them) does the same, with zeros from a read-only
 * mapping around its data in the one write (QEMU's qcow2 writes zeros for
 * such a copy-on-write too); other partial writes go to the library.
 * The commit runs on the loop when the image lock is free and the commit
 * needs only the cache, else in the pool (which also writes the metadata
 * for writethrough before the write completes). A crash before the commit
 * leaves allocated clusters nothing points at (a leak, never an entry
 * pointing at unwritten data).
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

	for (a = io->allocs; a; a = a->alloc_next)
		if (off < a->off + a->alloc_len && a->off < off + len)
			return true;
	return false;
}

static int commit_fn(struct blk_backend *bb, void *arg)
{
	struct image_req *r = arg;
	struct vk_err e = { 0 };

	return vk_blk_alloc_commit(bb->image, r->off, r->alloc_len, r->piece[0].host, &e);
}

static int abort_fn(struct blk_backend *bb, void *arg)
{
	struct image_req *r = arg;

	vk_blk_alloc_abort(bb->image, r->piece[0].host, r->alloc_len);
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
 * The data is written (or failed). The commit is done here when the image
 * lock is free and it needs nothing but the cache (a hop to the pool and
 * back costs more than the write on some hosts); else it, or the
 * give-back, runs in the pool, under the lock. Writethrough wants the
 * metadata written before completion: the pool does that.
 */
void image_alloc_written(struct image_req *r)
{
	struct image_io *io = r->io;
	struct blk_backend *bb = io->bb;
	int e;

	if (!r->error && !bb->image_writethrough && !pthread_mutex_trylock(&bb->image_lock)) {
		e = vk_blk_alloc_commit(bb->image, r->off, r->alloc_len, r->piece[0].host, NULL);
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
 * A write the library could not map: whole unallocated clusters get new
 * ones now (no I/O) and the data goes to them on the hot path. Image lock
 * held; io->lock held on success (as rw_locked's hot path wants it).
 */
bool image_start_alloc(struct image_io *io, struct image_req *r, uint64_t off)
{
	struct vk_blk *bs = io->bb->image;
	uint64_t cs = vk_blk_cluster_size(bs), start, len, head, tail;
	struct vk_blk_mapping m;
	int layer = image_layer_of(io, bs->fd), k = 0;
	uint32_t a = layer < 0 ? 0 : io->align[layer];

	if (layer < 0 || !cs)
		return false;
	/*
	 * The clusters the write touches; the bytes it leaves out of them get
	 * zeros in the same write (one request to the file, no read).
	 */
	start = off & ~(cs - 1);
	len = ALIGN_UP(off + r->total, cs) - start;
	head = off - start;
	tail = len - head - r->total;
	if ((head || tail) && (!io->zeros || (size_t)r->n + 2 > MAX_SUB_IOV))
		return false;
	/* Under O_DIRECT the new clusters (cluster aligned) must be aligned as the file wants. */
	if (a && ((cs | head | tail) & (a - 1) || !image_iov_aligned(r->iov, r->n, a)))
		return false;
	pthread_mutex_lock(&io->lock);
	if (io->closing || meets_slow(io, start, len) || image_meets_alloc(io, start, len))
		goto no;
	/* All of it or nothing, so that nothing is given back here (that may wait). */
	if (vk_blk_alloc_io(bs, start, len, head || tail ? VK_BLK_ALLOC_ZERO_FILL : 0, &m) < 0)
		goto no;
	if (head || tail) {
		if (head)
			r->sub[k++] = (struct iovec){ io->zeros, head };
		memcpy(r->sub + k, r->iov, sizeof(*r->iov) * (size_t)r->n);
		k += r->n;
		if (tail)
			r->sub[k++] = (struct iovec){ io->zeros, tail };
		r->iov = r->sub;	/* a write: nothing but the engine reads it */
		r->n = k;
	}
	r->alloc = true;
	r->off = start;
	r->alloc_len = len;
	r->npieces = 1;
	r->piece[0] = (struct piece){ VK_MAP_DATA, (unsigned int)layer, m.host, 0, len };
	r->alloc_next = io->allocs;
	io->allocs = r;
	io->nr_alloc++;
	return true;
no:
	pthread_mutex_unlock(&io->lock);
	return false;
}
