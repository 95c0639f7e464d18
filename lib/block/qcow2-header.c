// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Changing a qcow2 image's backing file (rebase, commit's callers) without
 * a moment at which a crash leaves an image that does not open.
 *
 * QEMU rewrites the header cluster in one write. We go in steps, each one
 * write followed by fdatasync, so that every state the file can be left in
 * between is a valid image naming either the old backing file or the new
 * one (with the same content, which is what safe rebase guarantees):
 *
 *  1. the new name goes to the end of cluster 0, where neither the old
 *     extensions nor the old name are: nothing points at it yet;
 *  2. if the backing format changes, the extension area is rewritten
 *     without a backing format extension (shorter than before, so it does
 *     not reach the old name): old name, format probed;
 *  3. the header's name offset and length (bytes 8-19, one sector, one
 *     write) switch to the new name: from here on the new name counts;
 *  4. the extension area is written with the new backing format; it may now
 *     cover the old name, which nothing names any more.
 *
 * Unknown header extensions are kept as they are. When cluster 0 has no
 * room for a second name (512-byte clusters full of extensions), the whole
 * header area is written in one write, as QEMU does.
 */
#include <errno.h>
#include <string.h>

#include "qcow2.h"

struct hdr_area {
	uint8_t *buf;		/* cluster 0 */
	uint64_t hl;		/* where extensions start */
	uint64_t ext_end;	/* end of the extension list, end marker included */
	uint64_t name_off, name_len;
	uint8_t *exts;		/* the extensions to keep, serialized, without end marker */
	uint64_t exts_len;
	bool had_fmt;
};

static int parse_area(struct qcow2_state *s, struct hdr_area *a, struct vk_err *err)
{
	uint64_t cs = s->cluster_size, off, limit;
	uint32_t type, len;

	a->hl = s->version >= 3 ? s->header_length : 72;
	a->name_off = be_get64(a->buf + 8);
	a->name_len = be_get32(a->buf + 16);
	limit = a->name_off ? a->name_off : cs;
	a->exts = calloc(1, cs);
	if (!a->exts)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (off = a->hl; off + 8 <= limit; off += ALIGN_UP((uint64_t)len, 8)) {
		type = be_get32(a->buf + off);
		len = be_get32(a->buf + off + 4);
		off += 8;
		if (type == QCOW2_EXT_END)
			break;
		if (len > limit - off)
			return vk_fail(err, -EINVAL, "%s: header extension %#x overruns the header",
				       s->bs->filename, type);
		if (type == QCOW2_EXT_BACKING_FMT) {
			a->had_fmt = true;
			continue;
		}
		memcpy(a->exts + a->exts_len, a->buf + off - 8, 8 + ALIGN_UP((uint64_t)len, 8));
		a->exts_len += 8 + ALIGN_UP((uint64_t)len, 8);
	}
	a->ext_end = MIN(off, limit);
	return 0;
}

/* The extension area: optional backing format first (as QEMU orders it), the kept ones, the end. */
static uint64_t build_exts(const struct hdr_area *a, const char *fmt, uint8_t *out)
{
	uint64_t n = 0, flen = fmt ? strlen(fmt) : 0;

	if (fmt) {
		be_put32(out, QCOW2_EXT_BACKING_FMT);
		be_put32(out + 4, (uint32_t)flen);
		memset(out + 8, 0, ALIGN_UP(flen, 8));
		memcpy(out + 8, fmt, flen);
		n = 8 + ALIGN_UP(flen, 8);
	}
	memcpy(out + n, a->exts, a->exts_len);
	n += a->exts_len;
	memset(out + n, 0, 8);
	return n + 8;
}

static int write_sync(struct qcow2_state *s, const void *buf, uint64_t off, uint64_t len,
		      struct vk_err *err)
{
	int r = vk_blk_file_pwrite(s->bs, buf, off, len, err);

	if (!r && fdatasync(s->bs->fd) < 0)
		r = vk_fail(err, -errno, "%s: sync: %s", s->bs->filename, strerror(errno));
	return r;
}

static int write_name_fields(struct qcow2_state *s, uint64_t off, uint64_t len,
			     struct vk_err *err)
{
	uint8_t f[12];

