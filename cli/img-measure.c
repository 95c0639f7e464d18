// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img measure: the file size a new image needs, for a virtual size
 * (--size) or for the content of an input image, with qemu-img's numbers
 * and output. The numbers and the checks of the format's options are its
 * driver's (vk_blk_measure); -o is read as create reads it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img-opts.h"

/* Fields as qemu-img prints them; bitmaps only when both the input and the format hold them. */
static void print(const char *output, const struct vk_blk_measure *m)
{
	if (!strcmp(output, "json")) {
		printf("{\n");
		if (m->bitmaps >= 0)
			printf("    \"bitmaps\": %lld,\n", (long long)m->bitmaps);
		printf("    \"required\": %llu,\n    \"fully-allocated\": %llu\n}\n",
		       (unsigned long long)m->required, (unsigned long long)m->fully_allocated);
		return;
	}
	printf("required size: %llu\nfully allocated size: %llu\n",
	       (unsigned long long)m->required, (unsigned long long)m->fully_allocated);
	if (m->bitmaps >= 0)
		printf("bitmaps size: %lld\n", (long long)m->bitmaps);
}

/*
 * The format's -o options, checked against its own list as create checks
 * them. A format that cannot measure is refused without reading them
 * (vk_blk_measure says so): vmkit knows no options of formats it cannot create.
 */
static int parse_opts(struct img_create_opts *c, const char *out_fmt, const char **opts, int n)
{
	int i;

	if (!vk_blk_format_can_measure(out_fmt))
		return 0;
	for (i = 0; i < n; i++) {
		if (img_parse_create_opts(c, out_fmt, opts[i]) < 0) {
			img_error("Invalid options for file format '%s'", out_fmt);
			return -EINVAL;
		}
	}
	return 0;
}

/* qemu-img's order: the output format, its options, then what its driver says of them. */
static int measure(const char *out_fmt, const char **opts, int nopts, struct vk_blk *in,
		   const uint64_t *size, const char *output)
{
	struct img_create_opts c = { .no_help = true };
	struct vk_blk_measure m;
	struct vk_err err = { 0 };
	int r;

	if (!vk_blk_find_driver(out_fmt)) {
		img_error("Unknown file format '%s'", out_fmt);
		return 1;
	}
	r = parse_opts(&c, out_fmt, opts, nopts);
	if (!r) {
		if (size)
			c.o.size = *size;	/* --size wins over -o size= */
		r = vk_blk_measure(out_fmt, &c.o, in, &m, &err);
		if (r < 0)
			img_error("%s", err.msg);
		else
			print(output, &m);
	}
	img_free_create_opts(&c);
	return r < 0 ? 1 : 0;
}

static const struct option measure_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "output", required_argument, NULL, 'J' },
	{ "size", required_argument, NULL, 's' },
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int img_measure(int argc, char **argv)
{
	const char *fmt = NULL, *out_fmt = "raw", *output = "human", *opts[8];
	unsigned int flags = 0;
	bool have_size = false;
	struct vk_blk *in = NULL;
	uint64_t size = 0;
	int ch, nopts = 0, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:O:o:hU", measure_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: flags |= VK_BLK_IMAGE_OPTS; break;
		case 'O': out_fmt = optarg; break;
		case 'o':
			if (!img_opts_list_valid(optarg)) {
				img_error("Invalid option list: %s", optarg);
				return 1;
			}
			if (nopts < 8)
				opts[nopts++] = optarg;
			break;
		case 'J': output = optarg; break;
		case 'U': flags |= VK_BLK_FORCE_SHARE; break;
		case 's':
			r = img_parse_size(optarg, &size);
			if (r == -ERANGE || (!r && (size >> 63))) {
				img_error("Invalid image size specified. Must be between 0 and %lld.",
					  (long long)INT64_MAX);
				return 1;
			}
			if (r < 0) {
				img_bad_size("image size");
				return 1;
			}
			have_size = true;
			break;
		case 'h': printf("usage: vmkit img measure [--output=human|json] [-O FMT] [-o OPTS] [--size N | [-f FMT] [-U] FILE]\n"); return 0;
		default: img_error("Invalid option"); return 1;
		}
	}
	if (strcmp(output, "human") && strcmp(output, "json")) {
		img_error("--output must be used with human or json as argument.");
		return 1;
	}
	if (optind < argc - 1) {
		img_error("At most one filename argument is allowed.");
		return 1;
	}
	if (have_size && optind < argc) {
		img_error("--size N cannot be used together with a filename.");
		return 1;
	}
	if (!have_size && optind != argc - 1) {
		img_error("Either --size N or one filename must be specified.");
		return 1;
	}
	if (!have_size && img_open(argv[optind], fmt, flags, &in) < 0)
		return 1;
	r = measure(out_fmt, opts, nopts, in, have_size ? &size : NULL, output);
	vk_blk_close(in);
	return r;
}
