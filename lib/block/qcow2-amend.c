// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 amend: version upgrade (0.10 -> 1.1) and downgrade (1.1 -> 0.10),
 * lazy refcounts on or off, and the refcount width (new refcount blocks and
 * table written past the end, then the header switches to them in one
 * sector, then the old ones are freed). A downgrade first turns every zero cluster
 * (a v3-only notion) into real zeros in every L1 table, snapshots included,
 * and only then rewrites the header as version 2. The header cluster is
 * rebuilt as a whole: fields, the extensions it had (the feature name
 * table only in v3), the backing file name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2.h"

#define V2_HEADER	72
#define V3_HEADER	112

/* The extensions copy_extensions takes: the backing format alone, or all the others. */
static bool take_extension(uint32_t type, bool fmt_only)
{
	if (fmt_only)
		return type == QCOW2_EXT_BACKING_FMT;
	/* The feature table and the data file name are written anew. */
	return type != QCOW2_EXT_BACKING_FMT && type != QCOW2_EXT_FEATURES &&
	       type != QCOW2_EXT_DATA_FILE;
}

/* Copy the header extensions after start (up to end) into out, as take_extension says. */
static size_t copy_extensions(const uint8_t *old, uint64_t start, uint64_t end, uint8_t *out,
			      size_t room, bool fmt_only)
{
	uint64_t off = start;
	size_t used = 0, n;
	uint32_t type, len;

	while (off + 8 <= end) {
		type = be_get32(old + off);
		len = be_get32(old + off + 4);
		if (type == QCOW2_EXT_END || len > end - off - 8)
			break;
		n = 8 + ALIGN_UP((size_t)len, 8);
		if (take_extension(type, fmt_only) && used + n <= room && n <= end - off) {
			memcpy(out + used, old + off, 8 + len);
			used += n;
		}
		off += n;
	}
	return used;
}

static size_t put_feature_table(uint8_t *p)
{
	size_t i, len = QCOW2_NR_FEATURE_NAMES * 48;

	be_put32(p, QCOW2_EXT_FEATURES);
	be_put32(p + 4, (uint32_t)len);
	for (i = 0; i < QCOW2_NR_FEATURE_NAMES; i++) {
		p[8 + 48 * i] = qcow2_feature_names[i].type;
		p[8 + 48 * i + 1] = qcow2_feature_names[i].bit;
		memcpy(p + 8 + 48 * i + 2, qcow2_feature_names[i].name,
		       strlen(qcow2_feature_names[i].name));
	}
	return 8 + len;
}

static void put_v3_fields(struct qcow2_state *s, uint8_t *h)
{
	be_put64(h + HDR_INCOMPAT, s->incompat);
	be_put64(h + 80, s->compat);
	be_put64(h + HDR_AUTOCLEAR, s->autoclear);
	be_put32(h + 96, s->refcount_order);
	be_put32(h + 100, V3_HEADER);
	h[104] = s->compression_type;
}

/* Write cluster 0 anew for `version`, keeping extensions and the backing file name. */
static int rewrite_header(struct qcow2_state *s, uint32_t version, struct vk_err *err)
{
	uint64_t cs = s->cluster_size, ext_end, bf_off;
	_cleanup_free_ uint8_t *old = calloc(1, cs), *h = calloc(1, cs);
	uint32_t bf_len;
	size_t off, dlen;
	int r;

	if (!old || !h)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(s->bs, old, 0, cs, true, err);
	if (r < 0)
		return r;
	bf_off = be_get64(old + 8);
	bf_len = be_get32(old + 16);
	ext_end = bf_off ? bf_off : cs;
	memcpy(h, old, V2_HEADER);
	be_put32(h + 4, version);
	off = version >= 3 ? V3_HEADER : V2_HEADER;
	if (version >= 3)
		put_v3_fields(s, h);
	/* QEMU's order: backing format, data file name, the rest, the feature table. */
	off += copy_extensions(old, s->header_length, ext_end, h + off, cs - off - 8 - bf_len, true);
	if (version >= 3 && s->data_file) {
		dlen = strlen(s->data_file);
		if (off + 8 + ALIGN_UP(dlen, 8) + 8 + bf_len > cs)
			return vk_fail(err, -ENOSPC, "%s: the header does not fit in one cluster",
				       s->bs->filename);
		be_put32(h + off, QCOW2_EXT_DATA_FILE);
		be_put32(h + off + 4, (uint32_t)dlen);
		memcpy(h + off + 8, s->data_file, dlen);
		off += 8 + ALIGN_UP(dlen, 8);
	}
	off += copy_extensions(old, s->header_length, ext_end, h + off, cs - off - 8 - bf_len,
			       false);
	/* As create: no feature table with clusters of 4 KiB or less (QEMU's rule). */
	if (version >= 3 && cs > 4096 && off + 8 + QCOW2_NR_FEATURE_NAMES * 48 + 8 + bf_len <= cs)
		off += put_feature_table(h + off);
	off += 8;	/* end of extensions */
	if (bf_off && bf_len) {
		if (off + bf_len > cs)
			return vk_fail(err, -ENOSPC, "%s: the header does not fit in one cluster",
				       s->bs->filename);
		memcpy(h + off, old + bf_off, bf_len);
		be_put64(h + 8, off);
	}
	r = vk_blk_file_pwrite(s->bs, h, 0, cs, err);
	if (!r && fdatasync(s->bs->fd) < 0)
		r = vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	if (r < 0)
		return r;
	s->version = version;
	s->header_length = version >= 3 ? V3_HEADER : V2_HEADER;
	return 0;
}

