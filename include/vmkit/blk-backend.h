/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block backend behind virtio-blk: a raw file or block device served
 * asynchronously by one of three I/O engines (io_uring, Linux AIO, a thread
 * pool), each an ops table in vmm/block/.
 *
 * Every request is submitted with a completion callback; completions run on
 * the thread that runs the event loop given at open (an eventfd in that
 * loop), never inside the submitting call. A submit returns 0 (done will be
 * called exactly once) or a negative errno (done will not be called). The
 * result given to done is the byte count for reads and writes, 0 for the
 * rest, or a negative errno.
 */
#ifndef VMKIT_BLK_BACKEND_H
#define VMKIT_BLK_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmkit/blk-backup.h"
#include "vmkit/config.h"
#include "vmkit/util.h"

struct evloop;
struct blk_backend;
struct blk_pool;

typedef void (*blk_done_fn)(void *opaque, int result);

struct blk_backend_ops {
	const char *name;
	/* Set up the engine on bb->fd (already open) and bind it to bb->loop. */
	int (*open)(struct blk_backend *bb, struct vk_err *err);
	/* Wait for every request in flight (their callbacks run here), then free. */
	void (*close)(struct blk_backend *bb);
	int (*preadv)(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
		      blk_done_fn done, void *opaque);
	int (*pwritev)(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
		       blk_done_fn done, void *opaque);
	int (*flush)(struct blk_backend *bb, blk_done_fn done, void *opaque);
	int (*discard)(struct blk_backend *bb, uint64_t off, uint64_t len, blk_done_fn done,
		       void *opaque);
	int (*write_zeroes)(struct blk_backend *bb, uint64_t off, uint64_t len, bool unmap,
			    blk_done_fn done, void *opaque);
	/*
	 * Optional: between plug and unplug, submissions may wait in the
	 * engine and go to the kernel together at unplug (one syscall for a
	 * batch). Calls nest, from any thread.
	 */
	void (*plug)(struct blk_backend *bb);
	void (*unplug)(struct blk_backend *bb);
};

struct blk_backend {
	const struct blk_backend_ops *ops;
	const char *path;
	int fd;
	bool is_bdev;
	bool direct;			/* O_DIRECT: buffers must be aligned */
	uint64_t size;			/* bytes, rounded down to 512 */
	unsigned int max_inflight;	/* the most requests the device will have queued */
	struct evloop *loop;		/* where completions are delivered */
	void *engine;			/* the engine's own state */
	/*
	 * An image the block library serves (qcow2, with its backing chain):
	 * the image engine (vmm/block/image.c) does reads and writes the
	 * library maps without I/O on the chain's files with the aio= engine,
	 * and the rest in the pool, through the library, one at a time under
	 * image_lock (the library's metadata cache is not shared between
	 * threads).
	 */
	struct vk_blk *image;
	enum disk_aio aio;		/* the engine the image engine uses for its files */
	pthread_mutex_t image_lock;
	bool image_writethrough;	/* writethrough/directsync: flush the image after each write */
	int clean_fd;			/* cache-clean-interval's timerfd, or -1 */
	struct blk_pool *pool;		/* blocking calls for what the engine lacks */
	bool probed_raw;		/* format=auto found raw: guard the first sector */
	struct blk_backend *next_open;	/* the process's open backends (blk_backends_set_active) */
	/*
	 * A backup job's copy-before-write (include/vmkit/blk-backup.h): set
	 * while one copies this disk. Read without a lock on every write; the
	 * job's own lock decides.
	 */
	struct blk_backup_disk *backup;
	/*
	 * A migration with local disks: the chunks writes completed in, since
	 * the last collect (vmm/block/track.c). track is set while tracking;
	 * track_mem stays until close (a completion may still mark it).
	 */
	struct blk_track *track, *track_mem;
};

/* Dirty tracking for a migration that copies the disks (vmm/block/track.c). */
#define BLK_TRACK_CHUNK		(64u << 10)
int blk_track_start(struct blk_backend *bb, struct vk_err *err);
void blk_track_stop(struct blk_backend *bb);
/* The chunks marked since the last call into out (words of 64 chunks), cleared; their count. */
uint64_t blk_track_collect(struct blk_backend *bb, uint64_t *out);
void blk_track_free(struct blk_backend *bb);
/*
 * The disk as the guest sees it, synchronously, on any thread that is not
 * the backend's loop: a raw file with pread/pwrite (buffers aligned for
 * O_DIRECT), an image through the library under its lock. pwrite with buf
 * NULL writes zeros.
 */
int blk_backend_pread_sync(struct blk_backend *bb, void *buf, uint64_t off, size_t len,
			   struct vk_err *err);
int blk_backend_pwrite_sync(struct blk_backend *bb, const void *buf, uint64_t off, size_t len,
			    struct vk_err *err);
