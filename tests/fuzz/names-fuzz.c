// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for image names (lib/block/name.c, jsonval.c): what a
 * backing file name in an image header reaches. The first input byte picks
 * plain/json: or --image-opts text and an optional -f format; the rest is
 * the name. A name that parses must give a display name, which is parsed in
 * turn (it may fail: option values are checked when the driver opens).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/block/name.h"

static const char *const formats[] = { NULL, "raw", "qcow2", "null-co", "host_device", "file" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_blk_spec s, again;
	struct vk_err err = { 0 };
	const char *fmt;
	char *name, *shown;

	if (!size)
		return 0;
	fmt = formats[(data[0] >> 1) % (sizeof(formats) / sizeof(formats[0]))];
	name = strndup((const char *)data + 1, size - 1);
	if (!name)
		return 0;
	if (vk_blk_spec_parse(name, fmt, data[0] & 1, &s, &err) == 0) {
		shown = vk_blk_spec_display(&s, s.format ? s.format : "raw");
		if (!shown)
			abort();
		if (!strncmp(shown, "json:", 5) && !vk_blk_spec_parse(shown, NULL, false, &again, &err))
			vk_blk_spec_free(&again);
		free(shown);
		vk_blk_spec_free(&s);
	}
	free(name);
	return 0;
}
