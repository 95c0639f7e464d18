// SPDX-License-Identifier: GPL-2.0-or-later
/* The VM state stream: see include/vmkit/savestate.h for the format. */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "vmkit/savestate.h"

static const char magic[8] = "VMKITSS\n";

static void put_le32(uint8_t *b, uint32_t v)
{
	v = htole32(v);
	memcpy(b, &v, 4);
}

static void put_le64(uint8_t *b, uint64_t v)
{
	v = htole64(v);
	memcpy(b, &v, 8);
}

enum { REC_SECTION = 'S', REC_FIELD = 'F', REC_END_SECTION = 'E', REC_END = 'Z' };
enum { KIND_U64 = 1, KIND_BYTES = 2 };

struct ss_writer {
	uint8_t *buf;
	size_t len, cap;
	int error;		/* the first one; later calls do nothing */
	const char *what;	/* what failed, for the message */
	bool in_section;
};

int ss_writer_new(struct ss_writer **out, struct vk_err *err)
{
	struct ss_writer *w = calloc(1, sizeof(*w));
	uint8_t head[16];

	if (!w)
		return vk_fail(err, -ENOMEM, "out of memory");
	memcpy(head, magic, 8);
	put_le32(head + 8, SS_FORMAT_VERSION);
	put_le32(head + 12, 0);
	*out = w;
	w->what = "header";
	/* The first append cannot fail differently from later ones: let finish report it. */
	w->buf = malloc(w->cap = 4096);
	if (!w->buf)
		w->error = -ENOMEM;
	else
		memcpy(w->buf, head, w->len = sizeof(head));
	return 0;
}