static int zero_fill(struct qcow2_state *s, uint64_t host, struct vk_err *err)
{
	_cleanup_free_ uint8_t *zero = calloc(1, s->cluster_size);

	if (!zero)
		return vk_fail(err, -ENOMEM, "out of memory");
	return vk_blk_file_pwrite(s->bs, zero, host, s->cluster_size, err);
}

/* Give a plain zero entry a zeroed cluster with as many references as its L2 table has. */
static int alloc_zero(struct qcow2_state *s, uint64_t l2_refs, uint64_t *host, struct vk_err *err)
{
	int r = qcow2_alloc_clusters(s, 1, host, err);

	if (!r && l2_refs > 1)
		r = qcow2_set_refcount(s, *host >> s->cluster_bits, l2_refs, err);
	return r < 0 ? r : zero_fill(s, *host, err);
}

/*
 * A zero-allocated entry keeps its cluster (zeroed in place) when only this
 * L2 table reaches it; a cluster other tables also reach (a snapshot's data)
 * is left alone and the entry gets a zeroed cluster of its own.
 */
static int expand_alloc(struct qcow2_state *s, uint64_t e, uint64_t refs, uint64_t *out,
			bool *moved, struct vk_err *err)
{
	uint64_t host = e & L2E_OFFSET_MASK, rc;
	int r = qcow2_get_refcount(s, host >> s->cluster_bits, &rc, err);

	*moved = false;
	if (r < 0)
		return r;
	*out = e & ~QCOW_OFLAG_ZERO;
	if (rc <= refs)
		return zero_fill(s, host, err);
	*moved = true;
	r = alloc_zero(s, refs, &host, err);
	*out = host | (refs == 1 ? QCOW_OFLAG_COPIED : 0);
	return r;
}

