// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hyper-V VHDX images, read only. The file starts with an identifier
 * ("vhdxfile"), two headers (the valid one with the higher sequence number
 * is current) and two region tables naming the BAT and metadata regions;
 * every header and table carries a CRC-32C. The metadata gives the block
 * size, the virtual size and the sector sizes; the BAT holds one 64-bit
 * entry per payload block (a state and a 1 MiB-aligned file offset), with a
 * sector bitmap entry after every chunk_ratio of them. As QEMU 7.2:
 * differencing images are refused, and so is an image whose log is not
 * empty (QEMU replays it on a read-write open; vmkit opens read-only and
 * does not replay, so it says so rather than read stale data).
 * Everything is checked against the file before it is used.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/block.h"

#define VHDX_HEADER1		(64 * KiB)
#define VHDX_HEADER2		(128 * KiB)
#define VHDX_HEADER_SIZE	(4 * KiB)
#define VHDX_REGION_TABLE	(192 * KiB)
#define VHDX_TABLE_SIZE		(64 * KiB)
#define VHDX_MAX_ENTRIES	2047
#define VHDX_MIN_BLOCK		(1 * MiB)
#define VHDX_MAX_BLOCK		(256 * MiB)
#define VHDX_MAX_SIZE		(64ULL * 1024 * GiB)	/* the spec's limit */
#define VHDX_SECTORS_PER_CHUNK	(1ULL << 23)		/* sectors a sector bitmap block covers */
#define VHDX_REGION_REQUIRED	1u
#define VHDX_META_REQUIRED	4u
#define VHDX_HAS_PARENT		2u
#define BAT_STATE_MASK		7u
#define BAT_OFFSET_MASK		0xfffffffffff00000ULL
#define BAT_FULLY_PRESENT	6u
#define BAT_PARTIALLY_PRESENT	7u
#define MAX_REGIONS		(VHDX_MAX_ENTRIES + 1)

/* A GUID as it is stored: the first three fields little-endian, the rest as written. */
#define GUID(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7) { \
	(a) & 0xff, ((a) >> 8) & 0xff, ((a) >> 16) & 0xff, ((a) >> 24) & 0xff, \
	(b) & 0xff, ((b) >> 8) & 0xff, (c) & 0xff, ((c) >> 8) & 0xff, \
	d0, d1, d2, d3, d4, d5, d6, d7 }

static const uint8_t bat_guid[16] =
	GUID(0x2dc27766, 0xf623, 0x4200, 0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08);
static const uint8_t metadata_guid[16] =
	GUID(0x8b7ca206, 0x4790, 0x4b9a, 0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e);

/* The metadata items QEMU requires (the parent locator only for differencing files). */
enum { META_PARAMS, META_SIZE, META_PAGE83, META_LOGICAL, META_PHYSICAL, META_PARENT, META_N };
static const uint8_t meta_guids[META_N][16] = {
	GUID(0xcaa16737, 0xfa36, 0x4d43, 0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b),
	GUID(0x2fa54224, 0xcd1b, 0x4876, 0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8),
	GUID(0xbeca12ab, 0xb2e6, 0x4523, 0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46),
	GUID(0x8141bf1d, 0xa96f, 0x4709, 0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f),
	GUID(0xcda348c7, 0x445d, 0x4471, 0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56),
	GUID(0xa8d35f2d, 0xb30b, 0x454d, 0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c),
};

struct vhdx_region {
	uint64_t start, end;
};

struct vhdx_state {
	uint64_t size;
	uint64_t file_size;
	uint32_t block_size;
	uint32_t chunk_ratio;		/* payload entries between sector bitmap entries */
	uint64_t bat_offset, bat_entries;
	uint64_t *bat;			/* host-endian */
	/* Where metadata lies, for the overlap check of payload blocks (QEMU's regions). */
	struct vhdx_region regions[MAX_REGIONS];
	unsigned int nregions;
	struct vhdx_region bat_rt, meta_rt;
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

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

/*
 * CRC-32C (Castagnoli) a byte at a time, continuing crc (start with ~0, end
 * with ~), its table built on the stack for each call (no shared state; 256
 * steps against the kilobytes it sums).
 */
static uint32_t crc32c_more(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t table[256], c;
	size_t i;
	int k;

	for (i = 0; i < 256; i++) {
		for (c = (uint32_t)i, k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & -(c & 1));
		table[i] = c;
	}
	for (i = 0; i < len; i++)
		crc = (crc >> 8) ^ table[(crc ^ p[i]) & 0xff];
	return crc;
}

/* The CRC of a structure whose checksum field (at 4) counts as zeros. */
static bool checksum_ok(const uint8_t *p, size_t len)
{
	static const uint8_t zero[4];
	uint32_t crc = crc32c_more(0xffffffffu, p, 4);

	crc = crc32c_more(crc32c_more(crc, zero, 4), p + 8, len - 8);
	return ~crc == le32(p + 4);
}

static int vhdx_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && !memcmp(buf, "vhdxfile", 8) ? 100 : 0;
}

