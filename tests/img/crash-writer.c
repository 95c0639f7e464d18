// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The writer of tests/img/test_crash.py: opens a qcow2 image through the
 * image library and writes to it at random until it is killed. Before each
 * operation it tells stdout what it is about to do, and after each flush
 * that the flush completed, one line per write(2) (atomic on a pipe):
 *
 *   R                      opened, starting
 *   W <off> <len> <gen>    data write of pattern(gen) (see below)
 *   Z <off> <len>          write zeroes
 *   D <off> <len>          discard (whole clusters drop to the backing file)
 *   C <off> <gen>          one compressed cluster of pattern(gen)
 *   F                      every operation above has been flushed
 *
 * pattern(gen) at image offset o (512-byte aligned sector): the sector is
 * the 16 bytes (gen, o) little-endian, 32 times over.
 *
 * usage: crash-writer IMAGE SEED [MAX_OPS]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/block.h"

#define MAX_LEN (128 * 1024)

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (vk_write_full(1, line, (size_t)n) < 0)
		exit(3);
}

static void fill(uint8_t *buf, uint64_t off, uint64_t len, uint64_t gen)
{
	uint64_t i, k, v[2];

	for (i = 0; i < len; i += 512) {
		v[0] = htole64(gen);
		v[1] = htole64(off + i);
		for (k = 0; k < 512; k += 16)
			memcpy(buf + i + k, v, 16);
	}
}

static int one_op(struct vk_blk *bs, uint8_t *buf, uint64_t size, uint32_t cs, uint64_t gen,
		  struct vk_err *err)
{
	uint64_t kind = next() % 100, sectors = size / 512;
	uint64_t off = (next() % sectors) * 512, len = (1 + next() % (MAX_LEN / 512)) * 512;

	len = MIN(len, size - off);
	if (kind < 50) {
		fill(buf, off, len, gen);
		say("W %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", off, len, gen);
		return vk_blk_pwrite(bs, buf, off, len, err);
	}
	if (kind < 60) {
		say("Z %" PRIu64 " %" PRIu64 "\n", off, len);
		return vk_blk_pwrite_zeroes(bs, off, len, err);
	}
	if (kind < 70) {
		say("D %" PRIu64 " %" PRIu64 "\n", off, len);
		return vk_blk_discard(bs, off, len, err);
	}
	if (kind < 82) {
		off = ALIGN_DOWN(off, cs);
		len = MIN(cs, size - off);
		fill(buf, off, len, gen);
		say("C %" PRIu64 " %" PRIu64 "\n", off, gen);
		return vk_blk_pwrite_compressed(bs, off, buf, len, NULL, 0, err);
	}
	if (kind < 97)
		return 1;	/* flush */
	return 0;
}

int main(int argc, char **argv)
{
	/*
	 * cache=unsafe: a SIGKILL cannot lose what the page cache holds, so the
	 * fdatasync calls (the flush's, and the barriers that order metadata
	 * for a host crash) change nothing this test sees; they would only cut
	 * the operations done before the kill to a few where syncs are slow.
	 * Flushes still write every cached table, which is what is tested.
	 */
	struct vk_blk_opts o = { .format = "qcow2", .flags = VK_BLK_RDWR | VK_BLK_CACHE_UNSAFE };
	struct vk_err err = { 0 };
	struct vk_blk *bs;
	uint64_t size, gen, max_ops = UINT64_MAX, i;
	uint8_t *buf;
	uint32_t cs;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: crash-writer IMAGE SEED [MAX_OPS]\n");
		return 2;
	}
	rng = strtoull(argv[2], NULL, 0) * 2654435761u + 1;
	if (argc > 3)
		max_ops = strtoull(argv[3], NULL, 0);
	if (vk_blk_open(argv[1], &o, &bs, &err) < 0) {
		fprintf(stderr, "crash-writer: %s\n", err.msg);
		return 1;
	}
	size = vk_blk_length(bs);
	cs = vk_blk_cluster_size(bs);
	buf = malloc(MAX(MAX_LEN, cs));
	if (!buf || size < 512)
		return 1;
	say("R\n");
	gen = strtoull(argv[2], NULL, 0) << 32;
	for (i = 0; i < max_ops; i++) {
		r = one_op(bs, buf, size, cs, ++gen, &err);
		if (r == 1) {
			r = vk_blk_flush(bs, &err);
			if (!r)
				say("F\n");
		}
		if (r < 0) {
			fprintf(stderr, "crash-writer: %s\n", err.msg);
			return 1;
		}
	}
	r = vk_blk_flush(bs, &err);
	if (!r)
		say("F\n");
	vk_blk_close(bs);
	return r < 0;
}
