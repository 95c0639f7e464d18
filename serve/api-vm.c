// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /api/vms: listing and reading run in the loop (file reads); every change
 * is a job calling the management library (include/vmkit/mgmt-ops.h), the
 * same functions `vmkit create`, `set`, `start`... call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "vmkit/mgmt-ops.h"

#define CREATE_LIST_MAX	32

void api_vm_list(struct sess *s, struct json_object *b)
{
	struct json_object *a = json_object_new_array();
	struct vk_err err = { 0 };
	char **names = NULL;
	unsigned int i;

	if (vm_list_names(&names, &err)) {
		json_object_put(a);
		reply_err(s, &err);
		return;
	}
	for (i = 0; names[i]; i++)
		json_object_array_add(a, stats_vm(names[i]));
	mgmt_strv_free(names);
	reply_data(s, a);
}

static bool vm_known(struct sess *s)
{
	if (vm_exists(s->arg[0]))
		return true;
	reply_error(s, 404, "VM '%s' does not exist", s->arg[0]);
	return false;
}

void api_vm_current(struct sess *s, struct json_object *b)
{
	if (vm_known(s))
		reply_data(s, stats_vm(s->arg[0]));
}

void api_vm_get(struct sess *s, struct json_object *b)
{
	struct json_object *o, *cfg, *st;
	struct vk_err err = { 0 };
	struct vm_def d = { 0 };
	struct vm_status vs;
	unsigned int i;

	if (!vm_known(s))
		return;
	if (vm_load(s->arg[0], &d, &err)) {
		reply_err(s, &err);
		return;
	}
	vm_status_get(s->arg[0], &vs);
	o = json_object_new_object();
	cfg = json_object_new_object();
	st = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(d.name));
	for (i = 0; i < d.n; i++)
		json_object_object_add(cfg, d.kv[i].key, json_object_new_string(d.kv[i].val));
	json_object_object_add(o, "config", cfg);
	json_object_object_add(st, "state", json_object_new_string(stats_state(vs.state)));
	json_object_object_add(st, "pid", vs.pid ? json_object_new_int(vs.pid) : NULL);
	json_object_object_add(st, "uptime", vs.pid ? json_object_new_double(vs.uptime) : NULL);
	json_object_object_add(st, "reason", json_object_new_string(vs.reason));
	json_object_object_add(o, "status", st);
	json_object_object_add(o, "template", json_object_new_boolean(vm_is_template(&d)));
	vm_def_free(&d);
	reply_data(s, o);
}

/* ---- create ---- */

struct create_arg {
	struct vm_create_req r;
	char memory[24], balloon[24];	/* given as numbers (MiB) */
	const char *disks[CREATE_LIST_MAX + 1], *nets[CREATE_LIST_MAX + 1];
	struct vm_kv extra[64];
	bool start;
};

static int do_create(void *arg, struct json_object **result, struct vk_err *err)
{
	struct create_arg *c = arg;
	int ret = mgmt_vm_create(&c->r, err);

	if (ret)
		return ret;
	printf("VM %s created\n", c->r.name);
	*result = json_object_new_string(c->r.name);
	if (!c->start)
		return 0;
	ret = vm_start(c->r.name, err);
	if (!ret)
		printf("VM %s started\n", c->r.name);
	return ret;
}

