// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit img info: qemu-img info's human and JSON output, field for field. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

/* Persistent bitmaps in format-specific data, as qemu-img 7.2 lays them out. */
static void human_bitmaps(struct vk_blk *bs)
{
	struct vk_blk_bitmap *b = NULL;
	struct vk_err err = { 0 };
	unsigned int n = 0, k, f;

	if (vk_blk_bitmap_list(bs, &b, &n, &err) < 0 || !n)
		return;
	printf("    bitmaps:\n");
	for (k = 0; k < n; k++) {
		printf("        [%u]:\n            flags:\n", k);
		f = 0;
		if (b[k].in_use)
			printf("                [%u]: in-use\n", f++);
		if (b[k].autom)
			printf("                [%u]: auto\n", f++);
		printf("            name: %s\n            granularity: %u\n", b[k].name,
		       b[k].granularity);
	}
	vk_blk_bitmap_list_free(b, n);
}

static void json_bitmaps(struct vk_blk *bs, const char *ind)
{
	struct vk_blk_bitmap *b = NULL;
	struct vk_err err = { 0 };
	unsigned int n = 0, k;

	if (vk_blk_bitmap_list(bs, &b, &n, &err) < 0 || !n)
		return;
	printf("%s        \"bitmaps\": [\n", ind);
	for (k = 0; k < n; k++) {
		printf("%s            {\n%s                \"flags\": [\n", ind, ind);
		if (b[k].in_use)
			printf("%s                    \"in-use\"%s\n", ind, b[k].autom ? "," : "");
		if (b[k].autom)
			printf("%s                    \"auto\"\n", ind);
		printf("%s                ],\n%s                \"name\": ", ind, ind);
		img_json_str(stdout, b[k].name);
		printf(",\n%s                \"granularity\": %u\n%s            }%s\n", ind,
		       b[k].granularity, ind, k + 1 < n ? "," : "");
	}
	printf("%s        ],\n", ind);
	vk_blk_bitmap_list_free(b, n);
}

static void human(struct vk_blk *bs, const struct vk_blk_info *i)
{
	char vs[32], ds[32];

	img_size_str(i->virtual_size, vs, sizeof(vs));
	printf("image: %s\nfile format: %s\nvirtual size: %s (%llu bytes)\n", i->filename, i->format,
	       vs, (unsigned long long)i->virtual_size);
	if (i->actual_size >= 0) {
		img_size_str((uint64_t)i->actual_size, ds, sizeof(ds));
		printf("disk size: %s\n", ds);
	} else {
		printf("disk size: unavailable\n");
	}
	if (i->cluster_size)
		printf("cluster_size: %u\n", i->cluster_size);
	if (i->dirty)
		printf("cleanly shut down: no\n");	/* qemu-img 7.2's words */
	if (i->backing_file) {
		printf("backing file: %s", i->backing_file);
		if (i->full_backing && strcmp(i->full_backing, i->backing_file))
			printf(" (actual path: %s)", i->full_backing);
		printf("\n");
	}
	if (i->backing_fmt)
		printf("backing file format: %s\n", i->backing_fmt);
	img_print_snapshots(bs);
	if (i->is_vmdk)
		img_info_vmdk_human(i);
	if (!i->is_qcow2)
		return;
	printf("Format specific information:\n");
	printf("    compat: %s\n", i->qcow2_version >= 3 ? "1.1" : "0.10");
	printf("    compression type: %s\n", i->compression);
	if (i->qcow2_version >= 3)
		printf("    lazy refcounts: %s\n", i->lazy_refcounts ? "true" : "false");
	human_bitmaps(bs);
	printf("    refcount bits: %u\n", i->refcount_bits);
	if (i->data_file)
		printf("    data file: %s\n", i->data_file);
	if (i->has_data_file)
		printf("    data file raw: %s\n", i->data_file_raw ? "true" : "false");
	if (i->qcow2_version >= 3)
		printf("    corrupt: %s\n    extended l2: %s\n", i->corrupt ? "true" : "false",
		       i->extended_l2 ? "true" : "false");
}

static void key_str(const char *ind, const char *key, const char *val, bool comma)
{
	printf("%s\"%s\": ", ind, key);
	img_json_str(stdout, val);
	printf("%s\n", comma ? "," : "");
}

static void json_specific(struct vk_blk *bs, const struct vk_blk_info *i, const char *ind)
{
	bool v3 = i->qcow2_version >= 3;

	printf("%s\"format-specific\": {\n%s    \"type\": \"qcow2\",\n%s    \"data\": {\n", ind, ind,
	       ind);
	printf("%s        \"compat\": \"%s\",\n", ind, v3 ? "1.1" : "0.10");
	printf("%s        \"compression-type\": \"%s\",\n", ind, i->compression);
	if (v3)
		printf("%s        \"lazy-refcounts\": %s,\n", ind, i->lazy_refcounts ? "true" : "false");
	json_bitmaps(bs, ind);
	printf("%s        \"refcount-bits\": %u%s\n", ind, i->refcount_bits, v3 ? "," : "");
	if (i->data_file) {
		printf("%s        ", ind);
		key_str("", "data-file", i->data_file, true);
	}
	if (i->has_data_file)
		printf("%s        \"data-file-raw\": %s,\n", ind, i->data_file_raw ? "true" : "false");
	if (v3)
		printf("%s        \"corrupt\": %s,\n%s        \"extended-l2\": %s\n", ind,
		       i->corrupt ? "true" : "false", ind, i->extended_l2 ? "true" : "false");
	printf("%s    }\n%s},\n", ind, ind);
}

