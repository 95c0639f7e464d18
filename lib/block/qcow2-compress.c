// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 compressed cluster writes, as QEMU writes them: one cluster
 * deflated as a raw stream (window 2^12, zlib) or one zstd frame, stored at
 * byte granularity. Compressed clusters pack into host clusters one after
 * the other; a host cluster's refcount is the number of compressed clusters
 * that touch it (what qemu-img check expects).
 *
 * Order on disk, for crash safety: compressed bytes and the refcounts of
 * their host clusters before the L2 entry (the L2 cache depends on the
 * refcount cache), and what an overwritten entry pointed at is released
 * only once the L2 table no longer names it.
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "qcow2.h"

/*
 * Compression contexts, one per thread: compressing is the costly part and
 * convert -c runs it on several threads. Kept for the thread's life.
 */
static __thread z_stream *tls_z;
static __thread ZSTD_CCtx *tls_zstd;

static ssize_t deflate_zlib(void *out, size_t cap, const void *in, size_t len)
{
	int r;

	if (!tls_z) {
		tls_z = calloc(1, sizeof(*tls_z));
		if (!tls_z)
			return -ENOMEM;
		/* Raw deflate, 4 KiB window: QEMU's parameters (its reader expects no header). */
		if (deflateInit2(tls_z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
				 Z_DEFAULT_STRATEGY) != Z_OK) {
			free(tls_z);
			tls_z = NULL;
			return -ENOMEM;
		}
	} else if (deflateReset(tls_z) != Z_OK) {
		return -EIO;
	}
	tls_z->next_in = (Bytef *)in;
	tls_z->avail_in = (uInt)len;
	tls_z->next_out = out;
	tls_z->avail_out = (uInt)cap;
	r = deflate(tls_z, Z_FINISH);
	if (r != Z_STREAM_END)
		return 0;	/* does not fit: store it uncompressed */
	return (ssize_t)(cap - tls_z->avail_out);
}

static ssize_t deflate_zstd(void *out, size_t cap, const void *in, size_t len)
{
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_outBuffer ob = { out, cap, 0 };
	size_t r;

	if (!tls_zstd) {
		tls_zstd = ZSTD_createCCtx();
		if (!tls_zstd)
			return -ENOMEM;
	}
	ZSTD_CCtx_reset(tls_zstd, ZSTD_reset_session_only);
	r = ZSTD_compressStream2(tls_zstd, &ob, &ib, ZSTD_e_end);
	if (ZSTD_isError(r) || r != 0)
		return 0;	/* error or output full: store it uncompressed */
	return (ssize_t)ob.pos;
}

/* The cluster padded with zeros at the image's end, as QEMU pads it. */
ssize_t qcow2_compress(struct vk_blk *bs, void *out, size_t cap, const void *in, size_t len)
{
	struct qcow2_state *s = bs->opaque;
	_cleanup_free_ uint8_t *pad = NULL;

	if (len > s->cluster_size)
		return -EINVAL;
	if (len < s->cluster_size) {
		pad = calloc(1, s->cluster_size);
		if (!pad)
			return -ENOMEM;
		memcpy(pad, in, len);
		in = pad;
		len = s->cluster_size;
	}
	/* Compressed data must be smaller than a cluster, or it is not worth it. */
	cap = MIN(cap, s->cluster_size - 1);
	if (s->compression_type == QCOW2_COMPRESS_ZSTD)
		return deflate_zstd(out, cap, in, len);
	return deflate_zlib(out, cap, in, len);
}

/*
 * Byte-granular allocation for compressed data: continue in the host
 * cluster the last compressed cluster ended in while it has room, or in a
 * new cluster right after it, else start a new cluster. Every host
 * cluster the data touches gains one reference.
 */
