// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QEMU's null-co protocol: an image of a given size (1 GiB unless told)
 * that discards writes. Reads return zeros; QEMU leaves the buffer as it was
 * unless read-zeroes is set, and says so in block status: without it the
 * ranges are neither data nor zero (map shows nothing present), with it
 * they read as zeros. The file behind it is /dev/null, so that fstat and
 * "disk size: 0 B" need no special case.
 */
#include <string.h>

#include "vmkit/block.h"

static int null_probe(const uint8_t *buf, size_t len)
{
	return 0;	/* named, never probed */
}

static int null_open(struct vk_blk *bs, struct vk_err *err)
{
	return 0;
}

static int null_pread(struct vk_blk *bs, void *buf, uint64_t off, size_t len,
		      struct vk_err *err)
{
	memset(buf, 0, len);
	return 0;
}

static int null_pwrite(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		       struct vk_err *err)
{
	return 0;
}

static int null_pwrite_zeroes(struct vk_blk *bs, uint64_t off, uint64_t len,
			      struct vk_err *err)
{
	return 0;
}

static int null_flush(struct vk_blk *bs, struct vk_err *err)
{
	return 0;
}

static uint64_t null_length(struct vk_blk *bs)
{
	return ALIGN_UP(bs->null_size, 512);	/* whole sectors, as QEMU's block layer */
}

static int null_block_status(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			     uint64_t *map, struct vk_err *err)
{
	*pnum = len;
	*map = off;
	return bs->null_zeroes ? VK_BS_ZERO | VK_BS_ALLOCATED | VK_BS_OFFSET_VALID : 0;
}

const struct vk_blk_driver vk_blk_null = {
	.name = "null-co",
	.discards = true,
	.probe = null_probe,
	.open = null_open,
	.pread = null_pread,
	.pwrite = null_pwrite,
	.pwrite_zeroes = null_pwrite_zeroes,
	.flush = null_flush,
	.length = null_length,
	.block_status = null_block_status,
};