/* Key order as qemu-img 7.2 prints it. */
static void json(struct vk_blk *bs, const struct vk_blk_info *i, const char *ind)
{
	printf("%.*s{\n", (int)strlen(ind) - 4, ind);
	if (i->backing_fmt)
		key_str(ind, "backing-filename-format", i->backing_fmt, true);
	img_json_snapshots(bs, ind);
	printf("%s\"virtual-size\": %llu,\n", ind, (unsigned long long)i->virtual_size);
	key_str(ind, "filename", i->filename, true);
	if (i->cluster_size)
		printf("%s\"cluster-size\": %u,\n", ind, i->cluster_size);
	key_str(ind, "format", i->format, true);
	if (i->actual_size >= 0)
		printf("%s\"actual-size\": %lld%s\n", ind, (long long)i->actual_size,
		       i->no_dirty ? "" : ",");
	if (i->is_qcow2)
		json_specific(bs, i, ind);
	if (i->is_vmdk)
		img_info_vmdk_json(i, ind);
	if (i->backing_file) {
		key_str(ind, "full-backing-filename", i->full_backing ? i->full_backing :
			i->backing_file, true);
		key_str(ind, "backing-filename", i->backing_file, true);
	}
	if (!i->no_dirty)
		printf("%s\"dirty-flag\": %s\n", ind, i->dirty ? "true" : "false");
	printf("%.*s}", (int)strlen(ind) - 4, ind);
}

static const struct option info_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "output", required_argument, NULL, 'O' },
	{ "backing-chain", no_argument, NULL, 'B' },
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

/*
 * The layers of the chain, each opened alone, as qemu-img collects them: a
 * name seen before is a loop, and a layer that does not open fails the
 * whole listing (nothing is printed). Returns the number of layers or -1.
 */
static int collect_chain(const char *filename, const char *fmt, unsigned int flags,
			 struct vk_blk ***out)
{
	struct vk_blk **layers = NULL, **grown, *bs;
	int n = 0, i;

	for (;;) {
		for (i = 0; i < n; i++) {
			if (!strcmp(layers[i]->filename, filename)) {
				img_error("Backing file '%s' creates an infinite loop.", filename);
				goto fail;
			}
		}
		grown = realloc(layers, (size_t)(n + 1) * sizeof(*layers));
		if (!grown || img_open(filename, fmt, flags | VK_BLK_NO_BACKING, &bs) < 0) {
			layers = grown ? grown : layers;
			goto fail;
		}
		layers = grown;
		layers[n++] = bs;
		if (!bs->backing_file)
			break;
		filename = bs->full_backing;
		fmt = bs->backing_fmt;
		flags &= ~VK_BLK_IMAGE_OPTS;	/* backing files are names */
	}
	*out = layers;
	return n;
fail:
	while (n)
		vk_blk_close(layers[--n]);
	free(layers);
	return -1;
}

static void print_one(struct vk_blk *b, const char *output, bool chain, bool first)
{
	struct vk_blk_info info;

	vk_blk_get_info(b, &info);
	if (!strcmp(output, "human")) {
		printf("%s", first ? "" : "\n");
		human(b, &info);
	} else if (chain) {
		printf("%s", first ? "" : ",\n");
		json(b, &info, "        ");
	} else {
		json(b, &info, "    ");
	}
}

int img_info(int argc, char **argv)
{
	const char *fmt = NULL, *output = "human";
	bool chain = false;
	unsigned int flags = VK_BLK_NO_BACKING | VK_BLK_NO_IO;
	struct vk_blk **layers;
	int ch, n, i;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:hU", info_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: flags |= VK_BLK_IMAGE_OPTS; break;
		case 'O': output = optarg; break;
		case 'B': chain = true; break;
		case 'U': flags |= VK_BLK_FORCE_SHARE; break;
		case 'h': printf("usage: vmkit img info [-f FMT] [--output=human|json] [--backing-chain] [-U] FILE\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (!img_output_and_one_file(output, argc, optind))
		return 1;
	if (chain) {
		n = collect_chain(argv[optind], fmt, flags, &layers);
	} else {
		layers = calloc(1, sizeof(*layers));
		n = layers && img_open(argv[optind], fmt, flags, &layers[0]) == 0 ? 1 : -1;
		if (n < 0)
			free(layers);
	}
	if (n < 0)
		return 1;
	if (chain && !strcmp(output, "json"))
		printf("[\n");
	for (i = 0; i < n; i++)
		print_one(layers[i], output, chain, i == 0);
	if (!strcmp(output, "json"))
		printf(chain ? "\n]\n" : "\n");
	while (n)
		vk_blk_close(layers[--n]);
	free(layers);
	return 0;
}
