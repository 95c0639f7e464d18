// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Discard and write-zeroes on the host file or block device, run from the
 * pool's threads. Each has a fast call (fallocate, BLKDISCARD, BLKZEROOUT)
 * that some hosts lack: tmpfs has no FALLOC_FL_ZERO_RANGE, a disk may have
 * no discard. As QEMU does, write-zeroes then writes zeroed buffers, and
 * discard, which is advisory, does nothing and succeeds.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmkit/blk-backend.h"

/* The zeroed buffer written per call when the fast path is missing: bounded, whatever len. */
#define ZERO_CHUNK	(1 * MiB)

static int syscall_result(int r)
{
	return r < 0 ? -errno : 0;
}

/*
 * The errors that say "this file or device cannot do that", not "that
 * failed" (QEMU's translate_err). EINVAL is not among them: on these calls
 * it means a misaligned or out-of-range request, which writing zeroes
 * would not make right.
 */
static bool unsupported(int r)
{
	return r == -EOPNOTSUPP || r == -ENOTSUP || r == -ENOSYS || r == -ENOTTY ||
	       r == -ENODEV;
}

static int write_zero_buffers(struct blk_backend *bb, uint64_t off, uint64_t len)
{
	void *zero = NULL;
	ssize_t n;
	int r = 0;

	/* Aligned for O_DIRECT; the guest's sector range keeps lengths and offsets aligned. */
	if (posix_memalign(&zero, BLK_ALIGN_DIRECT, ZERO_CHUNK))
		return -ENOMEM;
	memset(zero, 0, ZERO_CHUNK);
	while (len && !r) {
		n = pwrite(bb->fd, zero, MIN(len, ZERO_CHUNK), (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
		else
			off += (uint64_t)n, len -= (uint64_t)n;
	}
	free(zero);
	return r;
}

int blk_range_discard(struct blk_backend *bb, uint64_t off, uint64_t len)
{
	uint64_t range[2] = { off, len };
	int r;

	if (bb->is_bdev)
		r = syscall_result(ioctl(bb->fd, BLKDISCARD, range));
	else
		r = syscall_result(fallocate(bb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					     (off_t)off, (off_t)len));
	return unsupported(r) ? 0 : r;
}

/* Files: a hole when unmap is allowed, else (or failing that) a zeroed range. */
static int zero_file_range(struct blk_backend *bb, uint64_t off, uint64_t len, bool unmap)
{
	int r = -EOPNOTSUPP;

	if (unmap)
		r = syscall_result(fallocate(bb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					     (off_t)off, (off_t)len));
	if (unsupported(r))
		r = syscall_result(fallocate(bb->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					     (off_t)off, (off_t)len));
	return r;
}

int blk_range_zeroes(struct blk_backend *bb, uint64_t off, uint64_t len, bool unmap)
{
	uint64_t range[2] = { off, len };
	int r;

	if (bb->is_bdev)
		r = syscall_result(ioctl(bb->fd, BLKZEROOUT, range));
	else
		r = zero_file_range(bb, off, len, unmap);
	return unsupported(r) ? write_zero_buffers(bb, off, len) : r;
}
