// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The vmdk driver, read-only: monolithicSparse and streamOptimized (one
 * "KDMV" file with its descriptor embedded) and descriptor files naming
 * extents (monolithicFlat, twoGbMaxExtent*, vmfs), resolved against the
 * descriptor's directory. What QEMU refuses to open, this refuses too;
 * writes, creation and opening for writing are refused with a clear error.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmdk.h"

static const char *const desc_types[] = {
	"monolithicFlat", "vmfs", "vmfsSparse", "seSparse", "twoGbMaxExtentSparse",
	"twoGbMaxExtentFlat",
};

int vmdk_pread(const struct vmdk_extent *e, void *buf, uint64_t off, size_t len,
	       bool zero_past_eof, struct vk_err *err)
{
	return vk_fd_pread(e->fd, e->path, buf, off, len, zero_past_eof, err);
}

static int vmdk_probe(const uint8_t *buf, size_t len)
{
	if (len >= 4 && (!memcmp(buf, "KDMV", 4) || !memcmp(buf, "COWD", 4)))
		return 100;
	return vmdk_probe_desc(buf, len) ? 100 : 0;
}

static int64_t fd_size(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);

	return end < 0 ? -errno : (int64_t)end;
}

static int add_extent(struct vk_blk *bs, struct vmdk_extent **out, struct vk_err *err)
{
	struct vmdk_state *s = bs->opaque;
	struct vmdk_extent *e;

	if (s->n >= VMDK_MAX_EXTENTS)
		return vk_fail(err, -EFBIG, "%s: more than %d extents", bs->filename,
			       VMDK_MAX_EXTENTS);
	e = realloc(s->ext, (s->n + 1) * sizeof(*e));
	if (!e)
		return vk_fail(err, -ENOMEM, "out of memory");
	s->ext = e;
	e = &s->ext[s->n++];
	memset(e, 0, sizeof(*e));
	e->fd = -1;
	*out = e;
	return 0;
}

/* An extent's place in the disk: after the ones before it. */
static int place_extent(struct vk_blk *bs, struct vmdk_extent *e, struct vk_err *err)
{
	struct vmdk_state *s = bs->opaque;

	if (e->size > (1ULL << 62) - s->size)
		return vk_fail(err, -EFBIG, "%s: virtual size too large", bs->filename);
	e->start = s->size;
	s->size += e->size;
	return 0;
}

struct desc_ctx {
	struct vk_blk *bs;
};

/*
 * An extent must lie in the descriptor's directory (or below it), symlinks
 * resolved: a descriptor is data someone handed us, and "/etc/shadow" or
 * "../../x" as an extent would make convert copy any file we can read.
 * VK_BLK_ANY_EXTENTS lifts this for the user who means it.
 */
static int check_extent_place(struct vk_blk *bs, const char *path, struct vk_err *err)
{
	_cleanup_free_ char *copy = strdup(bs->filename), *dir = NULL, *real = NULL;
	size_t n;

	if (bs->flags & VK_BLK_ANY_EXTENTS)
		return 0;
	if (!copy)
		return vk_fail(err, -ENOMEM, "out of memory");
	dir = realpath(dirname(copy), NULL);
	real = realpath(path, NULL);
	if (!dir || !real)
		return 0;	/* open names what is missing */
	n = strlen(dir);
	if (!strncmp(real, dir, n) && (real[n] == '/' || (n == 1 && dir[0] == '/')))
		return 0;
	return vk_fail(err, -EACCES,
		       "%s: extent '%s' lies outside the descriptor's directory (allow it with --vmdk-extents-anywhere)",
		       bs->filename, path);
}

static int open_extent(void *opaque, const char *type, uint64_t sectors, const char *fname,
		       uint64_t flat_offset, struct vk_err *err)
{
	struct vk_blk *bs = ((struct desc_ctx *)opaque)->bs;
	struct vmdk_extent *e;
	int64_t size;
	int r;

	r = add_extent(bs, &e, err);
	if (r < 0)
		return r;
	e->type = strdup(type);
	e->path = vk_blk_resolve_backing(bs->filename, fname);
	if (!e->type || !e->path)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = check_extent_place(bs, e->path, err);
	if (r < 0)
		return r;
	e->fd = open(e->path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0)
		return vk_fail(err, -errno, "%s: could not open extent '%s': %s", bs->filename,
			       e->path, strerror(errno));
	e->own_fd = true;
	size = fd_size(e->fd);
	if (size < 0)
		return vk_fail(err, (int)size, "%s: %s", e->path, strerror((int)-size));
	e->file_size = (uint64_t)size;
	if (!strcmp(type, "FLAT") || !strcmp(type, "VMFS")) {
		e->kind = VMDK_EXT_FLAT;
		e->size = sectors * VMDK_SECTOR;
		e->flat_offset = flat_offset * VMDK_SECTOR;
	} else if (!strcmp(type, "SPARSE")) {
		r = vmdk_sparse_open(e, err);	/* its size is its header's capacity, as QEMU */
		if (r < 0)
			return r;
	} else {
		return vk_fail(err, -ENOTSUP, "%s: Unsupported extent type '%s'", bs->filename,
			       type);
	}
	return place_extent(bs, e, err);
}

