// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * JSON values for json: file names. The parser is QEMU's dialect (strings
 * may be single-quoted) and fails with its parser's words, since qemu-img
 * prints them; the writer lays objects out in QDict order (a hash of the
 * key picks one of 512 buckets, read in bucket order), which is the order
 * of the keys in the json: names qemu-img prints.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonval.h"

struct jp {
	const char *p;
	const char *err;	/* first error wins, as in QEMU's parser */
	char buf[96];
};

static void ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static struct vk_jv *fail(struct jp *j, const char *msg)
{
	if (!j->err)
		j->err = msg;
	return NULL;
}

struct vk_jv *vk_jv_new(enum vk_jv_type type)
{
	struct vk_jv *v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

void vk_jv_free(struct vk_jv *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->n; i++) {
		if (v->keys)
			free(v->keys[i]);
		vk_jv_free(v->items[i]);
	}
	free(v->keys);
	free(v->items);
	free(v->s);
	free(v);
}

static int grow(struct vk_jv *v)
{
	struct vk_jv **items = realloc(v->items, (v->n + 1) * sizeof(*items));
	char **keys;

	if (!items)
		return -ENOMEM;
	v->items = items;
	if (v->type == VK_JV_OBJ) {
		keys = realloc(v->keys, (v->n + 1) * sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		v->keys = keys;
	}
	return 0;
}

int vk_jv_put(struct vk_jv *obj, const char *key, struct vk_jv *v)
{
	char *k = strdup(key);

	if (!k || grow(obj) < 0) {
		free(k);
		vk_jv_free(v);
		return -ENOMEM;
	}
	obj->keys[obj->n] = k;
	obj->items[obj->n++] = v;
	return 0;
}

struct vk_jv *vk_jv_get(const struct vk_jv *obj, const char *key)
{
	size_t i;

	if (!obj || obj->type != VK_JV_OBJ)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->items[i];
	return NULL;
}

struct vk_jv *vk_jv_copy(const struct vk_jv *v)
{
	struct vk_jv *c = vk_jv_new(v->type);
	size_t i;

	if (!c)
		return NULL;
	c->b = v->b;
	c->i = v->i;
	c->u = v->u;
	c->d = v->d;
	if (v->s && !(c->s = strdup(v->s)))
		goto fail;
	for (i = 0; i < v->n; i++) {
		struct vk_jv *item = vk_jv_copy(v->items[i]);

		if (!item)
			goto fail;
		if (v->type == VK_JV_OBJ) {
			if (vk_jv_put(c, v->keys[i], item) < 0)
				goto fail;
		} else if (grow(c) < 0) {
			vk_jv_free(item);
			goto fail;
		} else {
			c->items[c->n++] = item;
		}
	}
	return c;
fail:
	vk_jv_free(c);
	return NULL;
}

static struct vk_jv *parse_value(struct jp *j);

/* \uXXXX's four digits, or -1. */
static long hex4(const char *p)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if ((c | 32) >= 'a' && (c | 32) <= 'f')
			v |= (c | 32) - 'a' + 10;
		else
			return -1;
	}
	return v;
}

static void put_utf8(char **o, long cp)
{
	unsigned char *u = (unsigned char *)*o;

	if (cp < 0x80) {
		*u++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*u++ = (unsigned char)(0xc0 | cp >> 6);
		*u++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*u++ = (unsigned char)(0xe0 | cp >> 12);
		*u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*u++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		*u++ = (unsigned char)(0xf0 | cp >> 18);
		*u++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		*u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*u++ = (unsigned char)(0x80 | (cp & 0x3f));
	}
	*o = (char *)u;
}

static int escape(const char **pp, char **o)
{
	static const char from[] = "\"'\\/bfnrt", to[] = "\"'\\/\b\f\n\r\t";
	const char *p = *pp, *e = strchr(from, *p);
	long cp, lo;

	if (*p && e) {
		*(*o)++ = to[e - from];
		*pp = p + 1;
		return 0;
	}
	if (*p != 'u' || (cp = hex4(p + 1)) < 0)
		return -1;
	p += 5;
	if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u' &&
	    (lo = hex4(p + 2)) >= 0xdc00 && lo < 0xe000) {
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		p += 6;
	}
	put_utf8(o, cp);
	*pp = p;
	return 0;
}

static struct vk_jv *parse_string(struct jp *j)
{
	char quote = *j->p++;
	struct vk_jv *v = vk_jv_new(VK_JV_STR);
	char *o;

	if (!v || !(v->s = malloc(strlen(j->p) * 2 + 1))) {
		vk_jv_free(v);
		return fail(j, "out of memory");
	}
	o = v->s;
	while (*j->p != quote) {
		if (!*j->p) {
			vk_jv_free(v);
			return fail(j, "JSON parse error, premature EOI");
		}
		if (*j->p != '\\') {
			*o++ = *j->p++;
			continue;
		}
		j->p++;
		if (escape(&j->p, &o) < 0) {
			vk_jv_free(v);
			return fail(j, "JSON parse error, invalid escape sequence in string");
		}
	}
	j->p++;
	*o = 0;
	return v;
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: an integer if it fits, else a double. */
static struct vk_jv *parse_number(struct jp *j)
{
	const char *s = j->p, *p = s + (*s == '-');
	bool is_float = false;
	struct vk_jv *v;
	char *end;

