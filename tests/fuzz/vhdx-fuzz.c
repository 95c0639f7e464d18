// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the vhdx open, read and check path. Headers and the
 * region table carry CRC-32Cs that random mutations almost never keep
 * valid, so inputs of even length get them recomputed here before the open
 * (the parsers behind the checksums are then reached); odd-length inputs go
 * in as they are (the checks themselves). Opened read-only as vhdx, with
 * VK_BLK_CHECKING every other time so that a bad BAT reaches check and the
 * reads. Seeds: foreign-corpus.sh vhdx.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-image.h"

static uint32_t crc32c(const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	uint32_t crc = 0xffffffffu, c;
	size_t i;
	int k;

	for (i = 0; !table[1] && i < 256; i++) {
		for (c = (uint32_t)i, k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & -(c & 1));
		table[i] = c;
	}
	for (i = 0; i < len; i++)
		crc = (crc >> 8) ^ table[(crc ^ p[i]) & 0xff];
	return ~crc;
}

static void fix(uint8_t *d, size_t size, size_t off, size_t len)
{
	uint32_t c;

	if (size < off + len)
		return;
	memset(d + off + 4, 0, 4);
	c = htole32(crc32c(d + off, len));
	memcpy(d + off + 4, &c, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_blk_opts o = {
		.format = "vhdx", .flags = VK_BLK_NO_BACKING | VK_BLK_NO_LOCK,
	};
	uint8_t *copy;

	if (size % 2) {
		fuzz_image(data, size, &o, false);
		return 0;
	}
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fix(copy, size, 64 << 10, 4 << 10);
	fix(copy, size, 128 << 10, 4 << 10);
	fix(copy, size, 192 << 10, 64 << 10);
	if (size % 4 == 0)
		o.flags |= VK_BLK_CHECKING;
	fuzz_image(copy, size, &o, true);
	free(copy);
	return 0;
}
