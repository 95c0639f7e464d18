// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Opening a block backend: the file or block device, its size, and the I/O
 * engine picked by aio=. Cache modes are open flags as QEMU defines them:
 * none = O_DIRECT, writeback = page cache, writethrough = O_DSYNC,
 * directsync = O_DIRECT|O_DSYNC, unsafe = page cache (the device ignores
 * flushes).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/evloop.h"

#define SECTOR		512
/* aio=threads does all its I/O in the pool; the others only their rare fallbacks. */
#define POOL_THREADS		16	/* QEMU's pool grows to 64; the host disk sees at most this many */
#define POOL_THREADS_FALLBACK	1

static const struct blk_backend_ops *const engines[] = {
	[AIO_IO_URING] = &blk_io_uring_ops,
	[AIO_NATIVE] = &blk_native_ops,
	[AIO_THREADS] = &blk_threads_ops,
};

static bool cache_direct(enum disk_cache c)
{
	return c == CACHE_NONE || c == CACHE_DIRECTSYNC;
}

static const char *const cache_names[] = {
	[CACHE_NONE] = "none", [CACHE_WRITEBACK] = "writeback",
	[CACHE_WRITETHROUGH] = "writethrough", [CACHE_DIRECTSYNC] = "directsync",
	[CACHE_UNSAFE] = "unsafe",
};

static const char *const aio_names[] = {
	[AIO_IO_URING] = "io_uring", [AIO_NATIVE] = "native", [AIO_THREADS] = "threads",
};

static int pick_name(const char *const *names, unsigned int n, const char *val)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (names[i] && !strcmp(val, names[i]))	/* [0] may be an unnamed default */
			return (int)i;
	return -1;
}

int blk_cache_parse(const char *name)
{
	return pick_name(cache_names, ARRAY_SIZE(cache_names), name);
}

int blk_aio_parse(const char *name)
{
	return pick_name(aio_names, ARRAY_SIZE(aio_names), name);
}

bool blk_cache_writethrough(enum disk_cache c)
{
	return c == CACHE_WRITETHROUGH || c == CACHE_DIRECTSYNC;
}

unsigned int blk_cache_image_flags(enum disk_cache c)
{
	return (cache_direct(c) ? VK_BLK_CACHE_DIRECT : 0) |
	       (blk_cache_writethrough(c) ? VK_BLK_CACHE_DSYNC : 0) |
	       (c == CACHE_UNSAFE ? VK_BLK_CACHE_UNSAFE : 0);
}

static int open_flags(const struct disk_config *c)
{
	int f = (c->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	if (cache_direct(c->cache))
		f |= O_DIRECT;
	if (blk_cache_writethrough(c->cache))
		f |= O_DSYNC;
	return f;
}

static int open_file(struct blk_backend *bb, const struct disk_config *cfg, struct vk_err *err)
{
	const char *path = cfg->path;
	struct stat st;

	bb->fd = open(path, open_flags(cfg));
	if (bb->fd < 0 && errno == EINVAL && (open_flags(cfg) & O_DIRECT))
		return vk_fail(err, -EINVAL, "--disk %s: filesystem does not support O_DIRECT (cache=none and directsync need it)",
			       path);
	if (bb->fd < 0)
		return vk_fail(err, -errno, "--disk %s: %s", path, strerror(errno));
	if (fstat(bb->fd, &st) < 0)
		return vk_fail(err, -errno, "--disk %s: %s", path, strerror(errno));
	bb->is_bdev = S_ISBLK(st.st_mode);
	if (!bb->is_bdev && !S_ISREG(st.st_mode))
		return vk_fail(err, -EINVAL, "--disk %s: not a regular file or block device", path);
	if (bb->is_bdev && ioctl(bb->fd, BLKGETSIZE64, &bb->size) < 0)
		return vk_fail(err, -errno, "--disk %s: %s", path, strerror(errno));
	if (!bb->is_bdev)
		bb->size = st.st_size;
	bb->size &= ~(uint64_t)(SECTOR - 1);
	return 0;
}

static int open_engine(struct blk_backend *bb, const struct disk_config *cfg, struct vk_err *err)
{
	enum disk_aio aio = cfg->aio == AIO_DEFAULT ? AIO_IO_URING : cfg->aio;
	int r;

	/* Linux AIO is only asynchronous with O_DIRECT; QEMU refuses it otherwise too. */
	if (aio == AIO_NATIVE && !bb->direct)
		return vk_fail(err, -EINVAL,
			       "--disk %s: aio=native was specified, but it requires cache=none or cache=directsync",
			       cfg->path);
	r = blk_pool_new(bb, aio == AIO_THREADS ? POOL_THREADS : POOL_THREADS_FALLBACK, &bb->pool);
	if (r)
		return vk_fail(err, r, "--disk %s: I/O threads: %s", cfg->path, strerror(-r));
	bb->ops = engines[aio];
	r = bb->ops->open(bb, err);
	if (r)
		bb->ops = NULL;
	return r;
}

static int on_clean(void *opaque, int fd, uint32_t events)
{
	struct blk_backend *bb = opaque;
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) < 0)
		return 0;
	/*
	 * The pool's requests hold the same lock: the cache is not shared
	 * between threads. Never wait for it here: a library call holding it
	 * may be waiting (before_free) for completions only this loop delivers.
	 * Busy now, the tables are cleaned at the next tick.
	 */
	if (pthread_mutex_trylock(&bb->image_lock))
		return 0;
	vk_blk_cache_clean(bb->image);
	blk_image_unlock(bb);
	return 0;
}

