// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The generic layer's compressed writes, discard and backing-file change:
 * request checks, then the driver's op.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "vmkit/block.h"

static int check_write(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err)
{
	uint64_t size = vk_blk_length(bs);

	if (bs->read_only)
		return vk_fail(err, -EROFS, "%s: image is read-only", bs->filename);
	if (off > size || len > size - off)
		return vk_fail(err, -EINVAL, "%s: request at %llu+%llu past the end (%llu)",
			       bs->filename, (unsigned long long)off, (unsigned long long)len,
			       (unsigned long long)size);
	return 0;
}

uint32_t vk_blk_cluster_size(struct vk_blk *bs)
{
	struct vk_blk_info info;

	if (vk_blk_get_info(bs, &info) < 0)
		return 0;
	return info.cluster_size;
}

ssize_t vk_blk_compress(struct vk_blk *bs, void *out, size_t cap, const void *in, size_t len)
{
	if (!bs->drv->compress)
		return -ENOTSUP;
	return bs->drv->compress(bs, out, cap, in, len);
}

int vk_blk_pwrite_compressed(struct vk_blk *bs, uint64_t off, const void *buf, size_t len,
			     const void *cdata, size_t clen, struct vk_err *err)
{
	int r;

	if (!bs->drv->pwrite_compressed)
		return vk_fail(err, -ENOTSUP, "%s: Compression not supported for this file format",
			       bs->filename);
	/* len 0 ends a stream of compressed writes (the driver may align the file's end). */
	r = len ? check_write(bs, off, len, err) : 0;
	if (r < 0)
		return r;
	return bs->drv->pwrite_compressed(bs, off, buf, len, cdata, clen, err);
}

int vk_blk_discard(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err)
{
	struct stat st;
	int r = check_write(bs, off, len, err);

	if (r < 0 || !len)
		return r;
	if (bs->drv->discard)
		return bs->drv->discard(bs, off, len, err);
	/* Raw: a hole where the file system can punch one; nothing otherwise (discard is advisory). */
	if (fstat(bs->fd, &st) == 0 && S_ISREG(st.st_mode))
		(void)fallocate(bs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				(off_t)len);
	return 0;
}

int vk_blk_make_empty(struct vk_blk *bs, struct vk_err *err)
{
	int r = check_write(bs, 0, vk_blk_length(bs), err);

	if (r < 0)
		return r;
	if (bs->drv->make_empty)
		return bs->drv->make_empty(bs, err);
	return vk_blk_discard(bs, 0, vk_blk_length(bs), err);
}

int vk_blk_set_backing(struct vk_blk *bs, const char *file, const char *fmt, struct vk_err *err)
{
	if (bs->read_only)
		return vk_fail(err, -EROFS, "%s: image is read-only", bs->filename);
	if (!bs->drv->set_backing)
		return vk_fail(err, -ENOTSUP, "%s", strerror(ENOTSUP));	/* QEMU's words */
	return bs->drv->set_backing(bs, file && *file ? file : NULL, fmt, err);
}
