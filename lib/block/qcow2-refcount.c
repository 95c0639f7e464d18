// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 refcounts: the refcount table, refcount blocks of 1 to 64-bit
 * entries (refcount_order 0-6), and cluster allocation. A new refcount
 * block reaches disk before the table entry naming it, and the refcount of
 * a new cluster before any L2 entry pointing at it (the L2 cache depends on
 * the refcount cache).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "qcow2.h"

uint64_t qcow2_rb_get(const void *block, uint32_t order, uint64_t i)
{
	const uint8_t *b = block;
	unsigned int bits = 1u << order, shift;

	if (order < 3) {
		shift = (unsigned int)(i % (8 / bits)) * bits;
		return (b[i * bits / 8] >> shift) & ((1u << bits) - 1);
	}
	switch (order) {
	case 3:
		return b[i];
	case 4:
		return (uint64_t)b[2 * i] << 8 | b[2 * i + 1];
	case 5:
		return (uint64_t)b[4 * i] << 24 | (uint64_t)b[4 * i + 1] << 16 |
		       (uint64_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	default:
		return qcow2_be64(block, i);
	}
}

void qcow2_rb_set(void *block, uint32_t order, uint64_t i, uint64_t v)
{
	uint8_t *b = block;
	unsigned int bits = 1u << order, shift, k;

	if (order < 3) {
		shift = (unsigned int)(i % (8 / bits)) * bits;
		b[i * bits / 8] &= (uint8_t)~(((1u << bits) - 1) << shift);
		b[i * bits / 8] |= (uint8_t)(v << shift);
		return;
	}
	for (k = 0; k < bits / 8; k++)
		b[i * bits / 8 + k] = (uint8_t)(v >> (bits - 8 - 8 * k));
}

/* Is [off, off+len) a sane place for metadata: aligned, past the header, inside the file? */
int qcow2_check_offset(struct qcow2_state *s, const char *what, uint64_t off, uint64_t len,
		       struct vk_err *err)
{
	const char *name = s->bs->filename;
	int64_t fsize;

	if (off & (s->cluster_size - 1))
		return vk_fail(err, -EINVAL, "%s: %s offset %#llx not cluster aligned", name, what,
			       (unsigned long long)off);
	if (off < s->cluster_size)
		return vk_fail(err, -EINVAL, "%s: %s offset %#llx points into the header", name,
			       what, (unsigned long long)off);
	/* The file only grows while we hold it (shrinking resets this), so a range seen inside stays. */
	if (off <= s->file_size_seen && len <= s->file_size_seen - off)
		return 0;
	fsize = vk_blk_file_size(s->bs);
	if (fsize > 0)
		s->file_size_seen = (uint64_t)fsize;
	if (fsize < 0 || off > (uint64_t)fsize || len > (uint64_t)fsize - off)
		return vk_fail(err, -EINVAL, "%s: %s offset %#llx beyond end of file", name, what,
			       (unsigned long long)off);
	return 0;
}

int qcow2_refcount_init(struct qcow2_state *s, struct vk_err *err)
{
	uint64_t bytes = (uint64_t)s->rt_clusters * s->cluster_size, i;
	_cleanup_free_ uint8_t *raw = NULL;
	int r;

	if (!s->rt_clusters || bytes > QCOW2_MAX_RT_BYTES)
		return vk_fail(err, -EINVAL, "%s: refcount table of %u clusters is invalid",
			       s->bs->filename, s->rt_clusters);
	r = qcow2_check_offset(s, "refcount table", s->rt_offset, bytes, err);
	if (r < 0)
		return r;
	raw = malloc(bytes);
	s->rt = malloc(bytes);
	if (!raw || !s->rt)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vk_blk_file_pread(s->bs, raw, s->rt_offset, bytes, false, err);
	if (r < 0)
		return r;
	s->rt_size = bytes / 8;
	for (i = 0; i < s->rt_size; i++)
		s->rt[i] = qcow2_be64(raw, i) & RT_OFFSET_MASK;
	qcow2_rt_bound(s);
	return 0;
}

void qcow2_rt_bound(struct qcow2_state *s)
{
	for (s->rt_hi = s->rt_size; s->rt_hi && !s->rt[s->rt_hi - 1]; s->rt_hi--)
		;
}

static int get_block(struct qcow2_state *s, uint64_t index, void **block, struct vk_err *err)
{
	int r = qcow2_check_offset(s, "refcount block", s->rt[index], s->cluster_size, err);

	if (r < 0)
		return r;
	return qcow2_cache_get(s->rb_cache, s->rt[index], block, err);
}

int qcow2_get_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t *rc, struct vk_err *err)
{
	uint64_t index = cluster >> s->rb_bits;
	void *block;
	int r;

	if (index >= s->rt_size || !s->rt[index]) {
		*rc = 0;
		return 0;
	}
	r = get_block(s, index, &block, err);
	if (r < 0)
		return r;
	*rc = qcow2_rb_get(block, s->refcount_order, cluster & ((1ULL << s->rb_bits) - 1));
	qcow2_cache_put(s->rb_cache, &block);
	return 0;
}