/* A JSON array of strings into a NULL-terminated list. */
static int str_list(struct sess *s, struct json_object *b, const char *key, const char **out)
{
	struct json_object *a;
	size_t i, n;

	out[0] = NULL;
	if (!json_object_object_get_ex(b, key, &a) || json_object_is_type(a, json_type_null))
		return 0;
	if (!json_object_is_type(a, json_type_array) ||
	    (n = json_object_array_length(a)) > CREATE_LIST_MAX) {
		reply_error(s, 400, "%s: a list of at most %d strings is expected", key, CREATE_LIST_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		if (!json_object_is_type(e, json_type_string)) {
			reply_error(s, 400, "%s[%zu]: a string is expected", key, i);
			return -1;
		}
		out[i] = json_object_get_string(e);
	}
	out[n] = NULL;
	return 0;
}

/* "config": {key: "value"} into extra keys (values as the definition file writes them). */
static int extra_keys(struct sess *s, struct json_object *b, struct create_arg *c)
{
	struct json_object *cfg;

	if (!json_object_object_get_ex(b, "config", &cfg) || json_object_is_type(cfg, json_type_null))
		return 0;
	if (!json_object_is_type(cfg, json_type_object)) {
		reply_error(s, 400, "config: an object of definition keys is expected");
		return -1;
	}
	json_object_object_foreach(cfg, k, v) {
		if (c->r.n_extra >= sizeof(c->extra) / sizeof(c->extra[0])) {
			reply_error(s, 400, "config: too many keys");
			return -1;
		}
		if (!json_object_is_type(v, json_type_string) && !json_object_is_type(v, json_type_int) &&
		    !json_object_is_type(v, json_type_boolean)) {
			reply_error(s, 400, "config: %s: a string or number is expected", k);
			return -1;
		}
		c->extra[c->r.n_extra].key = k;
		c->extra[c->r.n_extra++].val = json_object_is_type(v, json_type_boolean) ?
			(json_object_get_boolean(v) ? "1" : "0") : (char *)json_object_get_string(v);
	}
	return 0;
}

/*
 * Every field known and of its type: a typo ("memroy") or a number where a
 * path belongs is an error, not silently a default. memory and balloon may
 * be numbers (MiB), as the CLI takes them.
 */
static bool create_fields_ok(struct sess *s, struct json_object *b, struct create_arg *c)
{
	static const char *const strs[] = { "name", "kernel", "initrd", "cmdline", "memory",
					     "balloon", "console" };
	static const char *const others[] = { "cpus", "disks", "nets", "config", "onboot",
					      "start" };
	size_t i;

	json_object_object_foreach(b, k, v) {
		bool known = false, str = false;

		for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
			if (!strcmp(k, strs[i]))
				known = str = true;
		for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
			if (!strcmp(k, others[i]))
				known = true;
		if (!known) {
			reply_error(s, 400, "%s: unknown field", k);
			return false;
		}
		if (!str || json_object_is_type(v, json_type_null) ||
		    json_object_is_type(v, json_type_string))
			continue;
		if ((!strcmp(k, "memory") || !strcmp(k, "balloon")) &&
		    json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0) {
			snprintf(!strcmp(k, "memory") ? c->memory : c->balloon, sizeof(c->memory),
				 "%lld", (long long)json_object_get_int64(v));
			continue;
		}
		reply_error(s, 400, "%s: a string is expected", k);
		return false;
	}
	return true;
}

void api_vm_create(struct sess *s, struct json_object *b)
{
	struct create_arg c;
	struct json_object *v;

	memset(&c, 0, sizeof(c));
	if (!need_object(s, b) || !create_fields_ok(s, b, &c))
		return;
	c.r.name = jstr(b, "name");
	if (!c.r.name) {
		reply_error(s, 400, "name: required");
		return;
	}
	c.r.kernel = jstr(b, "kernel");
	c.r.initrd = jstr(b, "initrd");
	c.r.cmdline = jstr(b, "cmdline");
	c.r.memory = c.memory[0] ? c.memory : jstr(b, "memory");
	c.r.balloon = c.balloon[0] ? c.balloon : jstr(b, "balloon");
	c.r.console = jstr(b, "console");
	c.r.autostart = jbool(b, "onboot", false);
	/* The server's working directory means nothing to a client: absolute paths only. */
	if ((c.r.kernel && c.r.kernel[0] != '/') || (c.r.initrd && c.r.initrd[0] != '/')) {
		reply_error(s, 400, "%s: '%s' is not an absolute path",
			    c.r.kernel && c.r.kernel[0] != '/' ? "kernel" : "initrd",
			    c.r.kernel && c.r.kernel[0] != '/' ? c.r.kernel : c.r.initrd);
		return;
	}
	c.start = jbool(b, "start", false);
	if (json_object_object_get_ex(b, "cpus", &v) && !json_object_is_type(v, json_type_null)) {
		int n = json_object_get_int(v);

		if (!json_object_is_type(v, json_type_int) || n < 1 || n > 4096) {
			reply_error(s, 400, "cpus: a whole number from 1 is expected");
			return;
		}
		c.r.cpus = (unsigned int)n;
	}
	if (str_list(s, b, "disks", c.disks) || str_list(s, b, "nets", c.nets) ||
	    extra_keys(s, b, &c))
		return;
	c.r.disks = c.disks;
	c.r.nets = c.nets;
	c.r.extra = c.extra;
	if (c.start)
		job_task(s, "vmcreate", c.r.name, do_create, &c, sizeof(c));
	else
		job_sync(s, do_create, &c, sizeof(c));
}

/* ---- set, delete ---- */

struct set_arg {
	char name[MGMT_NAME_MAX];
	struct vm_kv kv[128];
	unsigned int n;
};

static int do_set(void *arg, struct json_object **result, struct vk_err *err)
{
	struct set_arg *a = arg;

	return vm_set_keys(a->name, a->kv, a->n, err);
}

void api_vm_config(struct sess *s, struct json_object *b)
{
	struct set_arg a;

	memset(&a, 0, sizeof(a));
	if (!vm_known(s) || !need_object(s, b))
		return;
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	json_object_object_foreach(b, k, v) {
		if (a.n >= sizeof(a.kv) / sizeof(a.kv[0])) {
			reply_error(s, 400, "too many keys");
			return;
		}
		if (!json_object_is_type(v, json_type_null) && !json_object_is_type(v, json_type_string) &&
		    !json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_boolean)) {
			reply_error(s, 400, "%s: a string, a number or null is expected", k);
			return;
		}
		a.kv[a.n].key = k;
		a.kv[a.n++].val = json_object_is_type(v, json_type_null) ? NULL :
			json_object_is_type(v, json_type_boolean) ?
			(json_object_get_boolean(v) ? "1" : "0") : (char *)json_object_get_string(v);
	}
	if (!a.n) {
		reply_error(s, 400, "no keys to set");
		return;
	}
	job_sync(s, do_set, &a, sizeof(a));
}

