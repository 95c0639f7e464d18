// SPDX-License-Identifier: GPL-2.0-or-later
/* Small helpers the API handlers share: JSON fields, query arguments. */
#include <stdio.h>
#include <string.h>

#include "serve.h"

const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool jbool(struct json_object *o, const char *key, bool def)
{
	struct json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return def;
	if (json_object_is_type(v, json_type_string))
		return !strcmp(json_object_get_string(v), "1") || !strcmp(json_object_get_string(v), "true");
	return json_object_get_boolean(v);
}

bool query_arg(const struct sess *s, const char *name, char *buf, size_t n)
{
	size_t nl = strlen(name);
	const char *p = s->query;

	while (*p) {
		size_t len = strcspn(p, "&");

		if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			snprintf(buf, n, "%.*s", (int)(len - nl - 1), p + nl + 1);
			return true;
		}
		if (len == nl && !strncmp(p, name, nl)) {
			snprintf(buf, n, "1");
			return true;
		}
		p += len;
		if (*p)
			p++;
	}
	return false;
}

bool need_object(struct sess *s, struct json_object *b)
{
	if (b && json_object_is_type(b, json_type_object))
		return true;
	reply_error(s, 400, "request body: a JSON object is required");
	return false;
}