/* Read len bytes at off, which must lie in the file. */
static int read_in_file(struct vk_blk *bs, void *buf, uint64_t off, size_t len, const char *what,
			struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;

	if (off > s->file_size || len > s->file_size - off)
		return vk_fail(err, -EINVAL, "%s: VHDX %s at %llu past the end of the file",
			       bs->filename, what, (unsigned long long)off);
	return vk_blk_file_pread(bs, buf, off, len, false, err);
}

static int overlap(struct vk_blk *bs, uint64_t start, uint64_t len, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	uint64_t end = start + len;
	unsigned int i;

	for (i = 0; i < s->nregions; i++)
		if (start < s->regions[i].end && end > s->regions[i].start)
			return vk_fail(err, -EINVAL, "%s: VHDX region %llu-%llu overlaps with region "
				       "%llu-%llu", bs->filename, (unsigned long long)start,
				       (unsigned long long)end,
				       (unsigned long long)s->regions[i].start,
				       (unsigned long long)s->regions[i].end);
	return 0;
}

static void add_region(struct vhdx_state *s, uint64_t start, uint64_t len)
{
	if (s->nregions < MAX_REGIONS)
		s->regions[s->nregions++] = (struct vhdx_region){ start, start + len };
}

/* A header is valid with its checksum, signature "head" and version 1. */
static int read_header(struct vk_blk *bs, uint64_t off, uint8_t *h, bool *valid,
		       struct vk_err *err)
{
	int r = read_in_file(bs, h, off, VHDX_HEADER_SIZE, "header", err);

	if (r < 0)
		return r;
	*valid = checksum_ok(h, VHDX_HEADER_SIZE) && !memcmp(h, "head", 4) && le16(h + 66) == 1;
	return 0;
}

static bool null_guid(const uint8_t *g)
{
	static const uint8_t zero[16];

	return !memcmp(g, zero, sizeof(zero));
}

/*
 * The CRC of the log entry of len bytes at pos in the circular log (*ok
 * false if part of it lies past the end of the file), spending from *budget.
 */
static int entry_crc(struct vk_blk *bs, uint64_t log_off, uint64_t log_len, uint64_t pos,
		     uint64_t len, uint32_t *crc, bool *ok, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	_cleanup_free_ uint8_t *buf = malloc(64 * KiB);
	uint64_t done, p, n;
	int r;

	if (!buf)
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	*crc = 0xffffffffu;
	*ok = true;
	for (done = 0; done < len; done += n) {
		p = (pos + done) % log_len;
		n = MIN(MIN(len - done, log_len - p), 64 * KiB);
		if (log_off + p + n > s->file_size) {
			*ok = false;
			return 0;
		}
		r = vk_blk_file_pread(bs, buf, log_off + p, n, false, err);
		if (r < 0)
			return r;
		if (!done)
			memset(buf + 4, 0, 4);	/* the entry's own checksum */
		*crc = crc32c_more(*crc, buf, n);
	}
	*crc = ~*crc;
	return 0;
}

/*
 * A log GUID says only that the log may hold entries: it does if an entry
 * carrying that GUID passes its CRC, and then QEMU replays the log on a
 * read-write open and refuses a read-only one. vmkit refuses it too (it
 * would read what the log is about to change). The search is bounded: a
 * hostile log cannot make it read more than 64 MiB.
 */
