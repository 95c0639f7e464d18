// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit restore-backup DIR [NAME] [--storage POOL] (Proxmox's qmrestore):
 * a backup directory (lib/mgmt/vm-backup.c) back into a VM. Each disk's
 * image is read with the backups it builds on and copied, whole and flat,
 * into a new qcow2 volume; the definition is the one in the backup with its
 * disks pointing there.
 *
 * The directory may come from anywhere, so nothing in it is trusted: the
 * index names only files of the form drive-KEY.qcow2 for the definition's
 * own disks, and every backing file in a chain must be the same disk's
 * image in a sibling backup directory ("../vzdump-.../drive-KEY.qcow2");
 * an image that names any other file is refused before it is opened with
 * its chain.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vmkit/block.h"
#include "vmkit/mgmt-ops.h"

#define MAX_DISKS	32
#define MAX_CHAIN	16

/* The chain of drive-KEY.qcow2 from dir down, every link checked before the whole is opened. */
static int check_chain(const char *dir, const char *key, struct vk_err *err)
{
	char path[PATH_MAX], want[96], cur[PATH_MAX], parent[PATH_MAX];
	unsigned int depth;
	int r = 0;

	snprintf(want, sizeof(want), "drive-%s.qcow2", key);
	snprintf(cur, sizeof(cur), "%s", dir);
	for (depth = 0; !r; depth++) {
		struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING };
		struct vk_blk_info info;
		struct vk_blk *bs;
		const char *b, *slash;

		if (depth == MAX_CHAIN)
			return vk_fail(err, -ELOOP, "%s/%s: more than %d backups deep", dir, want,
				       MAX_CHAIN);
		snprintf(path, sizeof(path), "%s/%s", cur, want);
		r = vk_blk_open(path, &o, &bs, err);
		if (r)
			return r;
		vk_blk_get_info(bs, &info);
		if (strcmp(info.format, "qcow2")) {
			r = vk_fail(err, -EINVAL, "%s: %s, not a backup's qcow2 image", path,
				    info.format);
		} else if (info.has_data_file) {
			r = vk_fail(err, -EINVAL, "%s: names an external data file", path);
		} else if ((b = info.backing_file)) {
			/* "../DIR/drive-KEY.qcow2", DIR a plain name: a sibling backup, nothing else. */
			slash = strncmp(b, "../", 3) ? NULL : strchr(b + 3, '/');
			if (!slash || slash == b + 3 || strcmp(slash + 1, want) ||
			    memchr(b + 3, '/', (size_t)(slash - b - 3)) || !strncmp(b + 3, "..", 2) ||
			    !strncmp(b + 3, ".", 1))
				r = vk_fail(err, -EPERM, "%s: its backing file %s is not this disk in "
					    "another backup beside it", path, b);
			else
				snprintf(parent, sizeof(parent), "%.*s/%.*s",
					 (int)(strrchr(cur, '/') - cur), cur,
					 (int)(slash - b - 3), b + 3);
		}
		vk_blk_close(bs);
		if (r || !b)
			return r;
		snprintf(cur, sizeof(cur), "%s", parent);
	}
	return r;
}

struct restored {
	char files[MAX_DISKS][PATH_MAX];
	unsigned int n;
};

/* One disk: drive-KEY.qcow2 with its chain, flat into POOL:NAME-KEY.qcow2. */
static int restore_disk(struct vm_def *d, unsigned int i, const char *dir,
			const char *storage, struct restored *done, struct vk_err *err)
{
	const char *val = d->kv[i].val, *opts = strchr(val, ','), *key = d->kv[i].key;
	char ref[PATH_MAX], pool[MGMT_NAME_MAX], nref[PATH_MAX], nfile[PATH_MAX], src[PATH_MAX];
	struct vk_err e = { 0 };
	int r = check_chain(dir, key, err);

	if (r)
		return r;
	snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(val, ","), val);
	if (storage)
		snprintf(pool, sizeof(pool), "%s", storage);
	else if (ref[0] != '/' && strchr(ref, ':') && (size_t)(strchr(ref, ':') - ref) < sizeof(pool))
		snprintf(pool, sizeof(pool), "%.*s", (int)(strchr(ref, ':') - ref), ref);
	else
		snprintf(pool, sizeof(pool), "local");
	snprintf(nref, sizeof(nref), "%s:%s-%s.qcow2", pool, d->name, key);
	r = vol_resolve(nref, false, nfile, err);
	if (!r && !access(nfile, F_OK))
		r = vk_fail(err, -EEXIST, "volume %s already exists", nref);
	if (r)
		return r;
	snprintf(src, sizeof(src), "%s/drive-%s.qcow2", dir, key);
	r = vk_blk_copy_new(src, nfile, "qcow2", &e);
	if (r)
		return vk_fail(err, r, "restoring %s to %s failed: %s", src, nref, e.msg);
	snprintf(done->files[done->n++], PATH_MAX, "%s", nfile);
	return vm_def_set_disk(d, key, nref, "qcow2", opts, err);
}

