// SPDX-License-Identifier: GPL-2.0-or-later
/* The raw driver: the image is the file (or block device), byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "name.h"
#include "vmkit/block.h"

/* offset, size: a window of the file (json: options), as QEMU's raw format takes them. */
struct raw_state {
	uint64_t size;
	uint64_t offset;
	bool has_size;
};

static int raw_probe(const uint8_t *buf, size_t len)
{
	return 1;	/* anything is a raw image: the last resort */
}

/* The window's checks, in QEMU's order and words (file is the file's size in whole sectors). */
static int raw_window(struct raw_state *s, uint64_t file, struct vk_err *err)
{
	if (s->offset > file)
		return vk_fail(err, -EINVAL,
			       "Offset (%llu) cannot be greater than size of the containing file (%llu)",
			       (unsigned long long)s->offset, (unsigned long long)file);
	if (s->has_size && file - s->offset < s->size)
		return vk_fail(err, -EINVAL,
			       "The sum of offset (%llu) and size (%llu) has to be smaller or equal to the  actual size of the containing file (%llu)",
			       (unsigned long long)s->offset, (unsigned long long)s->size,
			       (unsigned long long)file);
	if (s->has_size && s->size % 512)
		return vk_fail(err, -EINVAL, "Specified size is not multiple of 512");
	if (!s->has_size)
		s->size = ALIGN_UP(file - s->offset, 512);
	return 0;
}

static int raw_open(struct vk_blk *bs, struct vk_err *err)
{
	struct raw_state *s = bs->opaque;
	int64_t size = vk_blk_file_size(bs);
	bool given;
	int r;

	if (size < 0)
		return vk_fail(err, (int)size, "%s: %s", bs->filename, strerror((int)-size));
	if (bs->open_opts) {
		r = vk_blk_opt_size(bs->open_opts, "offset", &s->offset, &given, err);
		if (!r)
			r = vk_blk_opt_size(bs->open_opts, "size", &s->size, &s->has_size, err);
		if (r < 0)
			return r;
	}
	/* Whole sectors, as QEMU: the tail of an odd-sized file reads as zeros. */
	return raw_window(s, ALIGN_UP((uint64_t)size, 512), err);
}

static uint64_t raw_offset(struct vk_blk *bs)
{
	return ((struct raw_state *)bs->opaque)->offset;
}

static int raw_pread(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err)
{
	return vk_blk_file_pread(bs, buf, off + raw_offset(bs), len, true, err);
}

/*
 * QEMU's rule for an image probed as raw: a write may not put a format's
 * magic into the first sector, or the next open would probe the guest's
 * bytes as an image header (and follow, say, a backing file it names).
 */
static int check_first_sector(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
			      struct vk_err *err)
{
	const char *name;
	uint8_t sector[512];
	size_t n;
	int r;

	if (!bs->probed || off >= sizeof(sector))
		return 0;
	r = vk_blk_file_pread(bs, sector, 0, sizeof(sector), true, err);
	if (r < 0)
		return r;
	n = MIN(len, sizeof(sector) - off);
	memcpy(sector + off, buf, n);
	name = vk_blk_probe_magic(sector, sizeof(sector));
	if (name)
		return vk_fail(err, -EPERM,
			       "%s: write refused: it would put a %s header into the first sector of an image probed as raw (give format=raw)",
			       bs->filename, name);
	return 0;
}

static int raw_pwrite(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		      struct vk_err *err)
{
	int r = check_first_sector(bs, buf, off, len, err);

	return r < 0 ? r : vk_blk_file_pwrite(bs, buf, off + raw_offset(bs), len, err);
}

/* Every byte is where the guest sees it (past the offset option); the first sector of a probed image is checked by pwrite. */
static int raw_map_io(struct vk_blk *bs, uint64_t off, uint64_t len, bool write, uint64_t *pnum,
		      int *fd, uint64_t *host)
{
	if (write && bs->probed && off < 512)
		return -EAGAIN;
	*pnum = len;
	*fd = bs->fd;
	*host = off + raw_offset(bs);
	return VK_MAP_DATA;
}

