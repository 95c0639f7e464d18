/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The image engine's insides, shared by its two files: image.c (requests,
 * the hot path, the lock and its waiters, the files' engines) and
 * image-alloc.c (allocating writes on the hot path).
 */
#ifndef VMKIT_BLOCK_IMAGE_INT_H
#define VMKIT_BLOCK_IMAGE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"

#define MAX_LAYERS	8	/* files with their own engine; deeper chains take the slow path */
#define MAX_PIECES	16	/* a request in more pieces than this takes the slow path */
#define MAX_SUB_IOV	256	/* iovecs for a request cut into pieces */
#define LAYER_THREADS	16	/* aio=threads: as for a raw file */

struct piece {
	enum vk_blk_map_kind kind;
	unsigned int layer;
	uint64_t host;
	size_t at, len;		/* bytes of the request */
	uint32_t zhead, ztail;	/* new clusters: zeros written before and after the data */
};

/* New clusters of an allocating write: the image's bytes [off, off + len) at host. */
struct alloc_run {
	uint64_t off, len, host;
};

struct image_req {
	struct image_io *io;
	const struct iovec *iov;
	int n;
	bool write;
	blk_done_fn done;
	void *opaque;
	unsigned int pending;	/* pieces in flight, plus one while submitting */
	int error;
	size_t total;
	unsigned int npieces;
	struct piece piece[MAX_PIECES];
	struct iovec sub[MAX_SUB_IOV];
	struct image_req *next_free;
	/* An allocating write: its runs of new clusters, committed once all is written. */
	unsigned int nalloc, ncommitted;
	struct alloc_run run[MAX_PIECES];
	struct image_req *alloc_next;
};

struct image_io {
	struct blk_backend *bb;
	unsigned int nlayers;
	int fds[MAX_LAYERS];
	struct blk_backend *layer[MAX_LAYERS];
	uint32_t align[MAX_LAYERS];	/* O_DIRECT: offsets, lengths and buffers; 0 buffered */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned int inflight;		/* hot-path requests not completed (under lock) */
	struct image_req *free_reqs;	/* kept for reuse: no allocation per request */
	/*
	 * Requests that completed inside their submit (all zeros, or every
	 * piece refused): done must not run there, so the loop runs it.
	 */
	struct image_req *ready;
	int ready_efd;
	/*
	 * Requests that found the image lock taken (the pool running the
	 * library): whoever holds it serves them before letting go
	 * (image_unlock), so they still take the hot path. Under lock.
	 */
	struct waiter *waiting, **waiting_tail;
	struct waiter *failed;		/* waiters that could not be submitted: done on the loop */
	bool closing;			/* no more submissions to the files' engines */
	/*
	 * Allocating writes between vk_blk_alloc_io and their commit. A write
	 * that overlaps one waits in alloc_waiting until it is committed (the
	 * library would see the clusters unallocated and allocate them again).
	 * And none starts over a write that is in the pool (slow_writes, until
	 * the library has done it), whose own allocation could meet it the
	 * same way. Under lock.
	 */
	struct image_req *allocs;
	struct waiter *alloc_waiting;
	struct waiter *slow_writes;
	uint64_t nr_fast, nr_slow, nr_free_waits, nr_pieces, nr_alloc;
	/*
	 * A cluster of zeros (a private anonymous read-only mapping: the
	 * kernel's zero page, no memory) for allocating writes of part of
	 * clusters; NULL: they take the slow path.
	 */
	void *zeros;
	size_t zeros_len;
};

struct waiter {
	struct image_io *io;
	bool write;
	const struct iovec *iov;
	int n;
	uint64_t off;
	blk_done_fn done;
	void *opaque;
	int result;
	struct waiter *next;
	size_t len;		/* a write in the pool: its bytes (meets_slow) */
};

/* image.c */
int image_layer_of(struct image_io *io, int fd);
bool image_iov_aligned(const struct iovec *iov, int n, uint32_t align);
int image_rw(struct blk_backend *bb, bool write, const struct iovec *iov, int n, uint64_t off,
	     blk_done_fn done, void *opaque);

/* image-alloc.c */
/* A write over clusters being allocated (io->lock held). */
bool image_meets_alloc(struct image_io *io, uint64_t off, size_t len);
/*
 * New clusters for the rest of write r, [pos, pos + left), which the
 * library could not map; m and the zeros around as a piece wants them.
 * Image lock and io->lock held.
 */
int image_alloc_piece(struct image_io *io, struct image_req *r, uint64_t pos, uint64_t left,
		      struct vk_blk_mapping *m, uint32_t *zhead, uint32_t *ztail);
/* A write not going ahead after all: its new clusters go back (through the pool). */
void image_alloc_cancel(struct image_io *io, struct image_req *r);
/* r's data is written (or failed): commit or give back, then complete it. */
void image_alloc_written(struct image_req *r);

#endif
