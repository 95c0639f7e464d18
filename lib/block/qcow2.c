// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2: the header (versions 2 and 3) and its extensions, open and close,
 * info, block status and creation. Every field read from the file is
 * checked before use; unknown header extensions are left as they are (the
 * header is only rewritten field by field).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "qcow2.h"

#define DEFAULT_CACHE_BYTES (1 * MiB)

struct qcow2_header {
	uint32_t magic, version;
	uint64_t backing_file_offset;
	uint32_t backing_file_size, cluster_bits;
	uint64_t size;
	uint32_t crypt_method, l1_size;
	uint64_t l1_table_offset, refcount_table_offset;
	uint32_t refcount_table_clusters, nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompat, compat, autoclear;
	uint32_t refcount_order, header_length;
	uint8_t compression_type;
};

const struct qcow2_feature_name qcow2_feature_names[QCOW2_NR_FEATURE_NAMES] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

/* Version 2 and up, as QEMU: a version we cannot read is refused by open, never raw. */
static int qcow2_probe(const uint8_t *buf, size_t len)
{
	if (len >= 8 && be_get32(buf) == QCOW2_MAGIC && be_get32(buf + 4) >= 2)
		return 100;
	return 0;
}

static void parse_header(const uint8_t *b, struct qcow2_header *h)
{
	h->magic = be_get32(b);
	h->version = be_get32(b + 4);
	h->backing_file_offset = be_get64(b + 8);
	h->backing_file_size = be_get32(b + 16);
	h->cluster_bits = be_get32(b + 20);
	h->size = be_get64(b + 24);
	h->crypt_method = be_get32(b + 32);
	h->l1_size = be_get32(b + 36);
	h->l1_table_offset = be_get64(b + 40);
	h->refcount_table_offset = be_get64(b + 48);
	h->refcount_table_clusters = be_get32(b + 56);
	h->nb_snapshots = be_get32(b + 60);
	h->snapshots_offset = be_get64(b + 64);
	if (h->version < 3) {
		h->refcount_order = 4;
		h->header_length = 72;
		return;
	}
	h->incompat = be_get64(b + 72);
	h->compat = be_get64(b + 80);
	h->autoclear = be_get64(b + 88);
	h->refcount_order = be_get32(b + 96);
	h->header_length = be_get32(b + 100);
	h->compression_type = h->header_length > 104 ? b[104] : 0;
}

/* Append name to out (", " between names), as far as len allows. */
static size_t add_name(char *out, size_t len, size_t used, const char *name)
{
	return used + (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%.46s",
				       used ? ", " : "", name);
}

/*
 * "dirty bit, Unknown incompatible feature: 180" for the features set in bits,
 * as QEMU words it: named in the order of the image's own table, then by our
 * names, and the bits nobody names together as one hex number.
 */
static void name_features(struct qcow2_state *s, uint64_t bits, char *out, size_t len)
{
	size_t used = 0, i;
	char num[64];

	out[0] = '\0';
	for (i = 0; i < s->nb_features && used < len; i++) {
		const char *f = s->features + 48 * i;

		if (f[0] == 0 && (uint8_t)f[1] < 64 && (bits & (1ULL << (uint8_t)f[1]))) {
			used = add_name(out, len, used, f + 2);
			bits &= ~(1ULL << (uint8_t)f[1]);
		}
	}
	for (i = 0; i < QCOW2_NR_FEATURE_NAMES && used < len; i++) {
		if (qcow2_feature_names[i].type == 0 &&
		    (bits & (1ULL << qcow2_feature_names[i].bit))) {
			used = add_name(out, len, used, qcow2_feature_names[i].name);
			bits &= ~(1ULL << qcow2_feature_names[i].bit);
		}
	}
	if (bits && used < len) {
		snprintf(num, sizeof(num), "Unknown incompatible feature: %llx",
			 (unsigned long long)bits);
		add_name(out, len, used, num);
	}
}

