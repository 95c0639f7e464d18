// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 clusters: L1/L2 lookup, reads (normal, zero, compressed with zlib
 * or zstd, unallocated falling through to the backing file) and writes
 * (in place, or into newly allocated clusters with copy-on-write of the
 * old contents).
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "qcow2.h"

#define MAX_WRITE_CHUNK (4 * MiB)

enum qcow2_cluster_type qcow2_entry_type(struct qcow2_state *s, uint64_t l2e)
{
	if (l2e & QCOW_OFLAG_COMPRESSED)
		return QCOW2_COMPRESSED;
	if ((l2e & QCOW_OFLAG_ZERO) && s->version >= 3)
		return (l2e & L2E_OFFSET_MASK) ? QCOW2_ZERO_ALLOC : QCOW2_ZERO_PLAIN;
	/*
	 * Offset 0 is a data cluster of an external data file (its first
	 * cluster) when COPIED says it is in use, as QEMU reads it.
	 */
	if (!(l2e & L2E_OFFSET_MASK))
		return qcow2_has_data_file(s) && (l2e & QCOW_OFLAG_COPIED) ? QCOW2_NORMAL :
										QCOW2_UNALLOCATED;
	return QCOW2_NORMAL;
}

void qcow2_compressed_range(struct qcow2_state *s, uint64_t l2e, uint64_t *off, uint64_t *len)
{
	uint64_t nsect = ((l2e >> s->csize_shift) & s->csize_mask) + 1;

	*off = l2e & s->cluster_offset_mask;
	*len = nsect * 512 - (*off & 511);
}

int qcow2_read_l2(struct qcow2_state *s, uint32_t l1i, void **l2, struct vk_err *err)
{
	uint64_t off = s->l1[l1i] & L1E_OFFSET_MASK;
	int r;

	if (s->l1[l1i] & ~(L1E_OFFSET_MASK | QCOW_OFLAG_COPIED) || (s->l1[l1i] & 511))
		return vk_fail(err, -EINVAL, "%s: L1 entry %u has reserved bits set (%#llx)",
			       s->bs->filename, l1i, (unsigned long long)s->l1[l1i]);
	r = qcow2_check_offset(s, "L2 table", off, s->cluster_size, err);
	if (r < 0)
		return r;
	return qcow2_cache_get(s->l2_cache, off, l2, err);
}

static int check_entry(struct qcow2_state *s, uint64_t l2e, enum qcow2_cluster_type t,
		       struct vk_err *err)
{
	uint64_t off = l2e & L2E_OFFSET_MASK, coff, clen;

	if (t == QCOW2_COMPRESSED) {
		qcow2_compressed_range(s, l2e, &coff, &clen);
		if (coff < s->cluster_size)
			return vk_fail(err, -EINVAL, "%s: compressed cluster at %#llx points into the header",
				       s->bs->filename, (unsigned long long)coff);
		return 0;
	}
	if (t != QCOW2_NORMAL && t != QCOW2_ZERO_ALLOC)
		return 0;
	if (off & (s->cluster_size - 1))
		return vk_fail(err, -EINVAL, "%s: data cluster offset %#llx not cluster aligned",
			       s->bs->filename, (unsigned long long)off);
	if (off < s->cluster_size && !qcow2_has_data_file(s))
		return vk_fail(err, -EINVAL, "%s: data cluster offset %#llx points into the header",
			       s->bs->filename, (unsigned long long)off);
	return 0;
}

/*
 * A data file maps clusters one to one: a compressed entry cannot be right.
 * QEMU then marks a writable image corrupt and fails the request with EIO.
 */
static int compressed_with_data_file(struct qcow2_state *s, uint64_t l1i, uint64_t l2i,
				     struct vk_err *err)
{
	if (!s->bs->read_only)
		qcow2_mark_corrupt(s);
	return vk_fail(err, -EIO,
		       "%s: Compressed cluster entry found in image with external data file (L2 offset: %#llx, L2 index: %#llx)",
		       s->bs->filename, (unsigned long long)(s->l1[l1i] & L1E_OFFSET_MASK),
		       (unsigned long long)l2i);
}

/*
 * The run at virtual offset off (at most len bytes, within one L2 table) of
 * clusters of one type, contiguous on the host for normal clusters. *host is
 * the host offset of off (normal, zero-alloc) or the L2 entry (compressed).
 */
