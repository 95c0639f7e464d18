// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Images (qcow2 with its backing chain) on the same I/O engines as raw
 * files. A read or write first asks the block library where its bytes lie
 * (vk_blk_map_io: the metadata cache only, no I/O, no change). When every
 * piece is data in some file of the chain, or zeros, the pieces go to that
 * file's engine (io_uring, Linux AIO or the thread pool, as aio= says),
 * many requests in flight at once, and complete on the backend's loop.
 * Writes of whole unallocated clusters, and of part of clusters that read
 * as zeros, are allocated on the hot path too (image-alloc.c). What needs
 * the library's own work (partial first writes over a backing file, copy-on-write, a table to load into the cache, compressed
 * clusters, an error to report, discard, write-zeroes, flush) goes to the
 * pool, where the library runs it under the image lock, one at a time.
 *
 * Why this is safe:
 * - The hot path takes the image lock with trylock: while the pool holds
 *   it, a request waits for the holder to serve it when it lets go
 *   (image_unlock), so the loop never blocks on the library's I/O.
 * - What the hot path maps needs no metadata change: data clusters that are
 *   the image's alone (written in place, exactly as qcow2_write would),
 *   zero and unallocated clusters and backing files for reads. An
 *   allocating write running in the pool only makes its new cluster
 *   visible (its L2 entry) after the data is written.
 * - A cluster is only reused after it was freed, and the library calls
 *   before_free first: that waits here until the hot path has nothing in
 *   flight, so a read or write is never done on a cluster that meanwhile
 *   holds other data. New hot-path requests cannot start meanwhile: the
 *   freeing call holds the image lock. The count is taken under that lock.
 * - Writethrough and directsync: the files are O_DSYNC and an in-place
 *   write changes no metadata, so a completed write is durable as it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "vmkit/blk-backend.h"
#include "vmkit/evloop.h"
#include "vmkit/block.h"

#include "image-int.h"

static const struct blk_backend_ops *const layer_engines[] = {
	[AIO_IO_URING] = &blk_io_uring_ops,
	[AIO_NATIVE] = &blk_native_ops,
	[AIO_THREADS] = &blk_threads_ops,
};

static void layer_close(struct blk_backend *l)
{
	if (!l)
		return;
	if (l->ops)
		l->ops->close(l);
	blk_pool_free(l->pool);
	free(l);		/* the fd is the library's */
}

/* An engine of its own for one file of the chain, on the image's loop. */
static int layer_open(struct image_io *io, int fd, uint32_t align, enum disk_aio aio,
		      struct vk_err *err)
{
	struct blk_backend *bb = io->bb, *l = calloc(1, sizeof(*l));
	int fl = fcntl(fd, F_GETFL), r;

	if (!l)
		return vk_fail(err, -ENOMEM, "out of memory");
	l->path = bb->path;
	l->fd = fd;
	l->clean_fd = -1;
	l->loop = bb->loop;
	l->direct = fl >= 0 && (fl & O_DIRECT);
	l->max_inflight = bb->max_inflight;
	r = 0;
	if (aio == AIO_NATIVE && !l->direct)
		r = vk_fail(err, -EINVAL,
			    "--disk %s: aio=native was specified, but it requires cache=none or cache=directsync",
			    bb->path);
	if (!r && aio == AIO_THREADS)
		r = blk_pool_new(l, LAYER_THREADS, &l->pool);
	if (!r) {
		l->ops = layer_engines[aio];
		r = l->ops->open(l, err);
		if (r)
			l->ops = NULL;
	}
	if (r) {
		layer_close(l);
		return r;
	}
	io->fds[io->nlayers] = fd;
	io->align[io->nlayers] = !l->direct ? 0 : align ? align : BLK_ALIGN_DIRECT;
	io->layer[io->nlayers++] = l;
	return 0;
}

int image_layer_of(struct image_io *io, int fd)
{
	unsigned int i;

	for (i = 0; i < io->nlayers; i++)
		if (io->fds[i] == fd)
			return (int)i;
	return -1;
}