static int check_log(struct vk_blk *bs, const uint8_t *h, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	uint64_t off = le64(h + 72), len = le32(h + 68), pos, budget = 64 * MiB, elen;
	uint8_t e[64];
	uint32_t crc = 0;
	bool ok = false;
	int r;

	for (pos = 0; pos + VHDX_HEADER_SIZE <= len && off + pos + 64 <= s->file_size;
	     pos += VHDX_HEADER_SIZE) {
		r = vk_blk_file_pread(bs, e, off + pos, sizeof(e), false, err);
		if (r < 0)
			return r;
		elen = le32(e + 8);
		if (memcmp(e, "loge", 4) || memcmp(e + 32, h + 48, 16) || !elen ||
		    elen % VHDX_HEADER_SIZE || elen > len)
			continue;
		if (elen > budget)
			return vk_fail(err, -EINVAL, "%s: VHDX log too large to search", bs->filename);
		budget -= elen;
		r = entry_crc(bs, off, len, pos, elen, &crc, &ok, err);
		if (r < 0)
			return r;
		if (ok && crc == le32(e + 4))
			return vk_fail(err, -EPERM, "%s: VHDX image file opened read-only, but "
				       "contains a log that needs to be replayed (vmkit does not "
				       "replay VHDX logs: run qemu-img check -r all)", bs->filename);
	}
	return 0;
}

/* The current header: the valid one with the higher sequence number (identical twins: either). */
static int parse_headers(struct vk_blk *bs, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	_cleanup_free_ uint8_t *h1 = malloc(VHDX_HEADER_SIZE), *h2 = malloc(VHDX_HEADER_SIZE);
	const uint8_t *h;
	bool v1, v2;
	int r;

	if (!h1 || !h2)
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	r = read_header(bs, VHDX_HEADER1, h1, &v1, err);
	if (r == 0)
		r = read_header(bs, VHDX_HEADER2, h2, &v2, err);
	if (r < 0)
		return r;
	if (v1 && v2 && le64(h1 + 8) == le64(h2 + 8) && memcmp(h1, h2, VHDX_HEADER_SIZE))
		v1 = v2 = false;	/* equal sequence numbers, different headers: neither wins */
	if (!v1 && !v2)
		return vk_fail(err, -EINVAL, "%s: No valid VHDX header found", bs->filename);
	h = v1 && (!v2 || le64(h1 + 8) >= le64(h2 + 8)) ? h1 : h2;
	/* As QEMU: the log lies on a 1 MiB boundary past the header section. */
	if (le64(h + 72) < VHDX_MIN_BLOCK || le64(h + 72) % VHDX_MIN_BLOCK)
		return vk_fail(err, -EINVAL, "%s: VHDX log at %llu is not on a 1 MiB boundary past "
			       "the header section", bs->filename, (unsigned long long)le64(h + 72));
	add_region(s, le64(h + 72), le32(h + 68));
	return null_guid(h + 48) ? 0 : check_log(bs, h, err);
}

/* One region table entry: BAT, metadata, or one we may skip unless it is required. */
static int region_entry(struct vk_blk *bs, const uint8_t *e, bool *have_bat, bool *have_meta,
			struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	uint64_t off = le64(e + 16), len = le32(e + 24);
	bool is_bat = !memcmp(e, bat_guid, 16), is_meta = !memcmp(e, metadata_guid, 16);
	int r;

	if (off > UINT64_MAX - len)
		return vk_fail(err, -EINVAL, "%s: VHDX region at %llu wraps around", bs->filename,
			       (unsigned long long)off);
	r = overlap(bs, off, len, err);
	if (r < 0)
		return r;
	add_region(s, off, len);
	if ((is_bat && *have_bat) || (is_meta && *have_meta))
		return vk_fail(err, -EINVAL, "%s: VHDX region table names the %s region twice",
			       bs->filename, is_bat ? "BAT" : "metadata");
	if (!is_bat && !is_meta && (le32(e + 28) & VHDX_REGION_REQUIRED))
		return vk_fail(err, -ENOTSUP, "%s: VHDX region table requires an unknown region",
			       bs->filename);
	if (is_bat) {
		*have_bat = true;
		s->bat_rt = (struct vhdx_region){ off, off + len };
	} else if (is_meta) {
		*have_meta = true;
		s->meta_rt = (struct vhdx_region){ off, off + len };
	}
	return 0;
}

