// SPDX-License-Identifier: GPL-2.0-or-later
/* /api/node/status, /api/tasks, /api/openapi.json. */
#include <stdio.h>
#include <string.h>

#include "serve.h"

void api_node_status(struct sess *s, struct json_object *b)
{
	reply_data(s, stats_node());
}

void api_tasks(struct sess *s, struct json_object *b)
{
	reply_data(s, task_list_json());
}

void api_task(struct sess *s, struct json_object *b)
{
	const struct task *t = task_find(s->arg[0]);

	if (!t) {
		reply_error(s, 404, "task '%s' does not exist", s->arg[0]);
		return;
	}
	reply_data(s, task_json(t, true));
}

/* "/api/vms/{}/status/{}" as OpenAPI's "/api/vms/{p1}/status/{p2}". */
static void openapi_path(const char *pat, char *out, size_t n, unsigned int *nparams)
{
	size_t used = 0;

	*nparams = 0;
	while (*pat && used + 8 < n) {
		if (pat[0] == '{' && pat[1] == '}') {
			used += snprintf(out + used, n - used, "{p%u}", ++*nparams);
			pat += 2;
			continue;
		}
		out[used++] = *pat++;
	}
	out[used] = 0;
}

static struct json_object *operation(const struct route *r, unsigned int nparams)
{
	struct json_object *op = json_object_new_object(), *params = json_object_new_array();
	unsigned int i;
	char name[8];

	json_object_object_add(op, "summary", json_object_new_string(r->summary));
	for (i = 1; i <= nparams; i++) {
		struct json_object *p = json_object_new_object(), *schema = json_object_new_object();

		snprintf(name, sizeof(name), "p%u", i);
		json_object_object_add(p, "name", json_object_new_string(name));
		json_object_object_add(p, "in", json_object_new_string("path"));
		json_object_object_add(p, "required", json_object_new_boolean(1));
		json_object_object_add(schema, "type", json_object_new_string("string"));
		json_object_object_add(schema, "pattern",
				       json_object_new_string("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"));
		json_object_object_add(p, "schema", schema);
		json_object_array_add(params, p);
	}
	json_object_object_add(op, "parameters", params);
	json_object_object_add(op, "responses",
			       json_tokener_parse("{\"200\":{\"description\":\"{\\\"data\\\": ...}\"},"
						  "\"default\":{\"description\":\"{\\\"message\\\": ...}\"}}"));
	return op;
}

void api_openapi(struct sess *s, struct json_object *b)
{
	struct json_object *doc = json_object_new_object(), *paths = json_object_new_object();
	const struct route *r;
	char path[256], method[8];
	unsigned int np, i;

	json_object_object_add(doc, "openapi", json_object_new_string("3.0.3"));
	json_object_object_add(doc, "info", json_tokener_parse(
		"{\"title\":\"vmkit\",\"version\":\"" VMKIT_VERSION "\",\"description\":"
		"\"Log in with POST /api/access/ticket; send the cookie VMKitAuthCookie and, on writes, "
		"the header CSRFPreventionToken. Or: Authorization: VMKitAPIToken=USER@pam!ID=SECRET\"}"));
	for (r = route_table(); r->pattern; r++) {
		struct json_object *item;

		openapi_path(r->pattern, path, sizeof(path), &np);
		if (!json_object_object_get_ex(paths, path, &item)) {
			item = json_object_new_object();
			json_object_object_add(paths, path, item);
		}
		for (i = 0; method_name(r->method)[i] && i < sizeof(method) - 1; i++)
			method[i] = (char)(method_name(r->method)[i] | 0x20);
		method[i] = 0;
		json_object_object_add(item, method, operation(r, np));
	}
	json_object_object_add(doc, "paths", paths);
	/* The document itself, not wrapped in {"data"}: what OpenAPI tools read. */
	const char *txt = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	char *copy = strdup(txt);

	reply_raw(s, 200, "application/json", copy, copy ? strlen(copy) : 0);
	json_object_put(doc);
}
