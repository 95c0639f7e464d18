// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Image names as QEMU reads them. A json:{...} name is an options object:
 * nested objects are flattened to dotted keys ("file": {"filename": x} is
 * "file.filename"), "driver" names a format (over the "file." child, a
 * protocol node) or a protocol (the node alone). The name qemu-img prints
 * afterwards is the protocol node's file name, unless an option that changes
 * the data (null-co's size) was given: then it is the options as JSON.
 */
#include <errno.h>
#include <string.h>

#include "name.h"
#include "vmkit/block.h"

static const char *const formats[] = { "qcow2", "raw", "vmdk", "vpc", "vdi", "vhdx" };
static const char *const protocols[] = { "file", "host_device", "host_cdrom", "null-co" };

/* Options every node takes (QEMU's bdrv_runtime_opts); vmkit has no use for them. */
static const char *const node_opts[] = {
	"node-name", "driver", "read-only", "auto-read-only", "discard", "cache.direct",
	"cache.no-flush", "detect-zeroes", "force-share", NULL
};
static const char *const file_opts[] = {
	"filename", "aio", "aio-max-batch", "locking", "pr-manager", "x-check-cache-dropped",
	"drop-cache", NULL
};
static const char *const null_opts[] = { "size", "read-zeroes", "latency-ns", NULL };
static const char *const raw_opts[] = { "offset", "size", NULL };
static const char *const qcow2_opts[] = {
	"lazy-refcounts", "pass-discard-request", "pass-discard-snapshot", "pass-discard-other",
	"overlap-check", "cache-size", "l2-cache-size", "l2-cache-entry-size",
	"refcount-cache-size", "cache-clean-interval", NULL
};

static bool in(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; s && i < n; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

static bool in_null_terminated(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list) || (!strcmp(*list, "overlap-check") &&
					  !strncmp(s, "overlap-check.", 14)))
			return true;
	return false;
}

static int put_copy(struct vk_jv *flat, const char *key, const struct vk_jv *v)
{
	struct vk_jv *c = vk_jv_copy(v);
	size_t i;

	if (!c)
		return -ENOMEM;
	for (i = 0; i < flat->n; i++) {
		if (!strcmp(flat->keys[i], key)) {
			vk_jv_free(flat->items[i]);
			flat->items[i] = c;
			return 0;
		}
	}
	return vk_jv_put(flat, key, c);
}

/*
 * Dotted keys for nested objects (and "key.N" for list items), as
 * qdict_flatten: a nested value wins over a dotted key written beside it.
 */
static int flatten(struct vk_jv *flat, const char *prefix, const struct vk_jv *v)
{
	char key[1024];
	int pass, r = 0;
	size_t i;

	for (pass = 0; pass < 2 && !r; pass++) {
		for (i = 0; i < v->n && !r; i++) {
			const struct vk_jv *item = v->items[i];
			bool nested = item->type == VK_JV_OBJ || item->type == VK_JV_ARR;

			if (nested != (pass == 1))
				continue;
			if (v->type == VK_JV_OBJ)
				snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "",
					 v->keys[i]);
			else
				snprintf(key, sizeof(key), "%s.%zu", prefix, i);
			r = nested ? flatten(flat, key, item) : put_copy(flat, key, item);
		}
	}
	return r;
}

static const char *str_opt(const struct vk_jv *o, const char *key)
{
	const struct vk_jv *v = vk_jv_get(o, key);

	return v && v->type == VK_JV_STR ? v->s : NULL;
}

/* The options under "prefix." with it taken off. */
static struct vk_jv *sub_options(const struct vk_jv *flat, const char *prefix)
{
	struct vk_jv *sub = vk_jv_new(VK_JV_OBJ);
	size_t i, n = strlen(prefix);

	for (i = 0; sub && i < flat->n; i++)
		if (!strncmp(flat->keys[i], prefix, n) && flat->keys[i][n] == '.' &&
		    put_copy(sub, flat->keys[i] + n + 1, flat->items[i]) < 0) {
			vk_jv_free(sub);
			return NULL;
		}
	return sub;
}

/*
 * QEMU asserts on a bad null-co size or bool (qemu-img aborts after saying
 * why). The library returns the words with -ENOTRECOVERABLE and the caller
 * decides; vmkit img does as qemu-img.
 */