/* Is cluster c free for allocation? Clusters with no refcount block are free only past the end. */
static int is_free(struct qcow2_state *s, uint64_t c, bool *out, struct vk_err *err)
{
	uint64_t index = c >> s->rb_bits, rc;
	int r;

	if (!c || (c < s->end_cluster && (index >= s->rt_size || !s->rt[index]))) {
		*out = false;
		return 0;
	}
	r = qcow2_get_refcount(s, c, &rc, err);
	if (r < 0)
		return r;
	*out = rc == 0;
	return 0;
}

static int find_free(struct qcow2_state *s, uint64_t n, uint64_t *out, struct vk_err *err)
{
	uint64_t c = s->free_index, start = c, run = 0;
	bool free;
	int r;

	while (run < n) {
		if ((c + 1) << s->cluster_bits > QCOW2_MAX_OFFSET)
			return vk_fail(err, -ENOSPC, "%s: image file would exceed 2^56 bytes",
				       s->bs->filename);
		r = is_free(s, c, &free, err);
		if (r < 0)
			return r;
		if (!free) {
			run = 0;
			start = ++c;
			continue;
		}
		run++;
		c++;
	}
	*out = start;
	return 0;
}

static int write_rt_entry(struct qcow2_state *s, uint64_t index, struct vk_err *err)
{
	uint64_t v = htobe64(s->rt[index]);

	return vk_blk_file_pwrite(s->bs, &v, s->rt_offset + 8 * index, 8, err);
}

static void note_used(struct qcow2_state *s, uint64_t c)
{
	s->end_cluster = MAX(s->end_cluster, c + 1);
}

static int grow_table(struct qcow2_state *s, uint64_t min_index, struct vk_err *err);
static int ensure_block(struct qcow2_state *s, uint64_t index, struct vk_err *err);

/* Put a new, empty refcount block for index at cluster b, counting b in block `counted_in`. */
static int install_block(struct qcow2_state *s, uint64_t index, uint64_t b, struct vk_err *err)
{
	uint64_t mask = (1ULL << s->rb_bits) - 1;
	void *block;
	int r;

	if ((b >> s->rb_bits) != index) {
		r = qcow2_set_refcount(s, b, 1, err);
		if (r < 0)
			return r;
	}
	r = qcow2_cache_get_empty(s->rb_cache, b << s->cluster_bits, &block, err);
	if (r < 0)
		return r;
	if ((b >> s->rb_bits) == index)
		qcow2_rb_set(block, s->refcount_order, b & mask, 1);	/* describes itself */
	qcow2_cache_mark_dirty(s->rb_cache, block);
	qcow2_cache_put(s->rb_cache, &block);
	note_used(s, b);
	r = qcow2_cache_flush(s->rb_cache, err);
	if (r < 0)
		return r;
	s->rt[index] = b << s->cluster_bits;
	s->rt_hi = MAX(s->rt_hi, index + 1);
	return write_rt_entry(s, index, err);
}

static int ensure_block(struct qcow2_state *s, uint64_t index, struct vk_err *err)
{
	uint64_t b, j;
	int r;

	for (;;) {
		if (index >= s->rt_size) {
			r = grow_table(s, index, err);
			if (r < 0)
				return r;
		}
		if (s->rt[index])
			return 0;
		r = find_free(s, 1, &b, err);
		if (r < 0)
			return r;
		j = b >> s->rb_bits;
		if (j == index || (j < s->rt_size && s->rt[j]))
			return install_block(s, index, b, err);
		r = ensure_block(s, j, err);	/* b's own block first; then look again */
		if (r < 0)
			return r;
	}
}

