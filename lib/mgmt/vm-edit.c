// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Changes to definitions: define, set, rename, delete, autostart. Every
 * change is made on a copy in memory, validated whole, then written
 * atomically under the state lock: a bad value changes nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/mgmt-ops.h"

/* Load name under the state lock; on failure the lock is given back. */
static int load_locked(const char *name, struct vm_def *d, bool *took, struct vk_err *err)
{
	int ret = mgmt_op_lock(took, err);

	if (!ret)
		ret = vm_load(name, d, err);
	if (ret)
		mgmt_op_unlock(*took);
	return ret;
}

int vm_define(const char *text, const char *where, char name[MGMT_NAME_MAX], struct vk_err *err)
{
	struct vm_def d;
	bool took;
	int ret = mgmt_op_lock(&took, err);

	if (!ret)
		ret = vm_def_parse(text, where, &d, err);
	if (ret) {
		mgmt_op_unlock(took);
		return ret;
	}
	ret = vm_save(&d, err);
	if (!ret)
		snprintf(name, MGMT_NAME_MAX, "%s", d.name);
	vm_def_free(&d);
	mgmt_op_unlock(took);
	return ret;
}

void vm_cg_limits(const struct vm_def *d, struct cg_limits *l)
{
	const char *v = vm_def_get(d, "memtune"), *p;

	memset(l, 0, sizeof(*l));
	l->cpuunits = 1024;
	if ((p = vm_def_get(d, "cpulimit")))
		l->cpulimit = strtod(p, NULL);
	if ((p = vm_def_get(d, "cpuunits")))
		l->cpuunits = atoi(p);
	if (v && (p = strstr(v, "hard_limit=")))
		vk_parse_size(strndupa(p + 11, strcspn(p + 11, ",")), 1, &l->mem_hard);
	if (v && (p = strstr(v, "soft_limit=")))
		vk_parse_size(strndupa(p + 11, strcspn(p + 11, ",")), 1, &l->mem_soft);
}

/* Settings a running VM takes at once: its cgroup, and its threads' CPUs. */
static int apply_live(const struct vm_def *d, pid_t pid, struct vk_err *err)
{
	struct cg_limits l;
	int r;

	r = vm_pin_live(d, pid, err);
	if (r)
		return r;
	vm_cg_limits(d, &l);
	return cg_setup(d->name, &l, err);
}

int vm_set_keys(const char *name, const struct vm_kv *kv, unsigned int n, struct vk_err *err)
{
	struct vm_status st;
	struct vm_def d;
	unsigned int i;
	bool took;
	int ret = load_locked(name, &d, &took, err);

	if (ret)
		return ret;
	ret = vm_refuse_template(&d, "changed", err);
	for (i = 0; i < n && !ret; i++) {
		if (!strcmp(kv[i].key, "name"))
			ret = vk_fail(err, -EINVAL, "name: use 'vmkit rename'");
		else
			ret = vm_def_set(&d, kv[i].key, kv[i].val, err);
	}
	if (!ret)
		ret = vm_def_check(&d, err);
	if (!ret)
		ret = vm_save(&d, err);
	if (!ret && !vm_status_get(d.name, &st) && st.pid)
		ret = apply_live(&d, st.pid, err);
	vm_def_free(&d);
	mgmt_op_unlock(took);
	return ret;
}

int vm_rename(const char *name, const char *newname, struct vk_err *err)
{
	char oldp[PATH_MAX];
	struct vm_def d;
	bool took;
	int ret = load_locked(name, &d, &took, err);

	if (ret)
		return ret;
	ret = vm_require_shutoff(name, "rename", err);
	if (!ret && vm_exists(newname))
		ret = vk_fail(err, -EEXIST, "VM '%s' already exists", newname);
	if (!ret)
		ret = vm_def_set(&d, "name", newname, err);
	/* New directory and config first: a crash part-way leaves two definitions, never none. */
	if (!ret)
		ret = vm_save(&d, err);
	if (!ret) {
		mgmt_rm_rf(mgmt_path(oldp, "vms/%s", name));
		cg_remove(name);
	}
	vm_def_free(&d);
	mgmt_op_unlock(took);
	return ret;
}

