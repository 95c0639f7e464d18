// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the vmdk open and read path: the input is a
 * monolithicSparse or streamOptimized file ("KDMV"). Descriptor files are
 * left out (their extents would open host files); they are covered by
 * tests/img/test_vmdk.py. The image is opened read-only, asked for its
 * info, walked with block status and read at a few places (fuzz-image.c).
 * Built like qcow2-fuzz.c by tests/fuzz/build.sh.
 */
#include <string.h>

#include "fuzz-image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vk_blk_opts o = {
		.format = "vmdk", .flags = VK_BLK_NO_BACKING | VK_BLK_NO_LOCK,
	};

	if (size >= 4 && !memcmp(data, "KDMV", 4))
		fuzz_image(data, size, &o, false);
	return 0;
}
