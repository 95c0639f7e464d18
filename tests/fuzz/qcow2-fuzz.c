// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the qcow2 open and read path: the input is an image
 * file. It is opened (read-only, no backing chain: a hostile image must not
 * make us open host files), asked for its info, walked with block status,
 * read (the first MAX_READ bytes and a few spots further on, so that large
 * virtual sizes stay cheap), and checked. Built with clang
 * -fsanitize=fuzzer,address,undefined by tests/fuzz/build.sh (`make fuzz`).
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

static void report(void *opaque, const char *line)
{
	(void)opaque;
	(void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *buf;
	struct vk_blk_opts o = {
		.format = "qcow2", .flags = VK_BLK_NO_BACKING | VK_BLK_NO_LOCK,
		.cache_size = 256 * 1024,
	};
	struct vk_blk_check res = { .report = report };
	struct vk_blk_info info;
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	char path[64];
	int fd;

	if (!buf && !(buf = malloc(MAX_READ)))
		return 0;
	fd = memfd_create("qcow2-fuzz", MFD_CLOEXEC);
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
		vk_blk_check(bs, &res, 0, &err);
		vk_blk_close(bs);
	}
	close(fd);
	return 0;
}
