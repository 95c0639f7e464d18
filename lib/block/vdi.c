// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VirtualBox VDI images, read only: a 512-byte little-endian header, a block
 * map (one 32-bit entry per block: the block's index in the data area, or
 * unallocated / discarded, which read as zeros) and the data area. Static
 * images have every block allocated, dynamic ones only those written.
 * Accepted as QEMU accepts them (version 1.1, 512-byte sectors, 1 MiB
 * blocks, no parent or link), and every entry is checked against the file
 * before it is used.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/block.h"

#define VDI_SIGNATURE		0xbeda107fu
#define VDI_VERSION		0x00010001u
#define VDI_SECTOR		512u
#define VDI_BLOCK		(1u << 20)
#define VDI_HEADER		512u
#define VDI_TYPE_STATIC		2
#define VDI_DISCARDED		0xfffffffeu	/* this and above: not allocated */
#define VDI_MAX_BLOCKS		0x1fffff80u	/* QEMU's limit */
#define VDI_MAX_SIZE		((uint64_t)VDI_MAX_BLOCKS * VDI_BLOCK)

/* Header offsets. */
#define H_SIGNATURE		0x40
#define H_VERSION		0x44
#define H_TYPE			0x4c
#define H_OFFSET_BMAP		0x154
#define H_OFFSET_DATA		0x158
#define H_SECTOR_SIZE		0x168
#define H_DISK_SIZE		0x170
#define H_BLOCK_SIZE		0x178
#define H_BLOCKS		0x180
#define H_ALLOCATED		0x184
#define H_UUID_LINK		0x1a8
#define H_UUID_PARENT		0x1b8

struct vdi_state {
	uint64_t size;
	uint64_t file_size;
	uint32_t offset_data;
	uint32_t blocks;		/* entries in the block map */
	uint32_t allocated;		/* as the header records it (check compares) */
	bool is_static;
	uint32_t *bmap;			/* host-endian */
};

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static int vdi_probe(const uint8_t *buf, size_t len)
{
	return len >= VDI_HEADER && le32(buf + H_SIGNATURE) == VDI_SIGNATURE ? 100 : 0;
}

static bool null_uuid(const uint8_t *p)
{
	static const uint8_t zero[16];

	return !memcmp(p, zero, sizeof(zero));
}

/* QEMU's checks, in its order and words: what it refuses is refused alike. */
static int check_header(struct vk_blk *bs, const uint8_t *h, uint64_t size, struct vk_err *err)
{
	uint32_t version = le32(h + H_VERSION), bmap = le32(h + H_OFFSET_BMAP);
	uint32_t data = le32(h + H_OFFSET_DATA), bsize = le32(h + H_BLOCK_SIZE);
	uint32_t blocks = le32(h + H_BLOCKS);

	if (le32(h + H_SIGNATURE) != VDI_SIGNATURE)
		return vk_fail(err, -EINVAL, "%s: Image not in VDI format (bad signature %08x)",
			       bs->filename, le32(h + H_SIGNATURE));
	if (version != VDI_VERSION)
		return vk_fail(err, -ENOTSUP, "%s: unsupported VDI image (version %u.%u)",
			       bs->filename, version >> 16, version & 0xffff);
	if (bmap % VDI_SECTOR)
		return vk_fail(err, -ENOTSUP, "%s: unsupported VDI image (unaligned block map "
			       "offset 0x%x)", bs->filename, bmap);
	if (data % VDI_SECTOR)
		return vk_fail(err, -ENOTSUP, "%s: unsupported VDI image (unaligned data offset "
			       "0x%x)", bs->filename, data);
	if (le32(h + H_SECTOR_SIZE) != VDI_SECTOR)
		return vk_fail(err, -ENOTSUP, "%s: unsupported VDI image (sector size %u is not %u)",
			       bs->filename, le32(h + H_SECTOR_SIZE), VDI_SECTOR);
	if (bsize != VDI_BLOCK)
		return vk_fail(err, -ENOTSUP, "%s: unsupported VDI image (block size %u is not %u)",
			       bs->filename, bsize, VDI_BLOCK);
	if (size > (uint64_t)blocks * bsize)
		return vk_fail(err, -ENOTSUP, "%s: unsupported VDI image (disk size %llu, image "
			       "bitmap has room for %llu)", bs->filename, (unsigned long long)size,
			       (unsigned long long)blocks * bsize);
	if (!null_uuid(h + H_UUID_LINK))
		return vk_fail(err, -ENOTSUP, "%s: unsupported VDI image (non-NULL link UUID)",
			       bs->filename);
	if (!null_uuid(h + H_UUID_PARENT))
		return vk_fail(err, -ENOTSUP, "%s: unsupported VDI image (non-NULL parent UUID)",
			       bs->filename);
	if (blocks > VDI_MAX_BLOCKS)
		return vk_fail(err, -ENOTSUP, "%s: unsupported VDI image (too many blocks %u, max is "
			       "%u)", bs->filename, blocks, VDI_MAX_BLOCKS);
	return 0;
}