/* The index says which disks are here: each of the definition's, as drive-KEY.qcow2. */
static int check_index(const char *dir, const struct vm_def *d, struct vk_err *err)
{
	char path[PATH_MAX];
	json_object *o, *disks, *v;
	unsigned int i, n = 0;
	size_t k;
	int r = 0;

	snprintf(path, sizeof(path), "%s/index.json", dir);
	o = json_object_from_file(path);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "format", &v) ||
	    strcmp(json_object_get_string(v), "vmkit-backup") ||
	    !json_object_object_get_ex(o, "version", &v) || json_object_get_int(v) != 1 ||
	    !json_object_object_get_ex(o, "disks", &disks) ||
	    !json_object_is_type(disks, json_type_array)) {
		json_object_put(o);
		return vk_fail(err, -EINVAL, "%s: not a vmkit backup (index.json missing, damaged "
			       "or of another version)", dir);
	}
	for (i = 0; i < d->n && !r; i++) {
		char want[96];
		bool found = false;

		if (!vm_disk_entry(d->kv[i].key, d->kv[i].val))
			continue;
		n++;
		snprintf(want, sizeof(want), "drive-%s.qcow2", d->kv[i].key);
		for (k = 0; k < json_object_array_length(disks); k++) {
			json_object *e = json_object_array_get_idx(disks, k), *f;

			if (json_object_object_get_ex(e, "file", &f) &&
			    !strcmp(json_object_get_string(f), want))
				found = true;
		}
		if (!found)
			r = vk_fail(err, -ENOENT, "%s: holds no image of disk %s", dir, d->kv[i].key);
	}
	if (!r && n != json_object_array_length(disks))
		r = vk_fail(err, -EINVAL, "%s: its index and vm.conf disagree about the disks", dir);
	json_object_put(o);
	return r;
}

static int read_conf(const char *dir, struct vm_def *d, struct vk_err *err)
{
	char path[PATH_MAX], *text;
	struct stat st;
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/vm.conf", dir);
	f = fopen(path, "r");
	if (!f)
		return vk_fail(err, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) < 0 || st.st_size > (1 << 20)) {
		fclose(f);
		return vk_fail(err, -EFBIG, "%s: not a VM definition (too big)", path);
	}
	text = calloc(1, (size_t)st.st_size + 1);
	if (!text || fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(text);
		fclose(f);
		return vk_fail(err, -EIO, "%s: cannot read it", path);
	}
	fclose(f);
	r = vm_def_parse(text, path, d, err);
	free(text);
	return r;
}

static int restore_locked(const char *dir, const char *name, const char *storage, char *out_name,
			  struct vk_err *err)
{
	struct restored done = { .n = 0 };
	struct vm_def d;
	unsigned int i;
	bool renamed;
	int r = read_conf(dir, &d, err);

	if (r)
		return r;
	renamed = name && strcmp(name, d.name);
	if (name)
		r = mgmt_check_name("VM", name, err);
	if (!r && name)
		r = vm_def_set(&d, "name", name, err);
	if (!r && vm_exists(d.name))
		r = vk_fail(err, -EEXIST, "VM '%s' already exists (restore it under another name)",
			    d.name);
	if (!r && storage) {
		struct pool_def p;

		r = pool_load(storage, &p, err);
	}
	if (!r)
		r = check_index(dir, &d, err);
	for (i = 0; i < d.n && !r; i++)
		if (vm_disk_entry(d.kv[i].key, d.kv[i].val) && done.n < MAX_DISKS)
			r = restore_disk(&d, i, dir, storage, &done, err);
	/* Beside the original, a copy must not answer to its MACs. */
	if (!r && renamed)
		r = vm_def_new_macs(&d, err);
	if (!r)
		r = vm_save(&d, err);
	if (!r)
		snprintf(out_name, MGMT_NAME_MAX, "%s", d.name);
	while (r && done.n)
		unlink(done.files[--done.n]);
	vm_def_free(&d);
	return r;
}

int vm_backup_restore(const char *dir, const char *name, const char *storage,
		      char *out_name, struct vk_err *err)
{
	char real[PATH_MAX];
	bool took;
	int r;

	if (!realpath(dir, real))
		return vk_fail(err, -errno, "%s: %s", dir, strerror(errno));
	r = mgmt_op_lock_pools(&took, err);
	if (!r)
		r = restore_locked(real, name, storage, out_name, err);
	mgmt_op_unlock(took);
	return r;
}
