// SPDX-License-Identifier: GPL-2.0-or-later
/* Installation media: is a file an ISO 9660 image (for CD-ROM drives)? */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vmkit/block.h"

/*
 * An ISO 9660 volume has its first volume descriptor in sector 16: a type
 * byte, then "CD001". A CD-ROM given anything else is refused before the
 * guest starts, as a file that is not an ISO is a mistake worth one line.
 */
int vk_blk_iso_check(const char *path, struct vk_err *err)
{
	char id[5];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return vk_fail(err, -errno, "%s: %s", path, strerror(errno));
	n = pread(fd, id, sizeof(id), 0x8001);
	close(fd);
	if (n < 0)
		return vk_fail(err, -errno, "%s: %s", path, strerror(errno));
	if (n != sizeof(id) || memcmp(id, "CD001", sizeof(id)))
		return vk_fail(err, -EINVAL, "%s: not an ISO 9660 image (no CD001 at byte 0x8001)",
			       path);
	return 0;
}