/* The first region table, as QEMU reads it (the second copy is for writers recovering). */
static int parse_region_table(struct vk_blk *bs, struct vk_err *err)
{
	_cleanup_free_ uint8_t *t = malloc(VHDX_TABLE_SIZE);
	bool have_bat = false, have_meta = false;
	uint32_t n, i;
	int r;

	if (!t)
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	r = read_in_file(bs, t, VHDX_REGION_TABLE, VHDX_TABLE_SIZE, "region table", err);
	if (r < 0)
		return r;
	if (!checksum_ok(t, VHDX_TABLE_SIZE) || memcmp(t, "regi", 4))
		return vk_fail(err, -EINVAL, "%s: VHDX region table has a bad checksum or signature",
			       bs->filename);
	n = le32(t + 8);
	if (n > VHDX_MAX_ENTRIES)
		return vk_fail(err, -EINVAL, "%s: VHDX region table has %u entries (at most %u)",
			       bs->filename, n, VHDX_MAX_ENTRIES);
	for (i = 0; i < n; i++) {
		r = region_entry(bs, t + 16 + 32 * i, &have_bat, &have_meta, err);
		if (r < 0)
			return r;
	}
	if (!have_bat || !have_meta)
		return vk_fail(err, -EINVAL, "%s: VHDX region table lacks the %s region",
			       bs->filename, have_bat ? "metadata" : "BAT");
	return 0;
}

/* The metadata table's entries for the items we know, by index (offsets into the region). */
static int meta_entries(struct vk_blk *bs, const uint8_t *t, uint32_t *off, struct vk_err *err)
{
	unsigned int present = 0, k;
	uint16_t n = le16(t + 10), i;

	if (memcmp(t, "metadata", 8))
		return vk_fail(err, -EINVAL, "%s: VHDX metadata table has a bad signature",
			       bs->filename);
	if ((size_t)n * 32 > VHDX_TABLE_SIZE - 32)
		return vk_fail(err, -EINVAL, "%s: VHDX metadata table has %u entries, too many",
			       bs->filename, n);
	for (i = 0; i < n; i++) {
		const uint8_t *e = t + 32 + 32 * i;

		for (k = 0; k < META_N && memcmp(e, meta_guids[k], 16); k++)
			;
		if (k < META_N && (present & (1u << k)))
			return vk_fail(err, -EINVAL, "%s: VHDX metadata item listed twice",
				       bs->filename);
		if (k == META_N && (le32(e + 24) & VHDX_META_REQUIRED))
			return vk_fail(err, -ENOTSUP, "%s: VHDX metadata requires an unknown item",
				       bs->filename);
		if (k < META_N) {
			present |= 1u << k;
			off[k] = le32(e + 16);
		}
	}
	if ((present & ((1u << META_PARENT) - 1)) != (1u << META_PARENT) - 1)
		return vk_fail(err, -ENOTSUP, "%s: VHDX metadata lacks a required item",
			       bs->filename);
	return 0;
}

/* One metadata item of len bytes, inside the metadata region. */
static int meta_item(struct vk_blk *bs, uint32_t off, void *buf, size_t len, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;

	if (off > s->meta_rt.end - s->meta_rt.start ||
	    len > s->meta_rt.end - s->meta_rt.start - off)
		return vk_fail(err, -EINVAL, "%s: VHDX metadata item at %u lies outside its region",
			       bs->filename, off);
	return read_in_file(bs, buf, s->meta_rt.start + off, len, "metadata item", err);
}

static int check_params(struct vk_blk *bs, uint32_t bsize, uint32_t bits, uint32_t lsec,
			uint64_t size, struct vk_err *err)
{
	if (bits & VHDX_HAS_PARENT)
		return vk_fail(err, -ENOTSUP, "%s: differencing VHDX images (with a parent disk) "
			       "are not supported", bs->filename);
	if (bsize < VHDX_MIN_BLOCK || bsize > VHDX_MAX_BLOCK || (bsize & (bsize - 1)))
		return vk_fail(err, -EINVAL, "%s: VHDX block size %u unsupported (a power of two, "
			       "1 MiB to 256 MiB)", bs->filename, bsize);
	/* QEMU counts its sectors in logical sectors: only 512-byte ones mean the same disk. */
	if (lsec != 512)
		return vk_fail(err, -ENOTSUP, "%s: VHDX logical sector size %u unsupported (only "
			       "512)", bs->filename, lsec);
	if (size > VHDX_MAX_SIZE)
		return vk_fail(err, -EFBIG, "%s: VHDX virtual size %llu larger than 64 TiB",
			       bs->filename, (unsigned long long)size);
	return 0;
}

