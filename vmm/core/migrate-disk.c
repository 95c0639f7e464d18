// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Live migration with local disks (QMP migrate "blk": true, Proxmox's
 * --with-local-disks): the disks' contents go with the RAM, for a
 * destination whose disks are its own files of the same sizes.
 *
 * The disks are every writable disk that is not a CD-ROM, in config order,
 * on both sides (the same config). The sender announces them (DISKS: their
 * sizes, checked by the receiver), sends every chunk once while the guest
 * runs, then in each round what writes completed in since (dirty tracking,
 * vmm/block/track.c), and in the last round, with the devices drained, the
 * rest. Chunks of zeros go as DISK_ZERO records. The receiver takes its
 * disks as its own at DISKS (they are not the source's: nothing to wait
 * for) and writes each record where it says, checked against the disk.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migrate-int.h"
#include "vmkit/blk-backend.h"
#include "vmkit/vm.h"

/* The disks that go: writable, not CD-ROMs, in config order (the same on both sides). */
static int find_disks(struct vm *vm, struct mig_disks *m, struct vk_err *err)
{
	const struct vm_config *cfg = vm->cfg;
	unsigned int i;

	m->n = 0;
	for (i = 0; i < cfg->nr_disks; i++) {
		struct blk_backend *bb;

		if (cfg->disks[i].cdrom || cfg->disks[i].readonly || !cfg->disks[i].path)
			continue;
		bb = blk_backend_find(cfg->disks[i].path);
		if (!bb)
			return vk_fail(err, -ENODEV, "disk %s is not open", cfg->disks[i].path);
		m->d[m->n].bb = bb;
		m->d[m->n].size = blk_backend_length(bb);
		m->d[m->n].words = ((m->d[m->n].size + BLK_TRACK_CHUNK - 1) / BLK_TRACK_CHUNK + 63) / 64;
		m->n++;
	}
	if (posix_memalign((void **)&m->buf, BLK_ALIGN_DIRECT, BLK_TRACK_CHUNK))
		return vk_fail(err, -ENOMEM, "out of memory");
	return 0;
}

