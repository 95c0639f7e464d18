// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for qcow2 opened for writing, where persistent bitmaps
 * are loaded (directory, tables, data clusters), marked in use in place,
 * set by writes and written back on close: the input is an image file in a
 * memfd. It is opened read-write (no backing chain), written at a few
 * places, given a bitmap, merged, and closed. Built as qcow2-fuzz.c is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmkit/block.h"

/*
 * The hot path's writes on a hostile image (vmm/block/image.c does these
 * around its own I/O): an in-place write where vk_blk_map_io maps one,
 * and an allocating write where vk_blk_alloc_io allocates one, its data
 * put at the host offset, then committed. The library must read back
 * what was written.
 */
static void hot_writes(struct vk_blk *bs)
{
	static uint8_t data[65536], back[65536];
	uint64_t len = vk_blk_length(bs), cs = vk_blk_cluster_size(bs), off;
	struct vk_blk_mapping m;
	struct vk_err err = { 0 };
	int i;

	if (!cs || cs > sizeof(data) || len < cs)
		return;
	for (i = 0; i < 4; i++) {
		off = ALIGN_DOWN(len / 4 * (uint64_t)i, cs);
		if (off + cs > len)
			continue;
		memset(data, 0x40 + i, cs);
		if (vk_blk_map_io(bs, off, cs, true, &m) == 0) {
			if (m.kind != VK_MAP_DATA || m.len > cs)
				abort();
			if (pwrite(m.fd, data, m.len, (off_t)m.host) != (ssize_t)m.len)
				continue;
		} else if (vk_blk_alloc_io(bs, off, cs, 0, &m) == 0) {
			if (m.kind != VK_MAP_DATA || m.len != cs)
				abort();
			if (pwrite(m.fd, data, cs, (off_t)m.host) != (ssize_t)cs) {
				vk_blk_alloc_abort(bs, m.host, cs);
				continue;
			}
			if (vk_blk_alloc_commit(bs, off, cs, m.host, &err) < 0)
				continue;
		} else {
			continue;
		}
		if (vk_blk_pread(bs, back, off, m.len, &err) == 0 && memcmp(back, data, m.len))
			abort();
	}
}

static void exercise(struct vk_blk *bs)
{
	static uint8_t buf[8192];
	uint64_t len = vk_blk_length(bs);
	struct vk_err err = { 0 };

	if (len >= sizeof(buf)) {
		(void)vk_blk_pwrite(bs, buf, 0, sizeof(buf), &err);
		(void)vk_blk_pwrite_zeroes(bs, ALIGN_DOWN(len / 2, 512), 4096, &err);
		(void)vk_blk_discard(bs, ALIGN_DOWN(len - 4096, 512), 4096, &err);
	}
	hot_writes(bs);
	if (vk_blk_bitmap_add(bs, "fuzz", 0, &err) == 0)
		(void)vk_blk_bitmap_enable(bs, "fuzz", false, &err);
	(void)vk_blk_bitmap_merge(bs, "fuzz", bs, "b0", &err);
	(void)vk_blk_bitmap_clear(bs, "b0", &err);
	(void)vk_blk_bitmap_remove(bs, "b1", &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vk_blk_opts o = {
		.format = "qcow2",
		.flags = VK_BLK_RDWR | VK_BLK_NO_BACKING | VK_BLK_NO_LOCK | VK_BLK_CACHE_UNSAFE,
		.cache_size = 256 * 1024,
	};
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	char path[64];
	int fd = memfd_create("qcow2rw-fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (vk_write_full(fd, data, size) >= 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (vk_blk_open(path, &o, &bs, &err) == 0) {
			exercise(bs);
			vk_blk_close(bs);
		}
	}
	close(fd);
	return 0;
}
