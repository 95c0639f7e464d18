// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The generic layer of the image-management operations: internal
 * snapshots, resize and amend, dispatched to the driver that has them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/block.h"

static int writable(struct vk_blk *bs, struct vk_err *err)
{
	if (bs->read_only)
		return vk_fail(err, -EROFS, "%s: image is read-only", bs->filename);
	return 0;
}

int vk_blk_snapshot_list(struct vk_blk *bs, struct vk_blk_snapshot **out, unsigned int *n,
			 struct vk_err *err)
{
	if (!bs->drv->snapshot_list) {
		*out = NULL;
		*n = 0;
		return 0;
	}
	return bs->drv->snapshot_list(bs, out, n, err);
}

int vk_blk_snapshot_create(struct vk_blk *bs, const char *name, struct vk_err *err)
{
	int r = writable(bs, err);

	if (r < 0)
		return r;
	if (!bs->drv->snapshot_create)
		return vk_fail(err, -ENOTSUP, "%d (%s)", -ENOTSUP, strerror(ENOTSUP));
	return bs->drv->snapshot_create(bs, name, err);
}

int vk_blk_snapshot_goto(struct vk_blk *bs, const char *id_or_name, struct vk_err *err)
{
	int r = writable(bs, err);

	if (r < 0)
		return r;
	if (!bs->drv->snapshot_goto)
		return vk_fail(err, -ENOTSUP, "%d (%s)", -ENOTSUP, strerror(ENOTSUP));
	return bs->drv->snapshot_goto(bs, id_or_name, err);
}

int vk_blk_snapshot_delete(struct vk_blk *bs, const char *id, const char *name,
			   struct vk_err *err)
{
	int r = writable(bs, err);

	if (r < 0)
		return r;
	if (!bs->drv->snapshot_delete)
		return vk_fail(err, -ENOTSUP, "%d (%s)", -ENOTSUP, strerror(ENOTSUP));
	return bs->drv->snapshot_delete(bs, id, name, err);
}

int vk_blk_truncate(struct vk_blk *bs, uint64_t size, enum vk_prealloc prealloc,
		    struct vk_err *err)
{
	uint64_t old = vk_blk_length(bs);
	int r = writable(bs, err);

	if (r < 0)
		return r;
	if (!bs->drv->truncate)
		return vk_fail(err, -ENOTSUP, "Image format driver does not support resize");
	r = bs->drv->truncate(bs, size, prealloc, err);
	/*
	 * A backing file longer than the old size must not show through the
	 * new area: it is zeroed, as QEMU does. One no longer than the old size
	 * reads as zeros there anyway, and nothing is written (nor allocated).
	 */
	if (r < 0 || size <= old || !bs->backing || vk_blk_length(bs->backing) <= old ||
	    prealloc != VK_PREALLOC_OFF)
		return r;
	r = vk_blk_pwrite_zeroes(bs, old, size - old, err);
	return r < 0 ? r : vk_blk_flush(bs, err);
}

int vk_blk_amend(struct vk_blk *bs, const struct vk_blk_amend_opts *o, struct vk_err *err)
{
	int r = writable(bs, err);

	if (r < 0)
		return r;
	if (!bs->drv->amend)
		return vk_fail(err, -ENOTSUP, "Format driver '%s' does not support option amendment",
			       bs->drv->name);
	return bs->drv->amend(bs, o, err);
}

struct amend_parse {
	struct vk_blk *bs;
	struct vk_blk_amend_opts *o;
	struct vk_err *err;
};

static int amend_one(void *opaque, const char *key, const char *val)
{
	struct amend_parse *p = opaque;

	return p->bs->drv->amend_opt(p->o, key, val, p->err);
}

int vk_blk_amend_parse(struct vk_blk *bs, const char *list, struct vk_blk_amend_opts *o,
		       struct vk_err *err)
{
	struct amend_parse p = { bs, o, err };
	struct vk_blk_info info;

	/* The format as info names it: null-co:// is a raw image on the null protocol. */
	if (!bs->drv->amend || !bs->drv->amend_opt)
		return vk_fail(err, -ENOTSUP, "Format driver '%s' does not support option amendment",
			       vk_blk_get_info(bs, &info) ? bs->drv->name : info.format);
	return vk_parse_kv(list, amend_one, &p);
}

void vk_blk_amend_free(struct vk_blk_amend_opts *o)
{
	free(o->data_file);
	o->data_file = NULL;
}

unsigned int vk_blk_cache_clean(struct vk_blk *bs)
{
	unsigned int freed = 0;

	for (; bs; bs = bs->backing)
		if (bs->drv->cache_clean)
			freed += bs->drv->cache_clean(bs);
	return freed;
}