int qcow2_get_extent(struct qcow2_state *s, uint64_t off, uint64_t len, uint64_t *pnum,
		     uint64_t *host, enum qcow2_cluster_type *type, struct vk_err *err)
{
	uint64_t cs = s->cluster_size, in = off & (cs - 1), vc = off >> s->cluster_bits;
	uint64_t l1i = vc >> s->l2_bits, l2i = vc & ((1ULL << s->l2_bits) - 1), e, first, n;
	uint64_t max = MIN(len, ((1ULL << s->l2_bits) - l2i) * cs - in);
	void *l2;
	int r;

	if (s->incompat & QCOW2_INCOMPAT_EXTL2)
		return qcow2_sc_get_extent(s, off, len, pnum, host, type, err);
	if (l1i >= s->l1_size)
		return vk_fail(err, -EINVAL, "%s: offset %#llx beyond the L1 table", s->bs->filename,
			       (unsigned long long)off);
	if (!(s->l1[l1i] & L1E_OFFSET_MASK)) {
		*type = QCOW2_UNALLOCATED;
		*pnum = max;
		*host = 0;
		return 0;
	}
	r = qcow2_read_l2(s, (uint32_t)l1i, &l2, err);
	if (r < 0)
		return r;
	first = qcow2_be64(l2, l2i);
	*type = qcow2_entry_type(s, first);
	if (*type == QCOW2_COMPRESSED && qcow2_has_data_file(s)) {
		r = compressed_with_data_file(s, l1i, l2i, err);
		goto out;
	}
	r = check_entry(s, first, *type, err);
	if (r < 0)
		goto out;
	*host = *type == QCOW2_COMPRESSED ? first : (first & L2E_OFFSET_MASK) + in;
	n = cs - in;
	if (*type == QCOW2_COMPRESSED)
		goto done;
	while (n < max) {
		e = qcow2_be64(l2, ++l2i);
		if (qcow2_entry_type(s, e) != *type)
			break;
		if ((*type == QCOW2_NORMAL || *type == QCOW2_ZERO_ALLOC) &&
		    (e & L2E_OFFSET_MASK) != (first & L2E_OFFSET_MASK) + n + in)
			break;
		if ((e & QCOW_OFLAG_COPIED) != (first & QCOW_OFLAG_COPIED) ||
		    check_entry(s, e, *type, NULL))
			break;
		n += cs;
	}
done:
	*pnum = MIN(n, max);
out:
	qcow2_cache_put(s->l2_cache, &l2);
	return r;
}

static int inflate_zlib(const uint8_t *in, size_t ilen, uint8_t *out, size_t olen)
{
	z_stream z = { 0 };
	int r;

	if (inflateInit2(&z, -12) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)ilen;
	z.next_out = out;
	z.avail_out = (uInt)olen;
	r = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	/* QEMU accepts a full output buffer even when the stream has not ended. */
	if (r == Z_STREAM_END || (r == Z_BUF_ERROR && z.avail_out == 0))
		return z.avail_out == 0 ? 0 : -EIO;
	return -EIO;
}

static int inflate_zstd(const uint8_t *in, size_t ilen, uint8_t *out, size_t olen)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib = { in, ilen, 0 };
	ZSTD_outBuffer ob = { out, olen, 0 };
	size_t r = 0;

	if (!d)
		return -ENOMEM;
	/* The compressed data is padded to sectors: stop once the cluster is full. */
	while (ob.pos < ob.size && ib.pos < ib.size) {
		r = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(r) || (r == 0 && ob.pos < ob.size))
			break;
	}
	ZSTD_freeDCtx(d);
	return ob.pos == ob.size && !ZSTD_isError(r) ? 0 : -EIO;
}