/*
 * Whether [off, off+len) surely reads as zeros without reading it: a hole
 * in a raw file, zero or unallocated clusters of an image without backing.
 * False when it cannot tell.
 */
bool blk_backend_reads_zero(struct blk_backend *bb, uint64_t off, uint64_t len);

/*
 * Live migration's hand-over of every disk of the process (one monitor
 * runs one VM): off on the source once its state is taken (images
 * flushed and their locks let go, vk_blk_inactivate; raw files synced),
 * on at the destination before it runs, or on a source whose migration
 * failed after it let go (vk_blk_activate). No request may be in flight.
 * Disks opened from a config with inactive set start off.
 */
int blk_backends_set_active(bool on, struct vk_err *err);
/*
 * An internal snapshot `name` of every writable disk of the process (a
 * running VM's snapshot, issue 15): all or none (the ones made are
 * deleted again on a failure). Nothing may be in flight: the VM paused,
 * its devices held and drained. A raw disk cannot have one: refused,
 * naming it.
 */
int blk_backends_snapshot(const char *name, struct vk_err *err);
/* The open backend serving path (a disk's config path), or NULL. */
struct blk_backend *blk_backend_find(const char *path);

/* What O_DIRECT accepts on every disk, for buffers, lengths and offsets. */
#define BLK_ALIGN_DIRECT	4096

/*
 * Open path for cfg (read-only, cache mode, engine) with completions on
 * loop. aio=native needs O_DIRECT (cache=none or directsync): -EINVAL.
 * An image (qcow2) has every file of its chain opened with the cache
 * mode's flags and its data I/O on the aio= engine (image engine).
 */
int blk_backend_open(const struct disk_config *cfg, struct evloop *loop,
		     unsigned int max_inflight, struct blk_backend **out, struct vk_err *err);
/*
 * A backend over an image the caller opened with the library (vmkit img
 * bench): on success bs is the backend's (closed with it); on failure
 * still the caller's. writethrough: each write's metadata is written
 * before it completes (the cache mode has no volatile cache).
 */
int blk_backend_from_image(struct vk_blk *bs, enum disk_aio aio, bool writethrough,
			   struct evloop *loop, unsigned int max_inflight,
			   struct blk_backend **out, struct vk_err *err);
/* A cache= or aio= name (QEMU's) as its enum; -1 if there is none by that name. */
int blk_cache_parse(const char *name);
/* format=NAME into out: a format driver's name, or "auto" (out ""); -ENOENT: unknown. */
int blk_format_parse(const char *name, char out[DISK_FORMAT_MAX]);
/* format= raw, or none (probed): the medium may be served as the file's own bytes. */
bool blk_format_may_be_plain(const char *format);
int blk_aio_parse(const char *name);
/* The cache mode has no volatile cache (writethrough, directsync): no FLUSH, O_DSYNC. */
bool blk_cache_writethrough(enum disk_cache c);
/* The cache mode as the block library applies it to every file of a chain (VK_BLK_CACHE_*). */
unsigned int blk_cache_image_flags(enum disk_cache c);
/* Completes what is in flight (callbacks run on the caller), then frees bb. */
void blk_backend_close(struct blk_backend *bb);
uint64_t blk_backend_length(const struct blk_backend *bb);
/* Whether the file served (an image's top file) is open with O_DIRECT, as fcntl says. */
bool blk_backend_is_direct(const struct blk_backend *bb);

static inline int blk_preadv(struct blk_backend *bb, const struct iovec *iov, int n,
			     uint64_t off, blk_done_fn done, void *opaque)
{
	return bb->ops->preadv(bb, iov, n, off, done, opaque);
}

/*
 * QEMU's rule for a probed raw disk: a write that would put an image
 * format's magic into the first sector fails (-EPERM), or the next start
 * would probe the guest's bytes as an image (vmm/block/backend.c).
 */
int blk_probed_raw_check(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off);

/*
 * The write path's hooks (vmm/block/track.c): a backup's copy-before-write
 * and a migration's dirty tracking. 1: the caller submits as usual; 0: the
 * hook submitted it or holds it; negative errno: neither.
 */
int blk_write_hooked(struct blk_backend *bb, enum blk_held_kind kind, const struct iovec *iov,
		     int n, uint64_t off, uint64_t len, bool unmap, blk_done_fn done, void *opaque);

static inline int blk_write_hooks(struct blk_backend *bb, enum blk_held_kind kind,
				  const struct iovec *iov, int n, uint64_t off, uint64_t len,
				  bool unmap, blk_done_fn done, void *opaque)
{
	if (__builtin_expect(!__atomic_load_n(&bb->backup, __ATOMIC_ACQUIRE) &&
			     !__atomic_load_n(&bb->track, __ATOMIC_ACQUIRE), 1))
		return 1;
	return blk_write_hooked(bb, kind, iov, n, off, len, unmap, done, opaque);
}

