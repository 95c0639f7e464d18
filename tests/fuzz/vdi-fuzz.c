// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the vdi open, read and check path: the input is a
 * VirtualBox image (header, block map, blocks), opened read-only as vdi,
 * asked for its info, walked, read and checked (fuzz-image.c). Seeds:
 * foreign-corpus.sh vdi.
 */
#include "fuzz-image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vk_blk_opts o = {
		.format = "vdi", .flags = VK_BLK_NO_BACKING | VK_BLK_NO_LOCK,
	};

	fuzz_image(data, size, &o, true);
	return 0;
}
