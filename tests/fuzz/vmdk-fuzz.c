// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the vmdk open and read path: the input is a
 * monolithicSparse or streamOptimized file ("KDMV"). Descriptor files are
 * left out (their extents would open host files); they are covered by
 * tests/img/test_vmdk.py. The image is opened read-only, asked for its
 * info, walked with block status and read at a few places. Built like
 * qcow2-fuzz.c (tests/fuzz/build.sh builds it when given its name).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "vmkit/block.h"

#define MAX_READ (4 * 1024 * 1024)

static void walk(struct vk_blk *bs, uint8_t *buf)
{
	uint64_t len = vk_blk_length(bs), off, n, map;
	struct vk_err err;
	int i, st;

	for (off = 0, i = 0; off < len && i < 4096; off += n, i++) {
		st = vk_blk_block_status(bs, off, len - off, &n, &map, &err);
		if (st < 0 || !n)
			break;
	}
	n = MIN(len, MAX_READ);
	(void)vk_blk_pread(bs, buf, 0, n, &err);
	for (i = 1; i <= 8 && len > 65536; i++) {
		off = ALIGN_DOWN(len / 9 * (uint64_t)i, 512);
		(void)vk_blk_pread(bs, buf, off, MIN(65536, len - off), &err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *buf;
	struct vk_blk_opts o = { .format = "vmdk", .flags = VK_BLK_NO_BACKING | VK_BLK_NO_LOCK };
	struct vk_blk_info info;
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	char path[64];
	int fd;

	if (size < 4 || memcmp(data, "KDMV", 4))
		return 0;
	if (!buf && !(buf = malloc(MAX_READ)))
		return 0;
	fd = memfd_create("vmdk-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (vk_write_full(fd, data, size) < 0) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (vk_blk_open(path, &o, &bs, &err) == 0) {
		vk_blk_get_info(bs, &info);
		walk(bs, buf);
		vk_blk_close(bs);
	}
	close(fd);
	return 0;
}
