// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the vpc (VHD) open and read path: the input is a
 * dynamic or differencing VHD (footer copy at the start) or a fixed one
 * (footer at the end), opened read-only as vpc without its parent, asked
 * for its info, walked with block status and read at a few places
 * (fuzz-image.c). The footer's checksum would stop most mutations of it:
 * for inputs of even length it is recomputed first. Seeds:
 * foreign-corpus.sh vpc.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-image.h"

static void fix_footer(uint8_t *f)
{
	uint32_t sum = 0;
	int i;

	memset(f + 64, 0, 4);
	for (i = 0; i < 512; i++)
		sum += f[i];
	sum = htobe32(~sum);
	memcpy(f + 64, &sum, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vk_blk_opts o = {
		.format = "vpc", .flags = VK_BLK_NO_BACKING | VK_BLK_NO_LOCK,
	};
	uint8_t *copy;

	if (size % 2 || size < 512) {
		fuzz_image(data, size, &o, false);
		return 0;
	}
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fix_footer(memcmp(copy, "conectix", 8) ? copy + size - 512 : copy);
	fuzz_image(copy, size, &o, false);
	free(copy);
	return 0;
}
