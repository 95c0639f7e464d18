// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A disk's format= (run, QMP, a SCSI medium's saved state): a name from the
 * block library's driver table, never a list of our own. Apart from the
 * backend so that what parses it (the SCSI state) needs no I/O engine.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"

int blk_format_parse(const char *name, char out[DISK_FORMAT_MAX])
{
	if (!strcmp(name, "auto")) {
		out[0] = 0;
		return 0;
	}
	if (!vk_blk_find_driver(name))
		return -ENOENT;
	snprintf(out, DISK_FORMAT_MAX, "%s", name);
	return 0;
}

bool blk_format_may_be_plain(const char *format)
{
	return !format[0] || vk_blk_format_plain(format);
}