	if (!digit(*p))
		return fail(j, "JSON parse error, expecting value");
	p += *p == '0' ? 1 : strspn(p, "0123456789");
	if (*p == '.' && digit(p[1])) {
		is_float = true;
		p += 1 + strspn(p + 1, "0123456789");
	}
	if ((*p == 'e' || *p == 'E') &&
	    (digit(p[1]) || ((p[1] == '+' || p[1] == '-') && digit(p[2])))) {
		is_float = true;
		p += 2;
		p += strspn(p, "0123456789");
	}
	j->p = p;
	v = vk_jv_new(VK_JV_INT);
	if (!v)
		return fail(j, "out of memory");
	errno = 0;
	if (!is_float) {
		v->i = strtoll(s, &end, 10);
		if (!errno)
			return v;
		errno = 0;
		if (*s != '-') {
			v->u = strtoull(s, &end, 10);
			v->type = VK_JV_UINT;
			if (!errno)
				return v;
		}
	}
	v->type = VK_JV_DOUBLE;
	v->d = strtod(s, &end);
	return v;
}

static struct vk_jv *parse_keyword(struct jp *j)
{
	size_t n = strspn(j->p, "abcdefghijklmnopqrstuvwxyz");
	struct vk_jv *v = NULL;

	if (n == 4 && !strncmp(j->p, "true", 4)) {
		v = vk_jv_new(VK_JV_BOOL);
		if (v)
			v->b = true;
	} else if (n == 5 && !strncmp(j->p, "false", 5)) {
		v = vk_jv_new(VK_JV_BOOL);
	} else if (n == 4 && !strncmp(j->p, "null", 4)) {
		v = vk_jv_new(VK_JV_NULL);
	} else {
		snprintf(j->buf, sizeof(j->buf), "JSON parse error, invalid keyword '%.*s'",
			 (int)MIN(n, 64), j->p);
		return fail(j, j->buf);
	}
	j->p += n;
	return v ? v : fail(j, "out of memory");
}

static struct vk_jv *parse_object(struct jp *j)
{
	struct vk_jv *obj = vk_jv_new(VK_JV_OBJ), *key = NULL, *val;

	j->p++;
	ws(j);
	if (*j->p == '}') {
		j->p++;
		return obj;
	}
	for (;;) {
		key = parse_value(j);
		if (!key)
			goto fail;
		if (key->type != VK_JV_STR) {
			fail(j, "JSON parse error, key is not a string in object");
			goto fail;
		}
		ws(j);
		if (*j->p != ':') {
			fail(j, *j->p ? "JSON parse error, missing : in object pair" :
				 "JSON parse error, premature EOI");
			goto fail;
		}
		j->p++;
		val = parse_value(j);
		if (!val)
			goto fail;
		if (vk_jv_get(obj, key->s)) {
			vk_jv_free(val);
			fail(j, "JSON parse error, duplicate key");
			goto fail;
		}
		if (vk_jv_put(obj, key->s, val) < 0) {
			fail(j, "out of memory");
			goto fail;
		}
		vk_jv_free(key);
		key = NULL;
		ws(j);
		if (*j->p == '}') {
			j->p++;
			return obj;
		}
		if (*j->p != ',') {
			fail(j, *j->p ? "JSON parse error, expected separator in dict" :
				 "JSON parse error, premature EOI");
			goto fail;
		}
		j->p++;
	}
fail:
	vk_jv_free(key);
	vk_jv_free(obj);
	return NULL;
}

static struct vk_jv *parse_array(struct jp *j)
{
	struct vk_jv *arr = vk_jv_new(VK_JV_ARR), *val;

	j->p++;
	ws(j);
	if (*j->p == ']') {
		j->p++;
		return arr;
	}
	for (;;) {
		val = parse_value(j);
		if (!val)
			break;
		if (grow(arr) < 0) {
			vk_jv_free(val);
			fail(j, "out of memory");
			break;
		}
		arr->items[arr->n++] = val;
		ws(j);
		if (*j->p == ']') {
			j->p++;
			return arr;
		}
		if (*j->p != ',') {
			fail(j, *j->p ? "JSON parse error, expected separator in list" :
				 "JSON parse error, premature EOI");
			break;
		}
		j->p++;
	}
	vk_jv_free(arr);
	return NULL;
}

static struct vk_jv *parse_value(struct jp *j)
{
	char c;