	be_put64(f, off);
	be_put32(f + 8, (uint32_t)len);
	return write_sync(s, f, 8, sizeof(f), err);
}

/* Small clusters with no room for two names: the whole area in one write. */
static int rewrite_at_once(struct qcow2_state *s, struct hdr_area *a, const char *file,
			   const char *fmt, uint8_t *ext, uint64_t elen, struct vk_err *err)
{
	uint64_t nlen = file ? strlen(file) : 0, end = a->hl + elen + nlen;

	if (end > s->cluster_size)
		return vk_fail(err, -EINVAL, "%s: backing file name does not fit in the header",
			       s->bs->filename);
	memcpy(a->buf + a->hl, ext, elen);
	memcpy(a->buf + a->hl + elen, file ? file : "", nlen);
	be_put64(a->buf + 8, nlen ? a->hl + elen : 0);
	be_put32(a->buf + 16, (uint32_t)nlen);
	return write_sync(s, a->buf, 0, end, err);
}

static int update_names(struct vk_blk *bs, const char *file, const char *fmt, struct vk_err *err)
{
	char *f = file ? strdup(file) : NULL, *t = fmt ? strdup(fmt) : NULL;
	char *full = file ? vk_blk_resolve_backing(bs->filename, file) : NULL;

	if ((file && (!f || !full)) || (fmt && !t)) {
		free(f);
		free(t);
		free(full);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	free(bs->backing_file);
	free(bs->backing_fmt);
	free(bs->full_backing);
	bs->backing_file = f;
	bs->backing_fmt = t;
	bs->full_backing = full;
	return 0;
}

static int switch_backing(struct qcow2_state *s, struct hdr_area *a, const char *file,
			  const char *fmt, struct vk_err *err)
{
	uint64_t cs = s->cluster_size, nlen = file ? strlen(file) : 0, elen, plain_len, pos;
	bool fmt_changes = a->had_fmt || fmt;
	_cleanup_free_ uint8_t *ext = calloc(1, cs), *plain = calloc(1, cs);
	int r;

	if (!ext || !plain)
		return vk_fail(err, -ENOMEM, "out of memory");
	elen = build_exts(a, fmt, ext);
	plain_len = build_exts(a, NULL, plain);
	/* The end of the cluster, or just before an old name already there (an earlier rebase). */
	pos = cs - nlen;
	if (a->name_off && a->name_len && pos < a->name_off + a->name_len &&
	    pos + nlen > a->name_off)
		pos = a->name_off >= nlen ? a->name_off - nlen : 0;
	if (a->hl + elen > pos || pos < a->ext_end)
		return rewrite_at_once(s, a, file, fmt, ext, elen, err);
	if (nlen) {
		r = write_sync(s, file, pos, nlen, err);			/* 1 */
		if (r < 0)
			return r;
	}
	if (fmt_changes && a->had_fmt) {
		r = write_sync(s, plain, a->hl, plain_len, err);		/* 2 */
		if (r < 0)
			return r;
	}
	r = write_name_fields(s, nlen ? pos : 0, nlen, err);			/* 3 */
	if (r < 0 || !fmt_changes || !fmt)
		return r;
	return write_sync(s, ext, a->hl, elen, err);				/* 4 */
}

int qcow2_set_backing(struct vk_blk *bs, const char *file, const char *fmt, struct vk_err *err)
{
	struct qcow2_state *s = bs->opaque;
	struct hdr_area a = { 0 };
	int r;

	if (file && strlen(file) > 1023)
		return vk_fail(err, -EINVAL, "%s: backing file name too long", bs->filename);
	if (!file)
		fmt = NULL;
	a.buf = calloc(1, s->cluster_size);
	if (!a.buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	/* Metadata first: the header change must come after the data it relies on. */
	r = qcow2_flush(bs, err);
	if (!r)
		r = vk_blk_file_pread(bs, a.buf, 0, s->cluster_size, true, err);
	if (!r)
		r = parse_area(s, &a, err);
	if (!r)
		r = switch_backing(s, &a, file, fmt, err);
	if (!r)
		r = update_names(bs, file, fmt, err);
	free(a.buf);
	free(a.exts);
	return r;
}
