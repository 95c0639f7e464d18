// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img amend -o: compat=0.10|1.1, lazy_refcounts=on|off,
 * refcount_bits=N, size=N on qcow2 images. What qemu-img only allows at
 * creation, or what vmkit does not change (backing file, data file,
 * encryption), is refused with one line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img.h"

struct amend_req {
	struct vk_blk_amend_opts o;
	bool help, have_size;
	uint64_t size;
	uint64_t refcount_bits;
	char *data_file;
};

static const char *const creation_only[] = {
	"cluster_size", "preallocation", "compression_type", "extended_l2", "encryption",
	"encrypt.format", "encrypt.key-secret", "encrypt.cipher-alg", "encrypt.cipher-mode",
	"encrypt.ivgen-alg", "encrypt.ivgen-hash-alg", "encrypt.hash-alg",
};

static int set_opt(void *opaque, const char *key, const char *val)
{
	struct amend_req *a = opaque;
	size_t i;

	if (!strcmp(key, "help") || !strcmp(key, "?")) {
		a->help = true;
	} else if (!strcmp(key, "compat")) {
		if (!strcmp(val, "0.10") || !strcmp(val, "v2"))
			a->o.compat = 2;
		else if (!strcmp(val, "1.1") || !strcmp(val, "v3"))
			a->o.compat = 3;
		else
			return img_error("Unknown compatibility level %s", val), -EINVAL;
	} else if (!strcmp(key, "lazy_refcounts")) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return img_error("Parameter 'lazy_refcounts' expects 'on' or 'off'"), -EINVAL;
		a->o.lazy_refcounts = !strcmp(val, "on");
	} else if (!strcmp(key, "size")) {
		if (img_parse_size(val, &a->size) < 0)
			return img_error("Parameter 'size' expects a non-negative number below 2^64"), -EINVAL;
		a->have_size = true;
	} else if (!strcmp(key, "refcount_bits")) {
		if (vk_parse_uint(val, 1, 64, &a->refcount_bits) < 0 ||
		    (a->refcount_bits & (a->refcount_bits - 1)))
			return img_error("Refcount width must be a power of two and may not exceed 64 bits"), -EINVAL;
	} else if (!strcmp(key, "backing_file") || !strcmp(key, "backing_fmt")) {
		return img_error("Cannot amend the backing file (use 'vmkit img rebase' instead)"), -ENOTSUP;
	} else if (!strcmp(key, "data_file")) {
		free(a->data_file);
		a->data_file = strdup(val);	/* the parser's buffer is reused */
		if (!a->data_file)
			return img_error("out of memory"), -ENOMEM;
		a->o.data_file = a->data_file;
	} else if (!strcmp(key, "data_file_raw")) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return img_error("Parameter 'data_file_raw' expects 'on' or 'off'"), -EINVAL;
		a->o.data_file_raw = !strcmp(val, "on");
	} else if (!strncmp(key, "encrypt.", 8)) {
		return img_error("Amending '%s' is not supported", key), -ENOTSUP;
	} else {
		for (i = 0; i < ARRAY_SIZE(creation_only); i++)
			if (!strcmp(key, creation_only[i]))
				return img_error("Invalid parameter '%s': this option is only supported for image creation", key), -EINVAL;
		return img_error("Invalid parameter '%s'", key), -EINVAL;
	}
	return 0;
}

static void print_help(void)
{
	printf("Amend options for 'qcow2':\n"
	       "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
	       "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
	       "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
	       "  size=<size>            - Virtual disk size\n");
}

/* Checks that need the image: refcount width and lazy refcounts against its version. */
static int check_req(struct vk_blk *bs, struct amend_req *a)
{
	struct vk_blk_info info;
	int version;

	vk_blk_get_info(bs, &info);
	if (!info.is_qcow2) {
		img_error("Format driver '%s' does not support option amendment", info.format);
		return -ENOTSUP;
	}
	version = a->o.compat > 0 ? a->o.compat : info.qcow2_version;
	if (a->refcount_bits && a->refcount_bits != 16 && version < 3) {
		img_error("Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
		return -EINVAL;
	}
	a->o.refcount_bits = (int)a->refcount_bits;
	return 0;
}

static int run(struct vk_blk *bs, struct amend_req *a)
{
	struct vk_blk_amend_opts up = { .compat = -1, .lazy_refcounts = -1, .refcount_bits = -1,
					.data_file_raw = -1 };
	struct vk_err err = { 0 };
	struct vk_blk_info info;
	int r = check_req(bs, a);

	if (r < 0)
		return r;
	vk_blk_get_info(bs, &info);
	/* As qemu-img: upgrade first, resize, then the rest (a downgrade last). */
	if (a->have_size && a->o.compat > info.qcow2_version) {
		up.compat = a->o.compat;
		r = vk_blk_amend(bs, &up, &err);
	}
	if (!r && a->have_size && a->size != vk_blk_length(bs))
		r = vk_blk_truncate(bs, a->size, VK_PREALLOC_OFF, &err);
	if (!r)
		r = vk_blk_amend(bs, &a->o, &err);
	if (r < 0)
		img_error("%s", err.msg);
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
	struct amend_req a = { .o = { .compat = -1, .lazy_refcounts = -1, .refcount_bits = -1,
				      .data_file_raw = -1 } };
	const char *fmt = NULL, *opts[8];
	struct img_progress prog = { 0 };
	struct vk_blk *bs;
	unsigned int iopts = 0;
	int ch, nopts = 0, i, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:o:t:hpq", amend_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: iopts |= VK_BLK_IMAGE_OPTS; break;
		case 'o': if (nopts < 8) opts[nopts++] = optarg; break;
		case 'p': prog.on = true; break;
		case 'q': prog.on = false; break;
		case 't': case 'F': break;
		case 'h': printf("usage: vmkit img amend [-f FMT] [-p] [-q] -o OPTS FILE\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (!nopts)
		return img_error_try("Must specify options (-o)");
	if (optind != argc - 1) {
		img_error("Expecting one image file name");
		return 1;
	}
	r = -EINVAL;
	for (i = 0; i < nopts; i++)
		if (vk_parse_kv(opts[i], set_opt, &a) < 0)
			goto out;
	if (a.o.lazy_refcounts == 1 && a.o.compat == 2) {
		img_error("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
		goto out;
	}
	if (img_open(argv[optind], fmt, (a.help ? 0 : VK_BLK_RDWR) | iopts, &bs) < 0)
		goto out;
	if (a.help) {
		r = bs->drv->amend ? 0 : -ENOTSUP;
		if (r)
			img_error("Format driver '%s' does not support option amendment", bs->drv->name);
		else
			print_help();
	} else {
		img_progress(&prog, 0.0);
		r = run(bs, &a);
		if (!r)
			img_progress_end(&prog);
	}
	vk_blk_close(bs);
out:
	free(a.data_file);
	return r < 0 ? 1 : 0;
}