static int parse_extensions(struct qcow2_state *s, const uint8_t *hdr, uint64_t start,
			    uint64_t end, struct vk_err *err)
{
	uint64_t off = start;
	uint32_t type, len;
	struct vk_blk *bs = s->bs;

	while (off + 8 <= end) {
		type = be_get32(hdr + off);
		len = be_get32(hdr + off + 4);
		off += 8;
		if (type == QCOW2_EXT_END)
			return 0;
		if (len > end - off)
			return vk_fail(err, -EINVAL, "%s: Header extension too large", bs->filename);
		if (type == QCOW2_EXT_BACKING_FMT) {
			free(bs->backing_fmt);
			bs->backing_fmt = strndup((const char *)hdr + off, len);
			if (!bs->backing_fmt)
				return vk_fail(err, -ENOMEM, "out of memory");
		} else if (type == QCOW2_EXT_FEATURES) {
			free(s->features);
			s->nb_features = len / 48;
			s->features = calloc(s->nb_features + 1, 48);
			if (!s->features)
				return vk_fail(err, -ENOMEM, "out of memory");
			memcpy(s->features, hdr + off, s->nb_features * 48);
			for (size_t i = 0; i < s->nb_features; i++)
				s->features[48 * i + 47] = '\0';
		} else if (type == QCOW2_EXT_BITMAPS && !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS)) {
			/* Written by a program without bitmap support: stale (v2 cannot say). */
			s->bitmaps_stale = s->version < 3 ? 2 : 1;
		} else if (type == QCOW2_EXT_DATA_FILE) {
			/* A C string, as QEMU reads it: a NUL inside ends the name. */
			free(s->data_file);
			s->data_file = strndup((const char *)hdr + off, len);
			if (!s->data_file)
				return vk_fail(err, -ENOMEM, "out of memory");
		}
		/* Other extensions stay in the file untouched. */
		off += ALIGN_UP((uint64_t)len, 8);
	}
	return 0;
}

static int check_header(struct qcow2_state *s, const struct qcow2_header *h, struct vk_err *err)
{
	const char *name = s->bs->filename;
	char feat[256];

	if (h->magic != QCOW2_MAGIC)
		return vk_fail(err, -EINVAL, "%s: Image is not in qcow2 format", name);
	if (h->version != 2 && h->version != 3)
		return vk_fail(err, -ENOTSUP, "%s: Unsupported qcow2 version %u", name, h->version);
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return vk_fail(err, -EINVAL,
			       "%s: cluster_bits %u unsupported (cluster size must be 512 B to 2 MiB)",
			       name, h->cluster_bits);
	if (h->version >= 3 && (h->header_length < 104 || h->header_length % 8 ||
				h->header_length > (1u << h->cluster_bits)))
		return vk_fail(err, -EINVAL, "%s: invalid header length %u", name,
			       h->header_length);
	if (h->refcount_order > 6)
		return vk_fail(err, -EINVAL, "%s: refcount_order %u unsupported (0 to 6)", name,
			       h->refcount_order);
	if (h->crypt_method)
		return vk_fail(err, -ENOTSUP, "%s: encrypted images are not supported", name);
	if (h->incompat & ~QCOW2_INCOMPAT_SUPPORTED) {
		name_features(s, h->incompat & ~QCOW2_INCOMPAT_SUPPORTED, feat, sizeof(feat));
		return vk_fail(err, -ENOTSUP, "%s: Unsupported qcow2 feature(s): %s", name, feat);
	}
	if ((h->incompat & QCOW2_INCOMPAT_EXTL2) && h->cluster_bits < QCOW2_MIN_CLUSTER_BITS + 5)
		return vk_fail(err, -EINVAL, "%s: Unsupported subcluster size: %u", name,
			       (1u << h->cluster_bits) / 32);
	if (h->compression_type > QCOW2_COMPRESS_ZSTD ||
	    (h->compression_type != QCOW2_COMPRESS_ZLIB &&
	     !(h->incompat & QCOW2_INCOMPAT_COMPRESSION)))
		return vk_fail(err, -EINVAL, "%s: invalid compression type %u", name,
			       h->compression_type);
	if (h->backing_file_offset &&
	    (h->backing_file_size > 1023 ||
	     h->backing_file_offset > (1ULL << h->cluster_bits) - h->backing_file_size))
		return vk_fail(err, -EINVAL, "%s: invalid backing file name location", name);
	return 0;
}

