// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Creating qcow2 images laid out as QEMU does: header in cluster 0, then
 * the refcount table, refcount blocks, and the L1 table (the file ends
 * where the L1 table does). preallocation=metadata then allocates every L2
 * table and data cluster through the ordinary allocator.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "qcow2.h"


struct layout {
	uint64_t cs, l1_size, l1c, rtc, rbn;
	uint32_t cluster_bits, rb_bits, refcount_order;
};

static int check_opts(const struct vk_blk_create_opts *o, struct layout *l, struct vk_err *err)
{
	uint64_t cs = o->cluster_size || o->cluster_size_given ? o->cluster_size : 64 * KiB, per_l1;
	unsigned int bits = o->refcount_bits ? o->refcount_bits : 16;

	if (cs < 512 || cs > 2 * MiB || (cs & (cs - 1)))
		return vk_fail(err, -EINVAL, "Cluster size must be a power of two between 512 and 2048k");
	if (bits > 64 || (bits & (bits - 1)))
		return vk_fail(err, -EINVAL, "Refcount width must be a power of two and may not exceed 64 bits");
	if (o->compat == 2 && bits != 16)
		return vk_fail(err, -EINVAL, "Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
	if (o->compat == 2 && o->lazy_refcounts)
		return vk_fail(err, -EINVAL, "Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
	if (o->data_file_raw && !o->data_file)
		return vk_fail(err, -EINVAL, "data-file-raw requires data-file");
	if (o->data_file && o->compat == 2)
		return vk_fail(err, -EINVAL, "External data files are only supported with compatibility level 1.1 and above (use version=v3 or greater)");
	if (o->backing_file && o->data_file_raw)
		return vk_fail(err, -EINVAL, "Backing file and data-file-raw cannot be used at the same time");
	if (o->backing_file && o->prealloc != VK_PREALLOC_OFF)
		return vk_fail(err, -EINVAL, "Backing file and preallocation can only be used at the same time if extended_l2 is on");
	if (o->compression_type < 0 || o->compression_type > QCOW2_COMPRESS_ZSTD)
		return vk_fail(err, -EINVAL, "Parameter 'compression-type' does not accept this value");
	if (o->compat == 2 && o->compression_type)
		return vk_fail(err, -EINVAL, "Non-zlib compression type is only supported with compatibility level 1.1 and above (use version=v3 or greater)");
	if (o->backing_file && strlen(o->backing_file) > 1023)
		return vk_fail(err, -EINVAL, "Backing file name too long");
	l->cs = cs;
	l->cluster_bits = (uint32_t)__builtin_ctzll(cs);
	l->refcount_order = (uint32_t)__builtin_ctz(bits);
	l->rb_bits = l->cluster_bits + 3 - l->refcount_order;
	per_l1 = cs * (cs / 8);
	l->l1_size = (o->size + per_l1 - 1) / per_l1;
	if (l->l1_size * 8 > QCOW2_MAX_L1_BYTES || o->size > QCOW2_MAX_OFFSET)
		return vk_fail(err, -EFBIG,
			       "The image size is too large for file format 'qcow2' (try using a larger cluster size)");
	l->l1c = (l->l1_size * 8 + cs - 1) / cs;
	l->rtc = 1;
	l->rbn = 1;
	for (;;) {
		uint64_t total = 1 + l->rtc + l->rbn + l->l1c;
		uint64_t rbn = (total + (1ULL << l->rb_bits) - 1) >> l->rb_bits;
		uint64_t rtc = (rbn * 8 + cs - 1) / cs;

		if (rbn == l->rbn && rtc == l->rtc)
			break;
		l->rbn = rbn;
		l->rtc = rtc;
	}
	return 0;
}

static size_t put_ext(uint8_t *p, uint32_t type, const void *data, uint32_t len)
{
	be_put32(p, type);
	be_put32(p + 4, len);
	memcpy(p + 8, data, len);
	return 8 + ALIGN_UP((size_t)len, 8);
}

static int build_header(uint8_t *h, const struct vk_blk_create_opts *o, const struct layout *l,
			struct vk_err *err)
{
	int v3 = o->compat != 2;
	size_t off = v3 ? 112 : 72, i, blen = o->backing_file ? strlen(o->backing_file) : 0;
	uint8_t table[QCOW2_NR_FEATURE_NAMES * 48] = { 0 };

	be_put32(h, QCOW2_MAGIC);
	be_put32(h + 4, v3 ? 3 : 2);
	be_put32(h + 20, l->cluster_bits);
	be_put64(h + 24, o->size);
	be_put32(h + 36, (uint32_t)l->l1_size);
	/* An empty image has no L1 table, and QEMU writes its offset as 0. */
	be_put64(h + 40, l->l1_size ? (1 + l->rtc + l->rbn) * l->cs : 0);
	be_put64(h + HDR_RT_OFFSET, l->cs);
	be_put32(h + 56, (uint32_t)l->rtc);
	if (v3) {
		be_put64(h + 80, o->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
		be_put32(h + 96, l->refcount_order);
		be_put32(h + 100, 112);
		be_put64(h + HDR_INCOMPAT, (o->compression_type ? QCOW2_INCOMPAT_COMPRESSION : 0) |
					   (o->data_file ? QCOW2_INCOMPAT_DATA_FILE : 0));
		h[104] = (uint8_t)o->compression_type;
		be_put64(h + HDR_AUTOCLEAR, o->data_file_raw ? QCOW2_AUTOCLEAR_DATA_RAW : 0);
	}
	/* QEMU's order: backing format, data file, feature names. */
	if (o->backing_fmt)
		off += put_ext(h + off, QCOW2_EXT_BACKING_FMT, o->backing_fmt,
			       (uint32_t)strlen(o->backing_fmt));
	if (o->data_file) {
		if (off + 8 + ALIGN_UP(strlen(o->data_file), 8) + 8 > l->cs)
			return vk_fail(err, -EINVAL, "Header extension area does not fit in one cluster");
		off += put_ext(h + off, QCOW2_EXT_DATA_FILE, o->data_file,
			       (uint32_t)strlen(o->data_file));
	}
	/*
	 * The feature table goes in only with clusters over 4 KiB, as QEMU does
	 * (it leaves room for a backing file name in small header clusters), and
	 * only if it fits.
	 */
	if (v3 && l->cs > 4096 && off + 8 + sizeof(table) + 8 + blen <= l->cs) {
		for (i = 0; i < QCOW2_NR_FEATURE_NAMES; i++) {
			table[48 * i] = qcow2_feature_names[i].type;
			table[48 * i + 1] = qcow2_feature_names[i].bit;
			memcpy(table + 48 * i + 2, qcow2_feature_names[i].name, strlen(qcow2_feature_names[i].name));
		}
		off += put_ext(h + off, QCOW2_EXT_FEATURES, table, sizeof(table));
	}
	off += 8;	/* end of extensions */
	if (off + blen > l->cs)
		return vk_fail(err, -EINVAL, "Header and backing file name do not fit in one cluster");
	if (blen) {
		be_put64(h + 8, off);
		be_put32(h + 16, (uint32_t)blen);
		memcpy(h + off, o->backing_file, blen);
	}
	return 0;
}

/* The L1 table is written (as QEMU does), so the file ends where it ends. */
static int write_l1(int fd, uint64_t off, uint64_t len, struct vk_err *err, const char *filename)
{
	_cleanup_free_ uint8_t *zero = calloc(1, MIN(len, 1 * MiB) + 1);
	uint64_t n;

	if (!zero)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (; len; off += n, len -= n) {
		n = MIN(len, 1 * MiB);
		if (pwrite(fd, zero, n, (off_t)off) != (ssize_t)n)
			return vk_fail(err, -errno, "%s: %s", filename, strerror(errno));
	}
	return 0;
}

static int write_metadata(int fd, const uint8_t *hdr, const struct layout *l, struct vk_err *err,
			  const char *filename)
{
	uint64_t cs = l->cs, i, used = 1 + l->rtc + l->rbn + l->l1c;
	_cleanup_free_ uint8_t *buf = calloc(l->rtc + l->rbn, cs);

	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < l->rbn; i++)
		be_put64(buf + 8 * i, (1 + l->rtc + i) * cs);
	for (i = 0; i < used; i++)
		qcow2_rb_set(buf + l->rtc * cs, l->refcount_order, i, 1);
	if (pwrite(fd, hdr, cs, 0) != (ssize_t)cs ||
	    pwrite(fd, buf, (l->rtc + l->rbn) * cs, (off_t)cs) != (ssize_t)((l->rtc + l->rbn) * cs))
		return vk_fail(err, -errno, "%s: %s", filename, strerror(errno));
	return write_l1(fd, (1 + l->rtc + l->rbn) * cs, l->l1_size * 8, err, filename);
}

int qcow2_create(const char *filename, const struct vk_blk_create_opts *o, struct vk_err *err)
{
	struct vk_blk_opts open_opts = {
		.format = "qcow2", .flags = VK_BLK_RDWR | VK_BLK_NO_BACKING,
	};
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *hdr = NULL;
	struct vk_blk *bs;
	struct layout l = { 0 };
	int r;

	r = check_opts(o, &l, err);
	if (r < 0)
		return r;
	hdr = calloc(1, l.cs);
	if (!hdr)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = build_header(hdr, o, &l, err);
	if (r < 0)
		return r;
	/* The image file, then the data file, as qemu-img makes them. */
	fd = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return vk_fail(err, -errno, "Could not create '%s': %s", filename,
			       strerror(errno));
	if (o->data_file) {
		r = qcow2_data_create(o->data_file, o, fd, err);
		if (r < 0) {
			unlink(filename);	/* no image without its data file */
			return r;
		}
	}
	vk_blk_file_extent_hint(fd, o);
	r = write_metadata(fd, hdr, &l, err, filename);
	/* A raw data file needs every cluster mapped (to itself): QEMU preallocates metadata. */
	if (r < 0 || (o->prealloc == VK_PREALLOC_OFF && !o->data_file_raw))
		return r;
	r = vk_blk_open(filename, &open_opts, &bs, err);
	if (r < 0)
		return r;
	/* As qemu: falloc and full lay out the same metadata, then allocate the data clusters. */
	r = qcow2_preallocate_mode(bs->opaque, 0, o->prealloc, err);
	if (!r)
		r = qcow2_flush(bs, err);
	vk_blk_close(bs);
	return r;
}