	ws(j);
	c = *j->p;
	if (!c)
		return fail(j, "JSON parse error, premature EOI");
	if (c == '{')
		return parse_object(j);
	if (c == '[')
		return parse_array(j);
	if (c == '"' || c == '\'')
		return parse_string(j);
	if (c == '-' || digit(c))
		return parse_number(j);
	if (c >= 'a' && c <= 'z')
		return parse_keyword(j);
	if (strchr("}]:,", c))
		return fail(j, "JSON parse error, expecting value");
	snprintf(j->buf, sizeof(j->buf), "JSON parse error, stray '%c'", c);
	return fail(j, j->buf);
}

/* The end of the number token at p, or the character that cannot continue it. */
static const char *lex_number(const char *p, bool *bad)
{
	*bad = true;
	if (*p == '-' && !digit(*++p))
		return p;
	if (*p == '0' && digit(p[1]))
		return p + 1;
	p += strspn(p, "0123456789");
	if (*p == '.' && !digit(*++p))
		return p;
	p += strspn(p, "0123456789");
	if (*p == 'e' || *p == 'E') {
		p++;
		p += *p == '+' || *p == '-';
		if (!digit(*p))
			return p;
		p += strspn(p, "0123456789");
	}
	*bad = false;
	return p;
}

/*
 * QEMU's lexer runs ahead of its parser: text no token can hold is a "stray"
 * error, reported before anything the parser would say, with the token up to
 * and including the character that broke it. *after_value: a whole value
 * came before it (then QEMU says there was more than one).
 */
static const char *lex_error(const char *p, char *buf, size_t len, bool *after_value)
{
	int depth = 0;
	bool done = false, bad = false;
	const char *t;
	char q;

	while (*p) {
		t = p;
		*after_value = done;
		if (strchr(" \t\n\r", *p)) {
			p++;
			continue;
		} else if (*p == '{' || *p == '[') {
			/* QEMU's limit (MAX_NESTING): it also bounds the parser's recursion. */
			if (++depth > 1024) {
				snprintf(buf, len, "JSON nesting depth limit exceeded");
				return buf;
			}
			p++;
		} else if (*p == '}' || *p == ']') {
			p++;
			done |= --depth <= 0;
		} else if (*p == ':' || *p == ',') {
			p++;
		} else if (*p == '"' || *p == '\'') {
			for (q = *p++; *p && *p != q; p++)
				if (*p == '\\' && p[1])
					p++;
			if (!*p) {
				bad = true;	/* the string runs to the end */
				break;
			}
			p++;
			done |= !depth;
		} else if (*p == '-' || digit(*p)) {
			p = lex_number(p, &bad);
			if (bad)
				break;
			done |= !depth;
		} else if (*p >= 'a' && *p <= 'z') {
			p += strspn(p, "abcdefghijklmnopqrstuvwxyz");
			done |= !depth;
		} else {
			bad = true;
			break;
		}
	}
	if (!bad)
		return NULL;
	snprintf(buf, len, "JSON parse error, stray '%.*s'", (int)(p - t + (*p ? 1 : 0)), t);
	return buf;
}

int vk_jv_parse(const char *text, struct vk_jv **out, struct vk_err *err)
{
	struct jp j = { .p = text };
	bool after_value = false;
	struct vk_jv *v;

	ws(&j);
	if (!*j.p)
		return vk_fail(err, -EINVAL, "Expecting a JSON value");
	if (lex_error(j.p, j.buf, sizeof(j.buf), &after_value))
		return vk_fail(err, -EINVAL, "%s", after_value ? "Expecting at most one JSON value" :
			       j.buf);
	v = parse_value(&j);
	if (!v)
		return vk_fail(err, -EINVAL, "%s", j.err);
	ws(&j);
	if (*j.p) {
		vk_jv_free(v);
		return vk_fail(err, -EINVAL, "Expecting at most one JSON value");
	}
	*out = v;
	return 0;
}

/* QDict's bucket for a key: the tdb hash, modulo its 512 buckets. */
static unsigned int bucket(const char *key)
{
	unsigned int value = 0x238F13AFu * (unsigned int)strlen(key), i;

	for (i = 0; key[i]; i++)
		value = value + ((unsigned int)(unsigned char)key[i] << (i * 5 % 24));
	return (1103515243u * value + 12345u) % 512;
}

void vk_jv_write(FILE *f, const struct vk_jv *v)
{
	unsigned int b, first = 1;
	size_t i;

	switch (v->type) {
	case VK_JV_NULL: fputs("null", f); break;
	case VK_JV_BOOL: fputs(v->b ? "true" : "false", f); break;
	case VK_JV_INT: fprintf(f, "%lld", (long long)v->i); break;
	case VK_JV_UINT: fprintf(f, "%llu", (unsigned long long)v->u); break;
	case VK_JV_DOUBLE: fprintf(f, "%.17g", v->d); break;
	case VK_JV_STR: vk_json_str(f, v->s); break;
	case VK_JV_ARR:
		fputc('[', f);
		for (i = 0; i < v->n; i++) {
			fputs(i ? ", " : "", f);
			vk_jv_write(f, v->items[i]);
		}
		fputc(']', f);
		break;
	case VK_JV_OBJ:
		/* Bucket by bucket; within one, the key added last comes first. */
		fputc('{', f);
		for (b = 0; b < 512; b++) {
			for (i = v->n; i-- > 0;) {
				if (bucket(v->keys[i]) != b)
					continue;
				fputs(first ? "" : ", ", f);
				first = 0;
				vk_json_str(f, v->keys[i]);
				fputs(": ", f);
				vk_jv_write(f, v->items[i]);
			}
		}
		fputc('}', f);
		break;
	}
}