int qcow2_set_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t rc, struct vk_err *err)
{
	uint64_t index = cluster >> s->rb_bits;
	void *block;
	int r;

	if (rc > s->refcount_max)
		return vk_fail(err, -ERANGE, "%s: refcount of cluster %llu would overflow",
			       s->bs->filename, (unsigned long long)cluster);
	/* Whoever has I/O in flight on host clusters finishes it before one is freed. */
	if (!rc && s->bs->before_free)
		s->bs->before_free(s->bs->before_free_opaque);
	r = ensure_block(s, index, err);
	if (r < 0)
		return r;
	r = get_block(s, index, &block, err);
	if (r < 0)
		return r;
	qcow2_rb_set(block, s->refcount_order, cluster & ((1ULL << s->rb_bits) - 1), rc);
	qcow2_cache_mark_dirty(s->rb_cache, block);
	qcow2_cache_put(s->rb_cache, &block);
	if (rc)
		note_used(s, cluster);
	else
		s->free_index = MIN(s->free_index, cluster);
	/* Compressed data must not go on in a cluster that was freed. */
	if (!rc && s->free_byte_offset >> s->cluster_bits == cluster)
		s->free_byte_offset = 0;
	return 0;
}

int qcow2_alloc_clusters(struct qcow2_state *s, uint64_t n, uint64_t *host, struct vk_err *err)
{
	uint64_t c, i, first, last;
	int r;

	for (;;) {
		r = find_free(s, n, &c, err);
		if (r < 0)
			return r;
		/* Create missing refcount blocks first: they may take the clusters we found. */
		first = c >> s->rb_bits;
		last = (c + n - 1) >> s->rb_bits;
		for (i = first; i <= last; i++)
			if (i >= s->rt_size || !s->rt[i])
				break;
		if (i > last)
			break;
		r = ensure_block(s, i, err);
		if (r < 0)
			return r;
	}
	for (i = 0; i < n; i++) {
		r = qcow2_set_refcount(s, c + i, 1, err);
		if (r < 0)
			return r;
	}
	s->free_index = c + n;
	*host = c << s->cluster_bits;
	return 0;
}

int qcow2_alloc_clusters_cached(struct qcow2_state *s, uint64_t n, uint64_t *host)
{
	uint64_t c = 0, i;
	int r;

	/* find_free reads the refcount of every cluster it returns: from the cache only. */
	qcow2_cache_set_cached_only(s->rb_cache, true);
	r = find_free(s, n, &c, NULL);
	qcow2_cache_set_cached_only(s->rb_cache, false);
	if (r < 0)
		return -EAGAIN;
	/* Their blocks must exist (no block or table to make) and be in the cache (no read). */
	for (i = c >> s->rb_bits; i <= (c + n - 1) >> s->rb_bits; i++)
		if (i >= s->rt_size || !s->rt[i] || !qcow2_cache_has(s->rb_cache, s->rt[i]))
			return -EAGAIN;
	if (qcow2_overlaps_metadata(s, c << s->cluster_bits, n << s->cluster_bits))
		return -EAGAIN;		/* the slow path says so, and marks the image */
	for (i = 0; i < n; i++) {
		r = qcow2_set_refcount(s, c + i, 1, NULL);
		if (r < 0)
			return r;	/* cannot happen: every block is there, in the cache */
	}
	s->free_index = c + n;
	*host = c << s->cluster_bits;
	return 0;
}