static void set_geometry(struct qcow2_state *s, const struct qcow2_header *h)
{
	s->version = h->version;
	s->cluster_bits = h->cluster_bits;
	s->cluster_size = 1ULL << h->cluster_bits;
	/* Extended L2 entries are 16 bytes: half as many per table. */
	s->l2_bits = h->cluster_bits - ((h->incompat & QCOW2_INCOMPAT_EXTL2) ? 4 : 3);
	s->size = h->size;
	s->l1_offset = h->l1_table_offset;
	s->l1_size = h->l1_size;
	s->rt_offset = h->refcount_table_offset;
	s->rt_clusters = h->refcount_table_clusters;
	s->refcount_order = h->refcount_order;
	s->rb_bits = h->cluster_bits + 3 - h->refcount_order;
	s->refcount_max = h->refcount_order == 6 ? UINT64_MAX :
			  (1ULL << (1u << h->refcount_order)) - 1;
	s->incompat = h->incompat;
	s->compat = h->compat;
	s->autoclear = h->autoclear;
	s->header_length = h->header_length;
	s->compression_type = h->compression_type;
	s->nb_snapshots = h->nb_snapshots;
	s->csize_shift = 62 - (int)(h->cluster_bits - 8);
	s->csize_mask = (1ULL << (h->cluster_bits - 8)) - 1;
	s->cluster_offset_mask = (1ULL << s->csize_shift) - 1;
}