static int read_compressed(struct qcow2_state *s, uint64_t l2e, struct vk_err *err)
{
	uint64_t coff, clen;
	_cleanup_free_ uint8_t *in = NULL;
	int r;

	if (s->zbuf_offset == l2e)
		return 0;
	qcow2_compressed_range(s, l2e, &coff, &clen);
	if (!s->zbuf && !(s->zbuf = malloc(s->cluster_size)))
		return vk_fail(err, -ENOMEM, "out of memory");
	in = malloc(clen);
	if (!in)
		return vk_fail(err, -ENOMEM, "out of memory");
	/* The last compressed cluster may end before its last sector does. */
	r = vk_blk_file_pread(s->bs, in, coff, clen, true, err);
	if (r < 0)
		return r;
	s->zbuf_offset = 0;
	if (s->compression_type == QCOW2_COMPRESS_ZSTD)
		r = inflate_zstd(in, clen, s->zbuf, s->cluster_size);
	else
		r = inflate_zlib(in, clen, s->zbuf, s->cluster_size);
	if (r < 0)
		return vk_fail(err, r, "%s: compressed cluster at %#llx is corrupt",
			       s->bs->filename, (unsigned long long)coff);
	s->zbuf_offset = l2e;
	return 0;
}

static int read_backing(struct vk_blk *bs, void *buf, uint64_t off, size_t len,
			struct vk_err *err)
{
	uint64_t blen = bs->backing ? vk_blk_length(bs->backing) : 0, n = 0;
	int r;

	if (off < blen) {
		n = MIN(len, blen - off);
		r = vk_blk_pread(bs->backing, buf, off, n, err);
		if (r < 0)
			return r;
	}
	memset((uint8_t *)buf + n, 0, len - n);
	return 0;
}

