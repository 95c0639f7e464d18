// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit template NAME, as Proxmox's `qm template`: a shut-off VM becomes a
 * read-only template (`template: 1` in its definition). Its disks are then
 * bases for clones: the template cannot be started, changed, snapshotted
 * or reverted, and cannot be deleted while a clone is built on its disks.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/mgmt-ops.h"

bool vm_is_template(const struct vm_def *d)
{
	const char *t = vm_def_get(d, "template");

	return t && (!strcmp(t, "1") || !strcmp(t, "on") || !strcmp(t, "yes"));
}

int vm_refuse_template(const struct vm_def *d, const char *what, struct vk_err *err)
{
	if (!vm_is_template(d))
		return 0;
	return vk_fail(err, -EPERM, "VM '%s' is a template: it cannot be %s (clone it: vmkit clone %s NEW --linked)",
		       d->name, what, d->name);
}

int vm_disk_overlay(const struct vm_def *d, char ref[PATH_MAX], char *who, size_t who_size,
		    struct vk_err *err)
{
	char file[PATH_MAX];
	unsigned int i;
	int ret;

	for (i = 0; i < d->n; i++) {
		const char *v = d->kv[i].val;

		if (!vm_disk_entry(d->kv[i].key, v))
			continue;
		snprintf(ref, PATH_MAX, "%.*s", (int)strcspn(v, ","), v);
		if (vol_resolve(ref, true, file, NULL))
			continue;	/* a missing volume is named where the disk is used */
		ret = vol_find_overlay(file, NULL, who, who_size, err);
		if (ret)
			return ret;
	}
	return 0;
}

int vm_template_in_use(const struct vm_def *d, struct vk_err *err)
{
	char ref[PATH_MAX], who[PATH_MAX + 64];
	int ret;

	if (!vm_is_template(d))
		return 0;
	ret = vm_disk_overlay(d, ref, who, sizeof(who), err);
	if (ret > 0)
		return vk_fail(err, -EBUSY,
			       "VM '%s' is a template used by %s (its disk %s is that image's backing file)",
			       d->name, who, ref);
	return ret;
}

int vm_template(const char *name, struct vk_err *err)
{
	struct vm_def d;
	bool took;
	int ret = vm_op_load(name, &d, &took, err);

	if (ret)
		return ret;
	ret = vm_require_shutoff(name, "template", err);
	if (!ret && vm_is_template(&d))
		ret = vk_fail(err, -EEXIST, "VM '%s' is a template already", name);
	if (!ret && vm_def_get(&d, "onboot"))
		ret = vm_def_set(&d, "onboot", NULL, err);
	if (!ret)
		ret = vm_def_set(&d, "template", "1", err);
	if (!ret)
		ret = vm_save(&d, err);
	vm_def_free(&d);
	mgmt_op_unlock(took);
	return ret;
}
