// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 external data files (incompatible feature bit 2, the "DATA" header
 * extension naming the file): guest data goes to another file while the
 * L1/L2 tables and refcounts stay in the image file. QEMU maps each guest
 * cluster to the same offset of the data file and keeps no refcounts for
 * data clusters, so nothing here allocates: the guest offset is the host
 * offset. With data_file_raw (autoclear bit 1) the data file alone must
 * read as the guest's disk, so zeros are written there too.
 *
 * The file is opened as QEMU 7.2 opens it: by the name recorded in the
 * header, relative to the current directory (not the image's), with the
 * image's read-only, cache and locking flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "qcow2.h"

int qcow2_data_open(struct qcow2_state *s, struct vk_err *err)
{
	struct vk_blk *bs = s->bs;
	struct vk_blk_opts o = {
		.format = "raw",
		.flags = (bs->flags & ~VK_BLK_NO_IO) | VK_BLK_NO_BACKING,
	};
	struct vk_err inner = { 0 };
	int r;

	/* qemu-img info opens no data file (QEMU's BDRV_O_NO_IO): it reads metadata only. */
	if (bs->flags & VK_BLK_NO_IO)
		return 0;
	if (!qcow2_has_data_file(s)) {
		if (s->autoclear & QCOW2_AUTOCLEAR_DATA_RAW)
			return vk_fail(err, -EINVAL, "%s: data-file-raw requires a data file",
				       bs->filename);
		return 0;
	}
	if (!s->data_file)
		return vk_fail(err, -EINVAL, "%s: 'data-file' is required for this image",
			       bs->filename);
	r = vk_blk_open(s->data_file, &o, &s->data, &inner);
	if (r < 0)
		return vk_fail(err, r, "%s", inner.msg);
	return 0;
}

void qcow2_data_close(struct qcow2_state *s)
{
	vk_blk_close(s->data);
	s->data = NULL;
}

/* Where data clusters live: the data file, or the image file itself. */
static struct vk_blk *data_bs(struct qcow2_state *s, struct vk_err *err)
{
	if (!qcow2_has_data_file(s))
		return s->bs;
	if (!s->data)
		vk_fail(err, -EIO, "%s: the data file '%s' is not open (metadata only)",
			s->bs->filename, s->data_file ? s->data_file : "");
	return s->data;
}

int qcow2_data_pread(struct qcow2_state *s, void *buf, uint64_t off, size_t len,
		     struct vk_err *err)
{
	struct vk_blk *d = data_bs(s, err);

	/* A data file shorter than the image reads as zeros past its end, as a hole would. */
	return d ? vk_blk_file_pread(d, buf, off, len, true, err) : -EIO;
}

int qcow2_data_pwrite(struct qcow2_state *s, const void *buf, uint64_t off, size_t len,
		      struct vk_err *err)
{
	struct vk_blk *d = data_bs(s, err);

	return d ? vk_blk_file_pwrite(d, buf, off, len, err) : -EIO;
}

/*
 * What dropped L2 entries (discard, zeroing) pointed at in the data file
 * becomes a hole there, as QEMU passes the discard down to the data file.
 * The tables that dropped them reach the image file first: a crash in
 * between must not leave an entry pointing at a hole.
 */
int qcow2_data_punch_entries(struct qcow2_state *s, const uint64_t *old, uint64_t n,
			     struct vk_err *err)
{
	enum qcow2_cluster_type t;
	uint64_t i;
	bool any = false;
	int r;

	for (i = 0; i < n; i++) {
		t = qcow2_entry_type(s, old[i]);
		any |= t == QCOW2_NORMAL || t == QCOW2_ZERO_ALLOC;
	}
	if (!any || !s->data)
		return 0;
	r = qcow2_cache_flush(s->l2_cache, err);
	for (i = 0; i < n && !r; i++) {
		t = qcow2_entry_type(s, old[i]);
		if (t == QCOW2_NORMAL || t == QCOW2_ZERO_ALLOC)
			(void)fallocate(s->data->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)(old[i] & L2E_OFFSET_MASK), (off_t)s->cluster_size);
	}
	return r;
}

/*
 * Zeros in the data file itself (data_file_raw: a zero cluster must read as
 * zeros there too). A hole where the file system can punch one, else
 * written zeros.
 */
int qcow2_data_write_zeroes(struct qcow2_state *s, uint64_t off, uint64_t len,
			    struct vk_err *err)
{
	static const uint8_t zero[65536];
	struct vk_blk *d = data_bs(s, err);
	uint64_t n;
	int r;

	if (!d)
		return -EIO;
	if (!d->align && !fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    (off_t)off, (off_t)len))
		return 0;
	for (; len; off += n, len -= n) {
		n = MIN(len, sizeof(zero));
		r = vk_blk_file_pwrite(d, zero, off, n, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* An external data file is as long as the image, as QEMU resizes it (both ways). */
int qcow2_data_truncate(struct qcow2_state *s, uint64_t size, struct vk_err *err)
{
	if (!qcow2_has_data_file(s))
		return 0;
	if (!s->data)
		return vk_fail(err, -EIO, "%s: the data file '%s' is not open (metadata only)",
			       s->bs->filename, s->data_file ? s->data_file : "");
	if (ftruncate(s->data->fd, (off_t)size) < 0)
		return vk_fail(err, -errno, "%s: %s", s->data->filename, strerror(errno));
	return 0;
}

/* At least size bytes long (preallocated clusters lie wholly inside it). */
int qcow2_data_extend(struct qcow2_state *s, uint64_t size, struct vk_err *err)
{
	int64_t len;

	if (!s->data)
		return 0;
	len = vk_blk_file_size(s->data);
	if (len < 0)
		return vk_fail(err, (int)len, "%s: %s", s->data->filename, strerror((int)-len));
	if ((uint64_t)len < size && ftruncate(s->data->fd, (off_t)size) < 0)
		return vk_fail(err, -errno, "%s: %s", s->data->filename, strerror(errno));
	return 0;
}

/* The data file durable too: a flush promises the guest's data, not only our tables. */
int qcow2_data_sync(struct qcow2_state *s, struct vk_err *err)
{
	if (!s->data || s->data->read_only)
		return 0;
	return vk_blk_file_sync(s->data, err);
}

/* The image itself named as its data file: QEMU's lock on the image refuses it so. */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * The data file as qemu-img creates it, after the image file and before its
 * metadata: created or truncated to empty, then sized to the image (sparse).
 */
int qcow2_data_create(const char *name, const struct vk_blk_create_opts *o, int image_fd,
		      struct vk_err *err)
{
	bool created = true;
	int fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int e;

	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = open(name, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return vk_fail(err, -errno, "Could not create '%s': %s", name, strerror(errno));
	if (same_file(fd, image_fd)) {
		close(fd);
		return vk_fail(err, -EBUSY,
			       "Failed to get shared \"resize\" lock\nIs another process using the image [%s]?",
			       name);
	}
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)o->size) < 0) {
		e = errno;
		close(fd);
		if (created)
			unlink(name);	/* a size the file system refuses leaves nothing */
		return vk_fail(err, -e, "Could not resize file: %s", strerror(e));
	}
	close(fd);
	return 0;
}
