// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A whole-image copy for the management layer (full clones): what the
 * source reads as, backing chain included, into a new image of its own
 * (no backing file). `vmkit img convert` keeps its own loop, with qemu-img's
 * options, progress and parallel requests; this one is plain and serial,
 * and never leaves a half-written image: it writes a temporary file beside
 * the target, syncs it and renames it into place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmkit/block.h"

#define COPY_CHUNK	(1u << 20)

static bool all_zero(const uint8_t *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

/* Chunks that read as zeros are not written: the new image keeps them unallocated. */
static int copy_data(struct vk_blk *src, struct vk_blk *dst, struct vk_err *err)
{
	uint64_t size = vk_blk_length(src), off;
	uint8_t *buf = malloc(COPY_CHUNK);
	size_t n;
	int r = buf ? 0 : vk_fail(err, -ENOMEM, "out of memory");

	for (off = 0; !r && off < size; off += n) {
		n = (size_t)MIN((uint64_t)COPY_CHUNK, size - off);
		r = vk_blk_pread(src, buf, off, n, err);
		if (!r && !all_zero(buf, n))
			r = vk_blk_pwrite(dst, buf, off, n, err);
	}
	if (!r)
		r = vk_blk_flush(dst, err);
	free(buf);
	return r;
}

int vk_blk_copy_new(const char *src_file, const char *dst_file, const char *fmt,
		    struct vk_err *err)
{
	struct vk_blk_opts so = { .flags = VK_BLK_FORCE_SHARE }, dopts = { .flags = VK_BLK_RDWR };
	struct vk_blk_create_opts co = { 0 };
	struct vk_blk *src = NULL, *dst = NULL;
	char tmp[4096];
	int r;

	if (snprintf(tmp, sizeof(tmp), "%s.part", dst_file) >= (int)sizeof(tmp))
		return vk_fail(err, -ENAMETOOLONG, "%s: name too long", dst_file);
	dopts.format = fmt;
	r = vk_blk_open(src_file, &so, &src, err);
	if (r)
		return r;
	co.size = vk_blk_length(src);
	r = vk_blk_create(fmt, tmp, &co, err);
	if (!r)
		r = vk_blk_open(tmp, &dopts, &dst, err);
	if (!r)
		r = copy_data(src, dst, err);
	vk_blk_close(dst);
	vk_blk_close(src);
	/* The image's data and tables reached the disk at the flush; now its name. */
	if (!r && rename(tmp, dst_file) < 0)
		r = vk_fail(err, -errno, "%s: %s", dst_file, strerror(errno));
	if (r)
		unlink(tmp);
	return r;
}

int vk_blk_backup_write(struct vk_blk *target, uint64_t off, const void *buf, size_t len,
			bool over_backing, bool compress, struct vk_err *err)
{
	if (vk_buf_is_zero(buf, len))
		return over_backing ? vk_blk_pwrite_zeroes(target, off, len, err) : 0;
	if (compress)
		return vk_blk_pwrite_compressed(target, off, buf, len, NULL, 0, err);
	return vk_blk_pwrite(target, buf, off, len, err);
}