/* Called by the library, image lock held, before it frees a cluster. */
static void wait_idle(void *opaque)
{
	struct image_io *io = opaque;

	pthread_mutex_lock(&io->lock);
	if (io->inflight)
		io->nr_free_waits++;
	while (io->inflight)
		pthread_cond_wait(&io->idle, &io->lock);
	pthread_mutex_unlock(&io->lock);
}

static struct image_req *get_req(struct image_io *io)
{
	struct image_req *r;

	pthread_mutex_lock(&io->lock);
	r = io->free_reqs;
	if (r)
		io->free_reqs = r->next_free;
	pthread_mutex_unlock(&io->lock);
	return r ? r : malloc(sizeof(*r));
}

/* A hot-path request no longer in flight (io->lock held): a freeing call may go on. */
static void uncount(struct image_io *io)
{
	if (!--io->inflight)
		pthread_cond_broadcast(&io->idle);
}

static void finish(struct image_req *r)
{
	struct image_io *io = r->io;
	blk_done_fn done = r->done;
	void *opaque = r->opaque;
	int result = r->error ? r->error : (int)r->total;

	pthread_mutex_lock(&io->lock);
	r->next_free = io->free_reqs;
	io->free_reqs = r;
	uncount(io);
	pthread_mutex_unlock(&io->lock);
	done(opaque, result);
}

/*
 * All pieces done: an allocating write goes on to its commit, the rest to
 * done. The allocating one stops counting as in flight here: its pieces
 * written in place are done, and its commit may itself free clusters
 * (wait_idle would then wait for it).
 */
static void complete(struct image_req *r)
{
	struct image_io *io = r->io;

	if (!r->nalloc) {
		finish(r);
		return;
	}
	pthread_mutex_lock(&io->lock);
	uncount(io);
	pthread_mutex_unlock(&io->lock);
	image_alloc_written(r);
}

static int on_ready(void *opaque, int fd, uint32_t events)
{
	struct image_io *io = opaque;
	struct image_req *r, *next;
	eventfd_t v;

	struct waiter *w, *wnext;

	eventfd_read(fd, &v);
	pthread_mutex_lock(&io->lock);
	r = io->ready;
	io->ready = NULL;
	w = io->failed;
	io->failed = NULL;
	pthread_mutex_unlock(&io->lock);
	for (; r; r = next) {
		next = r->next_free;
		complete(r);
	}
	for (; w; w = wnext) {
		wnext = w->next;
		w->done(w->opaque, w->result);
		free(w);
	}
	return 0;
}