struct name_arg {
	char name[MGMT_NAME_MAX], other[MGMT_NAME_MAX];
	char action[16];
	bool flag;
	double timeout;
	uint64_t bytes;
};

static int do_delete(void *arg, struct json_object **result, struct vk_err *err)
{
	struct name_arg *a = arg;
	int ret = vm_delete(a->name, a->flag, err);

	if (!ret)
		printf("VM %s deleted%s\n", a->name, a->flag ? " with its volumes" : "");
	return ret;
}

void api_vm_delete(struct sess *s, struct json_object *b)
{
	struct name_arg a = { 0 };
	char purge[8];

	if (!vm_known(s))
		return;
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	a.flag = query_arg(s, "purge", purge, sizeof(purge)) && strcmp(purge, "0");
	job_task(s, "vmdestroy", a.name, do_delete, &a, sizeof(a));
}

/* ---- lifecycle ---- */

static int do_action(void *arg, struct json_object **result, struct vk_err *err)
{
	struct name_arg *a = arg;
	int ret;

	printf("%s VM %s\n", a->action, a->name);
	if (!strcmp(a->action, "start"))
		ret = vm_start(a->name, err);
	else if (!strcmp(a->action, "stop"))
		ret = mgmt_vm_destroy(a->name, err);
	else if (!strcmp(a->action, "shutdown"))
		ret = vm_shutdown(a->name, a->timeout, a->flag, err);
	else if (!strcmp(a->action, "reboot"))
		ret = vm_qmp_simple(a->name, "system_reset", err);
	else if (!strcmp(a->action, "pause"))
		ret = vm_qmp_simple(a->name, "stop", err);
	else
		ret = vm_qmp_simple(a->name, "cont", err);
	/* shutdown --force that had to destroy the VM still turned it off. */
	return ret > 0 ? 0 : ret;
}

