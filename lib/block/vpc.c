// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Virtual PC / Hyper-V VHD images ("vpc", as QEMU names them), read only.
 * A fixed disk is the raw data followed by a 512-byte footer; a dynamic disk
 * starts with a copy of the footer, then a dynamic header ("cxsparse")
 * pointing at the block allocation table (BAT): one big-endian sector number
 * per block, each block a sector bitmap followed by the data. A differencing
 * disk is a dynamic one over a parent (the backing file), named by a parent
 * locator: there the bitmap says which sectors this file holds; the rest,
 * and unallocated blocks, read from the parent. (QEMU reads a differencing
 * disk as a dynamic one without its parent, so its guest view differs.)
 * The virtual size follows QEMU's rules (the CHS geometry for the creators
 * known to size disks that way, the footer's current size for the others),
 * so that `info` and a conversion see the same disk as qemu-img does.
 * Every field of the file is checked before it is used.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/block.h"

#define VPC_SECTOR		512ULL
#define VPC_FOOTER		512
#define VPC_DYN_HEADER		1024
#define VPC_UNALLOCATED		0xffffffffu
#define VPC_TYPE_FIXED		2
#define VPC_TYPE_DYNAMIC	3
#define VPC_TYPE_DIFF		4
/* QEMU's limits: 2040 GiB, and the largest CHS geometry, which means "use the size field". */
#define VPC_MAX_SECTORS		0xff000000ULL
#define VPC_MAX_GEOMETRY	(65535ULL * 16 * 255)

/* Offsets in the footer and in the dynamic header (all big-endian). */
#define F_CHECKSUM		64
#define F_DATA_OFFSET		16
#define F_CREATOR_APP		28
#define F_CURRENT_SIZE		48
#define F_CYLS			56
#define F_HEADS			58
#define F_SECS			59
#define F_TYPE			60
#define D_TABLE_OFFSET		16
#define D_MAX_ENTRIES		28
#define D_BLOCK_SIZE		32
#define D_PARENT_NAME		64		/* UTF-16 big-endian, 512 bytes */
#define D_LOCATORS		576		/* 8 entries of 24 bytes */
#define VPC_MAX_LOCATOR		4096		/* a path, in bytes */
/* Parent locator platform codes (big-endian ASCII). */
#define PLAT_W2RU		0x57327275u	/* "W2ru": relative path, UTF-16LE */
#define PLAT_W2KU		0x57326b75u	/* "W2ku": absolute path, UTF-16LE */
#define PLAT_MACX		0x4d616358u	/* "MacX": file:// URL, UTF-8 */

struct vpc_state {
	uint64_t size;			/* virtual bytes */
	uint64_t file_size;
	bool fixed;
	uint32_t block_size;		/* dynamic: bytes of data per block */
	uint32_t bitmap_size;		/* the sector bitmap before each block's data */
	uint32_t entries;		/* BAT entries */
	uint32_t *bat;			/* host-endian sector numbers */
	/* Differencing disks: the sector bitmap of one block, the last one read. */
	bool diff;
	uint8_t *bitmap;
	uint64_t bitmap_block;		/* UINT64_MAX: none yet */
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static int vpc_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && !memcmp(buf, "conectix", 8) ? 100 : 0;
}

/* The one's complement of the sum of the bytes, the checksum field counted as zeros. */
static uint32_t footer_checksum(const uint8_t *f)
{
	uint32_t sum = 0;
	int i;

	for (i = 0; i < VPC_FOOTER; i++)
		if (i < F_CHECKSUM || i >= F_CHECKSUM + 4)
			sum += f[i];
	return ~sum;
}

/*
 * A fixed disk has its footer only at the end of the file. The magic alone
 * decides: a damaged footer (a bad checksum, a dynamic disk's copy whose
 * front one is lost) is then named by the open, never served as raw.
 */
static int vpc_probe_tail(const uint8_t *buf, size_t len)
{
	return len >= VPC_FOOTER && !memcmp(buf + len - VPC_FOOTER, "conectix", 8) ? 100 : 0;
}

/* The footer: a copy at the start (dynamic disks), else at the end (fixed ones). */
static int read_footer(struct vk_blk *bs, uint8_t *f, struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	int r;

	if (s->file_size < VPC_FOOTER)
		return vk_fail(err, -EINVAL, "%s: file too short for a VHD footer", bs->filename);
	r = vk_blk_file_pread(bs, f, 0, VPC_FOOTER, false, err);
	if (r < 0)
		return r;
	if (!memcmp(f, "conectix", 8))
		return 0;
	r = vk_blk_file_pread(bs, f, s->file_size - VPC_FOOTER, VPC_FOOTER, false, err);
	if (r < 0)
		return r;
	if (memcmp(f, "conectix", 8) || be32(f + F_TYPE) != VPC_TYPE_FIXED)
		return vk_fail(err, -EINVAL, "%s: invalid VPC image", bs->filename);
	return 0;
}

