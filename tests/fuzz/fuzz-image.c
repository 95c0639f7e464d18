// SPDX-License-Identifier: GPL-2.0-or-later
/* The part the image-format fuzz targets share: see fuzz-image.h. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz-image.h"

#define MAX_READ (4 * 1024 * 1024)

/*
 * The hot path's mapping (vmm/block/image.c reads there directly) against
 * the library's own read: where vk_blk_map_io says data at fd:host, the
 * file's bytes there (zeros past its end) are what vk_blk_pread returns;
 * where it says zeros, zeros. A difference is a bug worth a crash.
 */
static void check_map(struct vk_blk *bs, uint64_t off, uint64_t len)
{
	static uint8_t a[65536], b[65536];
	struct vk_blk_mapping m;
	struct vk_err err;
	ssize_t got;

	len = MIN(len, sizeof(a));
	if (!len || vk_blk_map_io(bs, off, len, false, &m) < 0)
		return;
	if (!m.len || m.len > len)
		abort();
	if (vk_blk_pread(bs, a, off, m.len, &err) < 0)
		return;
	memset(b, 0, m.len);
	if (m.kind == VK_MAP_DATA) {
		got = pread(m.fd, b, m.len, (off_t)m.host);
		if (got < 0)
			return;
	}
	if (memcmp(a, b, m.len))
		abort();
}

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
	/* The metadata those reads cached is what the hot path maps from. */
	check_map(bs, 0, len);
	for (i = 1; i <= 8 && len > 65536; i++) {
		off = ALIGN_DOWN(len / 9 * (uint64_t)i, 512);
		check_map(bs, off, len - off);
	}
}

static void report(void *opaque, const char *line)
{
	(void)opaque;
	(void)line;
}

void fuzz_image(const uint8_t *data, size_t size, const struct vk_blk_opts *o, bool check)
{
	static uint8_t *buf;
	struct vk_blk_check res = { .report = report };
	struct vk_blk_info info;
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	char path[64];
	int fd;

	if (!buf && !(buf = malloc(MAX_READ)))
		return;
	fd = memfd_create("image-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (vk_write_full(fd, data, size) < 0) {
		close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (vk_blk_open(path, o, &bs, &err) == 0) {
		vk_blk_get_info(bs, &info);
		walk(bs, buf);
		if (check)
			vk_blk_check(bs, &res, 0, &err);
		vk_blk_close(bs);
	}
	close(fd);
}
