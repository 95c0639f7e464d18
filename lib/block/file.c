// SPDX-License-Identifier: GPL-2.0-or-later
/* Host-file access shared by the drivers: full reads and writes, holes. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "vmkit/block.h"

int vk_fd_pread(int fd, const char *name, void *buf, uint64_t off, size_t len,
		bool zero_past_eof, struct vk_err *err)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
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

int vk_blk_file_pread(struct vk_blk *bs, void *buf, uint64_t off, size_t len, bool zero_past_eof,
		      struct vk_err *err)
{
	return vk_fd_pread(bs->fd, bs->filename, buf, off, len, zero_past_eof, err);
}

int vk_blk_file_pwrite(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
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
