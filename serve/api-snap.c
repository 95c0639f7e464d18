// SPDX-License-Identifier: GPL-2.0-or-later
/* /api/vms/{name}/snapshots: the internal snapshots of a VM's qcow2 disks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "vmkit/mgmt-ops.h"

struct snap_arg {
	char name[MGMT_NAME_MAX];
	char snap[256];
	char op[16];
	bool vmstate;		/* create: with RAM (Proxmox's vmstate=1), on a running VM */
};

static struct json_object *snap_json(const struct vm_snapshot *v)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "disk", json_object_new_string(v->disk));
	json_object_object_add(o, "volume", json_object_new_string(v->ref));
	json_object_object_add(o, "id", json_object_new_string(v->id));
	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "date", json_object_new_int64((int64_t)v->date_sec));
	json_object_object_add(o, "vm_state_size", json_object_new_int64((int64_t)v->vm_state_size));
	json_object_object_add(o, "vmstate", json_object_new_boolean(v->ram));
	return o;
}

static int do_list(void *arg, struct json_object **result, struct vk_err *err)
{
	struct snap_arg *a = arg;
	struct vm_snapshot *v = NULL;
	unsigned int n = 0, i;
	int ret = vm_snapshot_list(a->name, &v, &n, err);

	if (ret)
		return ret;
	*result = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(*result, snap_json(&v[i]));
	free(v);
	return 0;
}

static int do_op(void *arg, struct json_object **result, struct vk_err *err)
{
	struct snap_arg *a = arg;
	int ret;

	if (!strcmp(a->op, "create"))
		ret = vm_snapshot_create_with(a->name, a->snap, a->vmstate, err);
	else if (!strcmp(a->op, "rollback"))
		ret = vm_snapshot_revert(a->name, a->snap, err);
	else
		ret = vm_snapshot_delete(a->name, a->snap, err);
	if (!ret)
		printf("VM %s: snapshot %s %s done\n", a->name, a->snap, a->op);
	return ret;
}

static bool prepare(struct sess *s, struct snap_arg *a, const char *op, const char *snap)
{
	memset(a, 0, sizeof(*a));
	if (!vm_exists(s->arg[0])) {
		reply_error(s, 404, "VM '%s' does not exist", s->arg[0]);
		return false;
	}
	snprintf(a->name, sizeof(a->name), "%s", s->arg[0]);
	snprintf(a->op, sizeof(a->op), "%s", op);
	if (snap)
		snprintf(a->snap, sizeof(a->snap), "%s", snap);
	return true;
}

void api_snap_list(struct sess *s, struct json_object *b)
{
	struct snap_arg a;

	/* A job: reading the images may wait for the state lock. */
	if (prepare(s, &a, "list", NULL))
		job_sync(s, do_list, &a, sizeof(a));
}

void api_snap_create(struct sess *s, struct json_object *b)
{
	struct vk_err err = { 0 };
	struct snap_arg a;
	struct json_object *v;
	const char *name;

	if (!need_object(s, b))
		return;
	name = jstr(b, "name");
	if (!name || mgmt_check_name("snapshot", name, &err)) {
		if (!name)
			vk_fail(&err, -EINVAL, "name: required");
		reply_err(s, &err);
		return;
	}
	if (!prepare(s, &a, "create", name))
		return;
	v = json_object_object_get(b, "vmstate");
	if (v && !json_object_is_type(v, json_type_boolean) && !json_object_is_type(v, json_type_int)) {
		reply_error(s, 400, "vmstate: a boolean (or 0/1)");
		return;
	}
	a.vmstate = v && json_object_get_boolean(v);
	job_task(s, "snapshot", a.name, do_op, &a, sizeof(a));
}

void api_snap_rollback(struct sess *s, struct json_object *b)
{
	struct snap_arg a;

	if (prepare(s, &a, "rollback", s->arg[1]))
		job_task(s, "rollback", a.name, do_op, &a, sizeof(a));
}

void api_snap_delete(struct sess *s, struct json_object *b)
{
	struct snap_arg a;

	if (prepare(s, &a, "delete", s->arg[1]))
		job_task(s, "delsnapshot", a.name, do_op, &a, sizeof(a));
}
