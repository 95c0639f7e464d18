// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit img check: exit 0 clean, 1 check failed, 2 corruptions, 3 leaks, 63 unsupported. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img.h"

static void to_stderr(void *opaque, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

static void human(const struct vk_blk_check *c)
{
	if (!(c->corruptions || c->leaks || c->check_errors)) {
		printf("No errors were found on the image.\n");
	} else {
		if (c->corruptions)
			printf("\n%lld errors were found on the image.\n"
			       "Data may be corrupted, or further writes to the image may corrupt it.\n",
			       (long long)c->corruptions);
		if (c->leaks)
			printf("\n%lld leaked clusters were found on the image.\n"
			       "This means waste of disk space, but no harm to data.\n",
			       (long long)c->leaks);
		if (c->check_errors)
			printf("\n%lld internal errors have occurred during the check.\n",
			       (long long)c->check_errors);
	}
	if (c->total_clusters && c->allocated_clusters)
		printf("%lld/%lld = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed clusters\n",
		       (long long)c->allocated_clusters, (long long)c->total_clusters,
		       c->allocated_clusters * 100.0 / c->total_clusters,
		       c->fragmented_clusters * 100.0 / c->allocated_clusters,
		       c->compressed_clusters * 100.0 / c->allocated_clusters);
	if (c->image_end_offset)
		printf("Image end offset: %lld\n", (long long)c->image_end_offset);
}

static void opt(const char *key, int64_t v)
{
	if (v)
		printf("    \"%s\": %lld,\n", key, (long long)v);
}

/*
 * Key order as qemu-img 7.2 prints it: its QDict iterates hash buckets, so
 * the order is fixed per key (fragmented-clusters comes after format).
 */
static void json(const struct vk_blk_check *c, const char *filename, const char *format)
{
	printf("{\n");
	opt("image-end-offset", c->image_end_offset);
	opt("compressed-clusters", c->compressed_clusters);
	opt("total-clusters", c->total_clusters);
	opt("corruptions", c->corruptions);
	opt("corruptions-fixed", c->corruptions_fixed);
	printf("    \"check-errors\": %lld,\n", (long long)c->check_errors);
	opt("leaks", c->leaks);
	opt("leaks-fixed", c->leaks_fixed);
	opt("allocated-clusters", c->allocated_clusters);
	printf("    \"filename\": ");
	img_json_str(stdout, filename);
	printf(",\n    \"format\": \"%s\"", format);
	if (c->fragmented_clusters)
		printf(",\n    \"fragmented-clusters\": %lld", (long long)c->fragmented_clusters);
	printf("\n}\n");
}

static const struct option check_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "output", required_argument, NULL, 'O' },
	{ "repair", required_argument, NULL, 'r' },
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int run_check(struct vk_blk *bs, struct vk_blk_check *c, unsigned int fix, bool json_out)
{
	struct vk_err err = { 0 };
	int64_t lf, cf;
	int r;

	r = vk_blk_check(bs, c, fix, &err);
	/* A driver's check may return -ENOTSUP without a word for a mode it lacks (repair). */
	if (r == -ENOTSUP && (!bs->drv->check || !err.code)) {
		img_error("This image format does not support checks");
		return 63;
	}
	if (r < 0) {
		img_error("Check failed: %s", err.msg);
		return 1;
	}
	if (c->leaks_fixed || c->corruptions_fixed) {
		lf = c->leaks_fixed;
		cf = c->corruptions_fixed;
		if (!json_out)
			printf("The following inconsistencies were found and repaired:\n\n"
			       "    %lld leaked clusters\n    %lld corruptions\n\n"
			       "Double checking the fixed image now...\n", (long long)lf, (long long)cf);
		r = vk_blk_check(bs, c, 0, &err);
		if (r < 0) {
			img_error("Check failed: %s", err.msg);
			return 1;
		}
		c->leaks_fixed = lf;
		c->corruptions_fixed = cf;
	}
	return 0;
}

int img_check(int argc, char **argv)
{
	const char *fmt = NULL, *output = "human";
	struct vk_blk_check c = { .report = to_stderr };
	unsigned int flags = VK_BLK_CHECKING, fix = 0;	/* the backing chain too: qemu-img check fails on a missing one */
	bool quiet = false;
	struct vk_blk *bs;
	int ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:hr:qU", check_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: flags |= VK_BLK_IMAGE_OPTS; break;
		case 'O': output = optarg; break;
		case 'q': quiet = true; break;
		case 'U': flags |= VK_BLK_FORCE_SHARE; break;
		case 'r':
			flags |= VK_BLK_RDWR | VK_BLK_CHECK;
			if (!strcmp(optarg, "leaks")) {
				fix = VK_CHECK_FIX_LEAKS;
			} else if (!strcmp(optarg, "all")) {
				fix = VK_CHECK_FIX_LEAKS | VK_CHECK_FIX_ERRORS;
			} else {
				return img_error_try("Unknown option value for -r (expecting 'leaks' or 'all'): %s", optarg);
			}
			break;
		case 'h': printf("usage: vmkit img check [-q] [-f FMT] [--output=human|json] [-r leaks|all] [-U] FILE\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (!img_output_and_one_file(output, argc, optind))
		return 1;
	if ((flags & VK_BLK_RDWR) && (flags & VK_BLK_FORCE_SHARE)) {
		img_error("force-share=on can only be used with read-only images");
		return 1;
	}
	if (img_open(argv[optind], fmt, flags, &bs) < 0)
		return 1;
	r = run_check(bs, &c, fix, !strcmp(output, "json"));
	if (!r && !quiet) {
		if (!strcmp(output, "json"))
			json(&c, argv[optind], bs->drv->name);
		else
			human(&c);
	}
	vk_blk_close(bs);
	if (r)
		return r;
	if (c.check_errors) {
		img_error("Check failed");
		return 1;
	}
	return c.corruptions ? 2 : c.leaks ? 3 : 0;
}