static int raw_pwrite_zeroes(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err)
{
	struct stat st;

	off += raw_offset(bs);
	/* Punch a hole in regular files; fall back to writing zeros. */
	if (fstat(bs->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    fallocate(bs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) == 0)
		return 0;
	while (len) {
		static const char zero[65536];
		size_t n = MIN(len, sizeof(zero));
		int r = vk_blk_file_pwrite(bs, zero, off, n, err);

		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

static int raw_flush(struct vk_blk *bs, struct vk_err *err)
{
	if (!(bs->flags & VK_BLK_CACHE_UNSAFE) && fdatasync(bs->fd) < 0)
		return vk_fail(err, -errno, "%s: flush: %s", bs->filename, strerror(errno));
	return 0;
}

static uint64_t raw_length(struct vk_blk *bs)
{
	return ((struct raw_state *)bs->opaque)->size;
}

static int raw_block_status(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			    uint64_t *map, struct vk_err *err)
{
	*map = off + raw_offset(bs);
	return vk_blk_file_status(bs->fd, *map, len, pnum) | VK_BS_OFFSET_VALID | VK_BS_ALLOCATED |
	       VK_BS_RECURSE;
}

/* preallocation=falloc reserves the blocks, full writes zeros over the whole file. */
static int raw_create_prealloc(int fd, const struct vk_blk_create_opts *o, struct vk_err *err)
{
	static const char zero[65536];
	uint64_t off, n;

	if (o->prealloc == VK_PREALLOC_FALLOC && o->size &&
	    fallocate(fd, 0, 0, (off_t)o->size) < 0)
		return vk_fail(err, -errno, "Could not preallocate data for the new file: %s",
			       strerror(errno));
	if (o->prealloc != VK_PREALLOC_FULL)
		return 0;
	for (off = 0; off < o->size; off += n) {
		n = MIN(o->size - off, sizeof(zero));
		if (pwrite(fd, zero, n, (off_t)off) != (ssize_t)n)
			return vk_fail(err, errno ? -errno : -EIO,
				       "Could not write zeros for preallocation: %s", strerror(errno));
	}
	return 0;
}

static int raw_create(const char *filename, const struct vk_blk_create_opts *o,
		      struct vk_err *err)
{
	static const char zero[4096];
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (o->backing_file)
		return vk_fail(err, -EINVAL, "'raw' does not support backing files");
	fd = open(filename, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return vk_fail(err, -errno, "%s: %s", filename, strerror(errno));
	if (fstat(fd, &st) < 0)
		return vk_fail(err, -errno, "%s: %s", filename, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return 0;
	vk_blk_file_extent_hint(fd, o);	/* before the first block is allocated */
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)o->size) < 0)
		return vk_fail(err, -errno, "%s: could not resize file: %s", filename,
			       strerror(errno));
	/* QEMU allocates the first block so that later alignment probing is cheap. */
	if (o->size && pwrite(fd, zero, MIN(o->size, sizeof(zero)), 0) < 0)
		return vk_fail(err, -errno, "%s: %s", filename, strerror(errno));
	return raw_create_prealloc(fd, o, err);
}

/*
 * A raw file is the disk, byte for byte: the input's virtual size, or the
 * size in whole sectors. Preallocation changes nothing: unwritten ranges
 * count as much as written ones, as qemu-img counts them.
 */
static int raw_measure(const struct vk_blk_create_opts *o, struct vk_blk *in,
		       struct vk_blk_measure *res, struct vk_err *err)
{
	uint64_t size = in ? vk_blk_length(in) : ALIGN_UP(o->size, 512);

	(void)err;
	res->required = res->fully_allocated = size;
	res->bitmaps = -1;
	return 0;
}

/*
 * Grow or shrink the file (what lies past an offset window: the file ends at
 * offset + size); falloc allocates the new part, full writes zeros into it.
 */
static int raw_truncate(struct vk_blk *bs, uint64_t size, enum vk_prealloc prealloc,
			struct vk_err *err)
{
	struct raw_state *s = bs->opaque;
	uint64_t old = s->size + s->offset, end = size + s->offset;
	struct stat st;
	int r = 0;

	if (prealloc == VK_PREALLOC_METADATA)
		return vk_fail(err, -ENOTSUP, "Unsupported preallocation mode: metadata");
	if (s->has_size)
		return vk_fail(err, -ENOTSUP, "Cannot resize fixed-size raw disks");
	if (fstat(bs->fd, &st) < 0)
		return vk_fail(err, -errno, "%s: %s", bs->filename, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return vk_fail(err, -ENOTSUP, "%s: cannot resize a device", bs->filename);
	if (ftruncate(bs->fd, (off_t)end) < 0)
		return vk_fail(err, -errno, "%s: could not resize file: %s", bs->filename,
			       strerror(errno));
	s->size = ALIGN_UP(size, 512);
	if (end <= old || prealloc == VK_PREALLOC_OFF)
		return 0;
	if (prealloc == VK_PREALLOC_FALLOC) {
		if (fallocate(bs->fd, 0, (off_t)old, (off_t)(end - old)) < 0)
			r = vk_fail(err, -errno, "%s: fallocate: %s", bs->filename, strerror(errno));
	} else {
		static const char zero[65536];

		for (; !r && old < end; old += MIN(end - old, sizeof(zero)))
			r = vk_blk_file_pwrite(bs, zero, old, MIN(end - old, sizeof(zero)), err);
	}
	return r;
}

/* A hole where the file system can punch one; nothing otherwise (discard is advisory). */
static int raw_discard(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err)
{
	struct stat st;

	if (fstat(bs->fd, &st) == 0 && S_ISREG(st.st_mode))
		(void)fallocate(bs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)(off + raw_offset(bs)), (off_t)len);
	return 0;
}

/* The format's own; preallocation and extent_size_hint are the file protocol's. */
static const struct vk_blk_create_opt raw_create_opts[] = {
	{ "size", "size", "Virtual disk size" },
	{ 0 }
};

static const struct vk_blk_shown_opt raw_formatting[] = {
	{ "size", "0" }, { "preallocation", NULL }, { 0 }
};

const struct vk_blk_driver vk_blk_raw = {
	.name = "raw",
	.plain = true,
	.create_opts = raw_create_opts,
	.formatting = raw_formatting,
	.state_size = sizeof(struct raw_state),
	.probe = raw_probe,
	.open = raw_open,
	.pread = raw_pread,
	.pwrite = raw_pwrite,
	.map_io = raw_map_io,
	.pwrite_zeroes = raw_pwrite_zeroes,
	.flush = raw_flush,
	.length = raw_length,
	.block_status = raw_block_status,
	.create = raw_create,
	.measure = raw_measure,
	.truncate = raw_truncate,
	.discard = raw_discard,
};
