// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit img map: where each range of the image comes from, as qemu-img map. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img.h"

struct entry {
	uint64_t start, length, offset;
	int depth;
	bool present, zero, data, has_offset;
	const char *filename;
};

static bool mergeable(const struct entry *a, const struct entry *b)
{
	if (!a->length || a->zero != b->zero || a->data != b->data || a->depth != b->depth ||
	    a->present != b->present || a->has_offset != b->has_offset)
		return false;
	if ((a->filename == NULL) != (b->filename == NULL) ||
	    (a->filename && strcmp(a->filename, b->filename)))
		return false;
	return !a->has_offset || a->offset + a->length == b->offset;
}

static int dump(const struct entry *e, bool json, bool *first)
{
	if (json) {
		printf("%s{ \"start\": %llu, \"length\": %llu, \"depth\": %d, \"present\": %s, \"zero\": %s, \"data\": %s",
		       *first ? "[" : ",\n", (unsigned long long)e->start,
		       (unsigned long long)e->length, e->depth, e->present ? "true" : "false",
		       e->zero ? "true" : "false", e->data ? "true" : "false");
		if (e->has_offset)
			printf(", \"offset\": %llu", (unsigned long long)e->offset);
		printf("}");
		*first = false;
		return 0;
	}
	if (e->data && !e->has_offset) {
		img_error("File contains external, encrypted or compressed clusters.");
		return -1;
	}
	if (e->data && !e->zero)
		printf("%#-16llx%#-16llx%#-16llx%s\n", (unsigned long long)e->start,
		       (unsigned long long)e->length, (unsigned long long)e->offset, e->filename);
	return 0;
}

static const struct option map_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "output", required_argument, NULL, 'O' },
	{ "start-offset", required_argument, NULL, 's' },
	{ "max-length", required_argument, NULL, 'l' },
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int img_map(int argc, char **argv)
{
	const char *fmt = NULL, *output = "human";
	struct entry cur = { 0 }, next;
	struct vk_err err = { 0 };
	struct vk_blk_status st;
	unsigned int flags = 0;
	uint64_t off, len, start = 0, max_len = UINT64_MAX;
	bool json, first = true;
	struct vk_blk *bs;
	int ch, r = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:hs:l:U", map_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case IMG_OPT_IMAGE_OPTS: flags |= VK_BLK_IMAGE_OPTS; break;
		case 'O': output = optarg; break;
		case 's':
		case 'l':
			if (img_parse_size(optarg, ch == 's' ? &start : &max_len) < 0 ||
			    ((ch == 's' ? start : max_len) >> 63)) {
				img_bad_size(ch == 's' ? "start offset" : "max length");
				return 1;
			}
			break;
		case 'U': flags |= VK_BLK_FORCE_SHARE; break;
		case 'h': printf("usage: vmkit img map [-f FMT] [--output=human|json] [-s OFFSET] [-l LENGTH] [-U] FILE\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (!img_output_and_one_file(output, argc, optind))
		return 1;
	json = !strcmp(output, "json");
	if (img_open(argv[optind], fmt, flags, &bs) < 0)
		return 1;
	if (!json)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	/* -s and -l: the part of the image from start, max_len long at most. */
	len = vk_blk_length(bs);
	if (max_len < len && start < len - max_len)
		len = start + max_len;
	for (off = start; off < len; off += st.pnum) {
		r = vk_blk_chain_status(bs, off, MIN(len - off, 1ULL << 30), &st, &err);
		if (r < 0) {
			vk_report(&err);
			goto out;
		}
		next = (struct entry){
			.start = off, .length = st.pnum, .depth = st.depth,
			.present = st.flags & VK_BS_ALLOCATED, .zero = st.flags & VK_BS_ZERO,
			.data = st.flags & VK_BS_DATA, .has_offset = st.flags & VK_BS_OFFSET_VALID,
			.offset = st.map,
			.filename = (st.flags & VK_BS_OFFSET_VALID) ? vk_blk_map_filename(st.file, off) : NULL,
		};
		if (mergeable(&cur, &next)) {
			cur.length += next.length;
			continue;
		}
		if (cur.length && (r = dump(&cur, json, &first)) < 0)
			goto out;
		cur = next;
	}
	/* An empty image: qemu-img's JSON still lists one empty, absent extent. */
	if (cur.length || (json && first))
		r = dump(&cur, json, &first);
	if (json && !r)
		printf("]\n");
out:
	vk_blk_close(bs);
	return r < 0 ? 1 : 0;
}