/* cache-clean-interval: a periodic timer on the disk's event loop (images only). */
static int start_cache_clean(struct blk_backend *bb, const struct disk_config *cfg,
			     struct vk_err *err)
{
	int secs = cfg->cache_clean_interval == DISK_CLEAN_DEFAULT ? DISK_CLEAN_DEFAULT_SECS :
		   cfg->cache_clean_interval;
	struct itimerspec its = { .it_interval = { secs, 0 }, .it_value = { secs, 0 } };
	int r;

	if (!secs || !bb->image->drv->cache_clean)
		return 0;
	bb->clean_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (bb->clean_fd < 0 || timerfd_settime(bb->clean_fd, 0, &its, NULL) < 0)
		return vk_fail(err, -errno, "--disk %s: cache-clean-interval timer: %s", cfg->path,
			       strerror(errno));
	r = evloop_add(bb->loop, bb->clean_fd, EPOLLIN, on_clean, bb);
	if (r) {
		close(bb->clean_fd);
		bb->clean_fd = -1;
		return vk_fail(err, r, "--disk %s: cache-clean-interval timer: %s", cfg->path,
			       strerror(-r));
	}
	return 0;
}

/* bb->image open: the pool for the library's work and the image engine over the chain's files. */
static int start_image(struct blk_backend *bb, enum disk_aio aio, bool writethrough,
		       struct vk_err *err)
{
	int r;

	bb->image_writethrough = writethrough;
	bb->size = vk_blk_length(bb->image) & ~(uint64_t)(SECTOR - 1);
	pthread_mutex_init(&bb->image_lock, NULL);
	r = blk_pool_new(bb, 1, &bb->pool);	/* the library's own work, one request at a time */
	if (r)
		return vk_fail(err, r, "--disk %s: I/O thread: %s", bb->path, strerror(-r));
	bb->aio = aio == AIO_DEFAULT ? AIO_IO_URING : aio;
	bb->ops = &blk_image_ops;
	r = bb->ops->open(bb, err);
	if (r)
		bb->ops = NULL;
	return r;
}

/*
 * format= an image format, or auto: open through the block library, every
 * file of the chain with the cache mode's flags. An image that turns out to
 * be raw (auto) is served like format=raw; anything else by the image engine.
 */
static int open_image(struct blk_backend *bb, const struct disk_config *cfg, bool *is_image,
		      struct vk_err *err)
{
	struct vk_blk_opts o = {
		.format = cfg->format[0] ? cfg->format : NULL,
		.flags = (cfg->readonly ? 0 : VK_BLK_RDWR) | blk_cache_image_flags(cfg->cache) |
			 (cfg->inactive ? VK_BLK_INACTIVE : 0),
		.cache_size = cfg->l2_cache_size,	/* L2 tables; the refcount cache a quarter */
	};
	struct vk_err e = { 0 };
	int r;

