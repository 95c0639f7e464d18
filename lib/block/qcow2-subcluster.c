// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 extended L2 entries (incompatible feature bit 4), for reading: each
 * L2 entry is 128 bits, the usual descriptor followed by a bitmap whose low
 * 32 bits say which of the cluster's 32 subclusters are allocated and whose
 * high 32 bits say which read as zeros. Compressed clusters have no
 * subclusters. Writing such images is refused at open (qcow2.c).
 */
#include <errno.h>

#include "qcow2.h"

#define SUBCLUSTERS	32
#define ALL_ALLOC	0xffffffffULL

/* What one subcluster is; UNALLOC_ALLOC has a host cluster but no data in it yet. */
enum sc_type { SC_UNALLOC, SC_UNALLOC_ALLOC, SC_ZERO_PLAIN, SC_ZERO_ALLOC, SC_NORMAL,
	       SC_COMPRESSED, SC_INVALID };

/* Has the entry a host cluster? Offset 0 is a data file's first cluster when COPIED says so. */
static bool has_host(const struct qcow2_state *s, uint64_t e)
{
	return (e & L2E_OFFSET_MASK) || (qcow2_has_data_file(s) && (e & QCOW_OFLAG_COPIED));
}

static enum sc_type sc_type(const struct qcow2_state *s, uint64_t e, uint64_t bm, unsigned int sc)
{
	if (e & QCOW_OFLAG_COMPRESSED)
		return SC_COMPRESSED;
	if (has_host(s, e)) {
		if ((bm >> 32) & bm)
			return SC_INVALID;	/* a subcluster both allocated and zero */
		if (bm & (1ULL << (32 + sc)))
			return SC_ZERO_ALLOC;
		return (bm & (1ULL << sc)) ? SC_NORMAL : SC_UNALLOC_ALLOC;
	}
	if (bm & ALL_ALLOC)
		return SC_INVALID;		/* allocated subclusters without a cluster */
	return (bm & (1ULL << (32 + sc))) ? SC_ZERO_PLAIN : SC_UNALLOC;
}

static enum qcow2_cluster_type cluster_type(enum sc_type t)
{
	switch (t) {
	case SC_ZERO_PLAIN: return QCOW2_ZERO_PLAIN;
	case SC_ZERO_ALLOC: return QCOW2_ZERO_ALLOC;
	case SC_NORMAL: return QCOW2_NORMAL;
	case SC_COMPRESSED: return QCOW2_COMPRESSED;
	default: return QCOW2_UNALLOCATED;
	}
}

static int check_host(struct qcow2_state *s, uint64_t e, uint64_t vc, struct vk_err *err)
{
	uint64_t off = e & L2E_OFFSET_MASK;

	if (e & QCOW_OFLAG_COMPRESSED) {
		if ((e & s->cluster_offset_mask) < s->cluster_size)
			return vk_fail(err, -EINVAL, "%s: compressed cluster %llu points into the header",
				       s->bs->filename, (unsigned long long)vc);
		return 0;
	}
	if (!off)
		return 0;
	if (off & (s->cluster_size - 1))
		return vk_fail(err, -EINVAL, "%s: data cluster offset %#llx not cluster aligned",
			       s->bs->filename, (unsigned long long)off);
	if (off < s->cluster_size && !qcow2_has_data_file(s))
		return vk_fail(err, -EINVAL, "%s: data cluster offset %#llx points into the header",
			       s->bs->filename, (unsigned long long)off);
	return 0;
}

/* The subcluster at virtual offset off: its type and (where it has one) host offset. */
static int sc_at(struct qcow2_state *s, const void *l2, uint64_t l2i, uint64_t off,
		 enum sc_type *t, uint64_t *host, struct vk_err *err)
{
	uint64_t e = qcow2_be64(l2, 2 * l2i), bm = qcow2_be64(l2, 2 * l2i + 1);
	uint64_t in = off & (s->cluster_size - 1), vc = off >> s->cluster_bits;
	unsigned int sc = (unsigned int)(in / (s->cluster_size / SUBCLUSTERS));
	int r;