void api_vm_action(struct sess *s, struct json_object *b)
{
	static const char *const actions[] = { "start", "stop", "shutdown", "reboot", "pause",
					       "resume" };
	struct name_arg a = { 0 };
	struct json_object *v;
	char type[24];
	size_t i;

	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (!strcmp(s->arg[1], actions[i]))
			break;
	if (i == sizeof(actions) / sizeof(actions[0])) {
		reply_error(s, 404, "%s: no such action (start, stop, shutdown, reboot, pause, resume)",
			    s->arg[1]);
		return;
	}
	if (!vm_known(s))
		return;
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	snprintf(a.action, sizeof(a.action), "%s", s->arg[1]);
	a.timeout = 60;
	if (b && json_object_is_type(b, json_type_object)) {
		if (json_object_object_get_ex(b, "timeout", &v) && !json_object_is_type(v, json_type_null)) {
			a.timeout = json_object_get_double(v);
			if (a.timeout <= 0 || a.timeout > 86400) {
				reply_error(s, 400, "timeout: seconds from 1 to 86400 are expected");
				return;
			}
		}
		a.flag = jbool(b, "force", false);
	}
	snprintf(type, sizeof(type), "vm%s", a.action);
	job_task(s, type, a.name, do_action, &a, sizeof(a));
}

/* ---- clone, template, balloon ---- */

static int do_clone(void *arg, struct json_object **result, struct vk_err *err)
{
	struct name_arg *a = arg;
	int ret = vm_clone(a->name, a->other, !a->flag, err);

	if (!ret)
		printf("VM %s cloned to %s (%s)\n", a->name, a->other, a->flag ? "full" : "linked");
	return ret;
}

void api_vm_clone(struct sess *s, struct json_object *b)
{
	struct name_arg a = { 0 };
	struct vk_err err = { 0 };
	const char *nn;

	if (!vm_known(s) || !need_object(s, b))
		return;
	nn = jstr(b, "newname");
	if (!nn || mgmt_check_name("VM", nn, &err)) {
		if (!nn)
			vk_fail(&err, -EINVAL, "newname: required");
		reply_err(s, &err);
		return;
	}
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	snprintf(a.other, sizeof(a.other), "%s", nn);
	a.flag = jbool(b, "full", false);
	job_task(s, "vmclone", a.name, do_clone, &a, sizeof(a));
}

/* ---- migrate (qm migrate --online): lib/mgmt/vm-migrate.c ---- */

struct migrate_arg {
	char name[MGMT_NAME_MAX];
	char target[256];
	bool local_disks;		/* Proxmox's with-local-disks */
};

static int do_migrate(void *arg, struct json_object **result, struct vk_err *err)
{
	struct migrate_arg *a = arg;
	int ret = vm_migrate(a->name, a->target, a->local_disks, stdout, err);

	if (!ret)
		printf("VM %s migrated to %s\n", a->name, a->target);
	return ret;
}

void api_vm_migrate(struct sess *s, struct json_object *b)
{
	struct migrate_arg a = { 0 };
	struct vk_err err = { 0 };
	const char *t;

	if (!vm_known(s) || !need_object(s, b))
		return;
	t = jstr(b, "target");
	if (!t || vm_migrate_check_host(t, &err)) {
		if (!t)
			vk_fail(&err, -EINVAL, "target: required");
		reply_err(s, &err);
		return;
	}
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	snprintf(a.target, sizeof(a.target), "%s", t);
	a.local_disks = jbool(b, "with-local-disks", false);
	job_task(s, "qmigrate", a.name, do_migrate, &a, sizeof(a));
}

static int do_template(void *arg, struct json_object **result, struct vk_err *err)
{
	return vm_template(((struct name_arg *)arg)->name, err);
}

void api_vm_template(struct sess *s, struct json_object *b)
{
	struct name_arg a = { 0 };

	if (!vm_known(s))
		return;
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	job_sync(s, do_template, &a, sizeof(a));
}

static int do_balloon(void *arg, struct json_object **result, struct vk_err *err)
{
	struct name_arg *a = arg;

	return vm_balloon_set(a->name, a->bytes, err);
}

void api_vm_balloon(struct sess *s, struct json_object *b)
{
	struct name_arg a = { 0 };
	const char *t;

	if (!vm_known(s) || !need_object(s, b))
		return;
	t = jstr(b, "target");
	if (!t || vk_parse_size(t, MiB, &a.bytes) || !a.bytes) {
		reply_error(s, 400, "target: a size such as 384M is expected");
		return;
	}
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	job_sync(s, do_balloon, &a, sizeof(a));
}