/* Drop the references the moved entries' old clusters had from this table. */
static int release_moved(struct qcow2_state *s, const uint64_t *old, const bool *moved,
			 uint64_t n, uint64_t refs, struct vk_err *err)
{
	uint64_t j, c, rc;
	int r;

	for (j = 0; j < n; j++) {
		if (!moved[j])
			continue;
		c = (old[j] & L2E_OFFSET_MASK) >> s->cluster_bits;
		r = qcow2_get_refcount(s, c, &rc, err);
		if (!r && rc < refs)
			r = vk_fail(err, -EUCLEAN, "%s: refcount of cluster %llu is too low",
				    s->bs->filename, (unsigned long long)c);
		if (!r)
			r = qcow2_set_refcount(s, c, rc - refs, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Zero entries of one L2 table become explicit zeros: first the zeros reach
 * the file, then the entries change, then moved clusters lose a reference.
 */
static int expand_l2(struct qcow2_state *s, uint64_t l2off, struct vk_err *err)
{
	uint64_t per_l2 = 1ULL << s->l2_bits, j, e, refs;
	uint64_t *new = calloc(per_l2, 8), *old = calloc(per_l2, 8);
	bool backing = s->bs->backing_file, dirty = false, *moved = calloc(per_l2, 1);
	void *l2;
	int r = -ENOMEM;

	if (!new || !old || !moved) {
		vk_fail(err, r, "out of memory");
		goto out;
	}
	r = qcow2_get_refcount(s, l2off >> s->cluster_bits, &refs, err);
	if (!r)
		r = qcow2_cache_get(s->l2_cache, l2off, &l2, err);
	if (r < 0)
		goto out;
	for (j = 0; j < per_l2; j++)
		old[j] = new[j] = qcow2_be64(l2, j);
	qcow2_cache_put(s->l2_cache, &l2);
	for (j = 0; j < per_l2 && r >= 0; j++) {
		e = old[j];
		switch (qcow2_entry_type(s, e)) {
		case QCOW2_ZERO_PLAIN:
			new[j] = 0;
			if (backing && (r = alloc_zero(s, refs, &new[j], err)) >= 0)
				new[j] |= refs == 1 ? QCOW_OFLAG_COPIED : 0;
			break;
		case QCOW2_ZERO_ALLOC:
			r = expand_alloc(s, e, refs, &new[j], &moved[j], err);
			break;
		default:
			break;
		}
		dirty |= new[j] != e;
	}
	if (r < 0 || !dirty)
		goto out;
	r = qcow2_flush(s->bs, err);	/* zeros and refcounts before the entries */
	if (!r)
		r = qcow2_cache_get(s->l2_cache, l2off, &l2, err);
	if (r < 0)
		goto out;
	for (j = 0; j < per_l2; j++)
		qcow2_set_be64(l2, j, new[j]);
	qcow2_cache_mark_dirty(s->l2_cache, l2);
	qcow2_cache_put(s->l2_cache, &l2);
	r = qcow2_flush(s->bs, err);	/* the new entries on disk before old clusters lose refs */
	if (!r)
		r = release_moved(s, old, moved, per_l2, refs, err);
out:
	free(new);
	free(old);
	free(moved);
	return r;
}

static int expand_l1(struct qcow2_state *s, const uint64_t *l1, uint32_t n, struct vk_err *err)
{
	uint64_t l2off;
	uint32_t i;
	int r;

	for (i = 0; i < n; i++) {
		l2off = l1[i] & L1E_OFFSET_MASK;
		if (!l2off)
			continue;
		r = qcow2_check_offset(s, "L2 table", l2off, s->cluster_size, err);
		if (!r)
			r = expand_l2(s, l2off, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int expand_zero_clusters(struct qcow2_state *s, struct vk_err *err)
{
	uint64_t *l1;
	uint32_t i;
	int r;

	r = expand_l1(s, s->l1, s->l1_size, err);
	for (i = 0; !r && i < s->nb_snapshots; i++) {
		r = qcow2_snapshot_read_l1(s, &s->snapshots[i], &l1, err);
		if (r < 0)
			return r;
		r = expand_l1(s, l1, s->snapshots[i].l1_size, err);
		free(l1);
	}
	return r < 0 ? r : qcow2_flush(s->bs, err);
}

static int downgrade(struct qcow2_state *s, struct vk_err *err)
{
	int r;

	if (s->refcount_order != 4)
		return vk_fail(err, -ENOTSUP, "compat=0.10 requires refcount_bits=16");
	if (s->compression_type != QCOW2_COMPRESS_ZLIB)
		return vk_fail(err, -ENOTSUP,
			       "Cannot downgrade an image with zstd compression (0.10 knows only zlib)");
	if (qcow2_has_data_file(s))
		return vk_fail(err, -ENOTSUP, "Cannot downgrade an image with a data file");
	if (s->incompat & ~QCOW2_INCOMPAT_COMPRESSION)
		return vk_fail(err, -ENOTSUP,
			       "Cannot downgrade an image with incompatible features %#llx set",
			       (unsigned long long)s->incompat);
	r = expand_zero_clusters(s, err);
	if (r < 0)
		return r;
	s->compat = 0;
	s->autoclear = 0;
	s->incompat = 0;
	return rewrite_header(s, 2, err);
}

static int set_compat_bits(struct qcow2_state *s, uint64_t compat, struct vk_err *err)
{
	uint8_t b[8];
	int r;

	be_put64(b, compat);
	r = vk_blk_file_pwrite(s->bs, b, 80, 8, err);
	if (!r && fdatasync(s->bs->fd) < 0)
		r = vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	if (!r)
		s->compat = compat;
	return r;
}

/* ---- refcount width ---- */

struct reorder {
	uint64_t n;		/* clusters in use now (the new structures follow them) */
	uint64_t blocks, table;	/* new refcount blocks and table clusters */
	uint32_t order, rb_bits;
};

/* New blocks and table after the n clusters in use, counting themselves (a fixed point). */
static void plan_reorder(struct qcow2_state *s, struct reorder *p)
{
	uint64_t per_block = 1ULL << p->rb_bits, last;

	p->blocks = p->table = 0;
	do {
		last = p->blocks + p->table;
		p->blocks = (p->n + p->blocks + p->table + per_block - 1) / per_block;
		p->table = (p->blocks * 8 + s->cluster_size - 1) / s->cluster_size;
	} while (p->blocks + p->table != last);
}

/* Fill and write new refcount block i: old refcounts, 1 for the new structures. */
static int write_reorder_block(struct qcow2_state *s, const struct reorder *p, uint64_t i,
			       uint8_t *buf, struct vk_err *err)
{
	uint64_t per_block = 1ULL << p->rb_bits, c, rc, max;
	uint64_t end = p->n + p->blocks + p->table;
	int r;

	max = p->order == 6 ? UINT64_MAX : (1ULL << (1u << p->order)) - 1;
	memset(buf, 0, s->cluster_size);
	for (c = i * per_block; c < (i + 1) * per_block && c < end; c++) {
		rc = 1;
		if (c < p->n) {
			r = qcow2_get_refcount(s, c, &rc, err);
			if (r < 0)
				return r;
		}
		if (rc > max)
			return vk_fail(err, -ERANGE, "Cannot decrease refcount entry width to %u bits: cluster at offset %#llx has a refcount of %llu",
				       1u << p->order, (unsigned long long)(c << s->cluster_bits),
				       (unsigned long long)rc);
		qcow2_rb_set(buf, p->order, c - i * per_block, rc);
	}
	return vk_blk_file_pwrite(s->bs, buf, (p->n + i) << s->cluster_bits, s->cluster_size, err);
}

/* Header bytes 48..99 in one write (one sector): table offset, size and width change together. */
static int switch_header(struct qcow2_state *s, const struct reorder *p, struct vk_err *err)
{
	uint8_t h[52];
	int r;

	r = vk_blk_file_pread(s->bs, h, HDR_RT_OFFSET, sizeof(h), false, err);
	if (r < 0)
		return r;
	be_put64(h, (p->n + p->blocks) << s->cluster_bits);
	be_put32(h + 8, (uint32_t)p->table);
	be_put32(h + 96 - HDR_RT_OFFSET, p->order);
	r = vk_blk_file_pwrite(s->bs, h, HDR_RT_OFFSET, sizeof(h), err);
	if (!r && fdatasync(s->bs->fd) < 0)
		r = vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	return r;
}

/* The in-memory refcount state follows the file; the old structures are freed after. */
static int adopt_reorder(struct qcow2_state *s, const struct reorder *p, uint64_t *rt,
			 struct vk_err *err)
{
	uint64_t *old = s->rt, old_size = s->rt_size, old_off = s->rt_offset, i;
	uint64_t old_bytes = (uint64_t)s->rt_clusters * s->cluster_size;
	int r = 0;

	for (i = 0; i < old_size; i++)
		if (old[i])
			qcow2_cache_discard(s->rb_cache, old[i]);	/* clean: flushed before */
	s->rt = rt;
	s->rt_size = p->table * s->cluster_size / 8;
	s->rt_offset = (p->n + p->blocks) << s->cluster_bits;
	s->rt_clusters = (uint32_t)p->table;
	qcow2_rt_bound(s);
	s->refcount_order = p->order;
	s->rb_bits = p->rb_bits;
	s->refcount_max = p->order == 6 ? UINT64_MAX : (1ULL << (1u << p->order)) - 1;
	s->end_cluster = MAX(s->end_cluster, p->n + p->blocks + p->table);
	for (i = 0; i < old_size && r >= 0; i++)
		if (old[i])
			r = qcow2_free_range(s, old[i], s->cluster_size, err);
	if (r >= 0)
		r = qcow2_free_range(s, old_off, old_bytes, err);
	free(old);
	return r < 0 ? r : qcow2_flush(s->bs, err);
}

static int change_refcount_order(struct qcow2_state *s, uint32_t order, struct vk_err *err)
{
	struct reorder p = { .order = order, .rb_bits = s->cluster_bits + 3 - order };
	int64_t fsize = vk_blk_file_size(s->bs);
	_cleanup_free_ uint8_t *buf = malloc(s->cluster_size);
	uint64_t *rt, i;
	int r;

	if (fsize < 0 || !buf)
		return vk_fail(err, fsize < 0 ? (int)fsize : -ENOMEM, "%s: cannot size the file",
			       s->bs->filename);
	p.n = MAX(s->end_cluster, ((uint64_t)fsize + s->cluster_size - 1) >> s->cluster_bits);
	plan_reorder(s, &p);
	if (p.table * s->cluster_size > QCOW2_MAX_RT_BYTES)
		return vk_fail(err, -EFBIG, "%s: refcount table would be too large", s->bs->filename);
	rt = calloc(p.table * s->cluster_size / 8, 8);
	if (!rt)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = qcow2_flush(s->bs, err);
	for (i = 0; !r && i < p.blocks; i++) {
		r = write_reorder_block(s, &p, i, buf, err);
		rt[i] = (p.n + i) << s->cluster_bits;
	}
	for (i = 0; !r && i < p.table; i++) {
		uint64_t k;

		for (k = 0; k < s->cluster_size / 8; k++)
			qcow2_set_be64(buf, k, rt[i * (s->cluster_size / 8) + k]);
		r = vk_blk_file_pwrite(s->bs, buf, (p.n + p.blocks + i) << s->cluster_bits,
				       s->cluster_size, err);
	}
	if (!r && fdatasync(s->bs->fd) < 0)
		r = vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	if (!r)
		r = switch_header(s, &p, err);
	if (r < 0) {
		free(rt);
		/* The new structures lie past the old end and nothing refers to them: cut them off. */
		if (ftruncate(s->bs->fd, fsize) < 0 && !r)
			r = -errno;
		return r;
	}
	return adopt_reorder(s, &p, rt, err);
}

/*
 * data_file renames the data file of an image that has one (the file is not
 * opened: the name is taken as given, as qemu-img does; "" drops the name);
 * data_file_raw can only be cleared (what the file holds is not known to be
 * a raw image). Refused, as QEMU refuses them, before anything changes.
 */
static int check_data_file_opts(struct qcow2_state *s, const struct vk_blk_amend_opts *o,
				struct vk_err *err)
{
	if (o->data_file && !qcow2_has_data_file(s))
		return vk_fail(err, -EINVAL,
			       "data-file can only be set for images that use an external data file");
	if (o->data_file_raw == 1 && !qcow2_data_raw(s))
		return vk_fail(err, -EINVAL, "data-file-raw cannot be set on existing images");
	return 0;
}

static int set_data_file_name(struct qcow2_state *s, const char *name, struct vk_err *err)
{
	char *copy = *name ? strdup(name) : NULL;
	char *old = s->data_file;
	int r;

	if (*name && !copy)
		return vk_fail(err, -ENOMEM, "out of memory");
	s->data_file = copy;
	r = rewrite_header(s, s->version, err);
	if (r < 0) {
		s->data_file = old;
		free(copy);
		return r;
	}
	free(old);
	return 0;
}

static int set_autoclear(struct qcow2_state *s, uint64_t autoclear, struct vk_err *err)
{
	uint8_t b[8];
	int r;

	be_put64(b, autoclear);
	r = vk_blk_file_pwrite(s->bs, b, HDR_AUTOCLEAR, 8, err);
	if (!r && fdatasync(s->bs->fd) < 0)
		r = vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	if (!r)
		s->autoclear = autoclear;
	return r;
}

/* Options qemu-img's qcow2 takes only at creation (some of them vmkit does not do at all). */
static const char *const creation_only[] = {
	"cluster_size", "preallocation", "compression_type", "extended_l2", "encryption",
};

static int on_off(const char *key, const char *val, int *out, struct vk_err *err)
{
	if (strcmp(val, "on") && strcmp(val, "off"))
		return vk_fail(err, -EINVAL, "Parameter '%s' expects 'on' or 'off'", key);
	*out = !strcmp(val, "on");
	return 0;
}

int qcow2_amend_opt(struct vk_blk_amend_opts *o, const char *key, const char *val,
		    struct vk_err *err)
{
	uint64_t v;
	size_t i;

	if (!strcmp(key, "compat")) {
		if (!strcmp(val, "0.10") || !strcmp(val, "v2"))
			o->compat = 2;
		else if (!strcmp(val, "1.1") || !strcmp(val, "v3"))
			o->compat = 3;
		else
			return vk_fail(err, -EINVAL, "Unknown compatibility level %s", val);
	} else if (!strcmp(key, "lazy_refcounts")) {
		return on_off(key, val, &o->lazy_refcounts, err);
	} else if (!strcmp(key, "size")) {
		if (vk_parse_img_size(val, &o->size) < 0)
			return vk_fail(err, -EINVAL, "Parameter 'size' expects a non-negative number below 2^64");
		o->have_size = true;
	} else if (!strcmp(key, "refcount_bits")) {
		if (vk_parse_uint(val, 1, 64, &v) < 0 || (v & (v - 1)))
			return vk_fail(err, -EINVAL, "Refcount width must be a power of two and may not exceed 64 bits");
		o->refcount_bits = (int)v;
	} else if (!strcmp(key, "backing_file") || !strcmp(key, "backing_fmt")) {
		return vk_fail(err, -ENOTSUP, "Cannot amend the backing file (use 'vmkit img rebase' instead)");
	} else if (!strcmp(key, "data_file")) {
		free(o->data_file);
		o->data_file = strdup(val);	/* the parser's buffer is reused */
		if (!o->data_file)
			return vk_fail(err, -ENOMEM, "out of memory");
	} else if (!strcmp(key, "data_file_raw")) {
		return on_off(key, val, &o->data_file_raw, err);
	} else if (!strncmp(key, "encrypt.", 8)) {
		return vk_fail(err, -ENOTSUP, "Amending '%s' is not supported", key);
	} else {
		for (i = 0; i < ARRAY_SIZE(creation_only); i++)
			if (!strcmp(key, creation_only[i]))
				return vk_fail(err, -EINVAL, "Invalid parameter '%s': this option is only supported for image creation", key);
		return vk_fail(err, -EINVAL, "Invalid parameter '%s'", key);
	}
	return 0;
}

const char qcow2_amend_help[] =
	"Amend options for 'qcow2':\n"
	"  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
	"  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
	"  refcount_bits=<num>    - Width of a reference count entry in bits\n"
	"  size=<size>            - Virtual disk size\n";

/* What needs the image, checked before anything changes. */
static int check_amend(struct qcow2_state *s, const struct vk_blk_amend_opts *o, int version,
		       struct vk_err *err)
{
	if (o->lazy_refcounts == 1 && version < 3)
		return vk_fail(err, -EINVAL, "Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
	if (o->refcount_bits > 0 && o->refcount_bits != 16 && version < 3)
		return vk_fail(err, -EINVAL, "Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
	return check_data_file_opts(s, o, err);
}

/*
 * As qemu-img: an upgrade first, then the new size (so a v2 image can
 * grow as v3 may need), then the rest, a downgrade last.
 */
int qcow2_amend(struct vk_blk *bs, const struct vk_blk_amend_opts *o, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	int version = o->compat > 0 ? o->compat : (int)s->version, r;
	uint64_t compat;

	r = check_amend(s, o, version, err);
	if (!r)
		r = qcow2_flush(bs, err);
	if (!r && version > (int)s->version)
		r = rewrite_header(s, (uint32_t)version, err);
	if (!r && o->have_size && o->size != vk_blk_length(bs))
		r = vk_blk_truncate(bs, o->size, VK_PREALLOC_OFF, err);
	if (!r && o->data_file)
		r = set_data_file_name(s, o->data_file, err);
	if (r < 0)
		return r;
	if (version >= 3 && o->lazy_refcounts >= 0) {
		compat = o->lazy_refcounts ? s->compat | QCOW2_COMPAT_LAZY_REFCOUNTS :
			 s->compat & ~QCOW2_COMPAT_LAZY_REFCOUNTS;
		/* Refcounts are exact here: open repaired a dirty image before anything else. */
		if (compat != s->compat)
			r = set_compat_bits(s, compat, err);
	}
	if (!r && o->refcount_bits > 0 && (1u << s->refcount_order) != (unsigned int)o->refcount_bits)
		r = change_refcount_order(s, (uint32_t)__builtin_ctz((unsigned int)o->refcount_bits),
					  err);
	if (!r && o->data_file_raw == 0 && qcow2_data_raw(s))
		r = set_autoclear(s, s->autoclear & ~QCOW2_AUTOCLEAR_DATA_RAW, err);
	if (!r && version < (int)s->version)
		r = downgrade(s, err);
	return r;
}
