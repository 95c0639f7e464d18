// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit cdrom NAME FILE|eject: change the medium of a VM's CD-ROM drive
 * (its first ideN, sataN or scsiN with media=cdrom). The definition names
 * the new medium (or none), and a running VM gets it at once over QMP
 * (blockdev-change-medium, eject), as Proxmox's `qm set ide2` does.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/mgmt-ops.h"
#include "vmkit/mgmt.h"

static bool is_cdrom(const char *key, const char *val)
{
	bool media = (!strncmp(key, "scsi", 4) && strcmp(key, "scsihw")) ||
		     !strncmp(key, "sata", 4) || !strncmp(key, "ide", 3);

	return media && strstr(val, "media=cdrom");
}

/* A JSON string of s (paths are the user's: quote what JSON needs quoted). */
static void json_quote(char *out, size_t n, const char *s)
{
	size_t k = 0;

	out[k++] = '"';
	for (; *s && k + 8 < n; s++) {
		if (*s == '"' || *s == '\\')
			out[k++] = '\\';
		if ((unsigned char)*s < 0x20) {
			k += snprintf(out + k, n - k, "\\u%04x", *s);
			continue;
		}
		out[k++] = *s;
	}
	out[k++] = '"';
	out[k] = 0;
}

/* Tell the running monitor; a VM that is not running has nothing to tell. */
static int change_live(const char *name, const char *key, const char *file, struct vk_err *err)
{
	char args[PATH_MAX * 2 + 64], q[PATH_MAX * 2 + 8];
	struct vm_status st;

	if (vm_status_get(name, &st) || !st.pid)
		return 0;
	if (!file) {
		snprintf(args, sizeof(args), "{\"id\": \"%s\", \"force\": true}", key);
		return vm_qmp_call(name, "eject", args, NULL, err);
	}
	/* A monitor in its own root (--runas) sees the ISO only once it is put there. */
	if (vm_jail_expose(st.pid, file, err))
		return err->code;
	json_quote(q, sizeof(q), file);
	snprintf(args, sizeof(args), "{\"id\": \"%s\", \"filename\": %s}", key, q);
	return vm_qmp_call(name, "blockdev-change-medium", args, NULL, err);
}

int vm_cdrom(const char *name, const char *media, struct vk_err *err)
{
	char key[16] = "", val[PATH_MAX + 512], file[PATH_MAX];
	const char *old = NULL, *opts;
	struct vm_def d;
	struct vm_kv kv;
	unsigned int i;
	int ret = vm_load(name, &d, err);

	if (ret)
		return ret;
	for (i = 0; i < d.n && !old; i++)
		if (is_cdrom(d.kv[i].key, d.kv[i].val)) {
			snprintf(key, sizeof(key), "%s", d.kv[i].key);
			old = d.kv[i].val;
		}
	if (!old) {
		vm_def_free(&d);
		return vk_fail(err, -ENOENT, "VM %s has no CD-ROM drive (add one: vmkit set %s ide2=none,media=cdrom)",
			       name, name);
	}
	opts = strchr(old, ',');
	snprintf(val, sizeof(val), "%s%s", media ? media : "none", opts ? opts : ",media=cdrom");
	vm_def_free(&d);
	if (media && vol_resolve(media, true, file, err))
		return mgmt_wrap(err, media);
	if (media && vm_runas_check_readable(file, err))
		return err->code;
	kv = (struct vm_kv){ key, val };
	/* The file must exist and be an ISO: the monitor checks that when it opens it. */
	ret = vm_set_keys(name, &kv, 1, err);
	if (!ret)
		ret = change_live(name, key, media ? file : NULL, err);
	return ret;
}