static int load_l1(struct qcow2_state *s, struct vk_err *err)
{
	uint64_t per_l1 = s->cluster_size << s->l2_bits, need, bytes, i;
	_cleanup_free_ uint8_t *raw = NULL;
	int r;

	/* QEMU's checks in its order and words; its sum may wrap, as QEMU's does. */
	need = (s->size + per_l1 - 1) / per_l1;
	if ((uint64_t)s->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return vk_fail(err, -EFBIG, "%s: Active L1 table too large", s->bs->filename);
	if (need > INT32_MAX)
		return vk_fail(err, -EFBIG, "%s: Image is too big", s->bs->filename);
	if (s->l1_size < need)
		return vk_fail(err, -EINVAL, "%s: L1 table is too small", s->bs->filename);
	if (s->size > INT64_MAX)
		return vk_fail(err, -EFBIG, "%s: Could not refresh total sector count: %s",
			       s->bs->filename, strerror(EFBIG));
	if (s->size > QCOW2_MAX_OFFSET)
		return vk_fail(err, -EFBIG, "%s: virtual size %llu too large", s->bs->filename,
			       (unsigned long long)s->size);
	bytes = (uint64_t)s->l1_size * 8;
	if (s->l1_size) {
		r = qcow2_check_offset(s, "L1 table", s->l1_offset, bytes, err);
		if (r < 0)
			return r;
	}
	raw = malloc(bytes + 1);
	s->l1 = malloc(bytes + 8);
	if (!raw || !s->l1)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(s->bs, raw, s->l1_offset, bytes, false, err);
	if (r < 0)
		return r;
	for (i = 0; i < s->l1_size; i++)
		s->l1[i] = qcow2_be64(raw, i);
	return 0;
}

static int check_tables_apart(struct qcow2_state *s, struct vk_err *err)
{
	uint64_t l1_end = s->l1_offset + (uint64_t)s->l1_size * 8;
	uint64_t rt_end = s->rt_offset + (uint64_t)s->rt_clusters * s->cluster_size;

	if (s->l1_size && s->l1_offset < rt_end && s->rt_offset < l1_end)
		return vk_fail(err, -EINVAL, "%s: L1 table and refcount table overlap",
			       s->bs->filename);
	return 0;
}

static int write_header_u64(struct qcow2_state *s, uint64_t off, uint64_t v, struct vk_err *err)
{
	uint8_t b[8];

	be_put64(b, v);
	return vk_blk_file_pwrite(s->bs, b, off, 8, err);
}

/*
 * Opened for writing: clear autoclear bits we do not maintain (we keep
 * bitmaps), repair a dirty image, load the bitmaps and mark them in use.
 */
static int open_rw(struct qcow2_state *s, struct vk_err *err)
{
	struct vk_blk_check res = { 0 };
	struct vk_err inner = { 0 };
	int r;

	if ((s->incompat & QCOW2_INCOMPAT_CORRUPT) && !(s->bs->flags & VK_BLK_CHECK))
		return vk_fail(err, -EUCLEAN,
			       "%s: image is marked corrupt; it can only be opened read-only",
			       s->bs->filename);
	/* Kept: bitmaps (written back by us) and data_file_raw (our writes keep the data file raw). */
	if (s->version >= 3 && (s->autoclear & ~(QCOW2_AUTOCLEAR_BITMAPS | QCOW2_AUTOCLEAR_DATA_RAW))) {
		s->autoclear &= QCOW2_AUTOCLEAR_BITMAPS | QCOW2_AUTOCLEAR_DATA_RAW;
		r = write_header_u64(s, HDR_AUTOCLEAR, s->autoclear, err);
		if (r < 0)
			return r;
	}
	if (!(s->incompat & QCOW2_INCOMPAT_DIRTY))
		return qcow2_bitmaps_open(s, err);
	/* Refcounts may be stale (lazy refcounts): rebuild them from the L1/L2 tables. */
	r = qcow2_check(s->bs, &res, VK_CHECK_FIX_LEAKS | VK_CHECK_FIX_ERRORS, &inner);
	if (r < 0 || res.corruptions || res.check_errors)
		return vk_fail(err, r < 0 ? r : -EUCLEAN,
			       "%s: image is dirty and its refcounts could not be repaired%s%s",
			       s->bs->filename, inner.msg[0] ? ": " : "", inner.msg);
	r = qcow2_flush(s->bs, err);
	if (r < 0)
		return r;
	s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
	r = write_header_u64(s, HDR_INCOMPAT, s->incompat, err);
	return r < 0 ? r : qcow2_bitmaps_open(s, err);
}

static int make_caches(struct qcow2_state *s, struct vk_err *err)
{
	uint64_t bytes = s->bs->cache_size ? s->bs->cache_size : DEFAULT_CACHE_BYTES;
	uint64_t n = MIN(bytes / s->cluster_size, 4096);

	s->l2_cache = qcow2_cache_create(s->bs, (unsigned int)MAX(n, 4), s->cluster_size);
	s->rb_cache = qcow2_cache_create(s->bs, (unsigned int)MAX(n / 4, 4), s->cluster_size);
	if (!s->l2_cache || !s->rb_cache)
		return vk_fail(err, -ENOMEM, "out of memory");
	qcow2_cache_set_dependency(s->l2_cache, s->rb_cache);
	qcow2_cache_set_kind(s->l2_cache, QCOW2_OL_L2);
	qcow2_cache_set_kind(s->rb_cache, QCOW2_OL_RB);
	return 0;
}

static int read_backing_name(struct qcow2_state *s, const struct qcow2_header *h,
			     const uint8_t *hdr, struct vk_err *err)
{
	if (!h->backing_file_offset || !h->backing_file_size)
		return 0;
	s->bs->backing_file = strndup((const char *)hdr + h->backing_file_offset,
				      h->backing_file_size);
	if (!s->bs->backing_file)
		return vk_fail(err, -ENOMEM, "out of memory");
	return 0;
}

static int do_open(struct vk_blk *bs, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_header h = { 0 };
	_cleanup_free_ uint8_t *hdr = NULL;
	uint64_t ext_end;
	int64_t fsize;
	int r;

	s->bs = bs;
	s->prealloc = -1;
	hdr = calloc(1, 1u << QCOW2_MAX_CLUSTER_BITS);
	if (!hdr)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(bs, hdr, 0, 112, true, err);
	if (r < 0)
		return r;
	parse_header(hdr, &h);
	r = check_header(s, &h, err);
	if (r < 0) {
		/*
		 * Name incompatible features from the table if there is one: only
		 * when the header got as far as that check (a bad version also gives
		 * -ENOTSUP, before cluster_bits is known to be sane).
		 */
		if (r == -ENOTSUP && h.incompat & ~QCOW2_INCOMPAT_SUPPORTED &&
		    h.cluster_bits >= QCOW2_MIN_CLUSTER_BITS &&
		    h.cluster_bits <= QCOW2_MAX_CLUSTER_BITS &&
		    !vk_blk_file_pread(bs, hdr, 0, 1u << h.cluster_bits, true, NULL) &&
		    !parse_extensions(s, hdr, h.header_length, 1u << h.cluster_bits, NULL))
			r = check_header(s, &h, err);
		return r;
	}
	set_geometry(s, &h);
	r = vk_blk_file_pread(bs, hdr, 0, s->cluster_size, true, err);
	if (r < 0)
		return r;
	ext_end = h.backing_file_offset ? h.backing_file_offset : s->cluster_size;
	r = parse_extensions(s, hdr, h.header_length, ext_end, err);
	if (r < 0)
		return r;
	r = read_backing_name(s, &h, hdr, err);
	if (r < 0)
		return r;
	fsize = vk_blk_file_size(bs);
	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", bs->filename, strerror((int)-fsize));
	s->end_cluster = ((uint64_t)fsize + s->cluster_size - 1) >> s->cluster_bits;
	r = load_l1(s, err);
	if (r < 0)
		return r;
	r = qcow2_refcount_init(s, err);
	if (r < 0)
		return r;
	r = check_tables_apart(s, err);
	if (r < 0)
		return r;
	r = qcow2_snapshots_load(s, h.snapshots_offset, err);
	if (r < 0)
		return r;
	r = make_caches(s, err);
	if (r < 0)
		return r;
	r = qcow2_data_open(s, err);
	if (r < 0)
		return r;
	if (!bs->read_only && (s->incompat & QCOW2_INCOMPAT_EXTL2))
		return vk_fail(err, -ENOTSUP,
			       "%s: images with extended L2 entries (subclusters) can only be opened read-only",
			       bs->filename);
	return bs->read_only ? qcow2_bitmaps_validate(s, err) : open_rw(s, err);
}

int qcow2_flush(struct vk_blk *bs, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	bool wrote = false;
	int r;

	/*
	 * An external data file first: the data durable before the tables that
	 * map it. Then refcount blocks durable before the L2 tables; one sync
	 * covers L2 tables and (without a data file) data.
	 */
	r = qcow2_data_sync(s, err);
	if (!r)
		r = qcow2_cache_flush(s->rb_cache, err);
	if (!r)
		r = qcow2_cache_write(s->l2_cache, &wrote, err);
	if (!r)
		r = vk_blk_file_sync(bs, err);
	return r;
}

static void free_state(struct qcow2_state *s)
{
	qcow2_bitmaps_close(s, false);
	qcow2_cache_destroy(s->l2_cache);
	qcow2_cache_destroy(s->rb_cache);
	free(s->l1);
	free(s->rt);
	free(s->zbuf);
	free(s->features);
	qcow2_data_close(s);
	free(s->data_file);
	qcow2_snapshots_free(s);
	memset(s, 0, sizeof(*s));
}

static void qcow2_close(struct vk_blk *bs)
{
	struct qcow2_state *s = bs->opaque;

	if (!bs->read_only && s->l2_cache && s->rb_cache) {
		qcow2_bitmaps_close(s, !(s->incompat & QCOW2_INCOMPAT_CORRUPT));
		qcow2_flush(bs, NULL);
	}
	free_state(s);
}

/* A failed open leaves nothing allocated: the generic layer only closes opened drivers. */
static int qcow2_open(struct vk_blk *bs, struct vk_err *err)
{
	int r = do_open(bs, err);

	if (r < 0)
		free_state(bs->opaque);
	return r;
}

static uint64_t qcow2_length(struct vk_blk *bs)
{
	/* A header size that is no sector multiple is cut to whole sectors, as QEMU does. */
	return ALIGN_DOWN(((struct qcow2_state *)bs->opaque)->size, 512);
}

static int qcow2_get_info(struct vk_blk *bs, struct vk_blk_info *info)
{
	struct qcow2_state *s = bs->opaque;

	info->cluster_size = (uint32_t)s->cluster_size;
	info->dirty = s->incompat & QCOW2_INCOMPAT_DIRTY;
	info->is_qcow2 = true;
	info->qcow2_version = (int)s->version;
	info->compression = s->compression_type == QCOW2_COMPRESS_ZSTD ? "zstd" : "zlib";
	info->lazy_refcounts = s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS;
	info->refcount_bits = 1u << s->refcount_order;
	info->corrupt = s->incompat & QCOW2_INCOMPAT_CORRUPT;
	info->nb_snapshots = s->nb_snapshots;
	info->extended_l2 = s->incompat & QCOW2_INCOMPAT_EXTL2;
	/* QEMU shows a recorded name even without the feature bit (it is not used then). */
	info->data_file = s->data_file;
	info->has_data_file = qcow2_has_data_file(s);
	info->data_file_raw = qcow2_data_raw(s);
	return 0;
}

static int qcow2_map_fd(struct vk_blk *bs, uint64_t off)
{
	struct qcow2_state *s = bs->opaque;

	(void)off;
	return s->data ? s->data->fd : bs->fd;
}

/* Data clusters map into the data file when there is one. */
static const char *qcow2_map_filename(struct vk_blk *bs, uint64_t off)
{
	struct qcow2_state *s = bs->opaque;

	(void)off;
	return qcow2_has_data_file(s) && s->data_file ? s->data_file : bs->filename;
}

static int qcow2_block_status(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			      uint64_t *map, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	enum qcow2_cluster_type t;
	uint64_t host, blen;
	unsigned int ov;
	int r;

	r = qcow2_get_extent(s, off, len, pnum, &host, &t, err);
	if (r < 0)
		return r;
	*map = host;
	switch (t) {
	case QCOW2_UNALLOCATED:
		/* Subclusters not yet written in an allocated cluster: QEMU shows the offset. */
		ov = host || ((s->incompat & QCOW2_INCOMPAT_EXTL2) && qcow2_has_data_file(s) &&
			     qcow2_sc_has_host(s, off)) ? VK_BS_OFFSET_VALID : 0;
		if (!bs->backing_file)
			return VK_BS_ZERO | ov;
		blen = bs->backing ? vk_blk_length(bs->backing) : 0;
		if (off >= blen)
			return VK_BS_ZERO | ov;
		*pnum = MIN(*pnum, blen - off);
		return ov;
	case QCOW2_ZERO_PLAIN:
		return VK_BS_ALLOCATED | VK_BS_ZERO;
	case QCOW2_ZERO_ALLOC:
		return VK_BS_ALLOCATED | VK_BS_ZERO | VK_BS_OFFSET_VALID;
	case QCOW2_NORMAL:
		if (s->prealloc < 0) {
			r = qcow2_detect_prealloc(s, err);
			if (r < 0)
				return r;
			s->prealloc = r;
		}
		return VK_BS_ALLOCATED | VK_BS_DATA | VK_BS_OFFSET_VALID |
		       (s->prealloc ? VK_BS_RECURSE : 0);
	default:
		return VK_BS_ALLOCATED | VK_BS_DATA;
	}
}

/* Every guest-visible change goes into the enabled persistent bitmaps first. */
static int qcow2_pwrite_tracked(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
				struct vk_err *err)
{
	qcow2_bitmaps_note_write(bs->opaque, off, len);
	return qcow2_write(bs, buf, off, len, err);
}

static int qcow2_discard_tracked(struct vk_blk *bs, uint64_t off, uint64_t len,
				 struct vk_err *err)
{
	qcow2_bitmaps_note_write(bs->opaque, off, len);
	return qcow2_discard(bs, off, len, err);
}

static int qcow2_pwrite_compressed_tracked(struct vk_blk *bs, uint64_t off, const void *buf,
					   size_t len, const void *cdata, size_t clen,
					   struct vk_err *err)
{
	qcow2_bitmaps_note_write(bs->opaque, off, len);
	return qcow2_pwrite_compressed(bs, off, buf, len, cdata, clen, err);
}

/* The data is in the backing file now: the guest reads the same, no bitmap changes. */
static int qcow2_make_empty(struct vk_blk *bs, struct vk_err *err)
{
	return qcow2_discard(bs, 0, qcow2_length(bs), err);
}

/* Whole clusters become zero clusters (v3); the rest is written as zeros. */
static int qcow2_pwrite_zeroes(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err)
{
	static const uint8_t zero[4096];
	struct qcow2_state *s = bs->opaque;
	uint64_t cs = s->cluster_size, n;
	int r;

	qcow2_bitmaps_note_write(s, off, len);

	while (len) {
		n = cs - (off & (cs - 1));
		if (s->version >= 3 && !(off & (cs - 1)) && (len >= cs || off + len == s->size)) {
			n = MIN(n, len);
			r = qcow2_zero_cluster(s, off >> s->cluster_bits, err);
		} else {
			n = MIN(MIN(n, len), sizeof(zero));
			r = qcow2_write(bs, zero, off, n, err);
		}
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

static unsigned int qcow2_cache_clean_all(struct vk_blk *bs)
{
	struct qcow2_state *s = bs->opaque;

	return qcow2_cache_clean(s->l2_cache) + qcow2_cache_clean(s->rb_cache);
}

/* qemu-img's list minus what vmkit does not do (encryption, extended_l2, nocow). */
static const struct vk_blk_create_opt qcow2_create_opts[] = {
	{ "backing_file", "str", "File name of a base image" },
	{ "backing_fmt", "str", "Image format of the base image" },
	{ "cluster_size", "size", "qcow2 cluster size" },
	{ "compat", "str", "Compatibility level (v2 [0.10] or v3 [1.1])" },
	{ "compression_type", "str", "Compression method used for image cluster compression" },
	{ "data_file", "str", "File name of an external data file" },
	{ "data_file_raw", "bool (on/off)", "The external data file must stay valid as a raw image" },
	{ "lazy_refcounts", "bool (on/off)", "Postpone refcount updates" },
	{ "preallocation", "str", "Preallocation mode (allowed values: off, metadata, falloc, full)" },
	{ "refcount_bits", "num", "Width of a reference count entry in bits" },
	{ "size", "size", "Virtual disk size" },
	{ 0 }
};

/* QEMU's order for qcow2 (its create options as QemuOpts prints them). */
static const struct vk_blk_shown_opt qcow2_formatting[] = {
	{ "cluster_size", "65536" }, { "extended_l2", "off" }, { "preallocation", NULL },
	{ "compression_type", "zlib" }, { "size", "0" }, { "compat", NULL },
	{ "backing_file", NULL }, { "backing_fmt", NULL }, { "data_file", NULL },
	{ "data_file_raw", NULL }, { "lazy_refcounts", "off" }, { "refcount_bits", "16" },
	{ 0 }
};

const struct vk_blk_driver vk_blk_qcow2 = {
	.name = "qcow2",
	.create_opts = qcow2_create_opts,
	.formatting = qcow2_formatting,
	.state_size = sizeof(struct qcow2_state),
	.probe = qcow2_probe,
	.open = qcow2_open,
	.close = qcow2_close,
	.pread = qcow2_read,
	.pwrite = qcow2_pwrite_tracked,
	.pwrite_zeroes = qcow2_pwrite_zeroes,
	.flush = qcow2_flush,
	.length = qcow2_length,
	.get_info = qcow2_get_info,
	.block_status = qcow2_block_status,
	.create = qcow2_create,
	.measure = qcow2_measure,
	.check = qcow2_check,
	.snapshot_list = qcow2_snapshot_list,
	.snapshot_create = qcow2_snapshot_create,
	.snapshot_goto = qcow2_snapshot_goto,
	.snapshot_delete = qcow2_snapshot_delete,
	.truncate = qcow2_truncate,
	.amend = qcow2_amend,
	.amend_opt = qcow2_amend_opt,
	.amend_help = qcow2_amend_help,
	.compress = qcow2_compress,
	.pwrite_compressed = qcow2_pwrite_compressed_tracked,
	.discard = qcow2_discard_tracked,
	.make_empty = qcow2_make_empty,
	.set_backing = qcow2_set_backing,
	.map_filename = qcow2_map_filename,
	.map_fd = qcow2_map_fd,
	.cache_clean = qcow2_cache_clean_all,
	.map_io = qcow2_map_io,
	.alloc_io = qcow2_alloc_io,
	.alloc_commit = qcow2_alloc_commit,
	.alloc_abort = qcow2_alloc_abort,
};