static int parse_header(struct vk_blk *bs, const uint8_t *h, struct vk_err *err)
{
	struct vdi_state *s = bs->opaque;
	uint64_t size = le64(h + H_DISK_SIZE);
	int r;

	if (size > VDI_MAX_SIZE)
		return vk_fail(err, -ENOTSUP, "%s: Unsupported VDI image size (size is 0x%llx, max "
			       "supported is 0x%llx)", bs->filename, (unsigned long long)size,
			       (unsigned long long)VDI_MAX_SIZE);
	/* VBoxManage convertfromraw writes sizes that are no multiple of a sector: QEMU drops the rest. */
	size -= size % VDI_SECTOR;
	r = check_header(bs, h, size, err);
	if (r < 0)
		return r;
	s->size = size;
	s->offset_data = le32(h + H_OFFSET_DATA);
	s->blocks = le32(h + H_BLOCKS);
	s->allocated = le32(h + H_ALLOCATED);
	s->is_static = le32(h + H_TYPE) == VDI_TYPE_STATIC;
	return 0;
}

/* The block map, read whole: it must lie in the file, which bounds the allocation. */
static int load_bmap(struct vk_blk *bs, uint32_t off, struct vk_err *err)
{
	struct vdi_state *s = bs->opaque;
	uint64_t bytes = (uint64_t)s->blocks * 4, i;
	int r;

	if (off > s->file_size || bytes > s->file_size - off)
		return vk_fail(err, -EINVAL, "%s: block map of %u entries at %u past the end of the "
			       "file", bs->filename, s->blocks, off);
	s->bmap = malloc(bytes ? bytes : 1);
	if (!s->bmap)
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	r = vk_blk_file_pread(bs, s->bmap, off, bytes, false, err);
	if (r < 0)
		return r;
	for (i = 0; i < s->blocks; i++)
		s->bmap[i] = le32toh(s->bmap[i]);
	return 0;
}

static int vdi_open(struct vk_blk *bs, struct vk_err *err)
{
	struct vdi_state *s = bs->opaque;
	int64_t fsize = vk_blk_file_size(bs);
	uint8_t h[VDI_HEADER];
	int r;

	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", bs->filename, strerror((int)-fsize));
	s->file_size = (uint64_t)fsize;
	if (s->file_size < VDI_HEADER)
		return vk_fail(err, -EINVAL, "%s: file too short for a VDI header", bs->filename);
	r = vk_blk_file_pread(bs, h, 0, sizeof(h), false, err);
	if (r < 0)
		return r;
	r = parse_header(bs, h, err);
	if (r < 0)
		return r;
	r = load_bmap(bs, le32(h + H_OFFSET_BMAP), err);
	if (r < 0) {	/* the generic layer closes only what opened */
		free(s->bmap);
		s->bmap = NULL;
	}
	return r;
}

static void vdi_close(struct vk_blk *bs)
{
	free(((struct vdi_state *)bs->opaque)->bmap);
}

static uint64_t vdi_length(struct vk_blk *bs)
{
	return ((struct vdi_state *)bs->opaque)->size;
}

/*
 * The file offset of virtual off and the bytes left in its block (at most
 * len): 1 if allocated (the block then lies in the file), 0 if not.
 */