static int qemu_assert(struct vk_err *err, const char *where, const char *msg)
{
	return vk_fail(err, -ENOTRECOVERABLE, "Unexpected error in %s:\n%s", where, msg);
}

/* A size option's value as QemuOpts reads it: a number, or a string with a suffix. */
static bool size_value(const struct vk_jv *v, uint64_t *size)
{
	if (v->type == VK_JV_INT)
		return *size = (uint64_t)v->i, v->i >= 0;
	if (v->type == VK_JV_UINT)
		return *size = v->u, true;
	if (v->type == VK_JV_DOUBLE) {
		/* In range before the conversion: outside it, the cast is undefined. */
		if (!(v->d >= 0 && v->d < 18446744073709551616.0) ||
		    (double)(uint64_t)v->d != v->d)
			return false;
		*size = (uint64_t)v->d;
		return true;
	}
	if (v->type == VK_JV_STR)
		return vk_parse_size(v->s, 1, size) == 0;
	return false;
}

int vk_blk_opt_size(const struct vk_jv *opts, const char *key, uint64_t *out, bool *given,
		    struct vk_err *err)
{
	const struct vk_jv *v = vk_jv_get(opts, key);

	*given = v && v->type != VK_JV_NULL;
	if (*given && !size_value(v, out))
		return vk_fail(err, -EINVAL,
			       "Parameter '%s' expects a non-negative number below 2^64\n"
			       "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
			       "and exabytes, respectively.", key);
	return 0;
}

static int null_size(const struct vk_jv *v, uint64_t *size, struct vk_err *err)
{
	*size = 1 * GiB;
	if (v && v->type != VK_JV_NULL && !size_value(v, size))
		return qemu_assert(err, "parse_option_size() at ../../util/qemu-option.c:145",
				   "Parameter 'size' expects a non-negative number below 2^64");
	return 0;
}

static int null_zeroes(const struct vk_jv *v, bool *on, struct vk_err *err)
{
	static const char *const yes[] = { "on", "yes", "true", "y" };
	static const char *const no[] = { "off", "no", "false", "n" };

	bool is_str = v && v->type == VK_JV_STR;

	*on = (v && v->type == VK_JV_BOOL && v->b) || (is_str && in(v->s, yes, ARRAY_SIZE(yes)));
	if (!v || v->type == VK_JV_NULL || v->type == VK_JV_BOOL ||
	    (is_str && (in(v->s, yes, ARRAY_SIZE(yes)) || in(v->s, no, ARRAY_SIZE(no)))))
		return 0;
	return qemu_assert(err, "qapi_bool_parse() at ../../qapi/qapi-util.c:104",
			   "Parameter 'read-zeroes' expects 'on' or 'off'");
}

static int first_unknown(const struct vk_jv *o, const char *const *a, const char *const *b,
			 const char *skip, char **out)
{
	size_t i;

	for (i = 0; i < o->n && !*out; i++)
		if (!in_null_terminated(o->keys[i], a) && !(b && in_null_terminated(o->keys[i], b)) &&
		    !(skip && !strcmp(o->keys[i], skip)) &&
		    !(*out = strdup(o->keys[i])))
			return -ENOMEM;
	return 0;
}