int qcow2_free_range(struct qcow2_state *s, uint64_t host, uint64_t len, struct vk_err *err)
{
	uint64_t c, last = (host + len - 1) >> s->cluster_bits, rc;
	int r;

	for (c = host >> s->cluster_bits; c <= last; c++) {
		r = qcow2_get_refcount(s, c, &rc, err);
		if (r < 0)
			return r;
		if (!rc)
			return vk_fail(err, -EUCLEAN, "%s: refcount of cluster %llu is already 0",
				       s->bs->filename, (unsigned long long)c);
		r = qcow2_set_refcount(s, c, rc - 1, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Size a new refcount table at the end of the file that covers min_index,
 * itself and the refcount blocks it needs for its own clusters.
 */
static void plan_table(struct qcow2_state *s, uint64_t min_index, uint64_t at, uint64_t *k,
		       uint64_t *nblocks)
{
	uint64_t entries_per = s->cluster_size / 8, i, need, r = 0, prev;

	*k = 1;
	do {
		prev = *k + r;
		r = 0;
		for (i = at >> s->rb_bits; i <= (at + *k + r) >> s->rb_bits; i++)
			if (i >= s->rt_size || !s->rt[i])
				r++;
		need = MAX(min_index, (at + *k + r) >> s->rb_bits) + 1;
		need = MAX(need, s->rt_size + 1);
		*k = (need + entries_per - 1) / entries_per;
	} while (*k + r != prev);
	*nblocks = r;
}

static int write_new_blocks(struct qcow2_state *s, uint64_t at, uint64_t k, uint64_t nb,
			    uint64_t *rt, struct vk_err *err)
{
	uint64_t end = at + k + nb, next = at + k, i, c;
	_cleanup_free_ uint8_t *block = malloc(s->cluster_size);
	int r;

	if (!block)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = at >> s->rb_bits; i <= (end - 1) >> s->rb_bits; i++) {
		if (i < s->rt_size && s->rt[i])
			continue;
		memset(block, 0, s->cluster_size);
		for (c = MAX(at, i << s->rb_bits); c < end && (c >> s->rb_bits) == i; c++)
			qcow2_rb_set(block, s->refcount_order, c & ((1ULL << s->rb_bits) - 1), 1);
		rt[i] = next << s->cluster_bits;
		r = vk_blk_file_pwrite(s->bs, block, rt[i], s->cluster_size, err);
		if (r < 0)
			return r;
		next++;
	}
	/* Clusters of the new area covered by existing blocks. */
	for (c = at; c < end; c++) {
		i = c >> s->rb_bits;
		if (i < s->rt_size && s->rt[i]) {
			r = qcow2_set_refcount(s, c, 1, err);
			if (r < 0)
				return r;
		}
	}
	return qcow2_cache_flush(s->rb_cache, err);
}

static int grow_table(struct qcow2_state *s, uint64_t min_index, struct vk_err *err)
{
	uint64_t at = s->end_cluster, k, nb, old_off = s->rt_offset, old_n = s->rt_clusters, i;
	_cleanup_free_ uint8_t *raw = NULL;
	uint64_t *rt;
	uint8_t hdr[12];
	int r;

	plan_table(s, min_index, at, &k, &nb);
	if (k * s->cluster_size > QCOW2_MAX_RT_BYTES)
		return vk_fail(err, -EFBIG, "%s: refcount table would exceed %llu bytes",
			       s->bs->filename, (unsigned long long)QCOW2_MAX_RT_BYTES);
	rt = calloc(k * s->cluster_size / 8, 8);
	raw = malloc(k * s->cluster_size);
	if (!rt || !raw) {
		free(rt);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	memcpy(rt, s->rt, s->rt_size * 8);
	r = write_new_blocks(s, at, k, nb, rt, err);
	if (r < 0) {
		free(rt);
		return r;
	}
	for (i = 0; i < k * s->cluster_size / 8; i++)
		qcow2_set_be64(raw, i, rt[i]);
	r = vk_blk_file_pwrite(s->bs, raw, at << s->cluster_bits, k * s->cluster_size, err);
	if (r < 0 || fdatasync(s->bs->fd) < 0) {
		free(rt);
		return r < 0 ? r : vk_fail(err, -errno, "%s: sync: %s", s->bs->filename,
					   strerror(errno));
	}
	qcow2_set_be64(hdr, 0, at << s->cluster_bits);
	hdr[8] = (uint8_t)(k >> 24);
	hdr[9] = (uint8_t)(k >> 16);
	hdr[10] = (uint8_t)(k >> 8);
	hdr[11] = (uint8_t)k;
	r = vk_blk_file_pwrite(s->bs, hdr, HDR_RT_OFFSET, sizeof(hdr), err);
	free(s->rt);
	s->rt = rt;
	s->rt_size = k * s->cluster_size / 8;
	s->rt_offset = at << s->cluster_bits;
	s->rt_clusters = (uint32_t)k;
	s->end_cluster = MAX(s->end_cluster, at + k + nb);
	qcow2_rt_bound(s);
	if (r < 0)
		return r;
	return qcow2_free_range(s, old_off, old_n << s->cluster_bits, err);
}

/*
 * Is this a preallocated image (clusters allocated in qcow2, holes in the
 * file)? QEMU's test: clearly more clusters have a refcount than the file
 * system holds (a tenth more, and at least two more, so that a small image
 * whose copy-on-write left a hole is not taken for one). Only then do holes
 * in the file count as zeros in block status.
 */
int qcow2_detect_prealloc(struct qcow2_state *s, struct vk_err *err)
{
	uint64_t n = s->end_cluster, c, rc, used = 0, real, threshold;
	struct stat st;
	int r;

	if (fstat(s->bs->fd, &st) < 0)
		return vk_fail(err, -errno, "%s: %s", s->bs->filename, strerror(errno));
	real = (uint64_t)st.st_blocks * 512 / s->cluster_size;
	threshold = MAX(real * 10 / 9, real + 2);
	for (c = 0; c < n && used < threshold; c++) {
		r = qcow2_get_refcount(s, c, &rc, err);
		if (r < 0)
			return r;
		used += rc != 0;
	}
	return used >= threshold;
}
