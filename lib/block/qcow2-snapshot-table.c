// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The qcow2 snapshot table: reading it (every field checked: offsets inside
 * the file, bounded counts, sizes and L1 tables, no overlap with other
 * metadata) and writing it anew (new clusters, synced, then the header
 * names them, then the old table is freed).
 */
#include <errno.h>
#include <string.h>

#include "qcow2.h"

#define SN_HDR_BYTES		40
#define SN_EXTRA_BYTES		24	/* vm_state_size_large, disk_size, icount */
#define MAX_SNAPSHOTS		65536
#define MAX_SN_EXTRA		1024
#define MAX_TABLE_BYTES		(64 * MiB)

void qcow2_snapshot_clear(struct qcow2_snapshot *sn)
{
	free(sn->id);
	free(sn->name);
	free(sn->extra);
}

void qcow2_snapshots_free(struct qcow2_state *s)
{
	uint32_t i;

	for (i = 0; s->snapshots && i < s->nb_snapshots; i++)
		qcow2_snapshot_clear(&s->snapshots[i]);
	free(s->snapshots);
	s->snapshots = NULL;
}

static uint64_t be_field(const uint8_t *extra, uint32_t size, uint32_t at, uint64_t dflt)
{
	return size >= at + 8 ? be_get64(extra + at) : dflt;
}

/* Read [off, off+len) of the table, which must lie inside the file. */
static int read_part(struct qcow2_state *s, void *buf, uint64_t off, uint64_t len,
		     uint64_t fsize, struct vk_err *err)
{
	if (off > fsize || len > fsize - off)
		return vk_fail(err, -EINVAL, "%s: snapshot table runs past the end of the file",
			       s->bs->filename);
	return vk_blk_file_pread(s->bs, buf, off, len, false, err);
}

static int parse_entry(struct qcow2_state *s, struct qcow2_snapshot *sn, uint64_t *pos,
		       uint64_t fsize, struct vk_err *err)
{
	uint8_t h[SN_HDR_BYTES];
	uint32_t id_len, name_len;
	int r;

	r = read_part(s, h, *pos, sizeof(h), fsize, err);
	if (r < 0)
		return r;
	sn->l1_offset = be_get64(h);
	sn->l1_size = be_get32(h + 8);
	id_len = be_get32(h + 12) >> 16;
	name_len = be_get32(h + 12) & 0xffff;
	sn->date_sec = be_get32(h + 16);
	sn->date_nsec = be_get32(h + 20);
	sn->vm_clock_nsec = be_get64(h + 24);
	sn->extra_size = be_get32(h + 36);
	if (sn->extra_size > MAX_SN_EXTRA)
		return vk_fail(err, -EFBIG, "%s: snapshot extra data of %u bytes is too large",
			       s->bs->filename, sn->extra_size);
	if (*pos + SN_HDR_BYTES + sn->extra_size + id_len + name_len >
	    s->snapshots_offset + MAX_TABLE_BYTES)
		return vk_fail(err, -EFBIG, "%s: snapshot table too large", s->bs->filename);
	sn->extra = calloc(1, sn->extra_size + 1);
	sn->id = calloc(1, id_len + 1);
	sn->name = calloc(1, name_len + 1);
	if (!sn->extra || !sn->id || !sn->name)
		return vk_fail(err, -ENOMEM, "out of memory");
	*pos += SN_HDR_BYTES;
	r = read_part(s, sn->extra, *pos, sn->extra_size, fsize, err);
	if (!r)
		r = read_part(s, sn->id, *pos + sn->extra_size, id_len, fsize, err);
	if (!r)
		r = read_part(s, sn->name, *pos + sn->extra_size + id_len, name_len, fsize, err);
	if (r < 0)
		return r;
	*pos = ALIGN_UP(*pos + sn->extra_size + id_len + name_len, 8);
	sn->vm_state_size = be_field(sn->extra, sn->extra_size, 0, be_get32(h + 32));
	sn->disk_size = be_field(sn->extra, sn->extra_size, 8, s->size);
	sn->icount = be_field(sn->extra, sn->extra_size, 16, UINT64_MAX);
	return 0;
}

