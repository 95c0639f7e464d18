/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A minimal AML (ACPI Machine Language) writer: just the terms the DSDT
 * needs (names, scopes, devices, buffers, packages of integers). Terms
 * that carry a PkgLength are opened with aml_open and closed with
 * aml_close, which inserts the encoded length once the body is known.
 */
#ifndef VMKIT_X86_AML_H
#define VMKIT_X86_AML_H

#include <stddef.h>
#include <stdint.h>

#define AML_MAX 4096
#define AML_DEPTH 8

struct aml {
	uint8_t buf[AML_MAX];
	size_t len;
	size_t open[AML_DEPTH];	/* where each open term's body starts */
	unsigned int depth;
	int overflow;		/* set when a write did not fit */
};

void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);
/* NameString: a 4-character segment, or a path such as "\\_SB_". */
void aml_namestring(struct aml *a, const char *name);
/* Integer as the shortest of Zero/One/ByteConst/WordConst/DWordConst/QWordConst. */
void aml_integer(struct aml *a, uint64_t v);

/* Open a term: its opcode bytes, then a PkgLength filled in at aml_close. */
void aml_open(struct aml *a, const uint8_t *op, size_t oplen);
void aml_close(struct aml *a);

/* Convenience terms */
void aml_scope(struct aml *a, const char *name);	/* then aml_close */
void aml_device(struct aml *a, const char *name);	/* then aml_close */
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_buffer(struct aml *a, const char *name, const uint8_t *data, size_t n);
/* NameOp and the name: the object that follows is its value. */
void aml_name(struct aml *a, const char *name);
/* A Package of nr_elements terms, written next; then aml_close. */
void aml_package(struct aml *a, uint8_t nr_elements);
void aml_name_package(struct aml *a, const char *name, const uint64_t *v, unsigned int n);
/* EISA ID such as "PNP0A03", as the compressed DWord ACPI uses. */
uint32_t aml_eisaid(const char *id);

#endif