static int parse_metadata(struct vk_blk *bs, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	_cleanup_free_ uint8_t *t = malloc(VHDX_TABLE_SIZE);
	uint8_t params[8], size[8], lsec[4];
	uint32_t off[META_N];
	int r;

	if (!t)
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	r = read_in_file(bs, t, s->meta_rt.start, VHDX_TABLE_SIZE, "metadata table", err);
	if (r == 0)
		r = meta_entries(bs, t, off, err);
	if (r == 0)
		r = meta_item(bs, off[META_PARAMS], params, 8, err);
	if (r == 0)
		r = meta_item(bs, off[META_SIZE], size, 8, err);
	if (r == 0)
		r = meta_item(bs, off[META_LOGICAL], lsec, 4, err);
	if (r == 0)
		r = check_params(bs, le32(params), le32(params + 4), le32(lsec), le64(size), err);
	if (r < 0)
		return r;
	s->block_size = le32(params);
	s->size = le64(size) & ~511ULL;
	s->chunk_ratio = (uint32_t)(VHDX_SECTORS_PER_CHUNK * 512 / s->block_size);
	return 0;
}

/*
 * One entry per payload block, and a sector bitmap entry after every
 * chunk_ratio of them (none after the last chunk).
 */
static int load_bat(struct vk_blk *bs, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	uint64_t blocks = (s->size + s->block_size - 1) / s->block_size, i;
	int r;

	s->bat_entries = blocks ? blocks + (blocks - 1) / s->chunk_ratio : 0;
	s->bat_offset = s->bat_rt.start;
	if (s->bat_entries > (s->bat_rt.end - s->bat_rt.start) / 8)
		return vk_fail(err, -EINVAL, "%s: VHDX BAT region too small for %llu entries",
			       bs->filename, (unsigned long long)s->bat_entries);
	s->bat = malloc(s->bat_entries ? s->bat_entries * 8 : 1);
	if (!s->bat)
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	r = read_in_file(bs, s->bat, s->bat_offset, s->bat_entries * 8, "BAT", err);
	if (r < 0)
		return r;
	for (i = 0; i < s->bat_entries; i++)
		s->bat[i] = le64toh(s->bat[i]);
	return 0;
}

/*
 * A present payload block must lie in the file (the last one may be short,
 * as QEMU once wrote them) and not over metadata. Reports each bad entry
 * through res (check) or fails on the first (open), as QEMU does.
 */
static int check_entry(struct vk_blk *bs, uint64_t i, bool payload, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	uint64_t off = s->bat[i] & BAT_OFFSET_MASK, at = i * s->block_size;
	uint64_t len = at < s->size ? MIN(s->block_size, s->size - at) : 0;

	if (off >= s->file_size)
		return vk_fail(err, -EINVAL, "%s: VHDX BAT entry %llu start offset %llu points after "
			       "end of file (%llu). Image has probably been truncated.",
			       bs->filename, (unsigned long long)i, (unsigned long long)off,
			       (unsigned long long)s->file_size);
	if (len > s->file_size - off)
		return vk_fail(err, -EINVAL, "%s: VHDX BAT entry %llu end offset %llu points after "
			       "end of file (%llu). Image has probably been truncated.",
			       bs->filename, (unsigned long long)i,
			       (unsigned long long)(off + len - 1), (unsigned long long)s->file_size);
	return payload ? overlap(bs, off, s->block_size, err) : 0;
}

static int check_bat(struct vk_blk *bs, struct vk_blk_check *res, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	struct vk_err e = { 0 };
	uint64_t i;
	int r;

	for (i = 0; i < s->bat_entries; i++) {
		if ((s->bat[i] & BAT_STATE_MASK) != BAT_FULLY_PRESENT)
			continue;
		r = check_entry(bs, i, (i + 1) % (s->chunk_ratio + 1) != 0, res ? &e : err);
		if (r < 0 && !res)
			return r;
		if (r < 0) {
			res->corruptions++;
			if (res->report)
				res->report(res->opaque, e.msg);
		}
	}
	return 0;
}