	*is_image = false;
	r = vk_blk_open(cfg->path, &o, &bb->image, &e);
	if (r)
		return vk_fail(err, r, "--disk %s", e.msg);
	/* vpc, vdi, vhdx (vmdk refuses in its open): read only, refused now, not at the guest's write. */
	if (!cfg->readonly && !vk_blk_format_writable(bb->image->drv->name))
		return vk_fail(err, -EROFS, "--disk %s: vmkit reads %s images but cannot write them: "
			       "add readonly=on, or convert it (vmkit img convert -O qcow2)",
			       cfg->path, bb->image->drv->name);
	/* The table cache's size: only a format that keeps one (qcow2's L2 tables) takes it. */
	if (cfg->l2_cache_size && !bb->image->drv->cache_clean)
		return vk_fail(err, -EINVAL, "--disk %s: l2-cache-size is an option of qcow2 images, not %s",
			       cfg->path, bb->image->drv->name);
	if (bb->image->drv->plain) {
		bb->probed_raw = bb->image->probed;
		vk_blk_close(bb->image);
		bb->image = NULL;
		return 0;
	}
	*is_image = true;
	/* No FLUSH is offered: each write is made durable, metadata too, before it completes. */
	r = start_image(bb, cfg->aio, blk_cache_writethrough(cfg->cache), err);
	return r ? r : start_cache_clean(bb, cfg, err);
}

int blk_backend_from_image(struct vk_blk *bs, enum disk_aio aio, bool writethrough,
			   struct evloop *loop, unsigned int max_inflight,
			   struct blk_backend **out, struct vk_err *err)
{
	struct blk_backend *bb = calloc(1, sizeof(*bb));
	int r;

	if (!bb)
		return vk_fail(err, -ENOMEM, "out of memory");
	bb->path = bs->filename;
	bb->fd = -1;
	bb->clean_fd = -1;
	bb->loop = loop;
	bb->max_inflight = max_inflight;
	bb->image = bs;
	r = start_image(bb, aio, writethrough, err);
	if (r) {
		bb->image = NULL;	/* still the caller's */
		pthread_mutex_destroy(&bb->image_lock);
		blk_backend_close(bb);
		return r;
	}
	*out = bb;
	return 0;
}

int blk_probed_raw_check(struct blk_backend *bb, const struct iovec *iov, int n, uint64_t off)
{
	const size_t len = BLK_ALIGN_DIRECT;	/* O_DIRECT reads whole aligned blocks */
	uint8_t *sector = NULL;
	size_t at = off, k;
	ssize_t got;
	int i, r = 0;

	if (posix_memalign((void **)&sector, BLK_ALIGN_DIRECT, len))
		return -ENOMEM;
	memset(sector, 0, len);
	got = pread(bb->fd, sector, MIN(len, bb->size), 0);
	if (got < 0)
		r = -errno;
	for (i = 0; !r && i < n && at < SECTOR; i++) {
		k = MIN(iov[i].iov_len, SECTOR - at);
		memcpy(sector + at, iov[i].iov_base, k);
		at += k;
	}
	if (!r && vk_blk_probe_magic(sector, SECTOR))
		r = -EPERM;
	free(sector);
	return r;
}

/* Every open backend: one monitor runs one VM, whose disks a migration hands over together. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct blk_backend *open_list;

static void list_add(struct blk_backend *bb)
{
	pthread_mutex_lock(&open_lock);
	bb->next_open = open_list;
	open_list = bb;
	pthread_mutex_unlock(&open_lock);
}

static void list_del(struct blk_backend *bb)
{
	struct blk_backend **p;

	pthread_mutex_lock(&open_lock);
	for (p = &open_list; *p; p = &(*p)->next_open)
		if (*p == bb) {
			*p = bb->next_open;
			break;
		}
	pthread_mutex_unlock(&open_lock);
}

static int set_active(struct blk_backend *bb, bool on, struct vk_err *err)
{
	struct vk_err e = { 0 };
	int r = 0;

	if (bb->image) {
		pthread_mutex_lock(&bb->image_lock);
		r = on ? vk_blk_activate(bb->image, &e) : vk_blk_inactivate(bb->image, &e);
		pthread_mutex_unlock(&bb->image_lock);
	} else if (!on && bb->fd >= 0 && fdatasync(bb->fd) < 0 && errno != EINVAL) {
		r = vk_fail(&e, -errno, "%s", strerror(errno));
	}
	return r ? vk_fail(err, r, "disk %s: %s", bb->path, e.msg) : 0;
}

int blk_backends_set_active(bool on, struct vk_err *err)
{
	struct blk_backend *bb;
	int r = 0;

	pthread_mutex_lock(&open_lock);
	for (bb = open_list; bb && !r; bb = bb->next_open)
		r = set_active(bb, on, err);
	pthread_mutex_unlock(&open_lock);
	return r;
}

struct blk_backend *blk_backend_find(const char *path)
{
	struct blk_backend *bb;

	pthread_mutex_lock(&open_lock);
	for (bb = open_list; bb; bb = bb->next_open)
		if (bb->path && !strcmp(bb->path, path))
			break;
	pthread_mutex_unlock(&open_lock);
	return bb;
}

static bool writable(const struct blk_backend *bb)
{
	return bb->image ? !bb->image->read_only : bb->fd >= 0 && (fcntl(bb->fd, F_GETFL) & O_ACCMODE) != O_RDONLY;
}

int blk_backends_snapshot(const char *name, struct vk_err *err)
{
	struct blk_backend *bb, *done;
	struct vk_err e = { 0 };
	int r = 0;

	pthread_mutex_lock(&open_lock);
	for (bb = open_list; bb && !r; bb = bb->next_open) {
		if (!writable(bb))
			continue;
		if (!bb->image) {
			r = vk_fail(err, -ENOTSUP, "disk %s: raw, and raw images have no internal "
				    "snapshots (qcow2 has)", bb->path);
			break;
		}
		pthread_mutex_lock(&bb->image_lock);
		r = vk_blk_snapshot_create(bb->image, name, &e);
		if (!r)
			r = vk_blk_flush(bb->image, &e);
		pthread_mutex_unlock(&bb->image_lock);
		if (r)
			vk_fail(err, r, "disk %s: %s", bb->path, e.msg);
	}
	/* All or none: the ones before the failure lose theirs again. */
	for (done = open_list; r && done != bb; done = done->next_open) {
		if (!writable(done) || !done->image)
			continue;
		pthread_mutex_lock(&done->image_lock);
		vk_blk_snapshot_delete(done->image, NULL, name, &e);
		pthread_mutex_unlock(&done->image_lock);
	}
	pthread_mutex_unlock(&open_lock);
	return r;
}

