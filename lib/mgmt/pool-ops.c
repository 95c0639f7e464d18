// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Storage pools as libvirt's pool-* commands, for directory pools: define,
 * undefine, start, stop, autostart, refresh, and what list and info show.
 * Each takes the state lock and makes sure the pool 'local' exists.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vmkit/mgmt-ops.h"

static int define_locked(const char *name, const char *type, const char *path,
			 struct vk_err *err)
{
	struct pool_def p = { .type = "dir", .active = true };
	char real[PATH_MAX];
	struct stat st;
	int ret;

	if (!type || strcmp(type, "dir"))
		return vk_fail(err, -EINVAL, "pool define: --type %s: only 'dir' pools exist",
			       type ? type : "(missing)");
	if (!path)
		return vk_fail(err, -EINVAL, "pool define: --path DIR is required");
	ret = mgmt_check_name("pool", name, err);
	if (ret)
		return ret;
	if (!realpath(path, real) || stat(real, &st) || !S_ISDIR(st.st_mode))
		return vk_fail(err, -ENOENT, "pool define: %s is not a directory", path);
	if (!pool_load(name, &p, NULL))
		return vk_fail(err, -EEXIST, "pool '%s' already exists", name);
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.type, sizeof(p.type), "dir");
	snprintf(p.path, sizeof(p.path), "%s", real);
	p.active = true;
	return pool_save(&p, err);
}

int pool_define(const char *name, const char *type, const char *path, struct vk_err *err)
{
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = define_locked(name, type, path, err);
	mgmt_op_unlock(took);
	return ret;
}

/* Is any VM's config naming a volume of this pool? */
static const char *pool_user(const char *pool, char *vm)
{
	char **names, **n, prefix[MGMT_NAME_MAX + 2];
	const char *found = NULL;

	snprintf(prefix, sizeof(prefix), "%s:", pool);
	if (vm_list_names(&names, NULL))
		return NULL;
	for (n = names; *n && !found; n++) {
		struct vm_def d;
		unsigned int i;

		if (vm_load(*n, &d, NULL))
			continue;
		for (i = 0; i < d.n && !found; i++)
			if (vm_drive_key(d.kv[i].key) &&
			    !strncmp(d.kv[i].val, prefix, strlen(prefix))) {
				snprintf(vm, MGMT_NAME_MAX, "%s", *n);
				found = vm;
			}
		vm_def_free(&d);
	}
	mgmt_strv_free(names);
	return found;
}

enum pool_change { POOL_START, POOL_STOP, POOL_AUTOSTART, POOL_NO_AUTOSTART, POOL_UNDEFINE,
		   POOL_REFRESH };

static int change_locked(struct pool_def *p, enum pool_change what, struct vk_err *err)
{
	char vm[MGMT_NAME_MAX];

	switch (what) {
	case POOL_START:
	case POOL_STOP:
		p->active = what == POOL_START;
		break;
	case POOL_AUTOSTART:
	case POOL_NO_AUTOSTART:
		p->autostart = what == POOL_AUTOSTART;
		break;
	case POOL_UNDEFINE:
		if (!strcmp(p->name, "local"))
			return vk_fail(err, -EINVAL, "pool 'local' cannot be deleted");
		if (pool_user(p->name, vm))
			return vk_fail(err, -EBUSY, "pool '%s' holds volumes of VM '%s'", p->name, vm);
		/* As virsh pool-undefine: the directory and its files stay. */
		return pool_delete(p->name, err);
	case POOL_REFRESH:
		return access(p->path, R_OK) ? vk_fail(err, -ENOENT, "pool '%s': %s: %s", p->name,
						       p->path, strerror(errno)) : 0;
	}
	return pool_save(p, err);
}

static int change(const char *name, enum pool_change what, struct vk_err *err)
{
	struct pool_def p;
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = pool_load(name, &p, err);
	if (!ret)
		ret = change_locked(&p, what, err);
	mgmt_op_unlock(took);
	return ret;
}

int pool_undefine(const char *name, struct vk_err *err)
{
	return change(name, POOL_UNDEFINE, err);
}

int pool_start(const char *name, struct vk_err *err)
{
	return change(name, POOL_START, err);
}

int pool_stop(const char *name, struct vk_err *err)
{
	return change(name, POOL_STOP, err);
}

int pool_set_autostart(const char *name, bool on, struct vk_err *err)
{
	return change(name, on ? POOL_AUTOSTART : POOL_NO_AUTOSTART, err);
}

int pool_refresh(const char *name, struct vk_err *err)
{
	return change(name, POOL_REFRESH, err);
}

static void count_vols(const char *dir, unsigned int *n, uint64_t *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];
	struct stat st;

	*n = 0;
	*bytes = 0;
	if (!d)
		return;
	while ((e = readdir(d))) {
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || stat(p, &st) || !S_ISREG(st.st_mode))
			continue;
		(*n)++;
		*bytes += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
}

static void fill_info(const struct pool_def *p, struct pool_info *info)
{
	struct statvfs vfs;

	memset(info, 0, sizeof(*info));
	info->def = *p;
	count_vols(p->path, &info->volumes, &info->allocation);
	if (!statvfs(p->path, &vfs)) {
		info->have_fs = true;
		info->capacity = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		info->available = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	}
}

int pool_get_info(const char *name, struct pool_info *info, struct vk_err *err)
{
	struct pool_def p;
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = pool_load(name, &p, err);
	if (!ret)
		fill_info(&p, info);
	mgmt_op_unlock(took);
	return ret;
}

static int list_locked(struct pool_info **out, unsigned int *count, struct vk_err *err)
{
	struct pool_info *list;
	char **names, **n;
	unsigned int k = 0;
	int ret = pool_list_names(&names, err);

	if (ret)
		return ret;
	for (n = names; *n; n++)
		;
	list = calloc(n - names + 1, sizeof(*list));
	if (!list) {
		mgmt_strv_free(names);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	for (n = names; *n; n++) {
		struct pool_def p;

		if (!pool_load(*n, &p, NULL))
			fill_info(&p, &list[k++]);
	}
	mgmt_strv_free(names);
	*out = list;
	*count = k;
	return 0;
}

int pool_list(struct pool_info **out, unsigned int *n, struct vk_err *err)
{
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = list_locked(out, n, err);
	mgmt_op_unlock(took);
	return ret;
}