static int alloc_bytes(struct qcow2_state *s, uint64_t size, uint64_t *out, struct vk_err *err)
{
	uint64_t cs = s->cluster_size, off = s->free_byte_offset, host, rc;
	int r;

	if (off & (cs - 1)) {
		/* The cluster must still be ours: freeing it clears free_byte_offset. */
		r = qcow2_get_refcount(s, off >> s->cluster_bits, &rc, err);
		if (r < 0)
			return r;
		if (!rc)
			off = 0;
	} else {
		off = 0;
	}
	if (off && cs - (off & (cs - 1)) >= size) {
		r = qcow2_get_refcount(s, off >> s->cluster_bits, &rc, err);
		if (!r)
			r = qcow2_set_refcount(s, off >> s->cluster_bits, rc + 1, err);
		if (r < 0)
			return r;
		*out = off;
		s->free_byte_offset = off + size;
		return 0;
	}
	r = qcow2_alloc_clusters(s, 1, &host, err);
	if (r < 0)
		return r;
	if (off && host == ALIGN_UP(off, cs)) {
		/* Contiguous: the data straddles the old cluster's tail and the new one. */
		r = qcow2_get_refcount(s, off >> s->cluster_bits, &rc, err);
		if (!r)
			r = qcow2_set_refcount(s, off >> s->cluster_bits, rc + 1, err);
		if (r < 0)
			return r;
	} else {
		off = host;
	}
	*out = off;
	s->free_byte_offset = off + size;
	return 0;
}

static int store(struct qcow2_state *s, uint64_t vc, const void *cdata, size_t clen,
		 struct vk_err *err)
{
	uint64_t host, nsect, old, l2i = vc & ((1ULL << s->l2_bits) - 1);
	void *l2;
	int r;

	/* The L2 table first, then the bytes, as QEMU allocates them: the same layout. */
	r = qcow2_get_l2_for_write(s, vc, &l2, err);
	if (r < 0)
		return r;
	qcow2_cache_put(s->l2_cache, &l2);
	r = alloc_bytes(s, clen, &host, err);
	if (r < 0)
		return r;
	if (host < s->cluster_size)
		return vk_fail(err, -EUCLEAN, "%s: compressed data would overwrite the header",
			       s->bs->filename);
	r = vk_blk_file_pwrite(s->bs, cdata, host, clen, err);
	if (r < 0)
		return r;
	/* Sectors touched, less one, in the bits above the offset. */
	nsect = ((host + clen - 1) >> 9) - (host >> 9);
	r = qcow2_get_l2_for_write(s, vc, &l2, err);
	if (r < 0)
		return r;
	old = qcow2_be64(l2, l2i);
	qcow2_set_be64(l2, l2i, QCOW_OFLAG_COMPRESSED | (nsect << s->csize_shift) | host);
	qcow2_cache_mark_dirty(s->l2_cache, l2);
	qcow2_cache_put(s->l2_cache, &l2);
	return qcow2_release_entries(s, &old, 1, err);
}

int qcow2_pwrite_compressed(struct vk_blk *bs, uint64_t off, const void *buf, size_t len,
			    const void *cdata, size_t clen, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	_cleanup_free_ uint8_t *tmp = NULL;
	ssize_t n;

	/* A compressed cluster has no place in a data file mapped one to one. */
	if (qcow2_has_data_file(s))
		return vk_fail(err, -ENOTSUP, "%s: compressed clusters cannot go to a data file",
			       bs->filename);
	if (!len) {
		/* The end of a compressed stream: the file ends on a sector boundary, as QEMU's. */
		int64_t fsize = vk_blk_file_size(bs);

		if (fsize < 0)
			return vk_fail(err, (int)fsize, "%s: %s", bs->filename, strerror((int)-fsize));
		if ((fsize & 511) && ftruncate(bs->fd, (off_t)ALIGN_UP((uint64_t)fsize, 512)) < 0)
			return vk_fail(err, -errno, "%s: %s", bs->filename, strerror(errno));
		return 0;
	}
	if ((off & (s->cluster_size - 1)) ||
	    (len != s->cluster_size && off + len != s->size) || len > s->cluster_size)
		return vk_fail(err, -EINVAL, "%s: compressed writes must be whole clusters",
			       bs->filename);
	if (!cdata) {
		tmp = malloc(s->cluster_size);
		if (!tmp)
			return vk_fail(err, -ENOMEM, "out of memory");
		n = qcow2_compress(bs, tmp, s->cluster_size, buf, len);
		if (n < 0)
			return vk_fail(err, (int)n, "%s: compression failed", bs->filename);
		cdata = tmp;
		clen = (size_t)n;
	}
	if (!clen)
		return qcow2_write(bs, buf, off, len, err);
	return store(s, off >> s->cluster_bits, cdata, clen, err);
}
