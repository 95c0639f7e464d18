// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A running VM's backup: copy-before-write and the copying thread
 * (include/vmkit/blk-backup.h says what it does).
 *
 * Why it is consistent: the job starts with nothing in flight, and from
 * then on a chunk's "to copy" bit is cleared only after its old bytes are
 * in the target. A write that touches a chunk whose bit is set is held
 * (blk_backup_before_write, under backup_lock) and submitted only after
 * the thread has copied every such chunk. So what the target gets for a
 * chunk is what the disk held at the start.
 *
 * backup_lock is one for the process (one monitor runs one VM, and it runs
 * one backup at a time): a device thread that saw bb->backup set takes it
 * and looks again, and the job clears every bb->backup under it before it
 * frees anything, so a device never touches a freed job.
 *
 * The thread reads the disks as the guest sees them (blk_backend_pread_sync):
 * a raw file with pread (not written where it reads: those chunks' writes
 * are held), an image through the block library under its image lock, as
 * the pool's slow path does.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "vmkit/blk-backend.h"
#include "vmkit/blk-backup.h"
#include "vmkit/block.h"

struct held {
	enum blk_held_kind kind;
	const struct iovec *iov;
	int n;
	uint64_t off, len;
	bool unmap;
	blk_done_fn done;
	void *opaque;
	struct held *next;
};

struct blk_backup_disk {
	struct blk_backup *job;
	struct blk_backend *bb;
	char *name, *target_path, *bitmap;
	bool incremental;
	struct vk_blk *target;
	bool created, took;		/* we made the target file / reset the bitmap */
	uint64_t size, nchunks, cursor;
	uint8_t *todo;			/* bit per chunk: still to copy (backup_lock) */
	uint8_t *taken;			/* what the bitmap had: given back on failure */
	struct held *held, **held_tail;	/* writes waiting for their chunks (backup_lock) */
};

struct blk_backup {
	struct blk_backup_disk d[BLK_BACKUP_MAX_DISKS];
	unsigned int n;
	bool compress;
	uint64_t speed;			/* bytes/s of the background copy, 0: no limit */
	pthread_t thread;
	bool joined;
	bool cancel, running;		/* backup_lock */
	char cancel_why[128];
	uint64_t len, offset;
	uint64_t held;			/* guest writes that waited for their chunks */
	char error[512];
	void (*finished)(void *opaque);
	void *opaque;
	uint8_t *buf;			/* BLK_BACKUP_RUN chunks, aligned for O_DIRECT raw files */
};

#define BLK_BACKUP_RUN	16		/* chunks the background copy takes at once: 1 MiB */

static pthread_mutex_t backup_lock = PTHREAD_MUTEX_INITIALIZER;

static bool bit(const uint8_t *m, uint64_t i)
{
	return m[i >> 3] & (1u << (i & 7));
}

