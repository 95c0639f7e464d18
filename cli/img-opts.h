/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-img -o creation options, shared by create and convert. */
#ifndef VMKIT_CLI_IMG_OPTS_H
#define VMKIT_CLI_IMG_OPTS_H

#include "img.h"

struct img_create_opts {
	struct vk_blk_create_opts o;
	bool qcow2;
	bool have_size;
	const char *compat_str;
	const char *prealloc_str;
	const char *compression_str;
	const char *data_file_raw_str;
	const char *filename;		/* create: named in errors about option values */
	char *keep[16];
	int nkeep;
};

int img_parse_create_opts(struct img_create_opts *c, const char *fmt, const char *opts);
void img_print_formatting(const char *filename, const char *fmt, const struct img_create_opts *c);
void img_free_create_opts(struct img_create_opts *c);

#endif
