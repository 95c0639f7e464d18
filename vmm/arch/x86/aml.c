// SPDX-License-Identifier: GPL-2.0-or-later
/* A minimal AML writer; see aml.h. ACPI 6.x, section 20 (AML encoding). */
#include <stdlib.h>
#include <string.h>

#include "aml.h"

#define NAME_OP		0x08
#define BYTE_PREFIX	0x0a
#define WORD_PREFIX	0x0b
#define DWORD_PREFIX	0x0c
#define QWORD_PREFIX	0x0e
#define ZERO_OP		0x00
#define ONE_OP		0x01
#define SCOPE_OP	0x10
#define BUFFER_OP	0x11
#define PACKAGE_OP	0x12
#define EXT_OP		0x5b
#define DEVICE_OP	0x82

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->len + n > AML_MAX) {
		a->overflow = 1;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

void aml_namestring(struct aml *a, const char *name)
{
	if (*name == '\\')
		aml_byte(a, *name++);
	aml_bytes(a, name, 4);	/* one NameSeg: our names are never dotted paths */
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0 || v == 1) {
		aml_byte(a, v ? ONE_OP : ZERO_OP);
	} else if (v <= 0xff) {
		aml_byte(a, BYTE_PREFIX);
		aml_byte(a, v);
	} else if (v <= 0xffff) {
		aml_byte(a, WORD_PREFIX);
		aml_bytes(a, &(uint16_t){ v }, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, DWORD_PREFIX);
		aml_bytes(a, &(uint32_t){ v }, 4);
	} else {
		aml_byte(a, QWORD_PREFIX);
		aml_bytes(a, &v, 8);
	}
}

void aml_open(struct aml *a, const uint8_t *op, size_t oplen)
{
	aml_bytes(a, op, oplen);
	if (a->depth == AML_DEPTH) {
		a->overflow = 1;
		return;
	}
	a->open[a->depth++] = a->len;
}

/*
 * PkgLength counts itself: one byte up to 63, else a lead byte with the
 * count of following bytes in bits 7-6 and the low 4 bits of the length.
 */
void aml_close(struct aml *a)
{
	size_t start, body, total, nbytes, i;
	uint8_t enc[4];

	if (!a->depth || a->overflow)
		return;
	start = a->open[--a->depth];
	body = a->len - start;
	for (nbytes = 1; nbytes < 4; nbytes++) {
		total = body + nbytes;
		if ((nbytes == 1 && total < 64) || (nbytes > 1 && total < (1u << (4 + 8 * (nbytes - 1)))))
			break;
	}
	total = body + nbytes;
	if (nbytes == 1) {
		enc[0] = total;
	} else {
		enc[0] = ((nbytes - 1) << 6) | (total & 0xf);
		for (i = 1; i < nbytes; i++)
			enc[i] = total >> (4 + 8 * (i - 1));
	}
	if (a->len + nbytes > AML_MAX) {
		a->overflow = 1;
		return;
	}
	memmove(a->buf + start + nbytes, a->buf + start, body);
	memcpy(a->buf + start, enc, nbytes);
	a->len += nbytes;
}

void aml_scope(struct aml *a, const char *name)
{
	static const uint8_t op[] = { SCOPE_OP };

	aml_open(a, op, 1);
	aml_namestring(a, name);
}

void aml_device(struct aml *a, const char *name)
{
	static const uint8_t op[] = { EXT_OP, DEVICE_OP };

	aml_open(a, op, 2);
	aml_namestring(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_byte(a, NAME_OP);
	aml_namestring(a, name);
	aml_integer(a, v);
}

void aml_name_buffer(struct aml *a, const char *name, const uint8_t *data, size_t n)
{
	static const uint8_t op[] = { BUFFER_OP };

	aml_byte(a, NAME_OP);
	aml_namestring(a, name);
	aml_open(a, op, 1);
	aml_integer(a, n);
	aml_bytes(a, data, n);
	aml_close(a);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, NAME_OP);
	aml_namestring(a, name);
}

void aml_package(struct aml *a, uint8_t nr_elements)
{
	static const uint8_t op[] = { PACKAGE_OP };

	aml_open(a, op, 1);
	aml_byte(a, nr_elements);
}

void aml_name_package(struct aml *a, const char *name, const uint64_t *v, unsigned int n)
{
	static const uint8_t op[] = { PACKAGE_OP };
	unsigned int i;

	aml_byte(a, NAME_OP);
	aml_namestring(a, name);
	aml_open(a, op, 1);
	aml_byte(a, n);		/* NumElements */
	for (i = 0; i < n; i++)
		aml_integer(a, v[i]);
	aml_close(a);
}

uint32_t aml_eisaid(const char *id)
{
	uint32_t v;

	/* Three letters in 5 bits each, then four hex digits; stored big-endian. */
	v = ((uint32_t)(id[0] - 0x40) << 26) | ((uint32_t)(id[1] - 0x40) << 21) |
	    ((uint32_t)(id[2] - 0x40) << 16);
	v |= (uint32_t)strtoul(id + 3, NULL, 16);
	return __builtin_bswap32(v);
}