static int need_cids(struct vk_blk *bs, const struct vmdk_desc *d, struct vk_err *err)
{
	struct vmdk_state *s = bs->opaque;

	if (!d->has_cid || !d->has_parent_cid)
		return vk_fail(err, -EINVAL, "%s: descriptor has no %s", bs->filename,
			       d->has_cid ? "parentCID" : "CID");
	s->cid = d->cid;
	s->parent_cid = d->parent_cid;
	if (d->parent_hint[0]) {
		bs->backing_file = strdup(d->parent_hint);
		bs->backing_fmt = strdup("vmdk");
		if (!bs->backing_file || !bs->backing_fmt)
			return vk_fail(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* A descriptor file: the extents it names make the disk. */
static int open_desc_file(struct vk_blk *bs, int64_t fsize, struct vk_err *err)
{
	struct vmdk_state *s = bs->opaque;
	struct desc_ctx ctx = { bs };
	struct vmdk_desc_cb cb = { open_extent, &ctx };
	_cleanup_free_ char *text = NULL;
	struct vmdk_desc d;
	struct vmdk_extent dummy = { .fd = bs->fd, .path = bs->filename };
	size_t i;
	int r;

	if (fsize > (int64_t)VMDK_MAX_DESC)
		return vk_fail(err, -EFBIG, "%s: descriptor file larger than %llu bytes",
			       bs->filename, (unsigned long long)VMDK_MAX_DESC);
	text = malloc((size_t)fsize + 1);
	if (!text)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vmdk_pread(&dummy, text, 0, (size_t)fsize, false, err);
	if (r < 0)
		return r;
	/* createType first: QEMU refuses the types it does not know before opening anything. */
	r = vmdk_parse_desc(bs->filename, text, (size_t)fsize, &d, NULL, err);
	if (r < 0)
		return r;
	if (!d.create_type[0])
		return vk_fail(err, -EINVAL, "%s: invalid VMDK image descriptor (no createType)",
			       bs->filename);
	for (i = 0; i < ARRAY_SIZE(desc_types) && strcmp(d.create_type, desc_types[i]); i++)
		;
	if (i == ARRAY_SIZE(desc_types))
		return vk_fail(err, -ENOTSUP, "%s: Unsupported image type '%s'", bs->filename,
			       d.create_type);
	r = vmdk_parse_desc(bs->filename, text, (size_t)fsize, &d, &cb, err);
	if (r < 0)
		return r;
	if (!s->n)
		return vk_fail(err, -EINVAL, "%s: descriptor names no extents", bs->filename);
	s->create_type = strdup(d.create_type);
	if (!s->create_type)
		return vk_fail(err, -ENOMEM, "out of memory");
	return need_cids(bs, &d, err);
}

/* monolithicSparse / streamOptimized: the file is the one extent and holds the descriptor. */
static int open_monolithic(struct vk_blk *bs, int64_t fsize, struct vk_err *err)
{
	struct vmdk_state *s = bs->opaque;
	_cleanup_free_ char *text = NULL;
	struct vmdk_extent *e;
	struct vmdk_desc d;
	int r;

	r = add_extent(bs, &e, err);
	if (r < 0)
		return r;
	e->fd = bs->fd;
	e->path = strdup(bs->filename);
	if (!e->path)
		return vk_fail(err, -ENOMEM, "out of memory");
	e->file_size = (uint64_t)fsize;
	r = vmdk_sparse_open(e, err);
	if (r < 0)
		return r;
	r = place_extent(bs, e, err);
	if (r < 0)
		return r;
	s->create_type = strdup(e->compressed ? "streamOptimized" : "monolithicSparse");
	text = malloc(e->desc_size + 1);
	if (!s->create_type || !text)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vmdk_pread(e, text, e->desc_offset, e->desc_size, true, err);
	if (r < 0)
		return r;
	r = vmdk_parse_desc(bs->filename, text, e->desc_size, &d, NULL, err);
	if (r < 0)
		return r;
	return need_cids(bs, &d, err);
}

static int build_info(struct vmdk_state *s, struct vk_err *err)
{
	unsigned int i;

	s->info = calloc(s->n, sizeof(*s->info));
	if (!s->info)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < s->n; i++) {
		s->info[i] = (struct vk_blk_vmdk_extent){
			.filename = s->ext[i].path,
			.format = s->ext[i].type ? s->ext[i].type : "",
			.virtual_size = s->ext[i].size,
			.cluster_size = s->ext[i].kind == VMDK_EXT_SPARSE ? s->ext[i].grain : 0,
			.compressed = s->ext[i].compressed,
		};
	}
	return 0;
}

/* A descriptor is text, perhaps padded with NULs to a sector. */
static bool looks_like_text(const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len && b[i]; i++)
		if (b[i] < 0x20 && b[i] != '\t' && b[i] != '\r' && b[i] != '\n')
			return false;
	return i > 0;
}

static int do_open(struct vk_blk *bs, struct vk_err *err)
{
	struct vmdk_state *s = bs->opaque;
	uint8_t head[512] = { 0 };
	int64_t fsize;
	int r;

	s->zext = -1;
	if (!bs->read_only)
		return vk_fail(err, -EROFS, "%s: vmdk images can only be opened read-only",
			       bs->filename);
	fsize = vk_blk_file_size(bs);
	if (fsize < 0)
		return vk_fail(err, (int)fsize, "%s: %s", bs->filename, strerror((int)-fsize));
	if (fsize < 4)
		return vk_fail(err, -EINVAL, "%s: File is too small, not a valid image",
			       bs->filename);
	/* Through vk_fd_pread: under cache=none a stack buffer is not aligned for O_DIRECT. */
	if (vk_fd_pread(bs->fd, bs->filename, head, 0, sizeof(head), true, err) < 0)
		return vk_fail(err, -EIO, "%s: could not read the header", bs->filename);
	if (!memcmp(head, "KDMV", 4) || !memcmp(head, "COWD", 4))
		r = open_monolithic(bs, fsize, err);
	else if (!looks_like_text(head, (size_t)MIN(fsize, (int64_t)sizeof(head))))
		r = vk_fail(err, -EINVAL, "%s: not a vmdk image (bad magic, and not a descriptor)",
			    bs->filename);
	else
		r = open_desc_file(bs, fsize, err);
	if (r < 0)
		return r;
	return build_info(s, err);
}

static void vmdk_close(struct vk_blk *bs)
{
	struct vmdk_state *s = bs->opaque;
	unsigned int i;

	for (i = 0; i < s->n; i++) {
		vmdk_sparse_close(&s->ext[i]);
		if (s->ext[i].own_fd && s->ext[i].fd >= 0)
			close(s->ext[i].fd);
		free(s->ext[i].path);
		free(s->ext[i].type);
	}
	free(s->ext);
	free(s->info);
	free(s->create_type);
	free(s->zbuf);
}

/* The generic layer closes only what opened: a failed open cleans up after itself. */
static int vmdk_open(struct vk_blk *bs, struct vk_err *err)
{
	int r = do_open(bs, err);

	if (r < 0) {
		vmdk_close(bs);
		memset(bs->opaque, 0, sizeof(struct vmdk_state));
	}
	return r;
}

static uint64_t vmdk_length(struct vk_blk *bs)
{
	return ((struct vmdk_state *)bs->opaque)->size;
}

static int find_extent(struct vmdk_state *s, uint64_t off)
{
	unsigned int lo = 0, hi = s->n;

	while (hi - lo > 1) {
		unsigned int mid = (lo + hi) / 2;

		if (s->ext[mid].start <= off)
			lo = mid;
		else
			hi = mid;
	}
	return (int)lo;
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

/* One run of one extent: at most len bytes of [off, ...) into buf; *done says how many. */
static int read_run(struct vk_blk *bs, void *buf, uint64_t off, size_t len, size_t *done,
		    struct vk_err *err)
{
	struct vmdk_state *s = bs->opaque;
	int idx = find_extent(s, off);
	struct vmdk_extent *e = &s->ext[idx];
	uint64_t eoff = off - e->start, n, host;
	enum vmdk_grain kind;
	int r;

	n = MIN(len, e->size - eoff);
	if (e->kind == VMDK_EXT_FLAT) {
		*done = n;
		return vmdk_pread(e, buf, e->flat_offset + eoff, n, true, err);
	}
	r = vmdk_sparse_status(e, eoff, n, &n, &host, &kind, err);
	if (r < 0)
		return r;
	*done = n;
	switch (kind) {
	case VMDK_UNALLOC:
		return read_backing(bs, buf, off, n, err);
	case VMDK_ZERO:
		memset(buf, 0, n);
		return 0;
	case VMDK_DATA:
		return vmdk_pread(e, buf, host, n, true, err);
	case VMDK_COMPRESSED:
		r = vmdk_sparse_inflate(s, idx, host, err);
		if (r < 0)
			return r;
		if ((eoff % e->grain) + n > s->zlen)
			return vk_fail(err, -EIO, "%s: compressed grain at %#llx holds %llu bytes, too few",
				       e->path, (unsigned long long)host,
				       (unsigned long long)s->zlen);
		memcpy(buf, s->zbuf + eoff % e->grain, n);
		return 0;
	}
	return 0;
}

static int vmdk_read(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err)
{
	size_t n;
	int r;

	while (len) {
		r = read_run(bs, buf, off, len, &n, err);
		if (r < 0)
			return r;
		buf = (uint8_t *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Flat extents: holes in the file read as zeros, and say so (QEMU's BDRV_BLOCK_RECURSE). */
static int flat_status(struct vmdk_extent *e, uint64_t eoff, uint64_t n, uint64_t *pnum,
		       uint64_t *map)
{
	*map = e->flat_offset + eoff;
	return vk_blk_file_status(e->fd, *map, n, pnum) | VK_BS_DATA | VK_BS_ALLOCATED |
	       VK_BS_OFFSET_VALID;
}

static int vmdk_block_status(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			     uint64_t *map, struct vk_err *err)
{
	struct vmdk_state *s = bs->opaque;
	struct vmdk_extent *e = &s->ext[find_extent(s, off)];
	uint64_t eoff = off - e->start, n = MIN(len, e->size - eoff), blen;
	enum vmdk_grain kind;
	int r;

	if (e->kind == VMDK_EXT_FLAT)
		return flat_status(e, eoff, n, pnum, map);
	r = vmdk_sparse_status(e, eoff, n, pnum, map, &kind, err);
	if (r < 0)
		return r;
	switch (kind) {
	case VMDK_UNALLOC:
		if (!bs->backing_file)
			return VK_BS_ZERO;
		blen = bs->backing ? vk_blk_length(bs->backing) : 0;
		if (off >= blen)
			return VK_BS_ZERO;
		*pnum = MIN(*pnum, blen - off);
		return 0;
	case VMDK_ZERO:
		return VK_BS_ALLOCATED | VK_BS_ZERO;
	case VMDK_DATA:
		return VK_BS_ALLOCATED | VK_BS_DATA | VK_BS_OFFSET_VALID;
	default:
		return VK_BS_ALLOCATED | VK_BS_DATA;
	}
}

static const char *vmdk_map_filename(struct vk_blk *bs, uint64_t off)
{
	struct vmdk_state *s = bs->opaque;

	return s->ext[find_extent(s, off)].path;
}

static bool same_kind(const struct vmdk_extent *a, const struct vmdk_extent *b)
{
	return a->kind == b->kind && a->compressed == b->compressed &&
	       (a->kind == VMDK_EXT_FLAT || a->grain == b->grain);
}

static int vmdk_get_info(struct vk_blk *bs, struct vk_blk_info *info)
{
	struct vmdk_state *s = bs->opaque;
	bool uniform = true;
	struct stat st;
	unsigned int i;

	for (i = 1; i < s->n; i++)
		uniform &= same_kind(&s->ext[0], &s->ext[i]);
	if (uniform && s->ext[0].kind == VMDK_EXT_SPARSE)
		info->cluster_size = (uint32_t)s->ext[0].grain;
	/* As QEMU: the descriptor's blocks and those of each extent in its own file. */
	for (i = 0; i < s->n && info->actual_size >= 0; i++)
		if (s->ext[i].own_fd)
			info->actual_size = fstat(s->ext[i].fd, &st) < 0 ? -1 :
					    info->actual_size + (int64_t)st.st_blocks * 512;
	info->is_vmdk = true;
	info->vmdk_cid = s->cid;
	info->vmdk_parent_cid = s->parent_cid;
	info->vmdk_create_type = s->create_type;
	info->vmdk_nb_extents = s->n;
	info->vmdk_extents = s->info;
	return 0;
}

static int vmdk_check(struct vk_blk *bs, struct vk_blk_check *res, unsigned int fix,
		      struct vk_err *err)
{
	struct vmdk_state *s = bs->opaque;
	unsigned int i;
	int r;

	for (i = 0; i < s->n; i++) {
		if (s->ext[i].kind != VMDK_EXT_SPARSE)
			continue;
		r = vmdk_sparse_check(&s->ext[i], res, err);
		if (r < 0)
			return r;
	}
	return 0;
}

const struct vk_blk_driver vk_blk_vmdk = {
	.name = "vmdk",
	.state_size = sizeof(struct vmdk_state),
	.probe = vmdk_probe,
	.open = vmdk_open,
	.close = vmdk_close,
	.pread = vmdk_read,
	.pwrite = vk_blk_pwrite_read_only,
	.flush = vk_blk_flush_nothing,
	.length = vmdk_length,
	.get_info = vmdk_get_info,
	.block_status = vmdk_block_status,
	.map_filename = vmdk_map_filename,
	.check = vmdk_check,
};
