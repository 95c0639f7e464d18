// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Backups over the API (Proxmox's vzdump and qmrestore; lib/mgmt/vm-backup.c):
 *   POST /api/vms/{name}/backup {"storage": POOL, "mode"?, "compress"?, "bwlimit"?}
 *   GET  /api/pools/{pool}/backups
 *   POST /api/backups/restore {"storage": POOL, "backup": DIR, "name"?, "target"?}
 * A backup goes into the pool's dump/ directory and a restore reads one from
 * there, both named by pool and plain directory name: an API user never
 * names a host path.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "vmkit/mgmt-ops.h"

struct backup_arg {
	char name[MGMT_NAME_MAX];
	char storage[MGMT_NAME_MAX];
	char backup[NAME_MAX + 1];
	char target[MGMT_NAME_MAX];	/* restore: the disks' pool, "" as in the backup */
	struct vm_backup_opts o;
};

static int do_backup(void *arg, struct json_object **result, struct vk_err *err)
{
	struct backup_arg *a = arg;
	char out[PATH_MAX];
	int ret = vm_backup(a->name, a->storage, &a->o, out, err);

	if (!ret) {
		printf("VM %s backed up to %s\n", a->name, out);
		*result = json_object_new_string(strrchr(out, '/') + 1);
	}
	return ret;
}

static int pool_known(struct sess *s, const char *pool, char *dump, size_t n)
{
	struct pool_def p;
	struct vk_err err = { 0 };

	if (!pool || mgmt_check_name("pool", pool, &err) || pool_load(pool, &p, &err)) {
		if (!pool)
			vk_fail(&err, -EINVAL, "storage: required");
		reply_err(s, &err);
		return -1;
	}
	snprintf(dump, n, "%s/dump", p.path);
	return 0;
}

void api_vm_backup(struct sess *s, struct json_object *b)
{
	struct backup_arg a = { .o = { .mode = VM_BACKUP_AUTO, .compress = true } };
	const char *pool, *mode, *comp;
	struct json_object *v;
	char dump[PATH_MAX];

	if (!vm_exists(s->arg[0])) {
		reply_error(s, 404, "VM '%s' does not exist", s->arg[0]);
		return;
	}
	if (!need_object(s, b))
		return;
	pool = jstr(b, "storage");
	if (pool_known(s, pool, dump, sizeof(dump)))
		return;
	mode = jstr(b, "mode");
	if (mode && !strcmp(mode, "full"))
		a.o.mode = VM_BACKUP_FULL;
	else if (mode && !strcmp(mode, "incremental"))
		a.o.mode = VM_BACKUP_INCREMENTAL;
	else if (mode && strcmp(mode, "auto")) {
		reply_error(s, 400, "mode: auto, full or incremental");
		return;
	}
	comp = jstr(b, "compress");
	if (comp && (!strcmp(comp, "0") || !strcmp(comp, "none")))
		a.o.compress = false;
	else if (comp && strcmp(comp, "zstd") && strcmp(comp, "1")) {
		reply_error(s, 400, "compress: zstd or 0");
		return;
	}
	if (json_object_object_get_ex(b, "bwlimit", &v)) {
		int64_t k = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || k < 0 || k > (1ll << 40)) {
			reply_error(s, 400, "bwlimit: KiB/s, a whole number");
			return;
		}
		a.o.bwlimit = (uint64_t)k << 10;
	}
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	snprintf(a.storage, sizeof(a.storage), "%s", pool);
	job_task(s, "vzdump", a.name, do_backup, &a, sizeof(a));
}

static int backup_name_ok(const char *n)
{
	return n && !strncmp(n, "vzdump-vmkit-", 13) && !strchr(n, '/') && strlen(n) <= NAME_MAX;
}

void api_backup_list(struct sess *s, struct json_object *b)
{
	struct json_object *a;
	struct dirent *e;
	char dump[PATH_MAX];
	DIR *d;

	if (pool_known(s, s->arg[0], dump, sizeof(dump)))
		return;
	a = json_object_new_array();
	d = opendir(dump);
	while (d && (e = readdir(d)))
		if (backup_name_ok(e->d_name))
			json_object_array_add(a, json_object_new_string(e->d_name));
	if (d)
		closedir(d);
	json_object_array_sort(a, NULL);
	reply_data(s, a);
}

static int do_restore(void *arg, struct json_object **result, struct vk_err *err)
{
	struct backup_arg *a = arg;
	char dir[PATH_MAX], dump[PATH_MAX], got[MGMT_NAME_MAX];
	struct pool_def p;
	int ret = pool_load(a->storage, &p, err);

	if (ret)
		return ret;
	snprintf(dump, sizeof(dump), "%s/dump", p.path);
	snprintf(dir, sizeof(dir), "%s/%s", dump, a->backup);
	ret = vm_backup_restore(dir, a->name[0] ? a->name : NULL, a->target[0] ? a->target : NULL,
				got, err);
	if (!ret) {
		printf("VM %s restored from %s\n", got, a->backup);
		*result = json_object_new_string(got);
	}
	return ret;
}

void api_backup_restore(struct sess *s, struct json_object *b)
{
	struct backup_arg a = { 0 };
	const char *pool, *name, *target, *bk;
	char dump[PATH_MAX];
	struct vk_err err = { 0 };

	if (!need_object(s, b))
		return;
	pool = jstr(b, "storage");
	if (pool_known(s, pool, dump, sizeof(dump)))
		return;
	bk = jstr(b, "backup");
	name = jstr(b, "name");
	target = jstr(b, "target");
	if (!backup_name_ok(bk)) {
		reply_error(s, 400, "backup: the name of a backup in the pool (vzdump-vmkit-...)");
		return;
	}
	if ((name && mgmt_check_name("VM", name, &err)) ||
	    (target && mgmt_check_name("pool", target, &err))) {
		reply_err(s, &err);
		return;
	}
	snprintf(a.storage, sizeof(a.storage), "%s", pool);
	snprintf(a.backup, sizeof(a.backup), "%s", bk);
	snprintf(a.name, sizeof(a.name), "%s", name ? name : "");
	snprintf(a.target, sizeof(a.target), "%s", target ? target : "");
	job_task(s, "qmrestore", name ? name : bk, do_restore, &a, sizeof(a));
}