static int set_proto_opts(struct vk_blk_spec *s, const struct vk_jv *o)
{
	static const char *const strong[] = { "driver", "filename", "size", "read-zeroes" };
	const struct vk_jv *v;
	size_t i;

	s->proto_opts = vk_jv_new(VK_JV_OBJ);
	if (!s->proto_opts)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(strong); i++) {
		v = vk_jv_get(o, strong[i]);
		if (i == 0 && !v) {
			struct vk_jv *d = vk_jv_new(VK_JV_STR);

			if (!d || !(d->s = strdup(s->proto)) ||
			    vk_jv_put(s->proto_opts, "driver", d) < 0)
				return -ENOMEM;
		} else if (v && (i < 2 || !strcmp(s->proto, "null-co"))) {
			if (put_copy(s->proto_opts, strong[i], v) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int parse_plain(const char *name, const char *fmt, struct vk_blk_spec *s,
		       struct vk_err *err);

static int proto_by_name(struct vk_blk_spec *s, const struct vk_jv *o, const char *fn,
			 struct vk_err *err)
{
	bool null;
	int r = parse_plain(fn, NULL, s, err);

	if (r < 0)
		return r;
	null = !strcmp(s->proto, "null-co");
	if (!null && ((s->proto_opts = vk_jv_new(VK_JV_OBJ)) == NULL ||
		      put_copy(s->proto_opts, "driver",
			       &(struct vk_jv){ .type = VK_JV_STR, .s = s->proto }) < 0 ||
		      put_copy(s->proto_opts, "filename",
			       &(struct vk_jv){ .type = VK_JV_STR, .s = s->path }) < 0))
		return vk_fail(err, -ENOMEM, "out of memory");
	r = first_unknown(o, node_opts, null ? null_opts : file_opts, "filename", &s->bad_proto_opt);
	return r < 0 ? vk_fail(err, r, "out of memory") : 0;
}

/* null-co's options; its name is "null-co://" unless size or read-zeroes is given. */
static int null_node(struct vk_blk_spec *s, const struct vk_jv *o, struct vk_err *err)
{
	if (first_unknown(o, node_opts, null_opts, NULL, &s->bad_proto_opt) < 0)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (null_size(vk_jv_get(o, "size"), &s->null_size, err) < 0 ||
	    null_zeroes(vk_jv_get(o, "read-zeroes"), &s->null_zeroes, err) < 0)
		return err->code;
	if (!vk_jv_get(o, "size") && !vk_jv_get(o, "read-zeroes") &&
	    !(s->proto_exact = strdup("null-co://")))
		return vk_fail(err, -ENOMEM, "out of memory");
	return 0;
}

/* The protocol node: o its options (driver may be absent: then the filename's protocol). */
static int proto_node(struct vk_blk_spec *s, const struct vk_jv *o, struct vk_err *err)
{
	const char *drv = str_opt(o, "driver"), *fn = str_opt(o, "filename");

	if (!drv && !fn)
		return vk_fail(err, -EINVAL, "Must specify either driver or file");
	if (!drv)	/* found by the filename's protocol prefix, which the protocol takes off */
		return proto_by_name(s, o, fn, err);
	if (in(drv, formats, ARRAY_SIZE(formats)))
		return vk_fail(err, -ENOTSUP, "a format over format '%s' is not supported", drv);
	if (!in(drv, protocols, ARRAY_SIZE(protocols)))
		return vk_fail(err, -EINVAL, "Unknown driver '%s'", drv);
	s->proto = strdup(drv);
	if (!s->proto || set_proto_opts(s, o) < 0)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (!strcmp(drv, "null-co"))
		return null_node(s, o, err);
	if (!fn)
		return vk_fail(err, -EINVAL, "The '%s' block driver requires a file name", drv);
	s->path = strdup(fn);
	s->proto_exact = strdup(fn);
	if (!s->path || !s->proto_exact ||
	    first_unknown(o, node_opts, file_opts, NULL, &s->bad_proto_opt) < 0)
		return vk_fail(err, -ENOMEM, "out of memory");
	return 0;
}

/* A format (or probing, drv NULL) over the "file." child. */
static int format_node(struct vk_blk_spec *s, const char *drv, const struct vk_jv *flat,
		       struct vk_err *err)
{
	const char *ref = str_opt(flat, "file");
	struct vk_jv *child, *top;
	size_t i;
	int r;

	uint64_t v;
	bool given;

	if (ref)
		return vk_fail(err, -ENODEV, "Cannot find device='%s' nor node-name='%s'", ref, ref);
	/* raw reads its options before it looks for its file. */
	if (drv && !strcmp(drv, "raw") && (vk_blk_opt_size(flat, "offset", &v, &given, err) < 0 ||
					   vk_blk_opt_size(flat, "size", &v, &given, err) < 0))
		return err->code;
	child = sub_options(flat, "file");
	if (!child)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (!child->n) {
		vk_jv_free(child);
		return vk_fail(err, -EINVAL, drv ? "A block device must be specified for \"file\"" :
			       "Must specify either driver or file");
	}
	r = proto_node(s, child, err);
	vk_jv_free(child);
	if (r < 0)
		return r;
	if (drv && !(s->format = strdup(drv)))
		return vk_fail(err, -ENOMEM, "out of memory");
	/* The format's own options: those not under "file.". */
	top = vk_jv_new(VK_JV_OBJ);
	for (i = 0; top && i < flat->n; i++) {
		bool null = flat->items[i]->type == VK_JV_NULL;

		/* "backing": null opens the layer alone (other backing options are QEMU's only). */
		if (!strcmp(flat->keys[i], "backing") && null)
			s->no_backing = true;
		else if (strncmp(flat->keys[i], "file.", 5) &&
			 put_copy(top, flat->keys[i], flat->items[i]) < 0)
			break;
	}
	if (!top || i < flat->n) {
		vk_jv_free(top);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	s->format_opts = top;	/* checked once the format is known (it may be probed) */
	return 0;
}

int vk_blk_spec_bad_format_opt(const struct vk_blk_spec *s, const char *fmt, char **bad)
{
	const char *const *own = !strcmp(fmt, "qcow2") ? qcow2_opts :
				 !strcmp(fmt, "raw") ? raw_opts : NULL;

	*bad = NULL;
	return s->format_opts ? first_unknown(s->format_opts, node_opts, own, NULL, bad) : 0;
}

/* One layer from its flattened options (json: or --image-opts), under -f fmt if given. */
static int parse_flat(struct vk_jv *flat, const char *fmt, struct vk_blk_spec *s,
		      struct vk_err *err)
{
	const char *drv;
	int r;

	drv = fmt ? fmt : str_opt(flat, "driver");
	if (fmt && vk_jv_get(flat, "driver"))
		put_copy(flat, "driver", &(struct vk_jv){ .type = VK_JV_STR, .s = (char *)fmt });
	if (in(drv, protocols, ARRAY_SIZE(protocols))) {
		s->bare = true;
		r = proto_node(s, flat, err);
	} else if (!drv || in(drv, formats, ARRAY_SIZE(formats)) || fmt) {
		r = format_node(s, drv, flat, err);
	} else {
		r = vk_fail(err, -EINVAL, "Unknown driver '%s'", drv);
	}
	vk_jv_free(flat);
	return r;
}

static int parse_json(const char *text, const char *fmt, struct vk_blk_spec *s,
		      struct vk_err *err)
{
	struct vk_jv *v = NULL, *flat;
	struct vk_err inner = { 0 };
	int r;

	if (vk_jv_parse(text, &v, &inner) < 0)
		return vk_fail(err, inner.code, "Could not parse the JSON options: %s", inner.msg);
	if (v->type != VK_JV_OBJ) {
		vk_jv_free(v);
		return vk_fail(err, -EINVAL, "Invalid JSON object given");
	}
	flat = vk_jv_new(VK_JV_OBJ);
	r = flat ? flatten(flat, "", v) : -ENOMEM;
	vk_jv_free(v);
	if (r < 0) {
		vk_jv_free(flat);
		return vk_fail(err, r, "out of memory");
	}
	return parse_flat(flat, fmt, s, err);
}

/* The next ','-separated part of QemuOpts text (",," is a comma), malloc'd. */
static char *next_part(const char **pp)
{
	const char *p = *pp;
	char *out = malloc(strlen(p) + 1), *o = out;

	if (!out)
		return NULL;
	for (; *p && (*p != ',' || p[1] == ','); p++) {
		*o++ = *p;
		if (*p == ',')
			p++;
	}
	*o = 0;
	*pp = *p ? p + 1 : p;
	return out;
}

/*
 * --image-opts text: "key=value" parts, every value a string; a first part
 * without '=' is the "file" option, later bare "key" is "key=on" ("nokey":
 * off); a key given twice keeps its last value.
 */
static int parse_image_opts(const char *text, struct vk_blk_spec *s, struct vk_err *err)
{
	struct vk_jv *flat = vk_jv_new(VK_JV_OBJ), val = { .type = VK_JV_STR };
	const char *p = text, *key;
	bool first = true;
	char *part, *eq;
	int r = 0;

	while (flat && !r && (first || *p)) {
		part = next_part(&p);
		if (!part)
			break;
		eq = strchr(part, '=');
		if (eq) {
			*eq = 0;
			key = part;
			val.s = eq + 1;
		} else {
			key = first ? "file" : !strncmp(part, "no", 2) ? part + 2 : part;
			val.s = first ? part : !strncmp(part, "no", 2) ? "off" : "on";
		}
		r = put_copy(flat, key, &val);
		free(part);
		first = false;
	}
	if (!flat || r < 0 || *p) {
		vk_jv_free(flat);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	return parse_flat(flat, NULL, s, err);
}

/* A plain name: a path (or null-co://), under -f fmt if given. */
static int parse_plain(const char *name, const char *fmt, struct vk_blk_spec *s,
		       struct vk_err *err)
{
	bool proto_fmt = in(fmt, protocols, ARRAY_SIZE(protocols));
	int r;

	if ((proto_fmt && !strcmp(fmt, "null-co")) || (!proto_fmt && !strncmp(name, "null-co:", 8))) {
		if (strcmp(name, "null-co://"))
			return vk_fail(err, -EINVAL,
				       "The only allowed filename for this driver is 'null-co://'");
		s->proto = strdup("null-co");
		s->proto_exact = strdup("null-co://");
		s->null_size = 1 * GiB;
	} else {
		r = vk_blk_name_path(name, &s->path, err);
		if (r < 0)
			return r;
		s->proto = strdup(proto_fmt ? fmt : "file");
		s->proto_exact = strdup(s->path);
	}
	s->bare = proto_fmt;
	if (fmt && !proto_fmt)
		s->format = strdup(fmt);
	if (!s->proto || !s->proto_exact || (fmt && !proto_fmt && !s->format))
		return vk_fail(err, -ENOMEM, "out of memory");
	return 0;
}

int vk_blk_spec_parse(const char *name, const char *fmt, bool image_opts,
		      struct vk_blk_spec *s, struct vk_err *err)
{
	int r;

	memset(s, 0, sizeof(*s));
	if (image_opts)
		r = parse_image_opts(name, s, err);
	else if (!strncmp(name, "json:", 5))
		r = parse_json(name + 5, fmt, s, err);
	else
		r = parse_plain(name, fmt, s, err);
	if (r < 0)
		vk_blk_spec_free(s);
	return r;
}

static char *json_name(const struct vk_jv *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs("json:", f);
	vk_jv_write(f, v);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* raw's offset and size change what the image holds: QEMU names such a layer by its options. */
static bool strong_format_opts(const struct vk_blk_spec *s, const char *fmt)
{
	return !s->bare && !strcmp(fmt, "raw") &&
	       (vk_jv_get(s->format_opts, "offset") || vk_jv_get(s->format_opts, "size"));
}

char *vk_blk_spec_display(const struct vk_blk_spec *s, const char *fmt)
{
	static const char *const strong[] = { "offset", "size" };
	struct vk_jv *top, *d, *v;
	char *name;
	size_t i;

	if (s->proto_exact && !strong_format_opts(s, fmt))
		return strdup(s->proto_exact);
	if (s->bare)
		return json_name(s->proto_opts);
	/* A format over a protocol node without a plain name: both as options. */
	top = vk_jv_new(VK_JV_OBJ);
	d = vk_jv_new(VK_JV_STR);
	if (!top || !d || !(d->s = strdup(fmt))) {
		vk_jv_free(d);
		goto fail;
	}
	if (vk_jv_put(top, "driver", d) < 0)
		goto fail;
	for (i = 0; strong_format_opts(s, fmt) && i < ARRAY_SIZE(strong); i++)
		if ((v = vk_jv_get(s->format_opts, strong[i])) && put_copy(top, strong[i], v) < 0)
			goto fail;
	if (vk_jv_put(top, "file", vk_jv_copy(s->proto_opts)) < 0) {
fail:
		vk_jv_free(top);
		return NULL;
	}
	name = json_name(top);
	vk_jv_free(top);
	return name;
}

void vk_blk_spec_free(struct vk_blk_spec *s)
{
	free(s->format);
	free(s->proto);
	free(s->path);
	vk_jv_free(s->format_opts);
	free(s->bad_proto_opt);
	free(s->proto_exact);
	vk_jv_free(s->proto_opts);
	memset(s, 0, sizeof(*s));
}

bool vk_blk_spec_known_driver(const char *name)
{
	return in(name, formats, ARRAY_SIZE(formats)) || in(name, protocols, ARRAY_SIZE(protocols));
}