static int vhdx_open(struct vk_blk *bs, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	int64_t fsize = vk_blk_file_size(bs);
	uint8_t id[8];
	int r;

	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", bs->filename, strerror((int)-fsize));
	s->file_size = (uint64_t)fsize;
	r = read_in_file(bs, id, 0, sizeof(id), "file identifier", err);
	if (r < 0)
		return r;
	if (memcmp(id, "vhdxfile", 8))
		return vk_fail(err, -EINVAL, "%s: not a VHDX image (no file identifier)",
			       bs->filename);
	r = parse_headers(bs, err);
	if (r == 0)
		r = parse_region_table(bs, err);
	if (r == 0)
		r = parse_metadata(bs, err);
	if (r == 0)
		r = load_bat(bs, err);
	/* qemu-img check opens a corrupt image to report on it. */
	if (r == 0 && !(bs->flags & VK_BLK_CHECKING))
		r = check_bat(bs, NULL, err);
	if (r < 0) {	/* the generic layer closes only what opened */
		free(s->bat);
		s->bat = NULL;
	}
	return r;
}

static void vhdx_close(struct vk_blk *bs)
{
	free(((struct vhdx_state *)bs->opaque)->bat);
}

static uint64_t vhdx_length(struct vk_blk *bs)
{
	return ((struct vhdx_state *)bs->opaque)->size;
}

static int read_block(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	uint64_t block = off / s->block_size, idx = block + block / s->chunk_ratio;
	uint64_t e = idx < s->bat_entries ? s->bat[idx] : 0, base = e & BAT_OFFSET_MASK;
	uint64_t in = off % s->block_size;

	switch (e & BAT_STATE_MASK) {
	case BAT_FULLY_PRESENT:
		/* Opened for check, a bad entry may still be here: never read outside the file. */
		if (base > s->file_size || in > s->file_size - base ||
		    len > s->file_size - base - in)
			return vk_fail(err, -EIO, "%s: VHDX block %llu lies past the end of the file",
				       bs->filename, (unsigned long long)block);
		return vk_blk_file_pread(bs, buf, base + in, len, false, err);
	case BAT_PARTIALLY_PRESENT:
	case 4:
		return vk_fail(err, -EIO, "%s: VHDX block %llu in state %llu cannot be read",
			       bs->filename, (unsigned long long)block,
			       (unsigned long long)(e & BAT_STATE_MASK));
	default:	/* not present, undefined, zero, unmapped: zeros */
		memset(buf, 0, len);
		return 0;
	}
}

static int vhdx_read(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err)
{
	struct vhdx_state *s = bs->opaque;
	size_t n;
	int r;

	while (len) {
		n = MIN(len, s->block_size - off % s->block_size);
		r = read_block(bs, buf, off, n, err);
		if (r < 0)
			return r;
		buf = (uint8_t *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

/* QEMU 7.2's vhdx has no block status: all of it is data, at no offset it could name. */
static int vhdx_block_status(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			     uint64_t *map, struct vk_err *err)
{
	*pnum = len;
	return VK_BS_DATA | VK_BS_ALLOCATED;
}

static int vhdx_get_info(struct vk_blk *bs, struct vk_blk_info *info)
{
	info->cluster_size = ((struct vhdx_state *)bs->opaque)->block_size;
	return 0;
}

/* QEMU's check: payload blocks inside the file and off the metadata. Nothing to repair. */
static int vhdx_check(struct vk_blk *bs, struct vk_blk_check *res, unsigned int fix,
		      struct vk_err *err)
{
	return check_bat(bs, res, err);
}

const struct vk_blk_driver vk_blk_vhdx = {
	.name = "vhdx",
	.state_size = sizeof(struct vhdx_state),
	.probe = vhdx_probe,
	.open = vhdx_open,
	.close = vhdx_close,
	.pread = vhdx_read,
	.pwrite = vk_blk_pwrite_read_only,
	.flush = vk_blk_flush_nothing,
	.length = vhdx_length,
	.get_info = vhdx_get_info,
	.block_status = vhdx_block_status,
	.check = vhdx_check,
};
