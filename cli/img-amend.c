// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img amend -o: the image's format driver parses the options and
 * changes the image (qcow2: compat, lazy_refcounts, refcount_bits, size,
 * data_file); this file only opens it, as qemu-img does, before the options
 * are looked at, and prints what the driver says.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

/* Append one -o list to *list: several -o join with commas, as in qemu-img. */
static int add_list(char **list, const char *more)
{
	size_t old = *list ? strlen(*list) : 0, n = strlen(more);
	char *p = realloc(*list, old + n + 2);

	if (!p)
		return -ENOMEM;
	if (old)
		p[old++] = ',';
	memcpy(p + old, more, n + 1);
	*list = p;
	return 0;
}

/* qemu-img's test for a help request: the whole option list is "help" or "?". */
static bool is_help(const char *list)
{
	return !strcmp(list, "help") || !strcmp(list, "?");
}

static int run(struct vk_blk *bs, const char *list)
{
	struct vk_blk_amend_opts o = VK_BLK_AMEND_NONE;
	struct vk_err err = { 0 };
	int r = vk_blk_amend_parse(bs, list, &o, &err);

	if (!r)
		r = vk_blk_amend(bs, &o, &err);
	if (r < 0)
		img_error("%s", err.msg);
	vk_blk_amend_free(&o);
	return r;
}

static const struct option amend_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "force", no_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int img_amend(int argc, char **argv)
{
	const char *fmt = NULL;
	char *list = NULL;
	struct img_progress prog = { 0 };
	struct vk_blk *bs;
	unsigned int iopts = 0;
	bool help;
	int ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:o:t:hpq", amend_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: iopts |= VK_BLK_IMAGE_OPTS; break;
		case 'o':
			if (add_list(&list, optarg) < 0)
				return img_error("out of memory"), 1;
			break;
		case 'p': prog.on = true; break;
		case 'q': prog.on = false; break;
		case 't': case 'F': break;
		case 'h': printf("usage: vmkit img amend [-f FMT] [-p] [-q] -o OPTS FILE\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (!list)
		return img_error_try("Must specify options (-o)");
	if (optind != argc - 1) {
		img_error("Expecting one image file name");
		free(list);
		return 1;
	}
	/* As qemu-img: the image first, then its format's options. */
	help = is_help(list);
	r = img_open(argv[optind], fmt, (help ? 0 : VK_BLK_RDWR) | iopts, &bs);
	if (r < 0)
		goto out;
	if (help && !bs->drv->amend_help) {
		r = run(bs, list);	/* says the format cannot be amended */
	} else if (help) {
		fputs(bs->drv->amend_help, stdout);
	} else {
		img_progress(&prog, 0.0);
		r = run(bs, list);
		if (!r)
			img_progress_end(&prog);
	}
	vk_blk_close(bs);
out:
	free(list);
	return r < 0 ? 1 : 0;
}