static bool ranges_meet(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* A snapshot's L1 table: sane size, inside the file, clear of the other tables. */
static int check_snapshot_l1(struct qcow2_state *s, const struct qcow2_snapshot *sn,
			     struct vk_err *err)
{
	uint64_t bytes = (uint64_t)sn->l1_size * 8;
	int r;

	if (bytes > QCOW2_MAX_L1_BYTES)
		return vk_fail(err, -EFBIG, "%s: snapshot '%s': L1 size %u too large",
			       s->bs->filename, sn->name, sn->l1_size);
	if (!bytes)
		return 0;
	r = qcow2_check_offset(s, "snapshot L1 table", sn->l1_offset, bytes, err);
	if (r < 0)
		return r;
	if (ranges_meet(sn->l1_offset, bytes, s->l1_offset, (uint64_t)s->l1_size * 8) ||
	    ranges_meet(sn->l1_offset, bytes, s->rt_offset,
			(uint64_t)s->rt_clusters * s->cluster_size) ||
	    ranges_meet(sn->l1_offset, bytes, s->snapshots_offset, s->snapshots_size))
		return vk_fail(err, -EINVAL, "%s: snapshot '%s': L1 table overlaps other metadata",
			       s->bs->filename, sn->name);
	return 0;
}

static int check_table(struct qcow2_state *s, struct vk_err *err)
{
	uint32_t i;
	int r;

	if (ranges_meet(s->snapshots_offset, s->snapshots_size, s->l1_offset,
			(uint64_t)s->l1_size * 8) ||
	    ranges_meet(s->snapshots_offset, s->snapshots_size, s->rt_offset,
			(uint64_t)s->rt_clusters * s->cluster_size))
		return vk_fail(err, -EINVAL, "%s: snapshot table overlaps other metadata",
			       s->bs->filename);
	for (i = 0; i < s->nb_snapshots; i++) {
		r = check_snapshot_l1(s, &s->snapshots[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

int qcow2_snapshots_load(struct qcow2_state *s, uint64_t offset, struct vk_err *err)
{
	int64_t fsize = vk_blk_file_size(s->bs);
	uint64_t pos = offset;
	uint32_t i, n = s->nb_snapshots;
	int r;

	s->nb_snapshots = 0;
	s->snapshots_offset = offset;
	if (!n)
		return 0;
	if (n > MAX_SNAPSHOTS)
		return vk_fail(err, -EFBIG, "%s: Snapshot table too large", s->bs->filename);
	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", s->bs->filename, strerror((int)-fsize));
	r = qcow2_check_offset(s, "snapshot table", offset, (uint64_t)n * SN_HDR_BYTES, err);
	if (r < 0)
		return r;
	s->snapshots = calloc(n, sizeof(*s->snapshots));
	if (!s->snapshots)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		s->nb_snapshots = i + 1;	/* so that a failure frees this entry too */
		r = parse_entry(s, &s->snapshots[i], &pos, (uint64_t)fsize, err);
		if (r < 0)
			return r;
	}
	s->snapshots_size = pos - offset;
	return check_table(s, err);
}

int qcow2_snapshot_read_l1(struct qcow2_state *s, const struct qcow2_snapshot *sn, uint64_t **l1,
			   struct vk_err *err)
{
	uint64_t bytes = (uint64_t)sn->l1_size * 8, i;
	uint64_t *t = malloc(bytes + 8);
	int r;

	if (!t)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = bytes ? vk_blk_file_pread(s->bs, t, sn->l1_offset, bytes, false, err) : 0;
	if (r < 0) {
		free(t);
		return r;
	}
	for (i = 0; i < sn->l1_size; i++)
		t[i] = be64toh(t[i]);
	*l1 = t;
	return 0;
}

bool qcow2_snapshot_overlap(struct qcow2_state *s, uint64_t host, uint64_t len)
{
	uint32_t i;

	if (ranges_meet(host, len, s->snapshots_offset, s->snapshots_size))
		return true;
	for (i = 0; i < s->nb_snapshots; i++)
		if (ranges_meet(host, len, s->snapshots[i].l1_offset,
				(uint64_t)s->snapshots[i].l1_size * 8))
			return true;
	return false;
}

static uint64_t entry_bytes(const struct qcow2_snapshot *sn)
{
	return ALIGN_UP(SN_HDR_BYTES + MAX(sn->extra_size, SN_EXTRA_BYTES) + strlen(sn->id) +
			strlen(sn->name), 8);
}

static void put_entry(uint8_t *p, const struct qcow2_snapshot *sn)
{
	uint32_t extra = MAX(sn->extra_size, SN_EXTRA_BYTES);
	size_t id_len = strlen(sn->id), name_len = strlen(sn->name);

	be_put64(p, sn->l1_offset);
	be_put32(p + 8, sn->l1_size);
	be_put32(p + 12, (uint32_t)(id_len << 16 | name_len));
	be_put32(p + 16, sn->date_sec);
	be_put32(p + 20, sn->date_nsec);
	be_put64(p + 24, sn->vm_clock_nsec);
	be_put32(p + 32, sn->vm_state_size > UINT32_MAX ? 0 : (uint32_t)sn->vm_state_size);
	be_put32(p + 36, extra);
	p += SN_HDR_BYTES;
	if (sn->extra_size)
		memcpy(p, sn->extra, sn->extra_size);	/* fields we do not know stay */
	be_put64(p, sn->vm_state_size);
	be_put64(p + 8, sn->disk_size);
	be_put64(p + 16, sn->icount);
	p += extra;
	memcpy(p, sn->id, id_len);
	memcpy(p + id_len, sn->name, name_len);
}

/*
 * Write list as the new snapshot table: new clusters, synced, then the
 * header names them (one 12-byte write), then the old table is freed.
 */
int qcow2_snapshots_write(struct qcow2_state *s, struct qcow2_snapshot *list, uint32_t n,
		       struct vk_err *err)
{
	uint64_t size = 0, off = 0, old_off = s->snapshots_offset, old_size = s->snapshots_size;
	_cleanup_free_ uint8_t *buf = NULL;
	uint8_t hdr[12], *p;
	uint32_t i;
	int r;

	for (i = 0; i < n; i++)
		size += entry_bytes(&list[i]);
	if (size > MAX_TABLE_BYTES)
		return vk_fail(err, -EFBIG, "%s: snapshot table would exceed %llu bytes",
			       s->bs->filename, (unsigned long long)MAX_TABLE_BYTES);
	buf = calloc(1, size + 1);
	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0, p = buf; i < n; i++) {
		put_entry(p, &list[i]);
		p += entry_bytes(&list[i]);
	}
	if (size) {
		r = qcow2_alloc_clusters(s, (size + s->cluster_size - 1) >> s->cluster_bits, &off, err);
		if (!r)
			r = vk_blk_file_pwrite(s->bs, buf, off, size, err);
		if (r < 0)
			return r;
	}
	r = qcow2_flush(s->bs, err);
	if (r < 0)
		return r;
	be_put32(hdr, n);
	be_put64(hdr + 4, off);
	r = vk_blk_file_pwrite(s->bs, hdr, HDR_NB_SNAPSHOTS, sizeof(hdr), err);
	if (!r && fdatasync(s->bs->fd) < 0)
		r = vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	if (r < 0)
		return r;
	s->snapshots_offset = off;
	s->snapshots_size = size;
	return old_size ? qcow2_free_range(s, old_off, old_size, err) : 0;
}
