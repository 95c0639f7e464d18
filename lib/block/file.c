// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Host-file access shared by the drivers: opening with the cache mode's
 * flags, full reads and writes, holes. Under O_DIRECT the kernel takes only
 * offsets, lengths and buffers aligned to the file's logical block: a
 * request that is not (an 8-byte L1 entry, a header field, a compressed
 * cluster, a guest's 512-byte write on a 4K disk) goes through an aligned
 * bounce buffer, read-modify-write for partial blocks, as QEMU's block
 * layer pads requests to its request_alignment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <linux/stat.h>

#include "vmkit/block.h"

static ssize_t read_blocks(int fd, uint32_t align, uint8_t *b, uint64_t off, size_t len);
static ssize_t read_bounced(int fd, uint32_t align, void *buf, uint64_t off, size_t len);

/* Used when the file system does not say (statx DIOALIGN): right on every disk. */
#define ALIGN_FALLBACK	4096

int vk_fd_pread(int fd, const char *name, void *buf, uint64_t off, size_t len,
		bool zero_past_eof, struct vk_err *err)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		/* A driver reading its image's own fd (vmdk) with no alignment in mind. */
		if (n < 0 && errno == EINVAL && (fcntl(fd, F_GETFL) & O_DIRECT)) {
			n = read_bounced(fd, ALIGN_FALLBACK, (char *)buf + done, off + done,
					 len - done);
			if (n < 0) {
				errno = (int)-n;
				n = -1;
			}
		}
		if (n < 0)
			return vk_fail(err, -errno, "%s: read at %#llx: %s", name,
				       (unsigned long long)(off + done), strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (done < len) {
		if (!zero_past_eof)
			return vk_fail(err, -EIO, "%s: unexpected end of file at %#llx", name,
				       (unsigned long long)(off + done));
		memset((char *)buf + done, 0, len - done);
	}
	return 0;
}

int vk_blk_file_open_flags(unsigned int flags)
{
	int f = ((flags & VK_BLK_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC;

	if (flags & VK_BLK_CACHE_DIRECT)
		f |= O_DIRECT;
	if (flags & VK_BLK_CACHE_DSYNC)
		f |= O_DSYNC;
	return f;
}

/* The O_DIRECT alignment: what the file system reports, else the device's sector, else 4K. */
static uint32_t direct_align(int fd)
{
	struct statx stx;
	struct stat st;
	int sz;

	if (!statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align)
		return MAX(MAX(stx.stx_dio_offset_align, stx.stx_dio_mem_align), 512u);
	if (!fstat(fd, &st) && S_ISBLK(st.st_mode) && !ioctl(fd, BLKSSZGET, &sz) && sz >= 512)
		return (uint32_t)sz;
	return ALIGN_FALLBACK;
}

int vk_blk_file_open(struct vk_blk *bs, const char *path, struct vk_err *err)
{
	int flags = vk_blk_file_open_flags(bs->flags);
	int fd, e;

	bs->fd = open(path, flags);
	if (bs->fd < 0) {
		e = errno;
		/* QEMU's words: say it is O_DIRECT, not the file, that is refused. */
		if (e == EINVAL && (flags & O_DIRECT) && (fd = open(path, flags & ~O_DIRECT)) >= 0) {
			close(fd);
			return vk_fail(err, -EINVAL,
				       "Could not open '%s': filesystem does not support O_DIRECT",
				       path);
		}
		return vk_fail(err, -e, "Could not open '%s': %s", path, strerror(e));
	}
	bs->align = (flags & O_DIRECT) ? direct_align(bs->fd) : 0;
	return 0;
}

static bool is_aligned(const struct vk_blk *bs, const void *buf, uint64_t off, size_t len)
{
	uint64_t a = bs->align;

	return !a || !(((uintptr_t)buf | off | len) & (a - 1));
}

/* Read whole aligned blocks into b; stops at the end of the file. The bytes read, or -errno. */
static ssize_t read_blocks(int fd, uint32_t align, uint8_t *b, uint64_t off, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, b + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
		if (!n || (done & (align - 1)))
			break;		/* end of file (the next offset would not be aligned) */
	}
	return (ssize_t)done;
}

static void *bounce_alloc(uint32_t align, size_t len)
{
	void *b = NULL;

	return posix_memalign(&b, align, len) ? NULL : b;
}

/* [off, off+len) through an aligned buffer of the whole blocks around it. */
static ssize_t read_bounced(int fd, uint32_t align, void *buf, uint64_t off, size_t len)
{
	uint64_t start = ALIGN_DOWN(off, align), end = ALIGN_UP(off + len, align);
	uint8_t *b = bounce_alloc(align, end - start);
	ssize_t n;

	if (!b)
		return -ENOMEM;
	n = read_blocks(fd, align, b, start, end - start);
	if (n >= 0) {
		n = (uint64_t)n > off - start ? (ssize_t)MIN((size_t)n - (off - start), len) : 0;
		memcpy(buf, b + (off - start), (size_t)n);
	}
	free(b);
	return n;
}

ssize_t vk_blk_file_read_some(struct vk_blk *bs, void *buf, uint64_t off, size_t len)
{
	ssize_t n;

	if (!bs->align) {
		do
			n = pread(bs->fd, buf, len, (off_t)off);
		while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n;
	}
	if (is_aligned(bs, buf, off, len))
		return read_blocks(bs->fd, bs->align, buf, off, len);
	return read_bounced(bs->fd, bs->align, buf, off, len);
}

int vk_blk_file_pread(struct vk_blk *bs, void *buf, uint64_t off, size_t len, bool zero_past_eof,
		      struct vk_err *err)
{
	ssize_t n;

	if (!bs->align)
		return vk_fd_pread(bs->fd, bs->filename, buf, off, len, zero_past_eof, err);
	n = vk_blk_file_read_some(bs, buf, off, len);
	if (n < 0)
		return vk_fail(err, (int)n, "%s: read at %#llx: %s", bs->filename,
			       (unsigned long long)off, strerror((int)-n));
	if ((size_t)n < len) {
		if (!zero_past_eof)
			return vk_fail(err, -EIO, "%s: unexpected end of file at %#llx",
				       bs->filename, (unsigned long long)(off + (size_t)n));
		memset((char *)buf + n, 0, len - (size_t)n);
	}
	return 0;
}

static int write_full(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		      struct vk_err *err);

/*
 * An unaligned write under O_DIRECT: the partial blocks at either end are
 * read, the new bytes put in, the whole blocks written. Where that wrote
 * past the end of the file, the file is cut back to where the write ends,
 * so the image's length is what it would be without O_DIRECT.
 */
static int write_bounced(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
			 struct vk_err *err)
{
	uint64_t a = bs->align, start = ALIGN_DOWN(off, a), end = ALIGN_UP(off + len, a);
	uint64_t eof = UINT64_MAX;
	ssize_t n = (ssize_t)a;
	uint8_t *b = bounce_alloc(bs->align, end - start);
	int r = 0;

	if (!b)
		return vk_fail(err, -ENOMEM, "out of memory");
	memset(b, 0, end - start);
	if (off != start && (n = read_blocks(bs->fd, bs->align, b, start, a)) >= 0 &&
	    n < (ssize_t)a)
		eof = start + (uint64_t)n;
	if (n >= 0 && (off + len) != end && (end - a != start || off == start) &&
	    (n = read_blocks(bs->fd, bs->align, b + (end - a - start), end - a, a)) >= 0 &&
	    n < (ssize_t)a)
		eof = end - a + (uint64_t)n;
	if (n < 0)
		r = vk_fail(err, (int)n, "%s: read at %#llx: %s", bs->filename,
			    (unsigned long long)start, strerror((int)-n));
	if (!r) {
		memcpy(b + (off - start), buf, len);
		r = write_full(bs, b, start, end - start, err);
	}
	if (!r && eof != UINT64_MAX && end > MAX(eof, off + len) &&
	    ftruncate(bs->fd, (off_t)MAX(eof, off + len)) < 0)
		r = vk_fail(err, -errno, "%s: %s", bs->filename, strerror(errno));
	free(b);
	return r;
}

int vk_blk_file_pwrite(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		       struct vk_err *err)
{
	if (len && !is_aligned(bs, buf, off, len))
		return write_bounced(bs, buf, off, len, err);
	return write_full(bs, buf, off, len, err);
}

int vk_blk_file_sync(struct vk_blk *bs, struct vk_err *err)
{
	if (bs->flags & (VK_BLK_CACHE_UNSAFE | VK_BLK_CACHE_DSYNC))
		return 0;
	if (fdatasync(bs->fd) < 0)
		return vk_fail(err, -errno, "%s: flush: %s", bs->filename, strerror(errno));
	return 0;
}

static int write_full(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		      struct vk_err *err)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(bs->fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return vk_fail(err, n < 0 ? -errno : -EIO, "%s: write at %#llx: %s",
				       bs->filename, (unsigned long long)(off + done),
				       strerror(n < 0 ? errno : EIO));
		done += (size_t)n;
	}
	return 0;
}

/*
 * The file's extent size hint (XFS). Not being able to set it is no error;
 * as QEMU, say so only when the hint was asked for (a warning, the one line
 * the library prints: qemu-img prints it from its block layer too).
 */
void vk_blk_file_extent_hint(int fd, const struct vk_blk_create_opts *o)
{
	struct fsxattr attr;
	int r;

	if (!o->extent_size_hint)
		return;
	r = ioctl(fd, FS_IOC_FSGETXATTR, &attr);
	if (!r) {
		attr.fsx_xflags |= FS_XFLAG_EXTSIZE;
		attr.fsx_extsize = (uint32_t)o->extent_size_hint;
		r = ioctl(fd, FS_IOC_FSSETXATTR, &attr);
	}
	if (r < 0 && o->extent_size_hint_given)
		vk_msg("warning: Failed to set extent size hint: %s", strerror(errno));
}

int64_t vk_blk_file_size(struct vk_blk *bs)
{
	struct stat st;
	uint64_t size;

	if (fstat(bs->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(bs->fd, BLKGETSIZE64, &size) < 0)
			return -errno;
		return (int64_t)size;
	}
	return st.st_size;
}

int vk_blk_file_status(int fd, uint64_t off, uint64_t len, uint64_t *pnum)
{
	off_t data, hole;

	data = lseek(fd, (off_t)off, SEEK_DATA);
	if (data < 0 && errno == ENXIO) {
		*pnum = len;		/* past the last data: zeros */
		return VK_BS_ZERO;
	}
	if (data < 0) {
		*pnum = len;		/* no SEEK_DATA (some block devices): all data */
		return VK_BS_DATA;
	}
	if ((uint64_t)data > off) {
		*pnum = MIN(len, (uint64_t)data - off);
		return VK_BS_ZERO;
	}
	hole = lseek(fd, (off_t)off, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole <= off)
		*pnum = len;
	else
		*pnum = MIN(len, (uint64_t)hole - off);
	return VK_BS_DATA;
}

/* The file protocol's creation options, which apply to every format's file. */
const struct vk_blk_create_opt vk_blk_file_create_opts[] = {
	{ "extent_size_hint", "size", "Extent size hint for the image file, 0 to disable" },
	{ "preallocation", "str", "Preallocation mode (allowed values: off, falloc, full)" },
	{ "size", "size", "Virtual disk size" },
	{ 0 }
};