void mig_disks_close(struct mig_disks *m)
{
	unsigned int i;

	for (i = 0; i < m->n; i++) {
		if (m->tracking)
			blk_track_stop(m->d[i].bb);
		free(m->d[i].bits);
	}
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

/* ---- sending ---- */

int mig_disks_open(struct vm *vm, struct mig_disks *m, struct vk_err *err)
{
	unsigned int i;
	int r = find_disks(vm, m, err);

	for (i = 0; i < m->n && !r; i++) {
		m->d[i].bits = calloc(m->d[i].words ? m->d[i].words : 1, 8);
		if (!m->d[i].bits)
			r = vk_fail(err, -ENOMEM, "out of memory");
	}
	if (!r && !m->n)
		r = vk_fail(err, -ENOENT, "the VM has no writable disks to copy");
	/* Tracking first: a write from here on is in a round after the copy that read it. */
	for (i = 0; i < m->n && !r; i++) {
		r = blk_track_start(m->d[i].bb, err);
		m->tracking = true;
	}
	if (!r)
		for (i = 0; i < m->n; i++)
			memset(m->d[i].bits, 0xff, m->d[i].words * 8);
	if (r)
		mig_disks_close(m);
	return r;
}

uint64_t mig_disks_collect(struct mig_disks *m)
{
	uint64_t bytes = 0, w, *tmp;
	unsigned int i;

	for (i = 0; i < m->n; i++) {
		struct mig_disk *d = &m->d[i];

		tmp = calloc(d->words ? d->words : 1, 8);
		if (!tmp) {	/* cannot tell what changed: all of it */
			memset(d->bits, 0xff, d->words * 8);
		} else {
			blk_track_collect(d->bb, tmp);
			for (w = 0; w < d->words; w++)
				d->bits[w] |= tmp[w];
			free(tmp);
		}
	}
	for (i = 0; i < m->n; i++)
		for (w = 0; w < m->d[i].words; w++)
			bytes += (uint64_t)__builtin_popcountll(m->d[i].bits[w]) * BLK_TRACK_CHUNK;
	return bytes;
}

int mig_disks_announce(struct mig_disks *m, mig_put_fn put, void *s)
{
	uint64_t sizes[VM_MAX_DISKS];
	unsigned int i;

	for (i = 0; i < m->n; i++)
		sizes[i] = htole64(m->d[i].size);
	return put(s, REC_DISKS, 0, m->n, 0, sizes, m->n * sizeof(sizes[0]));
}

/* A read fails with err set; a send with its errno and err left empty (the caller words it). */
int mig_disks_send(struct mig_disks *m, mig_put_fn put, void *s, struct vk_err *err)
{
	unsigned int i;
	uint64_t c, n;
	int r = 0;

	for (i = 0; i < m->n && !r; i++) {
		struct mig_disk *d = &m->d[i];
		uint64_t nchunks = (d->size + BLK_TRACK_CHUNK - 1) / BLK_TRACK_CHUNK;

		for (c = 0; c < nchunks && !r; c++) {
			uint64_t off = c * BLK_TRACK_CHUNK;

			if (!(d->bits[c / 64] >> (c % 64) & 1)) {
				if (!d->bits[c / 64])
					c |= 63;	/* a clean word */
				continue;
			}
			d->bits[c / 64] &= ~(1ull << (c % 64));
			n = MIN((uint64_t)BLK_TRACK_CHUNK, d->size - off);
			r = blk_backend_pread_sync(d->bb, m->buf, off, (size_t)n, err);
			if (r)
				break;
			if (vk_buf_is_zero(m->buf, n))
				r = put(s, REC_DISK_ZERO, i, off, n, NULL, 0);
			else
				r = put(s, REC_DISK, i, off, n, m->buf, n);
		}
	}
	return r;
}

/* ---- receiving ---- */

int mig_disks_receive(struct vm *vm, struct mig_chan *c, uint32_t type, uint32_t idx,
		      uint64_t a, uint64_t b, struct mig_disks *m, struct vk_err *err)
{
	uint64_t sizes[VM_MAX_DISKS];
	struct mig_disk *d;
	unsigned int i;
	int r;

	if (type == REC_DISKS) {
		if (m->announced || a > VM_MAX_DISKS)
			return vk_fail(err, -EBADMSG, "damaged stream (disks announced again, or %llu)",
				       (unsigned long long)a);
		r = mig_recv_all(c, sizes, a * sizeof(sizes[0]));
		if (r)
			return vk_fail(err, r, "reading: %s", mig_wire_error(r));
		r = find_disks(vm, m, err);
		if (r)
			return r;
		m->announced = true;
		if (a != m->n)
			return vk_fail(err, -EINVAL, "the source copies %llu disks, this VM has %u "
				       "writable ones", (unsigned long long)a, m->n);
		for (i = 0; i < m->n; i++)
			if (le64toh(sizes[i]) != m->d[i].size)
				return vk_fail(err, -EINVAL, "disk %s is %llu bytes here, %llu on the "
					       "source", m->d[i].bb->path,
					       (unsigned long long)m->d[i].size,
					       (unsigned long long)le64toh(sizes[i]));
		/* Our own files, not the source's: written from now on. */
		return blk_backends_set_active(true, err);
	}
	if (!m->announced || idx >= m->n)
		return vk_fail(err, -EBADMSG, "damaged stream (disk %u not announced)", idx);
	d = &m->d[idx];
	if (!b || b > BLK_TRACK_CHUNK || a > d->size || b > d->size - a || (a | b) % 512)
		return vk_fail(err, -EBADMSG, "damaged stream (disk %u at 0x%llx+0x%llx)", idx,
			       (unsigned long long)a, (unsigned long long)b);
	if (type == REC_DISK_ZERO)
		return blk_backend_pwrite_sync(d->bb, NULL, a, (size_t)b, err);
	r = mig_recv_all(c, m->buf, (size_t)b);
	if (r)
		return vk_fail(err, r, "reading: %s", mig_wire_error(r));
	return blk_backend_pwrite_sync(d->bb, m->buf, a, (size_t)b, err);
}
