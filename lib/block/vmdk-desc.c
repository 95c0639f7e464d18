// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The vmdk text descriptor: "key=value" lines (CID, parentCID, createType,
 * parentFileNameHint) and extent lines ("RW 20480 FLAT "disk-flat.vmdk" 0").
 * It is hostile input like the rest of an image: lines are bounded, numbers
 * are checked, names are copied only into buffers that fit them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmdk.h"

/* As QEMU: blank lines and comments, then "version=1|2|3" on a line of its own. */
bool vmdk_probe_desc(const uint8_t *buf, size_t len)
{
	const char *p = (const char *)buf, *end = p + len;

	while (p < end) {
		if (*p == '#') {
			while (p < end && *p != '\n')
				p++;
			p++;
			continue;
		}
		if (*p == ' ' || *p == '\r' || *p == '\n') {
			while (p < end && *p == ' ')
				p++;
			if (p < end && *p == '\r')
				p++;
			if (p == end || *p != '\n')
				return false;
			p++;
			continue;
		}
		if (end - p >= 10 && !strncmp(p, "version=", 8) && p[8] >= '1' && p[8] <= '3' &&
		    (p[9] == '\n' || (p[9] == '\r' && end - p >= 11 && p[10] == '\n')))
			return true;
		return false;
	}
	return false;
}

/* A quoted value: key="value" (the value up to the next quote). */
static int quoted(const char *name, const char *line, const char *v, char *out, size_t size,
		  struct vk_err *err)
{
	const char *q;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v != '"' || !(q = strchr(v + 1, '"')))
		return vk_fail(err, -EINVAL, "%s: invalid descriptor line: %s", name, line);
	if ((size_t)(q - v - 1) >= size)
		return vk_fail(err, -EINVAL, "%s: descriptor value too long: %s", name, line);
	memcpy(out, v + 1, (size_t)(q - v - 1));
	out[q - v - 1] = '\0';
	return 0;
}

static int hex32(const char *name, const char *line, const char *v, uint32_t *out,
		 struct vk_err *err)
{
	unsigned long long x;
	char *end;

	while (*v == ' ' || *v == '\t')
		v++;
	errno = 0;
	x = strtoull(v, &end, 16);
	if (end == v || errno || x > UINT32_MAX)
		return vk_fail(err, -EINVAL, "%s: invalid descriptor line: %s", name, line);
	*out = (uint32_t)x;
	return 0;
}

static const char *word(const char *p, char *out, size_t size)
{
	size_t n = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	while (*p && *p != ' ' && *p != '\t') {
		if (n + 1 < size)
			out[n++] = *p;
		else
			return NULL;
		p++;
	}
	out[n] = '\0';
	return n ? p : NULL;
}

static bool known_type(const char *t)
{
	return !strcmp(t, "FLAT") || !strcmp(t, "SPARSE") || !strcmp(t, "VMFS") ||
	       !strcmp(t, "VMFSSPARSE") || !strcmp(t, "SESPARSE");
}

/*
 * "ACCESS SECTORS TYPE "FILE" [OFFSET]". As QEMU, only RW extents of known
 * types count; the rest of the line's shape is checked for those.
 */
static int extent_line(const char *name, const char *line, const struct vmdk_desc_cb *cb,
		       struct vk_err *err)
{
	char access[16], type[16], num[32], fname[VMDK_MAX_LINE];
	unsigned long long sectors, offset = 0;
	const char *p = line, *q;
	bool has_offset;
	char *end;

	if (!(p = word(p, access, sizeof(access))) || strcmp(access, "RW") ||
	    !(p = word(p, num, sizeof(num))) || !(p = word(p, type, sizeof(type))))
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '"' || !(q = strchr(p + 1, '"')))
		return 0;
	memcpy(fname, p + 1, (size_t)(q - p - 1));
	fname[q - p - 1] = '\0';
	p = q + 1;
	while (*p == ' ' || *p == '\t')
		p++;
	has_offset = *p != '\0';
	errno = 0;
	sectors = strtoull(num, &end, 10);
	if (*end || num[0] == '-' || errno)
		goto invalid;
	if (has_offset) {
		offset = strtoull(p, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end || *p == '-' || errno)
			goto invalid;
	}
	if ((!strcmp(type, "FLAT") && !has_offset) || (strcmp(type, "FLAT") && has_offset))
		goto invalid;
	if (!sectors || !known_type(type))
		return 0;
	if (!fname[0])
		goto invalid;
	if (sectors > (1ULL << 62) / VMDK_SECTOR || offset > (1ULL << 62) / VMDK_SECTOR)
		return vk_fail(err, -EFBIG, "%s: extent too large: %s", name, line);
	return cb->extent(cb->opaque, type, sectors, fname, offset, err);
invalid:
	return vk_fail(err, -EINVAL, "%s: Invalid extent line: %s", name, line);
}

static int parse_line(const char *name, const char *line, struct vmdk_desc *d,
		      const struct vmdk_desc_cb *cb, struct vk_err *err)
{
	while (*line == ' ' || *line == '\t')
		line++;
	if (!*line || *line == '#')
		return 0;
	if (!strncmp(line, "CID=", 4)) {
		d->has_cid = true;
		return hex32(name, line, line + 4, &d->cid, err);
	}
	if (!strncmp(line, "parentCID=", 10)) {
		d->has_parent_cid = true;
		return hex32(name, line, line + 10, &d->parent_cid, err);
	}
	if (!strncmp(line, "createType=", 11))
		return quoted(name, line, line + 11, d->create_type, sizeof(d->create_type), err);
	if (!strncmp(line, "parentFileNameHint=", 19))
		return quoted(name, line, line + 19, d->parent_hint, sizeof(d->parent_hint), err);
	if (cb && (!strncmp(line, "RW ", 3) || !strncmp(line, "RW\t", 3)))
		return extent_line(name, line, cb, err);
	return 0;
}

/* The text ends at the first NUL (an embedded descriptor is padded with them). */
int vmdk_parse_desc(const char *name, const char *text, size_t len, struct vmdk_desc *d,
		    const struct vmdk_desc_cb *cb, struct vk_err *err)
{
	const char *p = text, *end, *nl;
	char line[VMDK_MAX_LINE + 1];
	unsigned int lineno = 0;
	size_t n;
	int r;

	memset(d, 0, sizeof(*d));
	end = memchr(text, '\0', len);
	if (!end)
		end = text + len;
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		n = (size_t)(nl - p);
		lineno++;
		if (n && p[n - 1] == '\r')
			n--;
		if (n > VMDK_MAX_LINE)
			return vk_fail(err, -EINVAL, "%s: descriptor line %u too long (over %d bytes)",
				       name, lineno, VMDK_MAX_LINE);
		memcpy(line, p, n);
		line[n] = '\0';
		/* Lines may be echoed in errors: no control characters reach a terminal. */
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
				line[i] = '?';
			else if (line[i] == 0x7f)
				line[i] = '?';
		r = parse_line(name, line, d, cb, err);
		if (r < 0)
			return r;
	}
	return 0;
}
