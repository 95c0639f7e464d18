// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the vpc (VHD) open and read path: the input is a
 * dynamic VHD (footer copy at the start) or a fixed one (footer at the end),
 * opened read-only as vpc, asked for its info, walked with block status and
 * read at a few places (fuzz-image.c). Seeds: foreign-corpus.sh vpc.
 */
#include "fuzz-image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vk_blk_opts o = {
		.format = "vpc", .flags = VK_BLK_NO_BACKING | VK_BLK_NO_LOCK,
	};

	fuzz_image(data, size, &o, false);
	return 0;
}