static inline int blk_pwritev(struct blk_backend *bb, const struct iovec *iov, int n,
			      uint64_t off, blk_done_fn done, void *opaque)
{
	int r;

	if (bb->probed_raw && off < 512) {
		r = blk_probed_raw_check(bb, iov, n, off);
		if (r)
			return r;
	}
	r = blk_write_hooks(bb, BLK_HELD_WRITE, iov, n, off, 0, false, done, opaque);
	if (r != 1)
		return r;
	return bb->ops->pwritev(bb, iov, n, off, done, opaque);
}

static inline void blk_plug(struct blk_backend *bb)
{
	if (bb->ops->plug)
		bb->ops->plug(bb);
}

static inline void blk_unplug(struct blk_backend *bb)
{
	if (bb->ops->unplug)
		bb->ops->unplug(bb);
}

static inline int blk_flush(struct blk_backend *bb, blk_done_fn done, void *opaque)
{
	return bb->ops->flush(bb, done, opaque);
}

static inline int blk_discard(struct blk_backend *bb, uint64_t off, uint64_t len,
			      blk_done_fn done, void *opaque)
{
	int r = blk_write_hooks(bb, BLK_HELD_DISCARD, NULL, 0, off, len, false, done, opaque);

	if (r != 1)
		return r;
	return bb->ops->discard(bb, off, len, done, opaque);
}

static inline int blk_write_zeroes(struct blk_backend *bb, uint64_t off, uint64_t len,
				   bool unmap, blk_done_fn done, void *opaque)
{
	int r = blk_write_hooks(bb, BLK_HELD_ZEROES, NULL, 0, off, len, unmap, done, opaque);

	if (r != 1)
		return r;
	return bb->ops->write_zeroes(bb, off, len, unmap, done, opaque);
}

/* The engines (vmm/block/). */
extern const struct blk_backend_ops blk_io_uring_ops;
extern const struct blk_backend_ops blk_native_ops;
extern const struct blk_backend_ops blk_threads_ops;
extern const struct blk_backend_ops blk_image_ops;
/* What the image engine did: for tests, and to see where a workload goes. */
struct blk_image_stats {
	uint64_t fast;		/* reads and writes on the hot path */
	uint64_t pieces;	/* the pieces (runs of data or zeros) those were cut into */
	uint64_t slow;		/* reads and writes through the library */
	uint64_t alloc;		/* allocating writes on the hot path (data async, then a commit) */
	uint64_t free_waits;	/* times the library waited for hot-path I/O before freeing a cluster */
};
void blk_image_stats(const struct blk_backend *bb, struct blk_image_stats *st);
/*
 * The one way image_lock is let go (image engine): the requests that found
 * it taken are served first, with it held.
 */
void blk_image_unlock(struct blk_backend *bb);

/*
 * The thread pool (vmm/block/pool.c): the aio=threads engine, and the
 * blocking calls (fallocate, BLKDISCARD, BLKZEROOUT) the other engines lack.
 */
enum blk_pool_op { BLK_POOL_READ, BLK_POOL_WRITE, BLK_POOL_FLUSH, BLK_POOL_DISCARD,
		   BLK_POOL_ZEROES, BLK_POOL_ZEROES_UNMAP, BLK_POOL_FN };

int blk_pool_new(struct blk_backend *bb, unsigned int threads, struct blk_pool **out);
int blk_pool_submit(struct blk_pool *p, enum blk_pool_op op, const struct iovec *iov, int n,
		    uint64_t off, uint64_t len, blk_done_fn done, void *opaque);
/*
 * fn(bb, arg) on a pool thread (for an image: under the image lock, then
 * the flush writethrough needs), its result to done on the loop.
 */
int blk_pool_submit_fn(struct blk_pool *p, int (*fn)(struct blk_backend *bb, void *arg),
		       void *arg, blk_done_fn done, void *opaque);
/* A read or write of bb->image through the library (pool thread, image lock held). */
int blk_pool_image_rw(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off,
		      bool write);
/* Finish every queued job, run its callback here, stop the threads. */
void blk_pool_free(struct blk_pool *p);

/* The pool's ops as thin wrappers, for engines that pass them through. */
int blk_pool_discard(struct blk_backend *bb, uint64_t off, uint64_t len, blk_done_fn done,
		     void *opaque);
int blk_pool_write_zeroes(struct blk_backend *bb, uint64_t off, uint64_t len, bool unmap,
			  blk_done_fn done, void *opaque);

/*
 * Blocking discard and write-zeroes on bb->fd, for the pool's threads
 * (vmm/block/range.c). Where the host lacks the fast call, discard does
 * nothing (it is advisory) and write-zeroes writes zeroes.
 */
int blk_range_discard(struct blk_backend *bb, uint64_t off, uint64_t len);
int blk_range_zeroes(struct blk_backend *bb, uint64_t off, uint64_t len, bool unmap);

#endif