static void put(struct ss_writer *w, const void *p, size_t n)
{
	uint8_t *nb;
	size_t cap;

	if (w->error)
		return;
	if (n > SIZE_MAX / 2 - w->len) {
		w->error = -EOVERFLOW;
		return;
	}
	if (w->len + n > w->cap) {
		for (cap = w->cap; cap < w->len + n; cap *= 2)
			;
		nb = realloc(w->buf, cap);
		if (!nb) {
			w->error = -ENOMEM;
			return;
		}
		w->buf = nb;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_u8(struct ss_writer *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_u32(struct ss_writer *w, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	put(w, b, 4);
}

static void put_name(struct ss_writer *w, const char *name)
{
	size_t n = strlen(name);
	uint8_t b[2];

	if (!n || n > SS_NAME_MAX) {
		if (!w->error)
			w->error = -ENAMETOOLONG;
		return;
	}
	b[0] = n & 0xff;
	b[1] = n >> 8;
	put(w, b, 2);
	put(w, name, n);
}

void ss_begin(struct ss_writer *w, const char *section, uint32_t instance, uint32_t version)
{
	if (w->in_section && !w->error)
		w->error = -EINVAL;	/* sections do not nest */
	w->in_section = true;
	w->what = section;
	put_u8(w, REC_SECTION);
	put_name(w, section);
	put_u32(w, instance);
	put_u32(w, version);
}

void ss_put_u64(struct ss_writer *w, const char *name, uint64_t v)
{
	uint8_t b[8];

	put_le64(b, v);
	put_u8(w, REC_FIELD);
	put_name(w, name);
	put_u8(w, KIND_U64);
	put(w, b, 8);
}

void ss_put_bytes(struct ss_writer *w, const char *name, const void *p, size_t n)
{
	if (n > SS_BYTES_MAX && !w->error)
		w->error = -EFBIG;
	put_u8(w, REC_FIELD);
	put_name(w, name);
	put_u8(w, KIND_BYTES);
	put_u32(w, (uint32_t)n);
	put(w, p, n);
}

void ss_end(struct ss_writer *w)
{
	if (!w->in_section && !w->error)
		w->error = -EINVAL;
	w->in_section = false;
	put_u8(w, REC_END_SECTION);
}

void ss_fail(struct ss_writer *w, int code, const char *what)
{
	if (w->error)
		return;
	w->error = code;
	w->what = what;
}

/* Close the stream in memory: the end record and its CRC. */
static int seal(struct ss_writer *w, struct vk_err *err)
{
	if (w->in_section && !w->error)
		w->error = -EINVAL;
	put_u8(w, REC_END);
	if (!w->error)
		put_u32(w, (uint32_t)crc32(0, w->buf, (uInt)w->len));
	if (w->error)
		return vk_fail(err, w->error, "saving state (%s): %s", w->what,
			       strerror(-w->error));
	return 0;
}

int ss_writer_finish(struct ss_writer *w, int fd, struct vk_err *err)
{
	int r = seal(w, err);
	ssize_t n;

	if (!r && (n = vk_write_full(fd, w->buf, w->len)) < 0)
		r = vk_fail(err, (int)n, "writing the state: %s", strerror((int)-n));
	free(w->buf);
	free(w);
	return r;
}

int ss_writer_finish_buf(struct ss_writer *w, uint8_t **buf, size_t *len, struct vk_err *err)
{
	int r = seal(w, err);

	if (!r) {
		*buf = w->buf;
		*len = w->len;
	} else {
		free(w->buf);
	}
	free(w);
	return r;
}

/* ---- reading ---- */

struct ss_field {
	const char *name;	/* points into the stream, name_len long */
	size_t name_len;
	uint8_t kind;
	uint64_t u64;
	const uint8_t *bytes;
	uint32_t len;
};

struct ss_section {
	const char *name;
	size_t name_len;
	uint32_t instance, version;
	struct ss_field *f;
	unsigned int nf;
};

struct ss_reader {
	uint8_t *copy;		/* the stream; names and byte fields point into it */
	struct ss_section *s;
	unsigned int ns;
};

/* A cursor over the stream that refuses to read past its end. */
struct cur {
	const uint8_t *p;
	size_t left;
};

static bool take(struct cur *c, size_t n, const uint8_t **out)
{
	if (n > c->left)
		return false;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return true;
}

static bool take_u8(struct cur *c, uint8_t *v)
{
	const uint8_t *p;

	if (!take(c, 1, &p))
		return false;
	*v = p[0];
	return true;
}

static bool take_u32(struct cur *c, uint32_t *v)
{
	const uint8_t *p;

	if (!take(c, 4, &p))
		return false;
	memcpy(v, p, 4);
	*v = le32toh(*v);
	return true;
}

static bool take_u64(struct cur *c, uint64_t *v)
{
	const uint8_t *p;

	if (!take(c, 8, &p))
		return false;
	memcpy(v, p, 8);
	*v = le64toh(*v);
	return true;
}

static bool take_name(struct cur *c, const char **name, size_t *len)
{
	const uint8_t *p;
	size_t i;

	if (!take(c, 2, &p))
		return false;
	*len = p[0] | (size_t)p[1] << 8;
	if (!*len || *len > SS_NAME_MAX || !take(c, *len, &p))
		return false;
	for (i = 0; i < *len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;	/* printable ASCII: names end up in messages */
	*name = (const char *)p;
	return true;
}

static bool same_name(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && !memcmp(a, b, alen);
}

static int grow(void **arr, unsigned int n, size_t size)
{
	void *p;

	if (n & (n - 1))	/* capacities are powers of two */
		return 0;
	if (n >= (1u << 20))
		return -E2BIG;
	p = realloc(*arr, (n ? 2 * n : 1) * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

static int parse_field(struct ss_section *sec, struct cur *c)
{
	struct ss_field f = { 0 };
	const uint8_t *p;
	unsigned int i;
	int r;

	if (!take_name(c, &f.name, &f.name_len) || !take_u8(c, &f.kind))
		return -EBADMSG;
	if (f.kind == KIND_U64) {
		if (!take_u64(c, &f.u64))
			return -EBADMSG;
	} else if (f.kind == KIND_BYTES) {
		if (!take_u32(c, &f.len) || f.len > SS_BYTES_MAX || !take(c, f.len, &p))
			return -EBADMSG;
		f.bytes = p;
	} else {
		return -EBADMSG;
	}
	for (i = 0; i < sec->nf; i++)
		if (sec->f[i].name_len == f.name_len && !memcmp(sec->f[i].name, f.name, f.name_len))
			return -EBADMSG;	/* a field twice: which one would count? */
	r = grow((void **)&sec->f, sec->nf, sizeof(*sec->f));
	if (r)
		return r;
	sec->f[sec->nf++] = f;
	return 0;
}

static int parse_section(struct ss_reader *rd, struct cur *c)
{
	struct ss_section sec = { 0 };
	unsigned int i;
	uint8_t type;
	int r = 0;

	if (!take_name(c, &sec.name, &sec.name_len) || !take_u32(c, &sec.instance) ||
	    !take_u32(c, &sec.version))
		return -EBADMSG;
	while (!r) {
		if (!take_u8(c, &type))
			r = -EBADMSG;
		else if (type == REC_END_SECTION)
			break;
		else if (type == REC_FIELD)
			r = parse_field(&sec, c);
		else
			r = -EBADMSG;
	}
	for (i = 0; !r && i < rd->ns; i++)
		if (rd->s[i].instance == sec.instance && rd->s[i].name_len == sec.name_len &&
		    !memcmp(rd->s[i].name, sec.name, sec.name_len))
			r = -EBADMSG;
	if (!r)
		r = grow((void **)&rd->s, rd->ns, sizeof(*rd->s));
	if (r) {
		free(sec.f);
		return r;
	}
	rd->s[rd->ns++] = sec;
	return 0;
}

static int parse_records(struct ss_reader *rd, struct cur *c, size_t total,
			 const uint8_t *start)
{
	const uint8_t *p;
	uint32_t crc;
	uint8_t type;
	int r;

	for (;;) {
		if (!take_u8(c, &type))
			return -EBADMSG;
		if (type == REC_END)
			break;
		if (type != REC_SECTION)
			return -EBADMSG;
		r = parse_section(rd, c);
		if (r)
			return r;
	}
	/* The CRC covers everything up to and including the end record's type. */
	if (!take_u32(c, &crc) || c->left)
		return -EBADMSG;
	p = start;
	if (crc != (uint32_t)crc32(0, p, (uInt)(total - 4)))
		return -EILSEQ;
	return 0;
}

int ss_parse(struct ss_reader **out, const uint8_t *buf, size_t len, struct vk_err *err)
{
	struct ss_reader *rd = calloc(1, sizeof(*rd));
	struct cur c;
	uint32_t version;
	int r;

	if (!rd)
		return vk_fail(err, -ENOMEM, "out of memory");
	rd->copy = malloc(len ? len : 1);
	if (!rd->copy) {
		free(rd);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	memcpy(rd->copy, buf, len);
	c = (struct cur){ rd->copy, len };
	if (len < 16 || memcmp(rd->copy, magic, 8)) {
		ss_reader_free(rd);
		return vk_fail(err, -EINVAL, "not a vmkit state file (no VMKITSS header)");
	}
	memcpy(&version, rd->copy + 8, 4);
	version = le32toh(version);
	if (version != SS_FORMAT_VERSION) {
		ss_reader_free(rd);
		return vk_fail(err, -ENOTSUP, "state file format version %u: this vmkit reads %u",
			       version, SS_FORMAT_VERSION);
	}
	c.p += 16;
	c.left -= 16;
	r = parse_records(rd, &c, len, rd->copy);
	if (r) {
		ss_reader_free(rd);
		return vk_fail(err, r, "%s", r == -EILSEQ ? "state file damaged (checksum mismatch)" :
			       r == -EBADMSG ? "state file damaged (malformed or truncated record)" :
			       strerror(-r));
	}
	*out = rd;
	return 0;
}

int ss_read_fd(struct ss_reader **out, int fd, size_t max_len, struct vk_err *err)
{
	size_t len = 0, cap = 65536;
	uint8_t *buf = malloc(cap), *nb;
	ssize_t n;
	int r;

	while (buf) {
		if (len == cap) {
			if (cap >= max_len) {
				free(buf);
				return vk_fail(err, -EFBIG, "state file larger than %zu bytes", max_len);
			}
			nb = realloc(buf, cap = MIN(2 * cap, max_len));
			if (!nb)
				break;
			buf = nb;
		}
		n = vk_read_full(fd, buf + len, cap - len);
		if (n < 0) {
			free(buf);
			return vk_fail(err, (int)n, "reading the state: %s", strerror((int)-n));
		}
		len += n;
		if (len < cap)
			break;
	}
	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = ss_parse(out, buf, len, err);
	free(buf);
	return r;
}

void ss_reader_free(struct ss_reader *r)
{
	unsigned int i;

	if (!r)
		return;
	for (i = 0; i < r->ns; i++)
		free(r->s[i].f);
	free(r->s);
	free(r->copy);
	free(r);
}

const struct ss_section *ss_find(const struct ss_reader *r, const char *section,
				 uint32_t instance)
{
	unsigned int i;

	for (i = 0; i < r->ns; i++)
		if (r->s[i].instance == instance && same_name(r->s[i].name, r->s[i].name_len, section))
			return &r->s[i];
	return NULL;
}

uint32_t ss_section_version(const struct ss_section *s)
{
	return s->version;
}

static const struct ss_field *field(const struct ss_section *s, const char *name, uint8_t kind,
				    struct vk_err *err)
{
	unsigned int i;

	for (i = 0; i < s->nf; i++) {
		if (!same_name(s->f[i].name, s->f[i].name_len, name))
			continue;
		if (s->f[i].kind != kind) {
			vk_fail(err, -EINVAL, "state of %.*s: field '%s' has the wrong type",
				(int)s->name_len, s->name, name);
			return NULL;
		}
		return &s->f[i];
	}
	vk_fail(err, -ENOENT, "state of %.*s: field '%s' missing", (int)s->name_len, s->name,
		name);
	return NULL;
}

int ss_get_u64(const struct ss_section *s, const char *name, uint64_t *v, struct vk_err *err)
{
	const struct ss_field *f = field(s, name, KIND_U64, err);

	if (!f)
		return err->code;
	*v = f->u64;
	return 0;
}

int ss_get_bytes(const struct ss_section *s, const char *name, void *p, size_t n,
		 struct vk_err *err)
{
	const struct ss_field *f = field(s, name, KIND_BYTES, err);

	if (!f)
		return err->code;
	if (f->len != n)
		return vk_fail(err, -EINVAL, "state of %.*s: field '%s' is %u bytes, expected %zu",
			       (int)s->name_len, s->name, name, f->len, n);
	memcpy(p, f->bytes, n);
	return 0;
}

int ss_get_blob(const struct ss_section *s, const char *name, const uint8_t **p, size_t *n,
		struct vk_err *err)
{
	const struct ss_field *f = field(s, name, KIND_BYTES, err);

	if (!f)
		return err->code;
	*p = f->bytes;
	*n = f->len;
	return 0;
}

const struct ss_section *ss_need(const struct ss_reader *r, const char *section,
				 uint32_t instance, struct vk_err *err)
{
	const struct ss_section *s = ss_find(r, section, instance);

	if (!s)
		vk_fail(err, -ENOENT, "state: no %s %u section (saved from a VM with other devices?)",
			section, instance);
	return s;
}

unsigned int ss_count(const struct ss_reader *r, const char *section)
{
	unsigned int i, n = 0;

	for (i = 0; i < r->ns; i++)
		n += same_name(r->s[i].name, r->s[i].name_len, section);
	return n;
}
