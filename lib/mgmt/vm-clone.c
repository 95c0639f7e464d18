// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * clone: a full copy (vk_blk_copy_new), or linked: qcow2
 * overlays on the source's images (seed 003's linked clones).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/mgmt-ops.h"
#include "vmkit/block.h"

struct cloned {
	char files[16][PATH_MAX];
	unsigned int n;
};

static void undo(struct cloned *c)
{
	while (c->n)
		unlink(c->files[--c->n]);
}

/* One disk: new volume NEW-diskN in the source volume's pool (or next to a path). */
static int clone_disk(struct vm_def *nd, unsigned int i, unsigned int idx, bool linked,
		      struct cloned *c, struct vk_err *err)
{
	const char *val = nd->kv[i].val, *opts = strchr(val, ',');
	char ref[PATH_MAX], file[PATH_MAX], nref[PATH_MAX], nfile[PATH_MAX];
	struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING };
	struct vk_blk_info info;
	struct vk_blk *bs;
	const char *fmt;
	int ret;

	snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(val, ","), val);
	ret = vol_resolve(ref, true, file, err);
	if (!ret)
		ret = vk_blk_open(file, &o, &bs, err);
	if (ret)
		return ret;
	vk_blk_get_info(bs, &info);
	/* Linked: a qcow2 overlay; full: the source's format, or raw for one vmkit only reads. */
	fmt = linked ? "qcow2" : vk_blk_format_creatable(info.format) ? info.format : "raw";
	if (ref[0] == '/')
		snprintf(nref, sizeof(nref), "%.*s/%s-disk%u.%s",
			 (int)(strrchr(ref, '/') - ref), ref, nd->name, idx, fmt);
	else
		snprintf(nref, sizeof(nref), "%.*s:%s-disk%u.%s", (int)strcspn(ref, ":"), ref,
			 nd->name, idx, fmt);
	ret = vol_resolve(nref, false, nfile, err);
	if (!ret && !access(nfile, F_OK))
		ret = vk_fail(err, -EEXIST, "volume %s already exists", nref);
	if (!ret && linked) {
		ret = vol_create_file(nfile, "qcow2", info.virtual_size, file, info.format, err);
	} else if (!ret) {
		struct vk_err e = { 0 };

		ret = vk_blk_copy_new(file, nfile, fmt, &e);
		if (ret)
			vk_fail(err, ret, "copying %s to %s failed: %s", ref, nref, e.msg);
	}
	vk_blk_close(bs);
	if (ret)
		return ret;
	snprintf(c->files[c->n++], PATH_MAX, "%s", nfile);
	/* The copy's format may differ from the source's (linked: always qcow2). */
	return vm_def_set_disk(nd, nd->kv[i].key, nref, fmt, opts, err);
}

int vm_def_set_disk(struct vm_def *d, const char *key, const char *ref, const char *fmt,
		    const char *opts, struct vk_err *err)
{
	char nval[PATH_MAX + 1024];

	snprintf(nval, sizeof(nval), "%s,format=%s", ref, fmt);
	if (opts) {
		char *p, buf[1024];

		snprintf(buf, sizeof(buf), "%s", opts);
		p = strstr(buf, ",format=");
		if (p)
			memmove(p, p + 8 + strcspn(p + 8, ","), strlen(p + 8 + strcspn(p + 8, ",")) + 1);
		strncat(nval, buf, sizeof(nval) - strlen(nval) - 1);
	}
	return vm_def_set(d, key, nval, err);
}

/* A MAC written in the source's config must not be shared by the clone. */
int vm_def_new_macs(struct vm_def *nd, struct vk_err *err)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < nd->n && !ret; i++) {
		const char *v = nd->kv[i].val;
		char nv[1024];

		if (strncmp(nd->kv[i].key, "net", 3) || strncmp(v, "virtio=", 7))
			continue;
		/* Without a MAC the monitor derives one from the (new) name. */
		snprintf(nv, sizeof(nv), "virtio%s", v + 7 + strcspn(v + 7, ","));
		ret = vm_def_set(nd, nd->kv[i].key, nv, err);
	}
	return ret;
}

static int clone_locked(const char *src, const char *dst, bool linked, struct vk_err *err)
{
	struct cloned c = { .n = 0 };
	struct vm_def nd;
	unsigned int i, idx = 0;
	int ret = vm_load(src, &nd, err);

	if (ret)
		return ret;
	ret = vm_require_shutoff(src, "clone", err);
	if (!ret && vm_exists(dst))
		ret = vk_fail(err, -EEXIST, "VM '%s' already exists", dst);
	if (!ret)
		ret = vm_def_set(&nd, "name", dst, err);
	for (i = 0; i < nd.n && !ret; i++)
		if (vm_disk_entry(nd.kv[i].key, nd.kv[i].val))
			ret = clone_disk(&nd, i, idx++, linked, &c, err);
	if (!ret)
		ret = vm_def_new_macs(&nd, err);
	if (!ret)
		ret = vm_def_set(&nd, "onboot", "0", err);
	if (!ret && vm_def_get(&nd, "template"))
		ret = vm_def_set(&nd, "template", NULL, err);	/* a clone is a VM */
	if (!ret)
		ret = vm_save(&nd, err);
	vm_def_free(&nd);
	if (ret)
		undo(&c);
	return ret;
}

int vm_clone(const char *src, const char *dst, bool linked, struct vk_err *err)
{
	bool took;
	int ret = mgmt_op_lock(&took, err);

	if (!ret)
		ret = clone_locked(src, dst, linked, err);
	mgmt_op_unlock(took);
	return ret;
}