#define MAX_PURGE 64	/* disks of one VM (virtio0..) */

/* The pool volumes that are the VM's own (disks given by path are not). */
static unsigned int own_volumes(const struct vm_def *d, char (*files)[PATH_MAX],
				char (*refs)[PATH_MAX], unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < d->n && n < max; i++) {
		const char *v = d->kv[i].val;

		if (!vm_disk_entry(d->kv[i].key, v) || v[0] == '/')
			continue;
		snprintf(refs[n], PATH_MAX, "%.*s", (int)strcspn(v, ","), v);
		if (!vol_resolve(refs[n], true, files[n], NULL))
			n++;
	}
	return n;
}

/*
 * --purge removes the VM's volumes, but never one that another image is
 * built on (a linked clone's base): the whole delete is refused, naming it,
 * before anything is removed. The VM's own other volumes do not count.
 */
static int check_purge(const struct vm_def *d, char (*files)[PATH_MAX], char (*refs)[PATH_MAX],
		       unsigned int n, struct vk_err *err)
{
	const char *skip[MAX_PURGE + 1];
	char who[PATH_MAX + 64];
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++)
		skip[i] = files[i];
	skip[n] = NULL;
	for (i = 0; i < n; i++) {
		ret = vol_find_overlay(files[i], skip, who, sizeof(who), err);
		if (ret > 0)
			return vk_fail(err, -EBUSY,
				       "delete --purge: volume %s of VM '%s' is the backing file of %s; delete that first",
				       refs[i], d->name, who);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void purge_volumes(char (*files)[PATH_MAX], char (*refs)[PATH_MAX], unsigned int n,
			  void (*removed)(const char *ref))
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!unlink(files[i]) && removed)
			removed(refs[i]);
}

/* The checks of delete, and with purge the VM's volumes to remove. */
static int check_delete(const struct vm_def *d, bool purge, char (*files)[PATH_MAX],
			char (*refs)[PATH_MAX], unsigned int *npurge, struct vk_err *err)
{
	int ret = vm_require_shutoff(d->name, "delete", err);

	if (!ret)
		ret = vm_template_in_use(d, err);
	if (ret || !purge)
		return ret;
	*npurge = own_volumes(d, files, refs, MAX_PURGE);
	return check_purge(d, files, refs, *npurge, err);
}

int vm_delete_report(const char *name, bool purge, void (*removed)(const char *ref),
		     struct vk_err *err)
{
	char (*files)[PATH_MAX] = calloc(MAX_PURGE, sizeof(*files));
	char (*refs)[PATH_MAX] = calloc(MAX_PURGE, sizeof(*refs));
	unsigned int npurge = 0;
	char p[PATH_MAX];
	struct vm_def d;
	bool took;
	int ret = files && refs ? 0 : vk_fail(err, -ENOMEM, "out of memory");

	if (!ret)
		ret = load_locked(name, &d, &took, err);
	if (ret)
		goto out;
	ret = check_delete(&d, purge, files, refs, &npurge, err);
	if (!ret) {
		if (purge)
			purge_volumes(files, refs, npurge, removed);
		/* The config goes first, so a crash never leaves a half-removed VM that looks defined. */
		unlink(mgmt_path(p, "vms/%s/config", name));
		mgmt_rm_rf(mgmt_path(p, "vms/%s", name));
		cg_remove(name);
	}
	vm_def_free(&d);
	mgmt_op_unlock(took);
out:
	free(files);
	free(refs);
	return ret;
}

int vm_delete(const char *name, bool purge, struct vk_err *err)
{
	return vm_delete_report(name, purge, NULL, err);
}

int vm_set_autostart(const char *name, bool on, struct vk_err *err)
{
	struct vm_def d;
	bool took;
	int ret = load_locked(name, &d, &took, err);

	if (ret)
		return ret;
	ret = vm_def_set(&d, "onboot", on ? "1" : "0", err);
	if (!ret)
		ret = vm_save(&d, err);
	vm_def_free(&d);
	mgmt_op_unlock(took);
	return ret;
}
