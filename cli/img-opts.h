/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-img -o creation options, shared by create and convert. */
#ifndef VMKIT_CLI_IMG_OPTS_H
#define VMKIT_CLI_IMG_OPTS_H

#include "img.h"

struct img_create_opts {
	struct vk_blk_create_opts o;
	const struct vk_blk_driver *drv;	/* the format's: which options are its own */
	bool have_size;
	bool have_extent_size_hint;
	const char *compression_str;
	const char *refcount_str;
	const char *prefix;		/* create: the file, named in option errors */
	bool help;			/* -o help (or ?): list the options instead */
	bool no_help;			/* measure: "help" and "?" are names like any other */
	/* Values refused only when the image is made (img_create_opts_value_error). */
	const char *bad_compat, *bad_prealloc, *bad_compression;
	const char *data_file_raw_str;
	char *keep[16];
	int nkeep;
};

int img_parse_create_opts(struct img_create_opts *c, const char *fmt, const char *opts);
const char *img_create_opts_value_error(const struct img_create_opts *c, char *buf, size_t n);
void img_print_create_help(const char *fmt, bool with_file);
bool img_opts_want_help(const char *opts);
/* qemu-img refuses "", ",a=b", "a=b," with "Invalid option list: ..." (measure). */
bool img_opts_list_valid(const char *opts);
void img_print_formatting(const char *filename, const char *fmt, const struct img_create_opts *c);
void img_free_create_opts(struct img_create_opts *c);
/* qemu-img's default extent size hint (1 MiB) unless -o gave one. */
void img_default_extent_hint(struct img_create_opts *c);

#endif