/* The submitter's reference: the last one out hands the request to the loop. */
static void put_submitter(struct image_req *r)
{
	struct image_io *io = r->io;
	bool first;

	if (__atomic_sub_fetch(&r->pending, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_mutex_lock(&io->lock);
	first = !io->ready && !io->failed;	/* else the loop has a wake-up coming */
	r->next_free = io->ready;
	io->ready = r;
	pthread_mutex_unlock(&io->lock);
	if (first)
		eventfd_write(io->ready_efd, 1);
}

static void put_pending(struct image_req *r)
{
	if (!__atomic_sub_fetch(&r->pending, 1, __ATOMIC_ACQ_REL))
		complete(r);
}

/*
 * One piece done. A read that ends early met the end of its file: the
 * rest reads as zeros there (a data cluster past the end of a preallocated
 * image, the tail of a raw backing file), as the library's reads say.
 */
static void on_piece(struct image_req *r, unsigned int i, int res)
{
	struct piece *p = &r->piece[i];

	if (res >= 0 && (size_t)res < p->len && !r->write)
		vk_iov_memset(r->iov, (unsigned int)r->n, p->at + (size_t)res, 0,
			      p->len - (size_t)res);
	else if (res >= 0 && (size_t)res < p->zhead + p->len + p->ztail)
		res = -EIO;
	if (res < 0)
		__atomic_compare_exchange_n(&r->error, &(int){ 0 }, res, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
	put_pending(r);
}

/*
 * The engines give back one opaque pointer: the request's address plus
 * the piece index in its low bits (requests are malloc'ed, 16-aligned).
 */
static void piece_done(void *opaque, int res)
{
	uintptr_t v = (uintptr_t)opaque;

	on_piece((struct image_req *)(v & ~(uintptr_t)15), (unsigned int)(v & 15), res);
}

bool image_iov_aligned(const struct iovec *iov, int n, uint32_t align)
{
	int i;

	for (i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (align - 1))
			return false;
	return true;
}

/*
 * Cut the request at what the library maps; false: not all of it is on
 * the hot path. Under O_DIRECT the pieces and the caller's buffers must be
 * aligned as the file wants (callers do not bounce for images: the slow
 * path's library does its own aligned I/O).
 */
static bool map_request(struct image_io *io, struct image_req *r, uint64_t off, bool alloc)
{
	struct piece *last = r->npieces ? &r->piece[r->npieces - 1] : NULL;
	size_t at = last ? last->at + last->len : 0, zeros;
	struct vk_blk_mapping m;
	uint32_t a, zhead, ztail;
	int layer;

	/* Pieces already mapped (a first pass without allocation) stay: it goes on after them. */
	while (at < r->total) {
		zhead = ztail = 0;
		if (r->npieces == MAX_PIECES)
			return false;
		if (vk_blk_map_io(io->bb->image, off + at, r->total - at, r->write, &m) < 0 &&
		    (!alloc || image_alloc_piece(io, r, off + at, r->total - at, &m, &zhead,
						 &ztail) < 0))
			return false;
		layer = m.kind == VK_MAP_DATA ? image_layer_of(io, m.fd) : 0;
		if (layer < 0)
			return false;
		a = m.kind == VK_MAP_DATA ? io->align[layer] : 0;
		if (a && (((m.host | m.len) & (a - 1)) || !image_iov_aligned(r->iov, r->n, a)))
			return false;
		r->piece[r->npieces++] = (struct piece){ m.kind, (unsigned int)layer, m.host, at,
							 m.len, zhead, ztail };
		at += m.len;
	}
	/* Zeros can only lead the first piece and trail the last. */
	zeros = (r->piece[0].zhead != 0) + (r->piece[r->npieces - 1].ztail != 0);
	/* Cut into pieces, the iovecs must fit the request's own array (each cut adds one). */
	return (r->npieces == 1 && !zeros) || (size_t)r->n + r->npieces + zeros <= MAX_SUB_IOV;
}

static int submit_piece(struct image_req *r, unsigned int i, struct iovec *sub, unsigned int *used)
{
	struct piece *p = &r->piece[i];
	struct blk_backend *l = r->io->layer[p->layer];
	const struct iovec *iov = r->iov;
	unsigned int k = (unsigned int)r->n, room = MAX_SUB_IOV - *used, z = !!p->zhead;
	void *tag = (void *)((uintptr_t)r | i);
	struct iovec *v = sub + *used;

	if (r->npieces > 1 || p->zhead || p->ztail) {
		if (room <= z + !!p->ztail)
			return -E2BIG;
		if (p->zhead)
			v[0] = (struct iovec){ r->io->zeros, p->zhead };
		k = vk_iov_slice(r->iov, (unsigned int)r->n, p->at, p->len, v + z,
				 room - z - !!p->ztail);
		if (!k)
			return -E2BIG;
		k += z;
		if (p->ztail)
			v[k++] = (struct iovec){ r->io->zeros, p->ztail };
		iov = v;
		*used += k;
	}
	return r->write ? l->ops->pwritev(l, iov, (int)k, p->host - p->zhead, piece_done, tag) :
			  l->ops->preadv(l, iov, (int)k, p->host, piece_done, tag);
}

/*
 * A write through the library. It is counted from its submission until the
 * library call returns (under the image lock, on the pool thread): while
 * counted, no allocating write starts on the hot path, where it could meet
 * the library allocating the same clusters.
 */
static void slow_write_fn_unlink(struct image_io *io, struct waiter *w)
{
	struct waiter **p;

	pthread_mutex_lock(&io->lock);
	for (p = &io->slow_writes; *p && *p != w; p = &(*p)->next)
		;
	if (*p)
		*p = w->next;
	pthread_mutex_unlock(&io->lock);
}

static int slow_write_fn(struct blk_backend *bb, void *arg)
{
	struct waiter *w = arg;
	struct image_io *io = w->io;
	int r = blk_pool_image_rw(bb, w->iov, w->n, w->off, true);

	slow_write_fn_unlink(io, w);
	return r;
}

static void slow_write_done(void *opaque, int res)
{
	struct waiter *w = opaque;

	w->done(w->opaque, res);
	free(w);
}

static int slow(struct blk_backend *bb, bool write, const struct iovec *iov, int n, uint64_t off,
		size_t total, blk_done_fn done, void *opaque)
{
	struct image_io *io = bb->engine;
	struct waiter *w;
	int r;

	__atomic_add_fetch(&io->nr_slow, 1, __ATOMIC_RELAXED);
	if (!write)
		return blk_pool_submit(bb->pool, BLK_POOL_READ, iov, n, off, 0, done, opaque);
	w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct waiter){ .io = io, .write = true, .iov = iov, .n = n, .off = off, .done = done,
			      .opaque = opaque, .len = total };
	pthread_mutex_lock(&io->lock);
	w->next = io->slow_writes;
	io->slow_writes = w;
	pthread_mutex_unlock(&io->lock);
	r = blk_pool_submit_fn(bb->pool, slow_write_fn, w, slow_write_done, w);
	if (r < 0) {
		slow_write_fn_unlink(io, w);
		free(w);
	}
	return r;
}

/*
 * The request, image lock held: on the hot path if the library maps all of
 * it, else to the pool. 0: done will be called; negative: it will not.
 */
static int rw_locked(struct image_io *io, bool write, const struct iovec *iov, int n,
		     uint64_t off, blk_done_fn done, void *opaque)
{
	struct blk_backend *bb = io->bb;
	struct image_req *r;
	size_t total = vk_iov_len(iov, n);
	unsigned int i, used = 0;
	int e;

	if (write) {
		/* A write over clusters being allocated waits for their commit. */
		struct waiter *w = NULL;

		pthread_mutex_lock(&io->lock);
		if (image_meets_alloc(io, off, total) && !io->closing && (w = malloc(sizeof(*w)))) {
			*w = (struct waiter){ io, write, iov, n, off, done, opaque, 0,
					      io->alloc_waiting, 0 };
			io->alloc_waiting = w;
		}
		pthread_mutex_unlock(&io->lock);
		if (w)
			return 0;
	}
	r = get_req(io);
	if (r && !((uintptr_t)r & 15)) {
		*r = (struct image_req){ .io = io, .iov = iov, .n = n, .write = write, .done = done,
					 .opaque = opaque, .pending = 1, .total = total };
		if (map_request(io, r, off, false)) {
			pthread_mutex_lock(&io->lock);
			if (!io->closing)
				goto hot;
			pthread_mutex_unlock(&io->lock);
		} else if (write) {
			/* On from where it stopped, allocating (io->lock keeps slow writes and close off). */
			pthread_mutex_lock(&io->lock);
			if (!io->closing && map_request(io, r, off, true)) {
				if (r->nalloc) {
					r->alloc_next = io->allocs;
					io->allocs = r;
					io->nr_alloc++;
				}
				goto hot;
			}
			image_alloc_cancel(io, r);
			pthread_mutex_unlock(&io->lock);
		}
		pthread_mutex_lock(&io->lock);
		r->next_free = io->free_reqs;
		io->free_reqs = r;
		pthread_mutex_unlock(&io->lock);
	} else {
		free(r);
	}
	return slow(bb, write, iov, n, off, total, done, opaque);

hot:
	/*
	 * Counted under the image lock: a freeing call waits for this one.
	 * io->lock stays held while the pieces go to the engines, so that a
	 * close (which sets closing under it) never meets a submission.
	 */
	io->inflight++;
	io->nr_fast++;
	io->nr_pieces += r->npieces;
	for (i = 0; i < r->npieces; i++) {
		struct piece *p = &r->piece[i];

		if (p->kind == VK_MAP_ZERO) {
			vk_iov_memset(iov, (unsigned int)n, p->at, 0, p->len);
			continue;
		}
		__atomic_add_fetch(&r->pending, 1, __ATOMIC_ACQ_REL);
		e = submit_piece(r, i, r->sub, &used);
		if (e < 0)
			on_piece(r, i, e);	/* cannot be the last reference: ours is held */
	}
	pthread_mutex_unlock(&io->lock);
	put_submitter(r);	/* done runs once all pieces have, never in here */
	return 0;
}

/*
 * The one way the image lock is let go (the hot path, the pool after each
 * library call, the cache cleaner): first the requests that found it taken
 * are served, with it held. The last check and the unlock happen under
 * io->lock, where a submitter that finds the lock taken queues itself, so
 * no waiter is ever left behind.
 */
void blk_image_unlock(struct blk_backend *bb)
{
	struct image_io *io = bb->engine;
	struct waiter *w, *next;
	bool first;
	int e;

	for (;;) {
		pthread_mutex_lock(&io->lock);
		w = io->waiting;
		if (!w) {
			pthread_mutex_unlock(&bb->image_lock);
			pthread_mutex_unlock(&io->lock);
			return;
		}
		io->waiting = NULL;
		io->waiting_tail = &io->waiting;
		pthread_mutex_unlock(&io->lock);
		for (; w; w = next) {
			next = w->next;
			e = rw_locked(io, w->write, w->iov, w->n, w->off, w->done, w->opaque);
			if (!e) {
				free(w);
				continue;
			}
			/* Submitted from here, its done must still run on the loop. */
			w->result = e;
			pthread_mutex_lock(&io->lock);
			first = !io->ready && !io->failed;
			w->next = io->failed;
			io->failed = w;
			pthread_mutex_unlock(&io->lock);
			if (first)
				eventfd_write(io->ready_efd, 1);
		}
	}
}

int image_rw(struct blk_backend *bb, bool write, const struct iovec *iov, int n,
		    uint64_t off, blk_done_fn done, void *opaque)
{
	struct image_io *io = bb->engine;
	struct waiter *w;
	int r;

	pthread_mutex_lock(&io->lock);
	if (pthread_mutex_trylock(&bb->image_lock)) {
		/* Taken: wait for its holder to serve us, rather than go the slow way. */
		w = io->closing ? NULL : malloc(sizeof(*w));
		if (w) {
			*w = (struct waiter){ io, write, iov, n, off, done, opaque, 0, NULL, 0 };
			*io->waiting_tail = w;
			io->waiting_tail = &w->next;
		}
		pthread_mutex_unlock(&io->lock);
		return w ? 0 : slow(bb, write, iov, n, off, vk_iov_len(iov, n), done, opaque);
	}
	pthread_mutex_unlock(&io->lock);
	r = rw_locked(io, write, iov, n, off, done, opaque);
	blk_image_unlock(bb);
	return r;
}

static int image_preadv(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
			blk_done_fn done, void *opaque)
{
	return image_rw(bb, false, iov, n, off, done, opaque);
}

static int image_pwritev(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
			 blk_done_fn done, void *opaque)
{
	return image_rw(bb, true, iov, n, off, done, opaque);
}

static int image_flush(struct blk_backend *bb, blk_done_fn done, void *opaque)
{
	/* The library's flush: metadata first, then every file's fdatasync. */
	return blk_pool_submit(bb->pool, BLK_POOL_FLUSH, NULL, 0, 0, 0, done, opaque);
}

static void image_plug(struct blk_backend *bb)
{
	struct image_io *io = bb->engine;
	unsigned int i;

	for (i = 0; i < io->nlayers; i++)
		blk_plug(io->layer[i]);
}

static void image_unplug(struct blk_backend *bb)
{
	struct image_io *io = bb->engine;
	unsigned int i;

	for (i = 0; i < io->nlayers; i++)
		blk_unplug(io->layer[i]);
}

static void image_close(struct blk_backend *bb)
{
	struct image_io *io = bb->engine;
	struct image_req *r;
	unsigned int i;

	if (!io)
		return;
	pthread_mutex_lock(&io->lock);
	io->closing = true;	/* from here on, waiters and retries go to the pool */
	pthread_mutex_unlock(&io->lock);
	/*
	 * Each engine completes what it has in flight, callbacks here; then
	 * the pool, whose library calls may be waiting in wait_idle for just
	 * that, finishes too, before io goes.
	 */
	for (i = 0; i < io->nlayers; i++)
		layer_close(io->layer[i]);
	blk_pool_free(bb->pool);
	bb->pool = NULL;
	if (io->ready_efd >= 0) {
		on_ready(io, io->ready_efd, 0);
		evloop_del(bb->loop, io->ready_efd);
		close(io->ready_efd);
	}
	if (bb->image) {
		bb->image->before_free = NULL;
		bb->image->before_free_opaque = NULL;
	}
	while ((r = io->free_reqs)) {
		io->free_reqs = r->next_free;
		free(r);
	}
	if (io->zeros)
		munmap(io->zeros, io->zeros_len);
	pthread_cond_destroy(&io->idle);
	pthread_mutex_destroy(&io->lock);
	free(io);
	bb->engine = NULL;
}

/* Every file the chain reads or writes data in gets its own engine. */
static int image_open(struct blk_backend *bb, struct vk_err *err)
{
	struct image_io *io = calloc(1, sizeof(*io));
	struct vk_blk *l;
	int r = 0, fd;

	if (!io)
		return vk_fail(err, -ENOMEM, "out of memory");
	io->bb = bb;
	io->waiting_tail = &io->waiting;
	pthread_mutex_init(&io->lock, NULL);
	pthread_cond_init(&io->idle, NULL);
	bb->engine = io;
	io->ready_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = io->ready_efd < 0 ? -errno : evloop_add(bb->loop, io->ready_efd, EPOLLIN, on_ready, io);
	if (r) {
		if (io->ready_efd >= 0)
			close(io->ready_efd);
		io->ready_efd = -1;
		image_close(bb);
		return vk_fail(err, r, "--disk %s: eventfd: %s", bb->path, strerror(-r));
	}
	io->zeros_len = vk_blk_cluster_size(bb->image);
	io->zeros = io->zeros_len ? mmap(NULL, io->zeros_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
					 -1, 0) : NULL;
	if (io->zeros == MAP_FAILED)
		io->zeros = NULL;
	for (l = bb->image; l && !r && io->nlayers < MAX_LAYERS; l = l->backing) {
		if (!l->drv->map_io)
			continue;
		fd = l->drv->map_fd ? l->drv->map_fd(l, 0) : l->fd;
		if (fd >= 0 && image_layer_of(io, fd) < 0)
			r = layer_open(io, fd, l->align, bb->aio, err);
	}
	if (r) {
		image_close(bb);
		return r;
	}
	bb->image->before_free = wait_idle;
	bb->image->before_free_opaque = io;
	return 0;
}

void blk_image_stats(const struct blk_backend *bb, struct blk_image_stats *st)
{
	struct image_io *io = bb->ops == &blk_image_ops ? bb->engine : NULL;

	memset(st, 0, sizeof(*st));
	if (!io)
		return;
	st->slow = __atomic_load_n(&io->nr_slow, __ATOMIC_RELAXED);
	pthread_mutex_lock(&io->lock);
	st->fast = io->nr_fast;
	st->pieces = io->nr_pieces;
	st->alloc = io->nr_alloc;
	st->free_waits = io->nr_free_waits;
	pthread_mutex_unlock(&io->lock);
}

const struct blk_backend_ops blk_image_ops = {
	.name = "image",
	.open = image_open,
	.close = image_close,
	.preadv = image_preadv,
	.pwritev = image_pwritev,
	.flush = image_flush,
	.discard = blk_pool_discard,
	.write_zeroes = blk_pool_write_zeroes,
	.plug = image_plug,
	.unplug = image_unplug,
};
