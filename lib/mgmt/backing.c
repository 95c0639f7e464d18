// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Who is built on a volume: the images in every active pool, and the VMs'
 * disks given by path, whose backing file is that volume. A base image
 * must not be deleted, wiped, reverted or written while an overlay reads
 * through it (the overlay would silently change or break), so the commands
 * that would do so ask here first and name the overlay in their refusal.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmkit/block.h"
#include "vmkit/mgmt.h"

struct target {
	dev_t dev;
	ino_t ino;
	const char *const *skip;
};

static bool same(const struct stat *a, const struct target *t)
{
	return a->st_dev == t->dev && a->st_ino == t->ino;
}

static bool skipped(const char *path, const struct target *t)
{
	const char *const *s;
	struct stat a, b;

	if (!t->skip || stat(path, &a))
		return false;
	for (s = t->skip; *s; s++)
		if (!stat(*s, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return true;
	return false;
}

/* Does the image at path name the target as its backing file? */
static bool backed_by(const char *path, const struct target *t)
{
	struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING | VK_BLK_NO_LOCK };
	struct vk_blk *bs = NULL;
	struct stat st;
	bool yes = false;

	if (vk_blk_open(path, &o, &bs, NULL))
		return false;	/* not an image we read: it names no backing file */
	if (bs->full_backing && !stat(bs->full_backing, &st))
		yes = same(&st, t);
	vk_blk_close(bs);
	return yes && !skipped(path, t);
}

static bool is_file(const char *dir, const char *name, char *out)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (stat(p, &st) || !S_ISREG(st.st_mode) || strlen(name) >= MGMT_NAME_MAX)
		return false;
	snprintf(out, MGMT_NAME_MAX, "%s", name);
	return true;
}

static int scan_pool(const char *pool, const struct target *t, char *who, size_t n)
{
	char **names, **v, path[PATH_MAX];
	struct pool_def p;
	int found = 0;

	if (pool_load(pool, &p, NULL) || !p.active || mgmt_list_dir(p.path, is_file, &names, NULL))
		return 0;
	for (v = names; *v && !found; v++) {
		snprintf(path, sizeof(path), "%s/%s", p.path, *v);
		if (backed_by(path, t)) {
			snprintf(who, n, "%s:%s", pool, *v);
			found = 1;
		}
	}
	mgmt_strv_free(names);
	return found;
}

/* VMs' disks given by absolute path live in no pool: look at them too. */
static int scan_vm_paths(const struct target *t, char *who, size_t n)
{
	char **names, **v;
	int found = 0;
	unsigned int i;

	if (vm_list_names(&names, NULL))
		return 0;
	for (v = names; *v && !found; v++) {
		struct vm_def d;

		if (vm_load(*v, &d, NULL))
			continue;
		for (i = 0; i < d.n && !found; i++) {
			char path[PATH_MAX];
			const char *val = d.kv[i].val;

			if (!vm_disk_entry(d.kv[i].key, val) || val[0] != '/')
				continue;
			snprintf(path, sizeof(path), "%.*s", (int)strcspn(val, ","), val);
			if (backed_by(path, t)) {
				snprintf(who, n, "%s (a disk of VM '%s')", path, *v);
				found = 1;
			}
		}
		vm_def_free(&d);
	}
	mgmt_strv_free(names);
	return found;
}

int vol_find_overlay(const char *file, const char *const *skip, char *who, size_t n,
		     struct vk_err *err)
{
	struct target t = { .skip = skip };
	char **pools, **p;
	struct stat st;
	int found = 0;

	if (stat(file, &st))
		return 0;	/* gone: nothing can be built on it */
	t.dev = st.st_dev;
	t.ino = st.st_ino;
	if (pool_list_names(&pools, err))
		return err ? err->code : -EIO;
	for (p = pools; *p && !found; p++)
		found = scan_pool(*p, &t, who, n);
	mgmt_strv_free(pools);
	return found ? found : scan_vm_paths(&t, who, n);
}
