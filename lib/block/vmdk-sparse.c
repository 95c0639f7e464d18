// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hosted sparse vmdk extents ("KDMV"): the header (or, for streamOptimized
 * files written front to back, the footer it defers to), the grain
 * directory, grain tables through a small cache, and grains: plain, zeroed
 * (GTE 1 with the zeroed-grain flag) or deflated behind a grain marker.
 * Every offset is checked against the file before it is used.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vmdk.h"

#define KDMV_MAGIC		0x564d444bu	/* "KDMV" read little-endian */
#define COWD_MAGIC		0x44574f43u	/* "COWD": VMDK3 / VMFS sparse */
#define FLAG_ZERO_GRAIN		(1u << 2)
#define FLAG_MARKERS		(1u << 17)
#define COMPRESS_DEFLATE	1
#define GD_AT_END		0xffffffffffffffffULL
#define MARKER_EOS		0
#define MARKER_FOOTER		3
#define GTE_ZEROED		1

struct kdmv_header {
	uint32_t magic, version, flags, gtes;
	uint64_t capacity, grain, desc_offset, desc_size, gd_offset, overhead;
	uint16_t compress;
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

static void parse(const uint8_t *b, struct kdmv_header *h)
{
	h->magic = le32(b);
	h->version = le32(b + 4);
	h->flags = le32(b + 8);
	h->capacity = le64(b + 12);
	h->grain = le64(b + 20);
	h->desc_offset = le64(b + 28);
	h->desc_size = le64(b + 36);
	h->gtes = le32(b + 44);
	h->gd_offset = le64(b + 56);
	h->overhead = le64(b + 64);
	h->compress = (uint16_t)(b[77] | b[78] << 8);
}

/*
 * A stream-optimized file may leave the header's grain directory offset
 * open (GD_AT_END) and write the real header as a footer: a footer marker,
 * the header, and an end-of-stream marker in its last three sectors.
 */
static int read_footer(struct vmdk_extent *e, struct kdmv_header *h, struct vk_err *err)
{
	uint8_t f[3 * VMDK_SECTOR];
	int r;

	if (e->file_size < 4 * VMDK_SECTOR)
		return vk_fail(err, -EINVAL, "%s: file too short for the footer its header announces",
			       e->path);
	r = vmdk_pread(e, f, e->file_size - sizeof(f), sizeof(f), false, err);
	if (r < 0)
		return r;
	if (le32(f + 8) != 0 || le32(f + 12) != MARKER_FOOTER || le32(f + 512) != KDMV_MAGIC ||
	    le64(f + 1024) != 0 || le32(f + 1032) != 0 || le32(f + 1036) != MARKER_EOS)
		return vk_fail(err, -EINVAL, "%s: invalid footer (the header defers to it)", e->path);
	parse(f + 512, h);
	return 0;
}

static int check_header(struct vmdk_extent *e, const struct kdmv_header *h, struct vk_err *err)
{
	uint64_t per_gt;

	if (h->version < 1 || h->version > 3)
		return vk_fail(err, -ENOTSUP, "%s: unsupported VMDK version %u", e->path, h->version);
	if (h->compress > COMPRESS_DEFLATE)
		return vk_fail(err, -ENOTSUP, "%s: unsupported compression algorithm %u", e->path,
			       h->compress);
	if (!h->grain || h->grain > VMDK_MAX_GRAIN_SECTORS)
		return vk_fail(err, -EINVAL, "%s: grain size of %llu sectors unsupported (1 to %u)",
			       e->path, (unsigned long long)h->grain, VMDK_MAX_GRAIN_SECTORS);
	if (!h->gtes || h->gtes > VMDK_MAX_GTES)
		return vk_fail(err, -EINVAL, "%s: %u entries per grain table unsupported (1 to %u)",
			       e->path, h->gtes, VMDK_MAX_GTES);
	if (h->capacity > (1ULL << 62) / VMDK_SECTOR)
		return vk_fail(err, -EFBIG, "%s: capacity of %llu sectors too large", e->path,
			       (unsigned long long)h->capacity);
	per_gt = h->grain * h->gtes;
	if ((h->capacity + per_gt - 1) / per_gt > VMDK_MAX_GD_ENTRIES)
		return vk_fail(err, -EFBIG, "%s: grain directory of %llu entries too large",
			       e->path, (unsigned long long)((h->capacity + per_gt - 1) / per_gt));
	if (h->overhead > e->file_size / VMDK_SECTOR)
		return vk_fail(err, -EINVAL, "%s: File truncated, expecting at least %llu bytes",
			       e->path, (unsigned long long)(h->overhead * VMDK_SECTOR));
	return 0;
}

static int load_gd(struct vmdk_extent *e, uint64_t gd_sector, struct vk_err *err)
{
	uint64_t bytes = (uint64_t)e->gd_entries * 4, i;
	int r;

	if (!e->gd_entries)
		return 0;
	if (gd_sector > e->file_size / VMDK_SECTOR ||
	    gd_sector * VMDK_SECTOR + bytes > e->file_size)
		return vk_fail(err, -EINVAL, "%s: grain directory at sector %llu past end of file",
			       e->path, (unsigned long long)gd_sector);
	e->gd = malloc(bytes);
	if (!e->gd)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vmdk_pread(e, e->gd, gd_sector * VMDK_SECTOR, bytes, false, err);
	if (r < 0)
		return r;
	for (i = 0; i < e->gd_entries; i++)
		e->gd[i] = le32toh(e->gd[i]);
	return 0;
}

int vmdk_sparse_open(struct vmdk_extent *e, struct vk_err *err)
{
	uint8_t b[VMDK_SECTOR];
	struct kdmv_header h;
	uint64_t per_gt;
	int r;

	if (e->file_size < VMDK_SECTOR)
		return vk_fail(err, -EINVAL, "%s: file too short for a vmdk sparse header", e->path);
	r = vmdk_pread(e, b, 0, sizeof(b), false, err);
	if (r < 0)
		return r;
	parse(b, &h);
	if (h.magic == COWD_MAGIC)
		return vk_fail(err, -ENOTSUP, "%s: VMDK3/vmfsSparse (COWD) extents are not supported",
			       e->path);
	if (h.magic != KDMV_MAGIC)
		return vk_fail(err, -EINVAL, "%s: not a vmdk sparse extent (bad magic)", e->path);
	/* The embedded descriptor belongs to the header at the front. */
	e->desc_offset = h.desc_offset < e->file_size / VMDK_SECTOR ? h.desc_offset * VMDK_SECTOR : 0;
	e->desc_size = e->desc_offset ? MIN(h.desc_size * VMDK_SECTOR, VMDK_MAX_DESC) : 0;
	if (h.gd_offset == GD_AT_END) {
		r = read_footer(e, &h, err);
		if (r < 0)
			return r;
	}
	r = check_header(e, &h, err);
	if (r < 0)
		return r;
	e->kind = VMDK_EXT_SPARSE;
	e->size = h.capacity * VMDK_SECTOR;
	e->grain = h.grain * VMDK_SECTOR;
	e->gtes = h.gtes;
	per_gt = h.grain * h.gtes;
	e->gd_entries = (uint32_t)((h.capacity + per_gt - 1) / per_gt);
	e->compressed = h.compress == COMPRESS_DEFLATE;
	e->markers = h.flags & FLAG_MARKERS;
	e->zero_grain = h.flags & FLAG_ZERO_GRAIN;
	return load_gd(e, h.gd_offset, err);
}

void vmdk_sparse_close(struct vmdk_extent *e)
{
	unsigned int i;

	for (i = 0; i < VMDK_GT_CACHE; i++)
		free(e->cache[i].gt);
	free(e->gd);
}

/* The grain table of directory entry gdi, from the cache or the file. */
static int get_gt(struct vmdk_extent *e, uint32_t gdi, uint32_t **gt, struct vk_err *err)
{
	uint64_t sector = e->gd[gdi], bytes = (uint64_t)e->gtes * 4;
	struct vmdk_gt_slot *victim = &e->cache[0];
	unsigned int i;
	int r;

	for (i = 0; i < VMDK_GT_CACHE; i++) {
		if (e->cache[i].sector == sector && e->cache[i].gt) {
			e->cache[i].used = ++e->cache_clock;
			*gt = e->cache[i].gt;
			return 0;
		}
		if (e->cache[i].used < victim->used)
			victim = &e->cache[i];
	}
	if (sector * VMDK_SECTOR + bytes > e->file_size)
		return vk_fail(err, -EINVAL, "%s: grain table %u at sector %llu past end of file",
			       e->path, gdi, (unsigned long long)sector);
	if (!victim->gt && !(victim->gt = malloc(VMDK_MAX_GTES * 4)))
		return vk_fail(err, -ENOMEM, "out of memory");
	victim->sector = 0;
	r = vmdk_pread(e, victim->gt, sector * VMDK_SECTOR, bytes, false, err);
	if (r < 0)
		return r;
	for (i = 0; i < e->gtes; i++)
		victim->gt[i] = le32toh(victim->gt[i]);
	victim->sector = sector;
	victim->used = ++e->cache_clock;
	*gt = victim->gt;
	return 0;
}

static enum vmdk_grain classify(const struct vmdk_extent *e, uint32_t gte)
{
	if (!gte)
		return VMDK_UNALLOC;
	if (gte == GTE_ZEROED && e->zero_grain)
		return VMDK_ZERO;
	return e->compressed ? VMDK_COMPRESSED : VMDK_DATA;
}

int vmdk_sparse_status(struct vmdk_extent *e, uint64_t off, uint64_t len, uint64_t *pnum,
		       uint64_t *host, enum vmdk_grain *kind, struct vk_err *err)
{
	uint64_t vg = off / e->grain, in = off % e->grain, gti = vg % e->gtes, n;
	uint64_t gdi = vg / e->gtes;
	uint32_t *gt = NULL, first;
	int r;

	if (gdi >= e->gd_entries)
		return vk_fail(err, -EIO, "%s: offset %#llx beyond the grain directory", e->path,
			       (unsigned long long)off);
	*host = 0;
	if (!e->gd[gdi]) {
		*kind = VMDK_UNALLOC;
		*pnum = MIN(len, (e->gtes - gti) * e->grain - in);
		return 0;
	}
	r = get_gt(e, (uint32_t)gdi, &gt, err);
	if (r < 0)
		return r;
	first = gt[gti];
	*kind = classify(e, first);
	if (*kind == VMDK_DATA || *kind == VMDK_COMPRESSED) {
		if ((uint64_t)first * VMDK_SECTOR >= e->file_size)
			return vk_fail(err, -EINVAL, "%s: grain %llu at sector %u past end of file",
				       e->path, (unsigned long long)vg, first);
		*host = (uint64_t)first * VMDK_SECTOR + (*kind == VMDK_DATA ? in : 0);
	}
	n = e->grain - in;
	/* Extend over following entries alike (data contiguous in the file); one compressed grain. */
	while (*kind != VMDK_COMPRESSED && n < len && ++gti < e->gtes) {
		if (classify(e, gt[gti]) != *kind)
			break;
		if (*kind == VMDK_DATA &&
		    (uint64_t)gt[gti] * VMDK_SECTOR != (uint64_t)first * VMDK_SECTOR + n + in)
			break;
		if (*kind == VMDK_DATA && (uint64_t)gt[gti] * VMDK_SECTOR >= e->file_size)
			break;
		n += e->grain;
	}
	*pnum = MIN(n, len);
	return 0;
}

static int inflate_grain(const uint8_t *in, size_t ilen, uint8_t *out, uint64_t olen,
			 uint64_t *got)
{
	z_stream z = { 0 };
	int r;

	if (inflateInit(&z) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)ilen;
	z.next_out = out;
	z.avail_out = (uInt)olen;
	r = inflate(&z, Z_FINISH);
	*got = z.total_out;
	inflateEnd(&z);
	return r == Z_STREAM_END ? 0 : -EIO;
}

int vmdk_sparse_inflate(struct vmdk_state *s, int idx, uint64_t host, struct vk_err *err)
{
	struct vmdk_extent *e = &s->ext[idx];
	_cleanup_free_ uint8_t *in = NULL;
	uint8_t marker[12];
	uint64_t data = host, ilen;
	int r;

	if (s->zext == idx && s->zsector == host)
		return 0;
	if (e->markers) {
		r = vmdk_pread(e, marker, host, sizeof(marker), false, err);
		if (r < 0)
			return r;
		ilen = le32(marker + 8);
		data = host + sizeof(marker);
		if (!ilen || ilen > 2 * e->grain)
			return vk_fail(err, -EINVAL, "%s: compressed grain at %#llx has invalid size %llu",
				       e->path, (unsigned long long)host, (unsigned long long)ilen);
		if (ilen > e->file_size - MIN(data, e->file_size))
			return vk_fail(err, -EINVAL, "%s: compressed grain at %#llx runs past end of file",
				       e->path, (unsigned long long)host);
	} else {
		ilen = MIN(2 * e->grain, e->file_size - host);
	}
	if (s->zcap < e->grain) {
		free(s->zbuf);
		s->zcap = 0;
		if (!(s->zbuf = malloc(e->grain)))
			return vk_fail(err, -ENOMEM, "out of memory");
		s->zcap = e->grain;
	}
	in = malloc(ilen);
	if (!in)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vmdk_pread(e, in, data, ilen, false, err);
	if (r < 0)
		return r;
	s->zext = -1;
	if (inflate_grain(in, ilen, s->zbuf, e->grain, &s->zlen) < 0)
		return vk_fail(err, -EIO, "%s: compressed grain at %#llx is corrupt", e->path,
			       (unsigned long long)host);
	s->zext = idx;
	s->zsector = host;
	return 0;
}

/*
 * qemu-img check for one sparse extent, as QEMU checks: every grain table
 * must be readable and every allocated grain must start inside the file.
 * The first problem ends the check (one ERROR line, then "Invalid argument").
 */
int vmdk_sparse_check(struct vmdk_extent *e, struct vk_blk_check *res, struct vk_err *err)
{
	uint64_t sector, per_gt = (uint64_t)e->gtes * (e->grain / VMDK_SECTOR);
	char line[128];
	uint32_t gdi, i, *gt;

	for (gdi = 0; gdi < e->gd_entries; gdi++) {
		if (!e->gd[gdi])
			continue;
		sector = e->start / VMDK_SECTOR + gdi * per_gt;
		if (get_gt(e, gdi, &gt, NULL) < 0) {
			snprintf(line, sizeof(line), "ERROR: could not get cluster_offset for sector %llu",
				 (unsigned long long)sector);
			goto bad;
		}
		for (i = 0; i < e->gtes; i++, sector += e->grain / VMDK_SECTOR) {
			if (sector >= (e->start + e->size) / VMDK_SECTOR)
				break;
			if (classify(e, gt[i]) != VMDK_DATA && classify(e, gt[i]) != VMDK_COMPRESSED)
				continue;
			if ((uint64_t)gt[i] * VMDK_SECTOR < e->file_size)
				continue;
			snprintf(line, sizeof(line), "ERROR: cluster offset for sector %llu points after EOF",
				 (unsigned long long)sector);
			goto bad;
		}
	}
	return 0;
bad:
	if (res->report)
		res->report(res->opaque, line);
	res->corruptions++;
	return vk_fail(err, -EINVAL, "Invalid argument");
}
