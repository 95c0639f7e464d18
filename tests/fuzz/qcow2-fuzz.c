// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the qcow2 open and read path: the input is an image
 * file. It is opened (read-only, no backing chain and no external data
 * file: a hostile image must not make us open host files, so data file
 * clusters fail to read), asked for its info, walked with block status,
 * read at a few places and checked (fuzz-image.c). Built with clang
 * -fsanitize=fuzzer,address,undefined by tests/fuzz/build.sh (`make fuzz`).
 */
#include "fuzz-image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vk_blk_opts o = {
		.format = "qcow2", .flags = VK_BLK_NO_BACKING | VK_BLK_NO_LOCK | VK_BLK_NO_IO,
		.cache_size = 256 * 1024,
	};

	fuzz_image(data, size, &o, true);
	return 0;
}