static int lookup(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *host, uint64_t *n,
		  struct vk_err *err)
{
	struct vdi_state *s = bs->opaque;
	uint64_t idx = off / VDI_BLOCK, in = off % VDI_BLOCK;
	uint32_t e = idx < s->blocks ? s->bmap[idx] : VDI_DISCARDED;

	*n = MIN(len, VDI_BLOCK - in);
	*host = 0;
	if (e >= VDI_DISCARDED)
		return 0;	/* offset_data may be 0: *host alone cannot say */
	*host = s->offset_data + (uint64_t)e * VDI_BLOCK + in;
	if (*host > s->file_size || *n > s->file_size - *host)
		return vk_fail(err, -EIO, "%s: block %llu is mapped to %llu, past the end of the file",
			       bs->filename, (unsigned long long)idx,
			       (unsigned long long)(*host - in));
	return 1;
}

static int vdi_read(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err)
{
	uint64_t host, n;
	int r;

	while (len) {
		r = lookup(bs, off, len, &host, &n, err);
		if (r < 0)
			return r;
		if (!r)
			memset(buf, 0, n);
		else if ((r = vk_blk_file_pread(bs, buf, host, n, false, err)) < 0)
			return r;
		buf = (uint8_t *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

/* As QEMU 7.2: one block at a time; holes in a static image's file read as zeros. */
static int vdi_block_status(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			    uint64_t *map, struct vk_err *err)
{
	struct vdi_state *s = bs->opaque;
	uint64_t host;
	int r = lookup(bs, off, len, &host, pnum, err);

	if (r <= 0)
		return r < 0 ? r : (int)(VK_BS_ZERO | VK_BS_ALLOCATED);
	*map = host;
	return VK_BS_DATA | VK_BS_OFFSET_VALID | VK_BS_ALLOCATED |
	       (s->is_static ? VK_BS_RECURSE : 0);
}

static int vdi_get_info(struct vk_blk *bs, struct vk_blk_info *info)
{
	info->cluster_size = VDI_BLOCK;
	return 0;
}

/* Report one finding, as qemu-img's vdi check prints it. */
static void found(struct vk_blk_check *res, const char *fmt, uint32_t a, uint32_t b)
{
	char line[128];

	res->corruptions++;
	if (!res->report)
		return;
	snprintf(line, sizeof(line), fmt, a, b);
	res->report(res->opaque, line);
}

/*
 * QEMU's vdi check: every allocated entry names a distinct block of the data
 * area, and the header counts them right. It repairs nothing (-ENOTSUP, no
 * message: qemu-img then says the format has no checks).
 */
static int vdi_check(struct vk_blk *bs, struct vk_blk_check *res, unsigned int fix,
		     struct vk_err *err)
{
	struct vdi_state *s = bs->opaque;
	_cleanup_free_ uint32_t *owner = NULL;
	uint32_t i, e, n = 0;

	if (fix)
		return -ENOTSUP;
	owner = malloc(s->blocks ? (size_t)s->blocks * 4 : 1);
	if (!owner)
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	memset(owner, 0xff, (size_t)s->blocks * 4);
	for (i = 0; i < s->blocks; i++) {
		e = s->bmap[i];
		if (e >= VDI_DISCARDED)
			continue;
		if (e >= s->blocks) {
			found(res, "ERROR: block index %u too large, is %u", i, e);
			continue;
		}
		n++;
		if (owner[e] >= VDI_DISCARDED)
			owner[e] = e;
		else
			found(res, "ERROR: block index %u also used by %u", owner[e], e);
	}
	if (n != s->allocated)
		found(res, "ERROR: allocated blocks mismatch, is %u, should be %u", n, s->allocated);
	return 0;
}

const struct vk_blk_driver vk_blk_vdi = {
	.name = "vdi",
	.state_size = sizeof(struct vdi_state),
	.probe = vdi_probe,
	.open = vdi_open,
	.close = vdi_close,
	.pread = vdi_read,
	.pwrite = vk_blk_pwrite_read_only,
	.flush = vk_blk_flush_nothing,
	.length = vdi_length,
	.get_info = vdi_get_info,
	.block_status = vdi_block_status,
	.check = vdi_check,
};