/*
 * Virtual PC sizes a disk by its CHS geometry, Hyper-V and most converters
 * by the footer's current size: QEMU 7.2 takes the size for the creators it
 * knows do so, and for the largest geometry (which cannot describe bigger
 * disks), the geometry otherwise.
 */
static bool use_current_size(const uint8_t *f, uint64_t chs)
{
	static const char *const apps[] = { "win ", "qem2", "d2v ", "CTXS" };
	const uint8_t *app = f + F_CREATOR_APP;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(apps); i++)
		if (!memcmp(app, apps[i], 4))
			return true;
	return !memcmp(app, "tap", 4) || chs == VPC_MAX_GEOMETRY;
}

static int parse_footer(struct vk_blk *bs, const uint8_t *f, struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint64_t sectors = (uint64_t)be16(f + F_CYLS) * f[F_HEADS] * f[F_SECS];
	uint32_t type = be32(f + F_TYPE);

	if (footer_checksum(f) != be32(f + F_CHECKSUM))
		return vk_fail(err, -EINVAL, "%s: Incorrect header checksum", bs->filename);
	if (type != VPC_TYPE_FIXED && type != VPC_TYPE_DYNAMIC && type != VPC_TYPE_DIFF)
		return vk_fail(err, -EINVAL, "%s: unknown VHD disk type %u", bs->filename, type);
	if (use_current_size(f, sectors))
		sectors = be64(f + F_CURRENT_SIZE) / VPC_SECTOR;
	if (sectors > VPC_MAX_SECTORS)
		return vk_fail(err, -EFBIG, "%s: VHD of %llu sectors is larger than 2040 GiB",
			       bs->filename, (unsigned long long)sectors);
	s->size = sectors * VPC_SECTOR;
	s->fixed = type == VPC_TYPE_FIXED;
	s->diff = type == VPC_TYPE_DIFF;
	s->bitmap_block = UINT64_MAX;
	return 0;
}

/*
 * UTF-16 (little- or big-endian) to UTF-8, at most out_len - 1 bytes and a
 * NUL; the path separators of Windows become '/'. -EILSEQ on a lone
 * surrogate or a NUL inside the name.
 */
