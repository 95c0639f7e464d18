// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit img resize: absolute or +/- relative sizes, --shrink to shrink, --preallocation. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img.h"

static const struct option resize_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "shrink", no_argument, NULL, 'S' },
	{ "preallocation", required_argument, NULL, 'P' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int parse_prealloc(const char *s, enum vk_prealloc *out)
{
	int mode = vk_blk_prealloc_parse(s);

	if (mode < 0) {
		img_error("Invalid preallocation mode '%s'", s);
		return mode;
	}
	*out = (enum vk_prealloc)mode;
	return 0;
}

/* "+N", "-N" or "N" against the current size; 0 or less is refused, as qemu-img does. */
static int new_size(const char *arg, uint64_t cur, uint64_t *out)
{
	int sign = arg[0] == '+' ? 1 : arg[0] == '-' ? -1 : 0;
	uint64_t v;

	if (img_parse_size(arg + (sign ? 1 : 0), &v) < 0 || (v >> 63)) {
		img_error("Parameter 'size' expects a non-negative number below 2^64");
		img_size_suffix_hint();
		return -EINVAL;
	}
	if (sign > 0)
		v = cur + v < cur ? UINT64_MAX : cur + v;
	else if (sign < 0)
		v = v >= cur ? 0 : cur - v;
	if (!v || (v >> 63)) {
		img_error("New image size must be positive");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int do_resize(struct vk_blk *bs, const char *arg, bool shrink, enum vk_prealloc pre,
		     bool quiet)
{
	struct vk_err err = { 0 };
	uint64_t cur = vk_blk_length(bs), size;

	if (new_size(arg, cur, &size) < 0)
		return 1;
	if (size < cur && pre != VK_PREALLOC_OFF) {
		img_error("Preallocation can only be used for growing images");
		return 1;
	}
	if (size < cur && !shrink) {
		img_error("Use the --shrink option to perform a shrink operation.");
		img_error("warning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an operation, make sure there is no important data there.");
		return 1;
	}
	if (vk_blk_truncate(bs, size, pre, &err) < 0) {
		img_error("%s", err.msg);
		return 1;
	}
	if (!quiet)
		printf("Image resized.\n");
	return 0;
}

int img_resize(int argc, char **argv)
{
	enum vk_prealloc pre = VK_PREALLOC_OFF;
	const char *fmt = NULL, *size;
	bool quiet = false, shrink = false;
	struct vk_blk *bs;
	unsigned int iopts = 0;
	int ch, r;

	/* The size is the last argument, taken first so that "-10M" is no option (as qemu-img). */
	if (argc < 3)
		return img_error_try("Not enough arguments");
	size = argv[--argc];
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:hq", resize_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: iopts |= VK_BLK_IMAGE_OPTS; break;
		case 'q': quiet = true; break;
		case 'S': shrink = true; break;
		case 'P': if (parse_prealloc(optarg, &pre) < 0) return 1; break;
		case 'h': printf("usage: vmkit img resize [-f FMT] [-q] [--shrink] [--preallocation=MODE] FILE [+|-]SIZE\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (optind != argc - 1)
		return img_error_try("Expecting image file name and size");
	if (img_open(argv[optind], fmt, VK_BLK_RDWR | iopts, &bs) < 0)
		return 1;
	r = do_resize(bs, size, shrink, pre, quiet);
	vk_blk_close(bs);
	return r;
}