	*t = sc_type(s, e, bm, sc);
	if (*t == SC_COMPRESSED && qcow2_has_data_file(s))
		return vk_fail(err, -EIO,
			       "%s: Compressed cluster entry found in image with external data file (L2 index: %#llx)",
			       s->bs->filename, (unsigned long long)l2i);
	if (*t == SC_INVALID)
		return vk_fail(err, -EINVAL, "%s: L2 entry of cluster %llu has an invalid subcluster bitmap (%#llx)",
			       s->bs->filename, (unsigned long long)vc, (unsigned long long)bm);
	r = check_host(s, e, vc, err);
	if (r < 0)
		return r;
	if (*t == SC_COMPRESSED)
		*host = e;
	else if (has_host(s, e))
		*host = (e & L2E_OFFSET_MASK) + in;
	else
		*host = 0;
	return 0;
}

/*
 * qcow2_get_extent for extended L2 entries: the run at off of subclusters of
 * one type, contiguous on the host where they have host offsets. A run of
 * unallocated subclusters in an allocated cluster comes back as
 * QCOW2_UNALLOCATED with *host set (QEMU reports that offset in map).
 */
int qcow2_sc_get_extent(struct qcow2_state *s, uint64_t off, uint64_t len, uint64_t *pnum,
			uint64_t *host, enum qcow2_cluster_type *type, struct vk_err *err)
{
	uint64_t cs = s->cluster_size, scs = cs / SUBCLUSTERS, vc = off >> s->cluster_bits;
	uint64_t l1i = vc >> s->l2_bits, l2i = vc & ((1ULL << s->l2_bits) - 1), n, h;
	uint64_t max = MIN(len, ((1ULL << s->l2_bits) - l2i) * cs - (off & (cs - 1)));
	enum sc_type first, t;
	bool hv;			/* the run has host offsets (contiguous ones) */
	void *l2;
	int r;

	if (l1i >= s->l1_size)
		return vk_fail(err, -EINVAL, "%s: offset %#llx beyond the L1 table", s->bs->filename,
			       (unsigned long long)off);
	*host = 0;
	if (!(s->l1[l1i] & L1E_OFFSET_MASK)) {
		*type = QCOW2_UNALLOCATED;
		*pnum = max;
		return 0;
	}
	r = qcow2_read_l2(s, (uint32_t)l1i, &l2, err);
	if (r < 0)
		return r;
	r = sc_at(s, l2, l2i, off, &first, host, err);
	if (r < 0)
		goto out;
	hv = first == SC_NORMAL || first == SC_ZERO_ALLOC || first == SC_UNALLOC_ALLOC;
	n = (first == SC_COMPRESSED ? cs : scs) - (off & ((first == SC_COMPRESSED ? cs : scs) - 1));
	while (first != SC_COMPRESSED && n < max) {
		uint64_t next = off + n;

		/* A bad entry further on ends the run; reading it reports the problem. */
		if (sc_at(s, l2, (next >> s->cluster_bits) & ((1ULL << s->l2_bits) - 1), next, &t,
			  &h, NULL) || t != first || (hv && h != *host + n))
			break;
		n += scs;
	}
	*pnum = MIN(n, max);
	*type = cluster_type(first);
out:
	qcow2_cache_put(s->l2_cache, &l2);
	return r;
}

/*
 * Has the cluster at off a host cluster? For a run qcow2_sc_get_extent
 * gave as unallocated with *host 0: a data file's first cluster is at
 * host offset 0 (QEMU shows that offset in map).
 */
bool qcow2_sc_has_host(struct qcow2_state *s, uint64_t off)
{
	uint64_t vc = off >> s->cluster_bits, l1i = vc >> s->l2_bits;
	bool r;
	void *l2;

	if (l1i >= s->l1_size || !(s->l1[l1i] & L1E_OFFSET_MASK) ||
	    qcow2_read_l2(s, (uint32_t)l1i, &l2, NULL) < 0)
		return false;
	r = has_host(s, qcow2_be64(l2, 2 * (vc & ((1ULL << s->l2_bits) - 1))));
	qcow2_cache_put(s->l2_cache, &l2);
	return r;
}