static int utf16_to_utf8(const uint8_t *in, size_t n, bool be, char *out, size_t out_len)
{
	size_t i, o = 0;
	uint32_t c, lo;

	for (i = 0; i + 1 < n; i += 2) {
		c = be ? (uint32_t)(in[i] << 8 | in[i + 1]) : (uint32_t)(in[i + 1] << 8 | in[i]);
		if (!c)
			break;
		if (c >= 0xdc00 && c < 0xe000)
			return -EILSEQ;
		if (c >= 0xd800 && c < 0xdc00) {
			if (i + 3 >= n)
				return -EILSEQ;
			lo = be ? (uint32_t)(in[i + 2] << 8 | in[i + 3]) :
				  (uint32_t)(in[i + 3] << 8 | in[i + 2]);
			if (lo < 0xdc00 || lo >= 0xe000)
				return -EILSEQ;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
			i += 2;
		}
		if (o + 5 > out_len)
			return -ENAMETOOLONG;
		if (c == '\\')
			c = '/';
		if (c < 0x80) {
			out[o++] = (char)c;
		} else if (c < 0x800) {
			out[o++] = (char)(0xc0 | c >> 6);
			out[o++] = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out[o++] = (char)(0xe0 | c >> 12);
			out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (c & 0x3f));
		} else {
			out[o++] = (char)(0xf0 | c >> 18);
			out[o++] = (char)(0x80 | ((c >> 12) & 0x3f));
			out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	out[o] = 0;
	return 0;
}

/* One locator's path, if it is a kind we can follow (0 and *path empty if not). */
static int read_locator(struct vk_blk *bs, const uint8_t *e, char *path, size_t len,
			struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint32_t code = be32(e), n = be32(e + 8);
	uint64_t off = be64(e + 16);
	uint8_t raw[VPC_MAX_LOCATOR];
	int r;

	path[0] = 0;
	if ((code != PLAT_W2RU && code != PLAT_W2KU && code != PLAT_MACX) || !n)
		return 0;
	if (n > sizeof(raw) || off > s->file_size || n > s->file_size - off)
		return vk_fail(err, -EINVAL, "%s: parent locator of %u bytes at %llu past the end of "
			       "the file or too long", bs->filename, n, (unsigned long long)off);
	r = vk_blk_file_pread(bs, raw, off, n, false, err);
	if (r < 0)
		return r;
	if (code == PLAT_MACX) {	/* "file://localhost/path" or "file:///path" */
		if (n < 8 || memcmp(raw, "file://", 7) || n - 7 >= len || memchr(raw, 0, n))
			return 0;
		memcpy(path, raw + 7, n - 7);
		path[n - 7] = 0;
		if (!strncmp(path, "localhost/", 10))
			memmove(path, path + 9, strlen(path + 9) + 1);
		return 0;
	}
	if (utf16_to_utf8(raw, n, false, path, len) < 0)
		return vk_fail(err, -EINVAL, "%s: parent locator is no valid UTF-16", bs->filename);
	/* An absolute Windows path ("C:/...") means nothing here: only a POSIX one does. */
	if (code == PLAT_W2KU && path[0] != '/')
		path[0] = 0;
	if (!strncmp(path, "./", 2))
		memmove(path, path + 2, strlen(path + 2) + 1);
	return 0;
}

/*
 * The parent: the relative locator first, then the absolute ones, then the
 * header's parent name (a file name, taken beside the image).
 */
static int find_parent(struct vk_blk *bs, const uint8_t *d, struct vk_err *err)
{
	static const uint32_t order[] = { PLAT_W2RU, PLAT_MACX, PLAT_W2KU };
	char path[VPC_MAX_LOCATOR * 2];
	size_t k;
	int i, r;

	for (k = 0; k < ARRAY_SIZE(order); k++) {
		for (i = 0; i < 8; i++) {
			const uint8_t *e = d + D_LOCATORS + 24 * i;

			if (be32(e) != order[k])
				continue;
			r = read_locator(bs, e, path, sizeof(path), err);
			if (r < 0)
				return r;
			if (path[0])
				goto found;
		}
	}
	if (utf16_to_utf8(d + D_PARENT_NAME, 512, true, path, sizeof(path)) < 0 || !path[0])
		return vk_fail(err, -EINVAL, "%s: differencing VHD names no parent vmkit can find",
			       bs->filename);
found:
	bs->backing_file = strdup(path);
	return bs->backing_file ? 0 : vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
}

/* The dynamic header's block size and BAT size, against the disk and the file. */
static int check_dyn_header(struct vk_blk *bs, const uint8_t *d, uint64_t *bat_off,
			    struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint32_t bsize = be32(d + D_BLOCK_SIZE), n = be32(d + D_MAX_ENTRIES);

	if (memcmp(d, "cxsparse", 8))
		return vk_fail(err, -EINVAL, "%s: Invalid header magic", bs->filename);
	if (bsize < VPC_SECTOR || (bsize & (bsize - 1)))
		return vk_fail(err, -EINVAL, "%s: Invalid block size %u", bs->filename, bsize);
	if (s->size / bsize > UINT32_MAX)
		return vk_fail(err, -EINVAL, "%s: Too many blocks", bs->filename);
	if ((uint64_t)n * bsize < s->size)
		return vk_fail(err, -EINVAL, "%s: Page table too small", bs->filename);
	if (n > INT32_MAX / 4)	/* QEMU's limit, in its words (a C int) */
		return vk_fail(err, -EINVAL, "%s: Max Table Entries too large (%d)", bs->filename,
			       (int32_t)n);
	*bat_off = be64(d + D_TABLE_OFFSET);
	/* The table is read whole: it must lie in the file, which bounds the allocation. */
	if (*bat_off > s->file_size || (uint64_t)n * 4 > s->file_size - *bat_off)
		return vk_fail(err, -EINVAL, "%s: block allocation table of %u entries at %llu "
			       "past the end of the file", bs->filename, n,
			       (unsigned long long)*bat_off);
	s->block_size = bsize;
	s->bitmap_size = (uint32_t)ALIGN_UP(bsize / (8 * VPC_SECTOR), VPC_SECTOR);
	s->entries = n;
	return 0;
}

/* Every allocated block (bitmap and data) must lie inside the file, as QEMU checks. */
static int check_bat(struct vk_blk *bs, struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint64_t end;
	uint32_t i;

	for (i = 0; i < s->entries; i++) {
		s->bat[i] = be32toh(s->bat[i]);
		if (s->bat[i] == VPC_UNALLOCATED)
			continue;
		end = s->bat[i] * VPC_SECTOR + s->bitmap_size + s->block_size;
		if (end > s->file_size)
			return vk_fail(err, -EINVAL, "%s: block-vpc: free_data_block_offset points "
				       "after the end of file. The image has been truncated.",
				       bs->filename);
	}
	return 0;
}

static int open_dynamic(struct vk_blk *bs, const uint8_t *f, struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint64_t off = be64(f + F_DATA_OFFSET), bat_off = 0;
	uint8_t d[VPC_DYN_HEADER];
	int r;

	if (off > s->file_size || s->file_size - off < sizeof(d))
		return vk_fail(err, -EINVAL, "%s: dynamic VHD header at %llu past the end of the file",
			       bs->filename, (unsigned long long)off);
	r = vk_blk_file_pread(bs, d, off, sizeof(d), false, err);
	if (r < 0)
		return r;
	r = check_dyn_header(bs, d, &bat_off, err);
	if (r == 0 && s->diff)
		r = find_parent(bs, d, err);
	if (r < 0)
		return r;
	if (s->diff && !(s->bitmap = malloc(s->bitmap_size)))
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	s->bat = malloc(s->entries ? (size_t)s->entries * 4 : 1);
	if (!s->bat)
		return vk_fail(err, -ENOMEM, "%s: out of memory", bs->filename);
	r = vk_blk_file_pread(bs, s->bat, bat_off, (size_t)s->entries * 4, false, err);
	if (r < 0)
		return r;
	return check_bat(bs, err);
}

static int vpc_open(struct vk_blk *bs, struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint8_t f[VPC_FOOTER];
	int64_t fsize = vk_blk_file_size(bs);
	int r;

	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", bs->filename, strerror((int)-fsize));
	s->file_size = (uint64_t)fsize;
	r = read_footer(bs, f, err);
	if (r < 0)
		return r;
	r = parse_footer(bs, f, err);
	if (r < 0 || s->fixed)
		return r;
	r = open_dynamic(bs, f, err);
	if (r < 0) {	/* the generic layer closes only what opened */
		free(s->bat);
		free(s->bitmap);
		s->bat = NULL;
		s->bitmap = NULL;
	}
	return r;
}

static void vpc_close(struct vk_blk *bs)
{
	struct vpc_state *s = bs->opaque;

	free(s->bat);
	free(s->bitmap);
}

static uint64_t vpc_length(struct vk_blk *bs)
{
	return ((struct vpc_state *)bs->opaque)->size;
}

/* Where virtual off lies in the file (0: unallocated), and how far the run goes in its block. */
static uint64_t lookup(struct vpc_state *s, uint64_t off, uint64_t len, uint64_t *n)
{
	uint64_t idx = off / s->block_size, in = off % s->block_size;

	*n = MIN(len, s->block_size - in);
	if (idx >= s->entries || s->bat[idx] == VPC_UNALLOCATED)
		return 0;
	return s->bat[idx] * VPC_SECTOR + s->bitmap_size + in;
}

/* The parent's data (zeros past its end, or without one: NO_BACKING). */
static int read_parent(struct vk_blk *bs, void *buf, uint64_t off, uint64_t len,
		       struct vk_err *err)
{
	uint64_t plen = bs->backing ? vk_blk_length(bs->backing) : 0, n = 0;
	int r;

	if (off < plen) {
		n = MIN(len, plen - off);
		r = vk_blk_pread(bs->backing, buf, off, n, err);
		if (r < 0)
			return r;
	}
	memset((uint8_t *)buf + n, 0, len - n);
	return 0;
}

/* The sector bitmap of the block at virtual off (a differencing disk's allocated block). */
static int load_bitmap(struct vk_blk *bs, uint64_t off, struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint64_t block = off / s->block_size;
	int r;

	if (s->bitmap_block == block)
		return 0;
	s->bitmap_block = UINT64_MAX;
	r = vk_blk_file_pread(bs, s->bitmap, s->bat[block] * VPC_SECTOR, s->bitmap_size, false,
			      err);
	if (r == 0)
		s->bitmap_block = block;
	return r;
}

/*
 * In a differencing disk's allocated block, whether off's sector is in this
 * file (bit set, most significant bit first), and how many of the n bytes
 * from off share that answer.
 */
static bool sector_run(struct vpc_state *s, uint64_t off, uint64_t n, uint64_t *run)
{
	uint64_t sec = (off % s->block_size) / VPC_SECTOR, end = off + n, next;
	bool mine = s->bitmap[sec / 8] & (0x80 >> (sec % 8));

	for (next = ALIGN_DOWN(off, VPC_SECTOR) + VPC_SECTOR; next < end; next += VPC_SECTOR) {
		sec++;
		if (!(s->bitmap[sec / 8] & (0x80 >> (sec % 8))) != !mine)
			break;
	}
	*run = MIN(next, end) - off;
	return mine;
}

/* n bytes at off, inside one block of a differencing disk. */
static int read_diff(struct vk_blk *bs, uint8_t *buf, uint64_t off, uint64_t host, uint64_t n,
		     struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint64_t run;
	int r;

	if (!host)
		return read_parent(bs, buf, off, n, err);
	r = load_bitmap(bs, off, err);
	while (r == 0 && n) {
		r = sector_run(s, off, n, &run) ? vk_blk_file_pread(bs, buf, host, run, false, err)
						: read_parent(bs, buf, off, run, err);
		buf += run;
		off += run;
		host += run;
		n -= run;
	}
	return r;
}

static int vpc_read(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint64_t host, n;
	int r;

	if (s->fixed)	/* what lies past the end of a short file reads as zeros, as in QEMU */
		return vk_blk_file_pread(bs, buf, off, len, true, err);
	while (len) {
		host = lookup(s, off, len, &n);
		if (s->diff) {
			if ((r = read_diff(bs, buf, off, host, n, err)) < 0)
				return r;
		} else if (!host) {
			memset(buf, 0, n);
		} else if ((r = vk_blk_file_pread(bs, buf, host, n, false, err)) < 0) {
			return r;
		}
		buf = (uint8_t *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

/* What this differencing disk does not hold: the parent's, zeros past the parent's end. */
static int parent_status(struct vk_blk *bs, uint64_t off, uint64_t *pnum)
{
	uint64_t plen = bs->backing ? vk_blk_length(bs->backing) : 0;

	if (off >= plen)
		return VK_BS_ZERO | VK_BS_ALLOCATED;
	*pnum = MIN(*pnum, plen - off);
	return 0;
}

/* An allocated block of a differencing disk: the run of sectors its bitmap says alike. */
static int diff_status(struct vk_blk *bs, uint64_t off, uint64_t n, uint64_t *pnum,
		       struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	int r = load_bitmap(bs, off, err);

	if (r < 0)
		return r;
	if (sector_run(s, off, n, pnum))
		return VK_BS_DATA | VK_BS_OFFSET_VALID | VK_BS_ALLOCATED;
	return parent_status(bs, off, pnum);
}

/*
 * As QEMU 7.2: a fixed disk is its file (holes read as zeros); a dynamic
 * disk's allocated block is data (its bitmap not consulted, as QEMU does not
 * for reads), and unallocated blocks in a row are one run of zeros.
 */
static int vpc_block_status(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			    uint64_t *map, struct vk_err *err)
{
	struct vpc_state *s = bs->opaque;
	uint64_t n, done = 0;

	if (s->fixed) {	/* data, and where the file has a hole, zeros too */
		*map = off;
		*pnum = len;
		return VK_BS_DATA | VK_BS_OFFSET_VALID | VK_BS_ALLOCATED | VK_BS_RECURSE;
	}
	*map = lookup(s, off, len, &n);
	if (*map && s->diff)
		return diff_status(bs, off, n, pnum, err);
	if (*map) {
		*pnum = n;
		return VK_BS_DATA | VK_BS_OFFSET_VALID | VK_BS_ALLOCATED;
	}
	do {
		done += n;
	} while (done < len && !lookup(s, off + done, len - done, &n));
	*pnum = done;
	if (s->diff)
		return parent_status(bs, off, pnum);
	return VK_BS_ZERO | VK_BS_ALLOCATED;	/* QEMU: zeros with no backing file are "present" */
}

static int vpc_get_info(struct vk_blk *bs, struct vk_blk_info *info)
{
	struct vpc_state *s = bs->opaque;

	if (!s->fixed)
		info->cluster_size = s->block_size;
	return 0;
}

const struct vk_blk_driver vk_blk_vpc = {
	.name = "vpc",
	.state_size = sizeof(struct vpc_state),
	.probe = vpc_probe,
	.probe_tail = vpc_probe_tail,
	.open = vpc_open,
	.close = vpc_close,
	.pread = vpc_read,
	.pwrite = vk_blk_pwrite_read_only,
	.flush = vk_blk_flush_nothing,
	.length = vpc_length,
	.get_info = vpc_get_info,
	.block_status = vpc_block_status,
};
