// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Image locking compatible with QEMU's file-posix driver: open file
 * description (OFD) locks on single bytes. Byte 100 + p is read-locked
 * while we hold permission p; byte 200 + p is read-locked while we refuse
 * to share p. A conflict is someone holding the byte we must not see held.
 * QEMU and vmkit therefore see each other's locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "vmkit/block.h"

#define LOCK_PERM_BASE		100
#define LOCK_SHARED_BASE	200

/* QEMU's BLK_PERM_* bits. */
enum { PERM_CONSISTENT_READ, PERM_WRITE, PERM_WRITE_UNCHANGED, PERM_RESIZE, PERM_COUNT };

static const char *const perm_names[PERM_COUNT] = {
	"consistent read", "write", "write unchanged", "resize",
};

static int lock_byte(int fd, int byte, short type)
{
	struct flock fl = {
		.l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1,
	};

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Is byte locked by another open file description? */
static int byte_taken(int fd, int byte)
{
	struct flock fl = {
		.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1,
	};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

int vk_blk_lock(struct vk_blk *bs, struct vk_err *err)
{
	unsigned int perm = 1u << PERM_CONSISTENT_READ, shared;
	int i, r;

	if (!bs->read_only)
		perm |= 1u << PERM_WRITE | 1u << PERM_RESIZE;
	/* A format layer never lets others write or resize under it, unless forced (-U). */
	shared = 1u << PERM_CONSISTENT_READ | 1u << PERM_WRITE_UNCHANGED;
	if (bs->flags & VK_BLK_FORCE_SHARE)
		shared = (1u << PERM_COUNT) - 1;
	for (i = 0; i < PERM_COUNT; i++) {
		if ((perm & (1u << i)) && (r = lock_byte(bs->fd, LOCK_PERM_BASE + i, F_RDLCK)))
			goto fail;
		if (!(shared & (1u << i)) &&
		    (r = lock_byte(bs->fd, LOCK_SHARED_BASE + i, F_RDLCK)))
			goto fail;
	}
	for (i = 0; i < PERM_COUNT; i++) {
		if ((perm & (1u << i)) && byte_taken(bs->fd, LOCK_SHARED_BASE + i) > 0)
			return vk_fail(err, -EAGAIN,
				       "Failed to get \"%s\" lock\nIs another process using the image [%s]?",
				       perm_names[i], bs->filename);
		if (!(shared & (1u << i)) && byte_taken(bs->fd, LOCK_PERM_BASE + i) > 0)
			return vk_fail(err, -EAGAIN,
				       "Failed to get shared \"%s\" lock\nIs another process using the image [%s]?",
				       perm_names[i], bs->filename);
	}
	return 0;
fail:
	if (r == -EINVAL || r == -ENOTSUP || r == -ENOLCK)
		return 0;	/* no OFD locks on this file system: run unlocked, as QEMU's auto */
	return vk_fail(err, r, "%s: Failed to lock byte: %s", bs->filename, strerror(-r));
}

void vk_blk_unlock(struct vk_blk *bs)
{
	struct flock fl = {
		.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = LOCK_PERM_BASE,
		.l_len = LOCK_SHARED_BASE + PERM_COUNT - LOCK_PERM_BASE,
	};

	if (bs->fd >= 0)
		fcntl(bs->fd, F_OFD_SETLK, &fl);
}
