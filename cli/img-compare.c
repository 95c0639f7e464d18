// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit img compare: exit 0 identical, 1 different, 2 error, as qemu-img compare. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "img.h"

#define IO_BUF_SIZE (2 * MiB)

struct side {
	const char *name;
	struct vk_blk *bs;
	uint64_t len;
	uint8_t *buf;
};

/*
 * Where a buffer stops reading as zeros (or as the other one), to the 512-byte
 * sector, as qemu-img reports it. The whole buffer is tested first with
 * memcmp, which is vectorised, and only a mismatching one is walked sector by
 * sector: a byte loop here made compare slower than qemu-img.
 */
static uint64_t zero_prefix(const uint8_t *buf, uint64_t len)
{
	uint64_t i;

	if (vk_buf_is_zero(buf, len))
		return len;
	for (i = 0; i < len; i += 512)
		if (!vk_buf_is_zero(buf + i, MIN(512, len - i)))
			return i;
	return len;
}

static uint64_t same_prefix(const uint8_t *a, const uint8_t *b, uint64_t len)
{
	uint64_t i;

	if (!memcmp(a, b, len))
		return len;
	for (i = 0; i < len; i += 512)
		if (memcmp(a + i, b + i, MIN(512, len - i)))
			return i;
	return len;
}

/* 0 if [off, off+n) of one image reads as zeros, 1 (with the message) if not, -1 on error. */
static int check_empty(struct side *s, uint64_t off, uint64_t n, bool quiet)
{
	struct vk_err err = { 0 };
	uint64_t z;

	if (vk_blk_pread(s->bs, s->buf, off, n, &err) < 0) {
		img_error("Error while reading offset %llu of %s: %s", (unsigned long long)off,
			  s->name, err.msg);
		return -1;
	}
	z = zero_prefix(s->buf, n);
	if (z == n)
		return 0;
	if (!quiet)
		printf("Content mismatch at offset %llu!\n", (unsigned long long)(off + z));
	return 1;
}

static int compare_data(struct side *a, struct side *b, uint64_t off, uint64_t n, bool quiet)
{
	struct vk_err err = { 0 };
	uint64_t same;

	if (vk_blk_pread(a->bs, a->buf, off, n, &err) < 0 ||
	    vk_blk_pread(b->bs, b->buf, off, n, &err) < 0) {
		img_error("Error while reading offset %llu: %s", (unsigned long long)off, err.msg);
		return -1;
	}
	same = same_prefix(a->buf, b->buf, n);
	if (same == n)
		return 0;
	if (!quiet)
		printf("Content mismatch at offset %llu!\n", (unsigned long long)(off + same));
	return 1;
}

/* qemu-img's words and exit code 3 when an image cannot say what is allocated. */
static int allocation_failed(const struct side *s)
{
	img_error("Sector allocation test failed for %s", s->name);
	return -3;
}

static int compare_range(struct side *a, struct side *b, bool strict, bool quiet)
{
	uint64_t total = MIN(a->len, b->len), off, n;
	struct vk_blk_status s1, s2;
	struct vk_err err = { 0 };
	bool alloc1, alloc2;
	int r;

	for (off = 0; off < total; off += n) {
		if (vk_blk_chain_status(a->bs, off, total - off, &s1, &err) < 0)
			return allocation_failed(a);
		if (vk_blk_chain_status(b->bs, off, total - off, &s2, &err) < 0)
			return allocation_failed(b);
		n = MIN(s1.pnum, s2.pnum);
		alloc1 = s1.flags & VK_BS_ALLOCATED;
		alloc2 = s2.flags & VK_BS_ALLOCATED;
		if (strict && (s1.flags & (VK_BS_ALLOCATED | VK_BS_ZERO | VK_BS_DATA)) !=
			      (s2.flags & (VK_BS_ALLOCATED | VK_BS_ZERO | VK_BS_DATA))) {
			if (!quiet)
				printf("Strict mode: Offset %llu block status mismatch!\n",
				       (unsigned long long)off);
			return 1;
		}
		if ((s1.flags & VK_BS_ZERO) && (s2.flags & VK_BS_ZERO))
			continue;
		n = MIN(n, IO_BUF_SIZE);
		if (alloc1 == alloc2)
			r = compare_data(a, b, off, n, quiet);
		else
			r = check_empty(alloc1 ? a : b, off, n, quiet);
		if (r)
			return r;
	}
	return 0;
}

static int compare_tail(struct side *a, struct side *b, bool quiet)
{
	struct side *big = a->len > b->len ? a : b;
	uint64_t off, n;
	struct vk_blk_status st;
	struct vk_err err = { 0 };
	int r;

	if (!quiet)
		printf("Warning: Image size mismatch!\n");
	for (off = MIN(a->len, b->len); off < big->len; off += n) {
		if (vk_blk_chain_status(big->bs, off, big->len - off, &st, &err) < 0)
			return allocation_failed(big);
		n = MIN(st.pnum, IO_BUF_SIZE);
		if (!(st.flags & VK_BS_ALLOCATED) || (st.flags & VK_BS_ZERO))
			continue;
		r = check_empty(big, off, n, quiet);
		if (r)
			return r;
	}
	return 0;
}

static const struct option compare_long[] = {
	{ "image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS },
	{ "force-share", no_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int img_compare(int argc, char **argv)
{
	const char *fmt1 = NULL, *fmt2 = NULL;
	struct side a = { 0 }, b = { 0 };
	bool strict = false, quiet = false;
	unsigned int flags = 0;
	int ch, r = 2;

	optind = 1;
	while ((ch = getopt_long(argc, argv, ":f:F:hpqsU", compare_long, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt1 = optarg; break;
		case IMG_OPT_IMAGE_OPTS: flags |= VK_BLK_IMAGE_OPTS; break;
		case 'F': fmt2 = optarg; break;
		case 'p': break;	/* progress: compare is quick on the images we see */
		case 'q': quiet = true; break;
		case 's': strict = true; break;
		case 'U': flags |= VK_BLK_FORCE_SHARE; break;
		case 'h': printf("usage: vmkit img compare [-f FMT] [-F FMT] [-q] [-s] [-U] FILE1 FILE2\n"); return 0;
		default: return img_bad_option(ch, argv);
		}
	}
	if (optind != argc - 2) {
		return img_error_try("Expecting two image file names");
	}
	if (!fmt2)
		fmt2 = fmt1;
	a.name = argv[optind];
	b.name = argv[optind + 1];
	if (img_open(a.name, fmt1, flags, &a.bs) < 0 || img_open(b.name, fmt2, flags, &b.bs) < 0)
		goto out;
	a.len = vk_blk_length(a.bs);
	b.len = vk_blk_length(b.bs);
	a.buf = malloc(IO_BUF_SIZE);
	b.buf = malloc(IO_BUF_SIZE);
	if (!a.buf || !b.buf)
		goto out;
	if (strict && a.len != b.len) {
		if (!quiet)
			printf("Strict mode: Image size mismatch!\n");
		r = 1;
		goto out;
	}
	r = compare_range(&a, &b, strict, quiet);
	if (!r && a.len != b.len)
		r = compare_tail(&a, &b, quiet);
	if (r < 0)
		r = r == -3 ? 3 : 2;
	else if (!r && !quiet)
		printf("Images are identical.\n");
out:
	free(a.buf);
	free(b.buf);
	vk_blk_close(a.bs);
	vk_blk_close(b.bs);
	return r;
}