int qcow2_read(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	enum qcow2_cluster_type t;
	uint64_t n, host;
	int r;

	while (len) {
		r = qcow2_get_extent(s, off, len, &n, &host, &t, err);
		if (r < 0)
			return r;
		switch (t) {
		case QCOW2_UNALLOCATED:
			r = read_backing(bs, buf, off, n, err);
			break;
		case QCOW2_ZERO_PLAIN:
		case QCOW2_ZERO_ALLOC:
			memset(buf, 0, n);
			break;
		case QCOW2_NORMAL:
			r = qcow2_data_pread(s, buf, host, n, err);
			break;
		case QCOW2_COMPRESSED:
			r = read_compressed(s, host, err);
			if (!r)
				memcpy(buf, s->zbuf + (off & (s->cluster_size - 1)), n);
			break;
		}
		if (r < 0)
			return r;
		buf = (uint8_t *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Data must never land on metadata of any kind. */
static int check_overlap(struct qcow2_state *s, uint64_t host, uint64_t len, struct vk_err *err)
{
	return qcow2_overlap_check(s, 0, host, len, err);
}

static int alloc_l2(struct qcow2_state *s, uint64_t l1i, struct vk_err *err)
{
	uint64_t host, be;
	void *l2;
	int r;

	r = qcow2_alloc_clusters(s, 1, &host, err);
	if (r < 0)
		return r;
	r = qcow2_cache_get_empty(s->l2_cache, host, &l2, err);
	if (r < 0)
		return r;
	qcow2_cache_mark_dirty(s->l2_cache, l2);
	qcow2_cache_put(s->l2_cache, &l2);
	r = qcow2_cache_flush(s->l2_cache, err);	/* table and its refcount before the L1 entry */
	if (r < 0)
		return r;
	s->l1[l1i] = host | QCOW_OFLAG_COPIED;
	be = htobe64(s->l1[l1i]);
	return vk_blk_file_pwrite(s->bs, &be, s->l1_offset + 8 * l1i, 8, err);
}

int qcow2_get_l2_for_write(struct qcow2_state *s, uint64_t vc, void **l2, struct vk_err *err)
{
	uint64_t l1i = vc >> s->l2_bits;
	int r;

	if (!(s->l1[l1i] & L1E_OFFSET_MASK)) {
		r = alloc_l2(s, l1i, err);
		if (r < 0)
			return r;
	} else if (!(s->l1[l1i] & QCOW_OFLAG_COPIED)) {
		r = qcow2_cow_l2(s, l1i, err);	/* shared with a snapshot: copy it first */
		if (r < 0)
			return r;
	}
	return qcow2_read_l2(s, (uint32_t)l1i, l2, err);
}

/*
 * Release what old L2 entries pointed at, once the entries no longer do.
 * The L2 tables that dropped them reach the file first: were the freed
 * refcounts written before them, a crash in between would leave an entry
 * pointing at a cluster that is free and may be handed out again (QEMU
 * orders its caches the same way). Costs a cache write only when a write
 * replaced allocated clusters (compressed, or zero-allocated ones).
 */
static int release_entry(struct qcow2_state *s, uint64_t e, struct vk_err *err);

int qcow2_release_entries(struct qcow2_state *s, const uint64_t *old, uint64_t n,
			   struct vk_err *err)
{
	uint64_t i;
	bool any = false;
	int r;

	for (i = 0; i < n; i++)
		any |= qcow2_entry_type(s, old[i]) == QCOW2_COMPRESSED ||
		       qcow2_entry_type(s, old[i]) == QCOW2_NORMAL ||
		       qcow2_entry_type(s, old[i]) == QCOW2_ZERO_ALLOC;
	if (!any)
		return 0;
	r = qcow2_cache_flush(s->l2_cache, err);
	for (i = 0; i < n && r >= 0; i++)
		r = release_entry(s, old[i], err);
	return r < 0 ? r : 0;
}

/* Release what an L2 entry pointed at, once the entry no longer does. */
static int release_entry(struct qcow2_state *s, uint64_t e, struct vk_err *err)
{
	uint64_t off, len;

	switch (qcow2_entry_type(s, e)) {
	case QCOW2_COMPRESSED:
		qcow2_compressed_range(s, e, &off, &len);
		if (s->zbuf_offset == e)
			s->zbuf_offset = 0;
		return qcow2_free_range(s, off, len, err);
	case QCOW2_NORMAL:
	case QCOW2_ZERO_ALLOC:
		/*
		 * Data file clusters have no refcount. Nor are they given back here:
		 * a write maps the guest cluster to the same offset again (callers
		 * that drop the data punch it, qcow2_data_punch_entries).
		 */
		if (qcow2_has_data_file(s))
			return 0;
		return qcow2_free_range(s, e & L2E_OFFSET_MASK, s->cluster_size, err);
	default:
		return 0;
	}
}

int qcow2_zero_cluster(struct qcow2_state *s, uint64_t vc, struct vk_err *err)
{
	uint64_t l2i = vc & ((1ULL << s->l2_bits) - 1), e;
	void *l2;
	int r;

	/*
	 * data_file_raw: the data file alone must read as zeros there too. The
	 * entry then becomes a plain zero cluster, as QEMU's unmapping zero
	 * write leaves it.
	 */
	if (qcow2_data_raw(s)) {
		uint64_t host = vc << s->cluster_bits;

		r = qcow2_data_write_zeroes(s, host, MIN(s->cluster_size, s->size - host), err);
		if (r < 0)
			return r;
	}
	if (!(s->l1[vc >> s->l2_bits] & L1E_OFFSET_MASK) && !s->bs->backing_file)
		return 0;	/* unallocated without backing already reads as zeros */
	r = qcow2_get_l2_for_write(s, vc, &l2, err);
	if (r < 0)
		return r;
	e = qcow2_be64(l2, l2i);
	qcow2_set_be64(l2, l2i, QCOW_OFLAG_ZERO);
	qcow2_cache_mark_dirty(s->l2_cache, l2);
	qcow2_cache_put(s->l2_cache, &l2);
	r = qcow2_release_entries(s, &e, 1, err);
	if (!r && qcow2_has_data_file(s))
		r = qcow2_data_punch_entries(s, &e, 1, err);
	return r;
}

/*
 * Host clusters for n guest clusters from guest offset start: allocated in
 * the image file, or in an external data file the same offset (QEMU maps
 * data files one to one and refcounts nothing there).
 */
static int alloc_data(struct qcow2_state *s, uint64_t start, uint64_t n, uint64_t *host,
		      struct vk_err *err)
{
	int r;

	if (qcow2_has_data_file(s)) {
		*host = start;
		return 0;
	}
	r = qcow2_alloc_clusters(s, n, host, err);
	if (r < 0)
		return r;
	return check_overlap(s, *host, n << s->cluster_bits, err);
}

/*
 * Write [off, off+len) (len within n whole clusters, one L2 table) into n new
 * clusters: old contents of partly written clusters are read first.
 */
static int write_new(struct vk_blk *bs, const void *buf, uint64_t off, size_t len, uint64_t n,
		     struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t cs = s->cluster_size, start = off & ~(cs - 1), host, vc = start >> s->cluster_bits;
	uint64_t span = MIN(n * cs, ALIGN_UP(s->size, cs) - start);
	bool whole = off == start && len == n * cs;
	/* Whole clusters go from the caller's buffer; partial ones are merged in a copy. */
	_cleanup_free_ uint8_t *tmp = whole ? NULL : malloc(n * cs);
	_cleanup_free_ uint64_t *old = calloc(n, sizeof(*old));
	const void *data = whole ? buf : tmp;
	void *l2;
	int r;

	if ((!whole && !tmp) || !old)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (!whole) {
		memset(tmp, 0, n * cs);
		if (off != start || len != span) {
			/* Partial clusters: the old data (zeros, backing, compressed) around the new. */
			r = qcow2_read(bs, tmp, start, MIN(span, s->size - start), err);
			if (r < 0)
				return r;
		}
		memcpy(tmp + (off - start), buf, len);
	}
	/* The L2 table first, then the data, as QEMU allocates them: the same layout. */
	r = qcow2_get_l2_for_write(s, vc, &l2, err);
	if (r < 0)
		return r;
	qcow2_cache_put(s->l2_cache, &l2);
	r = alloc_data(s, start, n, &host, err);
	if (r < 0)
		return r;
	r = qcow2_data_pwrite(s, data, host, n * cs, err);
	if (r < 0)
		return r;
	return qcow2_link_clusters(s, vc, n, host, old, err);
}

int qcow2_link_clusters(struct qcow2_state *s, uint64_t vc, uint64_t n, uint64_t host,
			uint64_t *old, struct vk_err *err)
{
	uint64_t cs = s->cluster_size, i;
	void *l2;
	int r;

	r = qcow2_get_l2_for_write(s, vc, &l2, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		uint64_t l2i = (vc + i) & ((1ULL << s->l2_bits) - 1);

		old[i] = qcow2_be64(l2, l2i);
		qcow2_set_be64(l2, l2i, (host + i * cs) | QCOW_OFLAG_COPIED);
	}
	qcow2_cache_mark_dirty(s->l2_cache, l2);
	qcow2_cache_put(s->l2_cache, &l2);
	return qcow2_release_entries(s, old, n, err);
}

/* How many clusters from vc on (up to n, same L2 table) need a new cluster? */
static int count_new(struct qcow2_state *s, uint64_t off, uint64_t len, uint64_t *pnum,
		     bool *in_place, uint64_t *host, struct vk_err *err)
{
	enum qcow2_cluster_type t;
	uint64_t e, n;
	void *l2;
	int r;

	r = qcow2_get_extent(s, off, len, &n, host, &t, err);
	if (r < 0)
		return r;
	*in_place = false;
	if (t == QCOW2_NORMAL) {
		uint64_t vc = off >> s->cluster_bits;

		r = qcow2_read_l2(s, (uint32_t)(vc >> s->l2_bits), &l2, err);
		if (r < 0)
			return r;
		e = qcow2_be64(l2, vc & ((1ULL << s->l2_bits) - 1));
		qcow2_cache_put(s->l2_cache, &l2);
		*in_place = (e & QCOW_OFLAG_COPIED) && (s->l1[vc >> s->l2_bits] & QCOW_OFLAG_COPIED);
	}
	if (*in_place || t == QCOW2_COMPRESSED)
		n = MIN(n, len);
	*pnum = n;
	return 0;
}

int qcow2_write(struct vk_blk *bs, const void *buf, uint64_t off, size_t len, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t cs = s->cluster_size, n, host, start, clusters;
	bool in_place;
	int r;

	r = qcow2_writable(s, err);
	if (r < 0)
		return r;
	while (len) {
		r = count_new(s, off, MIN(len, MAX_WRITE_CHUNK), &n, &in_place, &host, err);
		if (r < 0)
			return r;
		if (in_place) {
			r = qcow2_has_data_file(s) ? 0 : check_overlap(s, host, n, err);
			if (!r)
				r = qcow2_data_pwrite(s, buf, host, n, err);
		} else {
			n = MIN(n, len);
			start = off & ~(cs - 1);
			clusters = (off + n - start + cs - 1) / cs;
			r = write_new(bs, buf, off, n, clusters, err);
		}
		if (r < 0)
			return r;
		buf = (const uint8_t *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

/* An external data file: each unallocated cluster gets its own guest offset there. */
static int prealloc_data_file(struct qcow2_state *s, uint64_t vc, uint64_t n,
			      int (*fn)(struct qcow2_state *s, uint64_t host, uint64_t len,
					struct vk_err *err), struct vk_err *err)
{
	uint64_t per_l2 = 1ULL << s->l2_bits, i, j, host;
	void *l2;
	int r;

	r = qcow2_get_l2_for_write(s, vc, &l2, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		j = (vc + i) & (per_l2 - 1);
		if (qcow2_entry_type(s, qcow2_be64(l2, j)) != QCOW2_UNALLOCATED)
			continue;
		host = (vc + i) << s->cluster_bits;
		r = fn ? fn(s, host, MIN(s->cluster_size, s->size - host), err) : 0;
		if (r < 0)
			break;
		qcow2_set_be64(l2, j, host | QCOW_OFLAG_COPIED);
	}
	qcow2_cache_mark_dirty(s->l2_cache, l2);
	qcow2_cache_put(s->l2_cache, &l2);
	return r;
}

/* Unallocated entries of one L2 table from vc on (at most n): allocate them, contiguous. */
static int prealloc_chunk(struct qcow2_state *s, uint64_t vc, uint64_t n,
			  int (*fn)(struct qcow2_state *s, uint64_t host, uint64_t len,
				    struct vk_err *err), struct vk_err *err)
{
	uint64_t per_l2 = 1ULL << s->l2_bits, i, k = 0, host;
	void *l2;
	int r;

	r = qcow2_get_l2_for_write(s, vc, &l2, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		k += qcow2_entry_type(s, qcow2_be64(l2, (vc + i) & (per_l2 - 1))) == QCOW2_UNALLOCATED;
	qcow2_cache_put(s->l2_cache, &l2);
	if (!k)
		return 0;
	if (qcow2_has_data_file(s))
		return prealloc_data_file(s, vc, n, fn, err);
	r = qcow2_alloc_clusters(s, k, &host, err);
	if (!r && fn)
		r = fn(s, host, k << s->cluster_bits, err);
	if (!r)
		r = qcow2_get_l2_for_write(s, vc, &l2, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		uint64_t j = (vc + i) & (per_l2 - 1);

		if (qcow2_entry_type(s, qcow2_be64(l2, j)) != QCOW2_UNALLOCATED)
			continue;
		qcow2_set_be64(l2, j, host | QCOW_OFLAG_COPIED);
		host += s->cluster_size;
	}
	qcow2_cache_mark_dirty(s->l2_cache, l2);
	qcow2_cache_put(s->l2_cache, &l2);
	return 0;
}

int qcow2_preallocate_from(struct qcow2_state *s, uint64_t vc,
			   int (*fn)(struct qcow2_state *s, uint64_t host, uint64_t len,
				     struct vk_err *err), struct vk_err *err)
{
	uint64_t total = (s->size + s->cluster_size - 1) >> s->cluster_bits;
	uint64_t per_l2 = 1ULL << s->l2_bits, n;
	int r;

	for (; vc < total; vc += n) {
		n = MIN(total - vc, per_l2 - (vc & (per_l2 - 1)));
		r = prealloc_chunk(s, vc, n, fn, err);
		if (r < 0)
			return r;
	}
	/* The file the data clusters are in holds them whole, as QEMU extends it (only it). */
	if (qcow2_has_data_file(s))
		return qcow2_data_extend(s, ALIGN_UP(s->size, s->cluster_size), err);
	if ((uint64_t)vk_blk_file_size(s->bs) < s->end_cluster << s->cluster_bits &&
	    ftruncate(s->bs->fd, (off_t)(s->end_cluster << s->cluster_bits)) < 0)
		return vk_fail(err, -errno, "%s: %s", s->bs->filename, strerror(errno));
	return 0;
}

/* preallocation=metadata: every cluster gets an L2 entry and a host cluster (left sparse). */
int qcow2_preallocate(struct qcow2_state *s, struct vk_err *err)
{
	return qcow2_preallocate_from(s, 0, NULL, err);
}