int blk_backend_open(const struct disk_config *cfg, struct evloop *loop,
		     unsigned int max_inflight, struct blk_backend **out, struct vk_err *err)
{
	struct blk_backend *bb;
	bool is_image = false, plain = vk_blk_format_plain(cfg->format);
	int r;

	if ((unsigned int)cfg->aio >= ARRAY_SIZE(engines))
		return vk_fail(err, -EINVAL, "--disk %s: unknown aio engine", cfg->path);
	bb = calloc(1, sizeof(*bb));
	if (!bb)
		return vk_fail(err, -ENOMEM, "out of memory");
	bb->path = cfg->path;
	bb->fd = -1;
	bb->clean_fd = -1;
	bb->loop = loop;
	bb->direct = cache_direct(cfg->cache);
	bb->max_inflight = max_inflight;
	r = 0;
	if (plain && cfg->l2_cache_size)
		r = vk_fail(err, -EINVAL, "--disk %s: l2-cache-size is an option of qcow2 images, not raw",
			    cfg->path);
	else if (plain && cfg->cache_clean_interval > 0)
		r = vk_fail(err, -EINVAL, "--disk %s: cache-clean-interval is an option of qcow2 "
			    "images, not raw", cfg->path);
	else if (!plain)
		r = open_image(bb, cfg, &is_image, err);
	if (is_image)
		bb->direct = false;	/* the library does its own (aligned) I/O: no device bounce */
	if (!r && !is_image)
		r = open_file(bb, cfg, err);
	if (!r && !is_image)
		r = open_engine(bb, cfg, err);
	if (r) {
		blk_backend_close(bb);
		return r;
	}
	list_add(bb);
	*out = bb;
	return 0;
}

void blk_backend_close(struct blk_backend *bb)
{
	if (!bb)
		return;
	list_del(bb);
	if (bb->clean_fd >= 0) {
		evloop_del(bb->loop, bb->clean_fd);
		close(bb->clean_fd);
	}
	/* The engine first: its fallback calls may still be in the pool. */
	if (bb->ops)
		bb->ops->close(bb);
	blk_pool_free(bb->pool);
	blk_track_free(bb);
	if (bb->image) {
		vk_blk_close(bb->image);
		pthread_mutex_destroy(&bb->image_lock);
	}
	if (bb->fd >= 0)
		close(bb->fd);
	free(bb);
}

/* What the open file really is, not what was asked: query-block reports this. */
bool blk_backend_is_direct(const struct blk_backend *bb)
{
	int fd = bb->image ? bb->image->fd : bb->fd;
	int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

	return fl >= 0 && (fl & O_DIRECT);
}

uint64_t blk_backend_length(const struct blk_backend *bb)
{
	return bb->size;
}
