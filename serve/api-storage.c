// SPDX-License-Identifier: GPL-2.0-or-later
/* /api/pools: storage pools and their volumes (uploads: serve/upload.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "vmkit/mgmt-ops.h"

static struct json_object *pool_json(const struct pool_info *p)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(p->def.name));
	json_object_object_add(o, "type", json_object_new_string(p->def.type));
	json_object_object_add(o, "path", json_object_new_string(p->def.path));
	json_object_object_add(o, "active", json_object_new_boolean(p->def.active));
	json_object_object_add(o, "autostart", json_object_new_boolean(p->def.autostart));
	json_object_object_add(o, "volumes", json_object_new_int((int)p->volumes));
	json_object_object_add(o, "used_bytes", json_object_new_int64((int64_t)p->allocation));
	json_object_object_add(o, "capacity_bytes",
			       p->have_fs ? json_object_new_int64((int64_t)p->capacity) : NULL);
	json_object_object_add(o, "avail_bytes",
			       p->have_fs ? json_object_new_int64((int64_t)p->available) : NULL);
	return o;
}

void api_pool_list(struct sess *s, struct json_object *b)
{
	struct vk_err err = { 0 };
	struct pool_info *p = NULL;
	struct json_object *a;
	unsigned int n = 0, i;

	if (pool_list(&p, &n, &err)) {
		reply_err(s, &err);
		return;
	}
	a = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(a, pool_json(&p[i]));
	free(p);
	reply_data(s, a);
}

void api_pool_get(struct sess *s, struct json_object *b)
{
	struct vk_err err = { 0 };
	struct pool_info p;

	if (pool_get_info(s->arg[0], &p, &err))
		reply_err(s, &err);
	else
		reply_data(s, pool_json(&p));
}

struct pool_arg {
	char name[MGMT_NAME_MAX], vol[MGMT_NAME_MAX];
	char path[PATH_MAX], type[16], format[16], backing[PATH_MAX];
	uint64_t size;
	bool start;
	bool has_type, has_backing;
};

static int do_pool_define(void *arg, struct json_object **result, struct vk_err *err)
{
	struct pool_arg *a = arg;
	int ret = pool_define(a->name, a->has_type ? a->type : "dir", a->path, err);

	if (!ret)
		*result = json_object_new_string(a->name);
	return ret;
}

static bool copy_field(struct sess *s, struct json_object *b, const char *key, char *out, size_t n,
		       bool required)
{
	const char *v = jstr(b, key);

	if (!v && !required)
		return true;
	if (!v || strlen(v) >= n) {
		reply_error(s, 400, "%s: %s", key, v ? "too long" : "required");
		return false;
	}
	snprintf(out, n, "%s", v);
	return true;
}

void api_pool_create(struct sess *s, struct json_object *b)
{
	struct pool_arg a;

	memset(&a, 0, sizeof(a));
	if (!need_object(s, b) || !copy_field(s, b, "name", a.name, sizeof(a.name), true) ||
	    !copy_field(s, b, "path", a.path, sizeof(a.path), true) ||
	    !copy_field(s, b, "type", a.type, sizeof(a.type), false))
		return;
	a.has_type = a.type[0];
	job_sync(s, do_pool_define, &a, sizeof(a));
}

static int do_pool_op(void *arg, struct json_object **result, struct vk_err *err)
{
	struct pool_arg *a = arg;

	if (!strcmp(a->type, "delete"))
		return pool_undefine(a->name, err);
	if (!strcmp(a->type, "start"))
		return pool_start(a->name, err);
	return pool_stop(a->name, err);
}

static void pool_op(struct sess *s, const char *op)
{
	struct pool_arg a;

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	snprintf(a.type, sizeof(a.type), "%s", op);
	job_sync(s, do_pool_op, &a, sizeof(a));
}

void api_pool_delete(struct sess *s, struct json_object *b)
{
	pool_op(s, "delete");
}

void api_pool_action(struct sess *s, struct json_object *b)
{
	pool_op(s, strstr(s->path, "/start") ? "start" : "stop");
}

static struct json_object *vol_json(const struct vol_info *v)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "format", json_object_new_string(v->format));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)v->virtual_size));
	json_object_object_add(o, "used", v->allocation >= 0 ?
			       json_object_new_int64(v->allocation) : NULL);
	json_object_object_add(o, "backing", v->backing[0] ? json_object_new_string(v->backing) : NULL);
	json_object_object_add(o, "in_use_by",
			       v->used_by[0] ? json_object_new_string(v->used_by) : NULL);
	return o;
}

static int do_vol_list(void *arg, struct json_object **result, struct vk_err *err)
{
	struct pool_arg *a = arg;
	struct vol_info *v = NULL;
	unsigned int n = 0, i;
	int ret = vol_list(a->name, &v, &n, err);

	if (ret)
		return ret;
	*result = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(*result, vol_json(&v[i]));
	free(v);
	return 0;
}

void api_vol_list(struct sess *s, struct json_object *b)
{
	struct pool_arg a;

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	/* A job: the images are opened to read their headers. */
	job_sync(s, do_vol_list, &a, sizeof(a));
}

static int do_vol_create(void *arg, struct json_object **result, struct vk_err *err)
{
	struct pool_arg *a = arg;
	int ret = vol_create(a->name, a->vol, a->format, a->size, a->has_backing ? a->backing : NULL,
			     err);

	if (!ret)
		*result = json_object_new_string(a->vol);
	return ret;
}

void api_vol_create(struct sess *s, struct json_object *b)
{
	struct pool_arg a;
	const char *size;

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	if (!need_object(s, b) || !copy_field(s, b, "name", a.vol, sizeof(a.vol), true) ||
	    !copy_field(s, b, "format", a.format, sizeof(a.format), false) ||
	    !copy_field(s, b, "backing", a.backing, sizeof(a.backing), false))
		return;
	a.has_backing = a.backing[0];
	if (!a.format[0])
		snprintf(a.format, sizeof(a.format), "qcow2");
	size = jstr(b, "size");
	if (size && vk_parse_size(size, 1, &a.size)) {
		reply_error(s, 400, "size: '%s' is not a size (such as 2G)", size);
		return;
	}
	if (!size && !a.has_backing) {
		reply_error(s, 400, "size: required");
		return;
	}
	job_sync(s, do_vol_create, &a, sizeof(a));
}

static int do_vol_delete(void *arg, struct json_object **result, struct vk_err *err)
{
	struct pool_arg *a = arg;
	char ref[2 * MGMT_NAME_MAX + 2];

	snprintf(ref, sizeof(ref), "%s:%s", a->name, a->vol);
	return vol_delete(ref, err);
}

void api_vol_delete(struct sess *s, struct json_object *b)
{
	struct pool_arg a;

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", s->arg[0]);
	snprintf(a.vol, sizeof(a.vol), "%s", s->arg[1]);
	job_sync(s, do_vol_delete, &a, sizeof(a));
}
