// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit img measure: the file size a new image needs, for a virtual size
 * (--size) or for the content of an input image, with qemu-img's numbers
 * and output. Only the allocated data of the input counts towards
 * "required"; zero and unallocated ranges do not.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img.h"

struct measure_opts {
	uint64_t cluster_size;
	unsigned int refcount_order;
	int compat;
	bool full_prealloc;
	bool backing;
};

static int set_opt(void *opaque, const char *key, const char *val)
{
	struct measure_opts *m = opaque;
	uint64_t v;

	if (!strcmp(key, "cluster_size")) {
		if (img_parse_size(val, &v) < 0 || v < 512 || v > 2 * MiB || (v & (v - 1))) {
			img_error("Cluster size must be a power of two between 512 and 2048k");
			return -EINVAL;
		}
		m->cluster_size = v;
	} else if (!strcmp(key, "refcount_bits")) {
		if (vk_parse_uint(val, 1, 64, &v) < 0 || (v & (v - 1))) {
			img_error("Refcount width must be a power of two and may not exceed 64 bits");
			return -EINVAL;
		}
		m->refcount_order = (unsigned int)__builtin_ctzll(v);
	} else if (!strcmp(key, "compat")) {
		if (!strcmp(val, "0.10") || !strcmp(val, "v2"))
			m->compat = 2;
		else if (!strcmp(val, "1.1") || !strcmp(val, "v3"))
			m->compat = 3;
		else
			return img_error("Invalid parameter '%s'", val), -EINVAL;
	} else if (!strcmp(key, "preallocation")) {
		if (strcmp(val, "off") && strcmp(val, "metadata") && strcmp(val, "falloc") &&
		    strcmp(val, "full"))
			return img_error("Invalid parameter '%s'", val), -EINVAL;
		m->full_prealloc = !strcmp(val, "falloc") || !strcmp(val, "full");
	} else if (!strcmp(key, "backing_file")) {
		m->backing = true;
	} else if (!strcmp(key, "lazy_refcounts") || !strcmp(key, "data_file_raw")) {
		if (strcmp(val, "on") && strcmp(val, "off")) {
			img_error("Parameter '%s' expects 'on' or 'off'", key);
			img_error("Invalid options for file format 'qcow2'");
			return -EINVAL;
		}
	} else if (strcmp(key, "backing_fmt") && strcmp(key, "lazy_refcounts") &&
		   strcmp(key, "compression_type") && strcmp(key, "size") &&
		   /* a data file takes the data, yet qemu-img measures as if it did not */
		   strcmp(key, "data_file") && strcmp(key, "data_file_raw")) {
		img_error("Invalid parameter '%s'", key);
		return -EINVAL;
	}
	return 0;
}

/* Bytes of whole clusters that hold data in the input (qemu's count: zeros are skipped). */
static int data_bytes(struct vk_blk *bs, uint64_t cs, uint64_t *out)
{
	uint64_t size = vk_blk_length(bs), off, n, req = 0;
	struct vk_blk_status st;
	struct vk_err err = { 0 };

	for (off = 0; off < size; off += n) {
		if (vk_blk_chain_status(bs, off, size - off, &st, &err) < 0) {
			img_error("%s", err.msg);
			return -EIO;
		}
		n = st.pnum;
		if ((st.flags & VK_BS_ZERO) || !(st.flags & VK_BS_DATA))
			continue;
		n = ALIGN_UP(off + n, cs) - off;
		req += off % cs + n;
	}
	*out = req;
	return 0;
}

/* bitmaps: -1 when the field is not shown (the input or the output cannot hold bitmaps). */
static void print(const char *output, int64_t bitmaps, uint64_t required, uint64_t full)
{
	if (!strcmp(output, "json")) {
		printf("{\n");
		if (bitmaps >= 0)
			printf("    \"bitmaps\": %lld,\n", (long long)bitmaps);
		printf("    \"required\": %llu,\n    \"fully-allocated\": %llu\n}\n",
		       (unsigned long long)required, (unsigned long long)full);
		return;
	}
	printf("required size: %llu\nfully allocated size: %llu\n", (unsigned long long)required,
	       (unsigned long long)full);
	if (bitmaps >= 0)
		printf("bitmaps size: %lld\n", (long long)bitmaps);
}

static int measure(const char *out_fmt, struct measure_opts *m, struct vk_blk *in, uint64_t size,
		   const char *output)
{
	uint64_t cs = m->cluster_size, vsize, data = 0, full, bm = 0;
	struct vk_err err = { 0 };
	int64_t bitmaps = -1;
	int r;

	if (in)
		size = vk_blk_length(in);
	if (!strcmp(out_fmt, "raw")) {
		size = in ? size : ALIGN_UP(size, 512);
		print(output, -1, size, size);
		return 0;
	}
	vsize = ALIGN_UP(size, cs);
	if ((vsize + cs * (cs / 8) - 1) / (cs * (cs / 8)) > 32 * MiB / 8) {
		img_error("The image size is too large (try using a larger cluster size)");
		return 1;
	}
	if (in && m->backing)
		data = vsize;	/* nothing may be shared with the new backing file */
	else if (in && data_bytes(in, cs, &data) < 0)
		return 1;
	if (m->full_prealloc)
		data = vsize;
	full = vk_qcow2_full_size(vsize, cs, m->refcount_order);
	if (in && m->compat >= 3) {
		r = vk_blk_bitmaps_size(in, cs, &bm, &err);
		if (r < 0 && r != -ENOTSUP) {
			img_error("%s", err.msg);
			return 1;
		}
		bitmaps = r < 0 ? -1 : (int64_t)bm;
	}
	/* The metadata of a fully allocated file is kept: qemu-img overestimates the same way. */
	print(output, bitmaps, full - vsize + data, full);
	return 0;
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
	struct measure_opts m = { .cluster_size = 64 * KiB, .refcount_order = 4, .compat = 3 };
	const char *fmt = NULL, *out_fmt = "raw", *output = "human", *opts[8];
	unsigned int flags = 0;
	bool have_size = false;
	struct vk_blk *in = NULL;
	uint64_t size = 0;
	int ch, nopts = 0, i, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:O:o:hU", measure_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: flags |= VK_BLK_IMAGE_OPTS; break;
		case 'O': out_fmt = optarg; break;
		case 'o': if (nopts < 8) opts[nopts++] = optarg; break;
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
	if (!vk_blk_format_creatable(out_fmt)) {
		img_error("Unknown file format '%s'", out_fmt);
		return 1;
	}
	for (i = 0; i < nopts; i++)
		if (vk_parse_kv(opts[i], set_opt, &m) < 0) {
			return 1;
		}
	if (m.compat == 2 && m.refcount_order != 4) {
		img_error("Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
		return 1;
	}
	if (!have_size && img_open(argv[optind], fmt, flags, &in) < 0)
		return 1;
	r = measure(out_fmt, &m, in, size, output);
	vk_blk_close(in);
	return r;
}
