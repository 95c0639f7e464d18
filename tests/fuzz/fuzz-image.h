/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every image-format fuzz target does with its input (tests/fuzz/fuzz-image.c). */
#ifndef VMKIT_FUZZ_IMAGE_H
#define VMKIT_FUZZ_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmkit/block.h"

/*
 * The input as an image file (a memfd), opened with o, asked for its info,
 * walked with block status, read (the first 4 MiB and a few spots further
 * on, so that large virtual sizes stay cheap) and, with check, checked.
 */
void fuzz_image(const uint8_t *data, size_t size, const struct vk_blk_opts *o, bool check);

#endif
