// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img bitmap: qemu-img bitmap's actions on one persistent dirty bitmap
 * of a qcow2 image, applied in the order given. As qemu-img, the first
 * failing action stops the rest, and what the earlier ones did is still
 * written when the image is closed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "img.h"

enum { OPT_ADD = 256, OPT_REMOVE, OPT_CLEAR, OPT_ENABLE, OPT_DISABLE, OPT_MERGE, OPT_OBJECT,
       OPT_IMAGE_OPTS };

struct action {
	int op;
	const char *src;	/* --merge's source bitmap */
};

struct bitmap_args {
	struct action *acts;
	int nacts;
	const char *fmt, *src_file, *src_fmt;
	uint64_t granularity;
	bool add, merge, image_opts;
};

static const char *const op_names[] = { "add", "remove", "clear", "enable", "disable", "merge" };

/*
 * QEMU names a node it opened "#block", a counter and two random digits: the
 * image is the second node (after its protocol node). Messages show it.
 */
static const char *node_name(void)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "#block1%02d", (int)(getpid() % 100));
	return buf;
}

static int add_action(struct bitmap_args *a, int op, const char *src)
{
	struct action *v = realloc(a->acts, (size_t)(a->nacts + 1) * sizeof(*v));

	if (!v) {
		img_error("out of memory");
		return -ENOMEM;
	}
	a->acts = v;
	v[a->nacts].op = op;
	v[a->nacts++].src = src;
	a->add |= op == OPT_ADD;
	a->merge |= op == OPT_MERGE;
	return 0;
}

static int parse(int argc, char **argv, struct bitmap_args *a)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "object", required_argument, NULL, OPT_OBJECT },
		{ "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
		{ "add", no_argument, NULL, OPT_ADD },
		{ "remove", no_argument, NULL, OPT_REMOVE },
		{ "clear", no_argument, NULL, OPT_CLEAR },
		{ "enable", no_argument, NULL, OPT_ENABLE },
		{ "disable", no_argument, NULL, OPT_DISABLE },
		{ "merge", required_argument, NULL, OPT_MERGE },
		{ "granularity", required_argument, NULL, 'g' },
		{ "source-file", required_argument, NULL, 'b' },
		{ "source-format", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":b:f:F:g:h", lopts, NULL)) != -1) {
		switch (c) {
		case ':':
		case '?':
			return -img_bad_option(c, argv);
		case 'h':
			printf("usage: vmkit img bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [-f fmt] filename bitmap\n");
			exit(0);
		case 'b': a->src_file = optarg; break;
		case 'f': a->fmt = optarg; break;
		case 'F': a->src_fmt = optarg; break;
		case 'g':
			if (img_parse_size(optarg, &a->granularity) < 0 || (a->granularity >> 63)) {
				img_bad_size("granularity");
				return -1;
			}
			break;
		case OPT_OBJECT: break;	/* secrets and the like: nothing here needs one */
		case OPT_IMAGE_OPTS: a->image_opts = true; break;
		default:
			if (add_action(a, c, c == OPT_MERGE ? optarg : NULL) < 0)
				return -1;
		}
	}
	return 0;
}

/* qemu-img's checks of the whole command line, in its order. */
static int check_args(const struct bitmap_args *a, int argc)
{
	if (!a->nacts)
		img_error("Need at least one of --add, --remove, --clear, --enable, --disable, or --merge");
	else if (a->granularity && !a->add)
		img_error("granularity only supported with --add");
	else if (a->src_fmt && !a->src_file)
		img_error("-F only supported with -b");
	else if (a->src_file && !a->merge)
		img_error("Merge bitmap source file only supported with --merge");
	else if (optind != argc - 2)
		img_error("Expecting filename and bitmap name");
	else if (a->image_opts)
		img_error("--image-opts is not supported");
	else
		return 0;
	return -1;
}

static int run_action(const struct action *act, struct vk_blk *bs, struct vk_blk *src,
		      const char *name, uint32_t gran, struct vk_err *err)
{
	switch (act->op) {
	case OPT_ADD: return vk_blk_bitmap_add(bs, name, gran, err);
	case OPT_REMOVE: return vk_blk_bitmap_remove(bs, name, err);
	case OPT_CLEAR: return vk_blk_bitmap_clear(bs, name, err);
	case OPT_ENABLE: return vk_blk_bitmap_enable(bs, name, true, err);
	case OPT_DISABLE: return vk_blk_bitmap_enable(bs, name, false, err);
	default: return vk_blk_bitmap_merge(bs, name, src ? src : bs, act->src, err);
	}
}

static void report(const struct action *act, const char *name, int r, const struct vk_err *err)
{
	const char *op = op_names[act->op - OPT_ADD];

	if (r == -ENOTSUP && act->op == OPT_ADD)
		img_error("Operation %s on bitmap %s failed: Can't store persistent bitmaps to %s: %s",
			  op, name, node_name(), err->msg);
	else if (r == -EPERM && act->op == OPT_ADD)
		img_error("Operation %s on bitmap %s failed: Can't make bitmap '%s' persistent in '%s': %s",
			  op, name, name, node_name(), err->msg);
	else
		img_error("Operation %s on bitmap %s failed: %s", op, name, err->msg);
	/* QEMU's hint for a bitmap left in use by a crash. */
	if (strstr(err->msg, "is inconsistent and cannot be used"))
		fprintf(stderr, "Try block-dirty-bitmap-remove to delete this bitmap from disk\n");
}

int img_bitmap(int argc, char **argv)
{
	struct bitmap_args a = { 0 };
	struct vk_blk *bs = NULL, *src = NULL;
	struct vk_err err = { 0 };
	const char *name;
	int i, r = 1;

	if (parse(argc, argv, &a) < 0 || check_args(&a, argc) < 0)
		goto out;
	name = argv[optind + 1];
	if (img_open(argv[optind], a.fmt, VK_BLK_RDWR, &bs) < 0)
		goto out;
	/* img_open printed the probed-raw warning, as for every image opened for writing. */
	if (a.src_file && img_open(a.src_file, a.src_fmt, 0, &src) < 0)
		goto out;
	for (i = 0; i < a.nacts; i++) {
		/* qemu-img hands the granularity on as 32 bits: 4G becomes 0, refused as under 512. */
		int rr;

		if (a.granularity && !(uint32_t)a.granularity && a.acts[i].op == OPT_ADD)
			rr = vk_fail(&err, -EINVAL, "Granularity must be power of 2 and at least 512");
		else
			rr = run_action(&a.acts[i], bs, src, name, (uint32_t)a.granularity, &err);
		if (rr < 0) {
			report(&a.acts[i], name, rr, &err);
			goto out;
		}
	}
	r = 0;
out:
	/* qemu-img's words when closing cannot write them; its exit code stays. */
	if (bs && vk_blk_bitmaps_flush(bs, &err) < 0)
		img_error("Lost persistent bitmaps during inactivation of node '%s': %s",
			  node_name(), err.msg);
	vk_blk_close(src);
	vk_blk_close(bs);
	free(a.acts);
	return r;
}
