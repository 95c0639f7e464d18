// SPDX-License-Identifier: GPL-2.0-or-later
/* /api/networks: host bridges VMs join (libvirt's bridged networks, Proxmox's vmbrN). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "serve.h"
#include "vmkit/mgmt-ops.h"

static struct json_object *net_json(const struct network_def *n)
{
	struct json_object *o = json_object_new_object();
	char users[512] = "";

	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "bridge", json_object_new_string(n->bridge));
	json_object_object_add(o, "address", json_object_new_string(n->address));
	json_object_object_add(o, "uplink", json_object_new_string(n->uplink));
	json_object_object_add(o, "mtu", json_object_new_int((int)n->mtu));
	json_object_object_add(o, "active", json_object_new_boolean(network_is_active(n)));
	json_object_object_add(o, "autostart", json_object_new_boolean(n->autostart));
	network_users(n, users, sizeof(users));
	json_object_object_add(o, "used_by", json_object_new_string(users));
	return o;
}

void api_net_list(struct sess *s, struct json_object *b)
{
	struct json_object *a = json_object_new_array();
	struct vk_err err = { 0 };
	char **names = NULL;
	unsigned int i;

	if (network_list_names(&names, &err)) {
		json_object_put(a);
		reply_err(s, &err);
		return;
	}
	for (i = 0; names[i]; i++) {
		struct network_def n;

		if (!network_load(names[i], &n, &err))
			json_object_array_add(a, net_json(&n));
	}
	mgmt_strv_free(names);
	reply_data(s, a);
}

struct net_arg {
	char name[MGMT_NAME_MAX];
	char op[16];
	struct vm_kv kv[8];
	char vals[8][128];
	unsigned int n;
	bool force;
};

static int do_define(void *arg, struct json_object **result, struct vk_err *err)
{
	struct net_arg *a = arg;
	struct network_def n;
	unsigned int i;
	int ret;

	/* The child has its own copy: point the pairs at its own strings. */
	for (i = 0; i < a->n; i++)
		a->kv[i].val = a->vals[i];
	ret = network_define(a->name, a->kv, a->n, &n, err);
	if (!ret)
		*result = json_object_new_string(a->name);
	return ret;
}

void api_net_create(struct sess *s, struct json_object *b)
{
	static char *const keys[] = { "bridge", "address", "uplink", "mtu", "autostart" };
	struct net_arg a;
	const char *name;
	unsigned int i;

	memset(&a, 0, sizeof(a));
	if (!need_object(s, b))
		return;
	name = jstr(b, "name");
	if (!name || strlen(name) >= sizeof(a.name)) {
		reply_error(s, 400, "name: %s", name ? "too long" : "required");
		return;
	}
	snprintf(a.name, sizeof(a.name), "%s", name);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct json_object *v;

		if (!json_object_object_get_ex(b, keys[i], &v) || json_object_is_type(v, json_type_null))
			continue;
		if (json_object_is_type(v, json_type_string) && !*json_object_get_string(v))
			continue;
		if (json_object_is_type(v, json_type_boolean))
			snprintf(a.vals[a.n], sizeof(a.vals[a.n]), "%s",
				 json_object_get_boolean(v) ? "1" : "0");
		else
			snprintf(a.vals[a.n], sizeof(a.vals[a.n]), "%s", json_object_get_string(v));
		a.kv[a.n++].key = keys[i];
	}
	job_sync(s, do_define, &a, sizeof(a));
}

static int do_op(void *arg, struct json_object **result, struct vk_err *err)
{
	struct net_arg *a = arg;

	if (!strcmp(a->op, "delete"))
		return network_undefine(a->name, err);
	if (!strcmp(a->op, "start"))
		return network_up(a->name, err);
	return network_down(a->name, a->force, err);
}

static void net_op(struct sess *s, const char *op)
{
	struct net_arg a;

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	snprintf(a.op, sizeof(a.op), "%s", op);
	job_sync(s, do_op, &a, sizeof(a));
}

void api_net_delete(struct sess *s, struct json_object *b)
{
	net_op(s, "delete");
}

void api_net_action(struct sess *s, struct json_object *b)
{
	net_op(s, strstr(s->path, "/start") ? "start" : "stop");
}