static void set_bit(uint8_t *m, uint64_t i, bool on)
{
	if (on)
		m[i >> 3] |= (uint8_t)(1u << (i & 7));
	else
		m[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

static uint64_t chunk_len(const struct blk_backup_disk *d, uint64_t c)
{
	uint64_t off = c * BLK_BACKUP_CHUNK;

	return MIN((uint64_t)BLK_BACKUP_CHUNK, d->size - off);
}

/* ---- the write path ---- */

static bool range_pending(const struct blk_backup_disk *d, uint64_t off, uint64_t len)
{
	uint64_t c, last;

	if (!len || off >= d->size)
		return false;
	last = (MIN(off + len, d->size) - 1) / BLK_BACKUP_CHUNK;
	for (c = off / BLK_BACKUP_CHUNK; c <= last; c++)
		if (bit(d->todo, c))
			return true;
	return false;
}

int blk_backup_before_write(struct blk_backend *bb, enum blk_held_kind kind,
			    const struct iovec *iov, int n, uint64_t off, uint64_t len, bool unmap,
			    void (*done)(void *opaque, int result), void *opaque)
{
	struct blk_backup_disk *d;
	struct held *h;
	int r = 1;

	if (kind == BLK_HELD_WRITE)
		len = vk_iov_len(iov, n);
	pthread_mutex_lock(&backup_lock);
	d = bb->backup;
	if (d && range_pending(d, off, len)) {
		h = malloc(sizeof(*h));
		if (!h) {
			r = -ENOMEM;
		} else {
			*h = (struct held){ kind, iov, n, off, len, unmap, done, opaque, NULL };
			*d->held_tail = h;
			d->held_tail = &h->next;
			d->job->held++;
			r = 0;
		}
	}
	pthread_mutex_unlock(&backup_lock);
	return r;
}

static int fail_fn(struct blk_backend *bb, void *arg)
{
	(void)bb;
	return (int)(intptr_t)arg;
}

/* A held request goes to the engine now; its done still runs on the backend's loop. */
static void submit_held(struct blk_backend *bb, struct held *h)
{
	int r;

	switch (h->kind) {
	case BLK_HELD_WRITE:
		r = bb->ops->pwritev(bb, h->iov, h->n, h->off, h->done, h->opaque);
		break;
	case BLK_HELD_DISCARD:
		r = bb->ops->discard(bb, h->off, h->len, h->done, h->opaque);
		break;
	default:
		r = bb->ops->write_zeroes(bb, h->off, h->len, h->unmap, h->done, h->opaque);
		break;
	}
	/* Refused at submission: the pool delivers the error on the loop, as the engines would. */
	if (r < 0 && blk_pool_submit_fn(bb->pool, fail_fn, (void *)(intptr_t)r, h->done,
					h->opaque) < 0)
		fprintf(stderr, "vmkit: backup: disk %s: a held write could not be completed\n",
			bb->path);
	free(h);
}

/* ---- copying ---- */

static int read_source(struct blk_backup_disk *d, uint8_t *buf, uint64_t off, uint64_t len,
		       struct vk_err *err)
{
	return blk_backend_pread_sync(d->bb, buf, off, (size_t)len, err);
}

static int write_target(struct blk_backup_disk *d, const uint8_t *buf, uint64_t off,
			uint64_t len, struct vk_err *err)
{
	struct vk_err e = { 0 };
	int r = vk_blk_backup_write(d->target, off, buf, len, d->incremental, d->job->compress, &e);

	return r < 0 ? vk_fail(err, r, "backup of %s: %s", d->name, e.msg) : 0;
}

static bool chunk_zero(const uint8_t *buf, uint64_t at, uint64_t len)
{
	return vk_buf_is_zero(buf + at, (size_t)MIN((uint64_t)BLK_BACKUP_CHUNK, len - at));
}

/*
 * A run of chunks into the target: compressed ones a cluster at a time (as
 * they must go), plain data in one write per stretch that is not zeros.
 */
static int write_run(struct blk_backup_disk *d, const uint8_t *buf, uint64_t off, uint64_t len,
		     struct vk_err *err)
{
	uint64_t at, end;
	int r = 0;

	for (at = 0; at < len && !r; at = end) {
		end = at + MIN((uint64_t)BLK_BACKUP_CHUNK, len - at);
		if (!d->job->compress && !chunk_zero(buf, at, len))
			while (end < len && !chunk_zero(buf, end, len))
				end += MIN((uint64_t)BLK_BACKUP_CHUNK, len - end);
		r = write_target(d, buf + at, off + at, end - at, err);
	}
	return r;
}

/*
 * Chunk c of d and up to max-1 after it that are still to copy too, read
 * and written together; *bytes what that was. Chunks already copied are
 * left alone.
 */
static int copy_run(struct blk_backup *job, struct blk_backup_disk *d, uint64_t c,
		    unsigned int max, uint64_t *bytes, struct vk_err *err)
{
	uint64_t off = c * BLK_BACKUP_CHUNK, len = 0, n = 0, i;
	int r;

	*bytes = 0;
	pthread_mutex_lock(&backup_lock);
	while (n < max && c + n < d->nchunks && bit(d->todo, c + n))
		len += chunk_len(d, c + n++);
	pthread_mutex_unlock(&backup_lock);
	if (!n)
		return 0;
	/* A hole (QEMU's backup asks the same): nothing to read; over a backing file, zeros. */
	if (blk_backend_reads_zero(d->bb, off, len)) {
		struct vk_err e = { 0 };

		r = d->incremental ? vk_blk_pwrite_zeroes(d->target, off, len, &e) : 0;
		if (r < 0)
			return vk_fail(err, r, "backup of %s: %s", d->name, e.msg);
	} else {
		r = read_source(d, job->buf, off, len, err);
		if (!r)
			r = write_run(d, job->buf, off, len, err);
		if (r)
			return r;
	}
	pthread_mutex_lock(&backup_lock);
	for (i = 0; i < n; i++)
		set_bit(d->todo, c + i, false);
	job->offset += len;
	pthread_mutex_unlock(&backup_lock);
	*bytes = len;
	return 0;
}

static int copy_chunk(struct blk_backup *job, struct blk_backup_disk *d, uint64_t c,
		      struct vk_err *err)
{
	uint64_t bytes;

	return copy_run(job, d, c, 1, &bytes, err);
}

/* The chunks a held request waits for, copied; then it goes. */
static int serve_held(struct blk_backup *job, struct blk_backup_disk *d, struct held *list,
		      struct vk_err *err)
{
	struct held *h, *next;
	uint64_t c, last;
	int r = 0;

	for (h = list; h; h = next) {
		next = h->next;
		if (!r && h->len && h->off < d->size) {
			last = (MIN(h->off + h->len, d->size) - 1) / BLK_BACKUP_CHUNK;
			for (c = h->off / BLK_BACKUP_CHUNK; !r && c <= last; c++)
				r = copy_chunk(job, d, c, err);
		}
		submit_held(d->bb, h);
	}
	return r;
}

/* Under backup_lock: the next chunk still to copy, from the disk's cursor. */
static bool next_chunk(struct blk_backup_disk *d, uint64_t *c)
{
	while (d->cursor < d->nchunks) {
		if ((d->cursor & 7) == 0 && !d->todo[d->cursor >> 3]) {
			d->cursor += 8;
			continue;
		}
		if (bit(d->todo, d->cursor)) {
			*c = d->cursor;
			return true;
		}
		d->cursor++;
	}
	return false;
}

/* Under backup_lock: a guest write waits for the job. */
static bool held_waiting(const struct blk_backup *job)
{
	unsigned int i;

	for (i = 0; i < job->n; i++)
		if (job->d[i].held)
			return true;
	return false;
}

/*
 * One step under backup_lock: a disk's held writes (they wait on a guest)
 * before the rest. False when there is nothing left, or cancel.
 */
static bool pick(struct blk_backup *job, struct blk_backup_disk **pd, struct held **list,
		 uint64_t *c)
{
	unsigned int i;

	if (job->cancel)
		return false;
	for (i = 0; i < job->n; i++) {
		struct blk_backup_disk *d = &job->d[i];

		if (d->held) {
			*pd = d;
			*list = d->held;
			d->held = NULL;
			d->held_tail = &d->held;
			return true;
		}
	}
	*list = NULL;
	for (i = 0; i < job->n; i++)
		if (next_chunk(&job->d[i], c)) {
			*pd = &job->d[i];
			return true;
		}
	return false;
}

static int finish_targets(struct blk_backup *job, struct vk_err *err)
{
	struct vk_err e = { 0 };
	unsigned int i;
	int r = 0;

	for (i = 0; i < job->n && !r; i++) {
		struct blk_backup_disk *d = &job->d[i];

		if (job->compress)
			r = vk_blk_pwrite_compressed(d->target, 0, NULL, 0, NULL, 0, &e);
		if (!r)
			r = vk_blk_flush(d->target, &e);
		if (r)
			vk_fail(err, r, "backup of %s: %s", d->name, e.msg);
	}
	return r;
}

/* Under backup_lock: no more holds; what was held goes (the backup has ended). */
static void release_all(struct blk_backup *job)
{
	unsigned int i;

	for (i = 0; i < job->n; i++) {
		struct blk_backup_disk *d = &job->d[i];
		struct held *h = d->held, *next;

		__atomic_store_n(&d->bb->backup, NULL, __ATOMIC_RELEASE);
		d->held = NULL;
		d->held_tail = &d->held;
		for (; h; h = next) {
			next = h->next;
			submit_held(d->bb, h);
		}
	}
}

/* A failed job gives its disks' bitmaps back what they had, so the next backup still copies it. */
static void give_back(struct blk_backup_disk *d)
{
	struct vk_err e = { 0 };
	uint64_t c;

	if (!d->took)
		return;
	d->took = false;
	pthread_mutex_lock(&d->bb->image_lock);
	for (c = 0; c < d->nchunks; c++)
		if (bit(d->taken, c))
			vk_blk_bitmap_mark(d->bb->image, d->bitmap, c * BLK_BACKUP_CHUNK,
					   chunk_len(d, c), &e);
	blk_image_unlock(d->bb);
}

static void close_targets(struct blk_backup *job, bool remove)
{
	unsigned int i;

	for (i = 0; i < job->n; i++) {
		struct blk_backup_disk *d = &job->d[i];

		if (d->target)
			vk_blk_close(d->target);
		d->target = NULL;
		if (remove && d->created)
			unlink(d->target_path);
		if (remove)
			give_back(d);
	}
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/*
 * The speed limit (QEMU's "speed", vzdump's bwlimit) is kept by the
 * background copy only: a chunk a guest write waits for is copied at once.
 * Sleeps in short slices, so that held writes and cancel are not kept waiting.
 */
static uint64_t due_ns(const struct blk_backup *job, uint64_t start, uint64_t copied)
{
	return start + (uint64_t)((double)copied * 1e9 / (double)job->speed);
}

static void throttle(struct blk_backup *job, uint64_t start, uint64_t copied)
{
	uint64_t due = due_ns(job, start, copied), t = now_ns();

	if (due > t) {
		struct timespec ts = { 0, (long)MIN(due - t, 20000000u) };

		nanosleep(&ts, NULL);
	}
}

static bool ahead(struct blk_backup *job, uint64_t start, uint64_t copied)
{
	return job->speed && due_ns(job, start, copied) > now_ns();
}

static void *backup_thread(void *arg)
{
	struct blk_backup *job = arg;
	struct blk_backup_disk *d = NULL;
	struct vk_err err = { 0 };
	uint64_t c = 0, start = now_ns(), background = 0;
	struct held *list;
	int r = 0;

	prctl(PR_SET_NAME, "backup");
	for (;;) {
		pthread_mutex_lock(&backup_lock);
		if (!job->cancel && ahead(job, start, background) && !held_waiting(job)) {
			pthread_mutex_unlock(&backup_lock);
			throttle(job, start, background);
			continue;
		}
		if (!pick(job, &d, &list, &c)) {
			pthread_mutex_unlock(&backup_lock);
			break;
		}
		pthread_mutex_unlock(&backup_lock);
		if (list) {
			r = serve_held(job, d, list, &err);
		} else {
			uint64_t bytes;

			/* Several chunks per read and write: the per-call cost of a chunk is not small. */
			r = copy_run(job, d, c, BLK_BACKUP_RUN, &bytes, &err);
			background += bytes;
		}
		if (r)
			break;
	}
	if (!r && job->cancel)
		r = vk_fail(&err, -ECANCELED, "%s", job->cancel_why);
	if (!r)
		r = finish_targets(job, &err);
	pthread_mutex_lock(&backup_lock);
	release_all(job);
	if (r)
		snprintf(job->error, sizeof(job->error), "%s", err.msg);
	pthread_mutex_unlock(&backup_lock);
	close_targets(job, r != 0);
	pthread_mutex_lock(&backup_lock);
	job->running = false;
	pthread_mutex_unlock(&backup_lock);
	if (job->finished)
		job->finished(job->opaque);
	return NULL;
}

/* ---- setting up ---- */

static int mark_dirty(void *opaque, uint64_t off, uint64_t len)
{
	struct blk_backup_disk *d = opaque;
	uint64_t c, last = (off + len - 1) / BLK_BACKUP_CHUNK;

	for (c = off / BLK_BACKUP_CHUNK; c <= last && c < d->nchunks; c++)
		set_bit(d->todo, c, true);
	return 0;
}

/*
 * The disk's bitmap: incremental takes what it has set (it must be there
 * and consistent); either way it is then empty, tracking from now on (a
 * full backup makes it if it is missing). Image lock held.
 */
static int take_bitmap(struct blk_backup_disk *d, struct vk_err *err)
{
	struct vk_blk *bs = d->bb->image;
	struct vk_err e = { 0 };
	int r;

	if (d->incremental) {
		r = vk_blk_bitmap_dirty_each(bs, d->bitmap, mark_dirty, d, &e);
		if (r < 0)
			return vk_fail(err, r, "disk %s: no incremental backup: %s", d->name, e.msg);
		memcpy(d->taken, d->todo, (d->nchunks + 7) / 8);
		r = vk_blk_bitmap_clear(bs, d->bitmap, &e);
	} else {
		r = vk_blk_bitmap_clear(bs, d->bitmap, &e);
		if (r == -ENOENT)
			r = vk_blk_bitmap_add(bs, d->bitmap, BLK_BACKUP_CHUNK, &e);
		memcpy(d->taken, d->todo, (d->nchunks + 7) / 8);
	}
	if (r < 0)
		return vk_fail(err, r, "disk %s: bitmap %s: %s", d->name, d->bitmap, e.msg);
	d->took = true;
	return 0;
}

static int target_create(struct blk_backup *job, struct blk_backup_disk *d, struct vk_err *err)
{
	struct vk_blk_create_opts co = {
		.size = d->size, .cluster_size = BLK_BACKUP_CHUNK, .compat = 3,
		.compression_type = job->compress ? 1 : 0,
	};
	struct vk_blk_opts o = { .format = "qcow2", .flags = VK_BLK_RDWR | VK_BLK_NO_BACKING };
	struct vk_err e = { 0 };
	int r;

	/* Made here, never over a file that was there (O_EXCL); the library then writes it. */
	r = open(d->target_path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (r < 0)
		return vk_fail(err, -errno, "backup target %s: %s", d->target_path,
			       errno == EEXIST ? "exists" : strerror(errno));
	close(r);
	d->created = true;
	r = vk_blk_create("qcow2", d->target_path, &co, &e);
	if (!r)
		r = vk_blk_open(d->target_path, &o, &d->target, &e);
	return r ? vk_fail(err, r, "backup target %s: %s", d->target_path, e.msg) : 0;
}

static int disk_setup(struct blk_backup *job, struct blk_backup_disk *d,
		      const struct blk_backup_disk_spec *s, struct vk_err *err)
{
	struct blk_backend *bb = s->bb;
	size_t bytes;
	int r;

	d->job = job;
	d->bb = bb;
	d->size = blk_backend_length(bb);
	d->nchunks = (d->size + BLK_BACKUP_CHUNK - 1) / BLK_BACKUP_CHUNK;
	d->incremental = s->incremental;
	d->held_tail = &d->held;
	d->name = strdup(s->name);
	d->target_path = strdup(s->target);
	d->bitmap = s->bitmap ? strdup(s->bitmap) : NULL;
	bytes = (size_t)(d->nchunks + 7) / 8 + 1;	/* never 0 */
	d->todo = calloc(1, bytes);
	d->taken = calloc(1, bytes);
	if (!d->name || !d->target_path || (s->bitmap && !d->bitmap) || !d->todo || !d->taken)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (bb->backup)
		return vk_fail(err, -EBUSY, "disk %s: a backup of it is running", d->name);
	if (s->incremental && !s->bitmap)
		return vk_fail(err, -EINVAL, "disk %s: an incremental backup needs a bitmap", d->name);
	if (s->bitmap && !bb->image)
		return vk_fail(err, -ENOTSUP, "disk %s: raw, and only qcow2 images keep the dirty "
			       "bitmaps incremental backups need", d->name);
	if (s->bitmap && bb->image->read_only)
		return vk_fail(err, -EROFS, "disk %s: read-only, its bitmap cannot be reset", d->name);
	if (!s->incremental) {
		/* Every chunk; bits past the last stay clear (next_chunk stops at nchunks anyway). */
		memset(d->todo, 0xff, (size_t)(d->nchunks / 8));
		if (d->nchunks & 7)
			d->todo[d->nchunks >> 3] = (uint8_t)((1u << (d->nchunks & 7)) - 1);
	}
	if (s->bitmap) {
		pthread_mutex_lock(&bb->image_lock);
		r = take_bitmap(d, err);
		blk_image_unlock(bb);
		if (r)
			return r;
	}
	return target_create(job, d, err);
}

static uint64_t todo_bytes(const struct blk_backup_disk *d)
{
	uint64_t c, n = 0;

	for (c = 0; c < d->nchunks; c++)
		if (bit(d->todo, c))
			n += chunk_len(d, c);
	return n;
}

static void job_free(struct blk_backup *job)
{
	unsigned int i;

	for (i = 0; i < job->n; i++) {
		struct blk_backup_disk *d = &job->d[i];

		free(d->name);
		free(d->target_path);
		free(d->bitmap);
		free(d->todo);
		free(d->taken);
	}
	free(job->buf);
	free(job);
}

int blk_backup_start(const struct blk_backup_disk_spec *spec, unsigned int n, bool compress,
		     uint64_t speed, void (*finished)(void *opaque), void *opaque,
		     struct blk_backup **out, struct vk_err *err)
{
	struct blk_backup *job;
	unsigned int i, k;
	int r = 0;

	if (!n || n > BLK_BACKUP_MAX_DISKS)
		return vk_fail(err, -EINVAL, "a backup takes 1 to %d disks", BLK_BACKUP_MAX_DISKS);
	for (i = 0; i < n; i++)
		for (k = 0; k < i; k++)
			if (spec[i].bb == spec[k].bb || !strcmp(spec[i].target, spec[k].target))
				return vk_fail(err, -EINVAL, "disk %s: named twice in one backup",
					       spec[i].name);
	job = calloc(1, sizeof(*job));
	if (!job || posix_memalign((void **)&job->buf, BLK_ALIGN_DIRECT,
				   ALIGN_UP(BLK_BACKUP_CHUNK * BLK_BACKUP_RUN, BLK_ALIGN_DIRECT))) {
		free(job);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	job->compress = compress;
	job->speed = speed;
	job->finished = finished;
	job->opaque = opaque;
	for (i = 0; i < n && !r; i++) {
		job->n = i + 1;
		r = disk_setup(job, &job->d[i], &spec[i], err);
	}
	if (r) {
		close_targets(job, true);	/* the targets made, the bitmaps reset */
		job_free(job);
		return r;
	}
	for (i = 0; i < n; i++)
		job->len += todo_bytes(&job->d[i]);
	job->running = true;
	pthread_mutex_lock(&backup_lock);
	for (i = 0; i < n; i++)
		__atomic_store_n(&job->d[i].bb->backup, &job->d[i], __ATOMIC_RELEASE);
	pthread_mutex_unlock(&backup_lock);
	r = pthread_create(&job->thread, NULL, backup_thread, job);
	if (r) {
		pthread_mutex_lock(&backup_lock);
		release_all(job);
		pthread_mutex_unlock(&backup_lock);
		close_targets(job, true);
		job_free(job);
		return vk_fail(err, -r, "backup: cannot start its thread: %s", strerror(r));
	}
	*out = job;
	return 0;
}

void blk_backup_progress(struct blk_backup *job, struct blk_backup_progress *p)
{
	pthread_mutex_lock(&backup_lock);
	p->len = job->len;
	p->offset = job->offset;
	p->held = job->held;
	p->speed = job->speed;
	p->running = job->running;
	snprintf(p->error, sizeof(p->error), "%s", job->error);
	pthread_mutex_unlock(&backup_lock);
}

void blk_backup_cancel(struct blk_backup *job, const char *why)
{
	pthread_mutex_lock(&backup_lock);
	if (!job->cancel)
		snprintf(job->cancel_why, sizeof(job->cancel_why), "%s", why);
	job->cancel = true;
	pthread_mutex_unlock(&backup_lock);
}

void blk_backup_wait(struct blk_backup *job)
{
	if (!job->joined)
		pthread_join(job->thread, NULL);
	job->joined = true;
}

void blk_backup_free(struct blk_backup *job)
{
	if (!job)
		return;
	blk_backup_wait(job);
	job_free(job);
}
