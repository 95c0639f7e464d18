// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the Q35 adds to the monitor's ACPI tables (vmm/arch/x86/acpi.c):
 * PCI0 as a PCIe root (PNP0A08, with PNP0A03 for guests that know only
 * PCI), its ECAM base in _CBA, an _OSC that hands the OS the PCIe
 * features there is nothing to keep from it (PME, AER, the capability
 * structure; no native hot-plug, no SHPC, as there are no ports to plug
 * into), and the MCFG table. Firmware moves ECAM where it likes (SeaBIOS
 * 0xb0000000, OVMF 0xe0000000) before it loads the tables, so the MCH calls
 * x86_acpi_move_ecam and the fw_cfg copy is patched in place; the
 * loader's checksum commands then sum the tables again.
 */
#include <string.h>

#include "vmkit/fw-cfg.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#include "acpi-q35.h"

#define METHOD_OP	0x14
#define CREATE_DWORD_FIELD_OP 0x8a
#define IF_OP		0xa0
#define ELSE_OP		0xa1
#define RETURN_OP	0xa4
#define LEQUAL_OP	0x93
#define LNOT_OP		0x92
#define AND_OP		0x7b
#define OR_OP		0x7d
#define STORE_OP	0x70
#define BUFFER_OP	0x11
#define BYTE_PREFIX	0x0a
#define QWORD_PREFIX	0x0e
#define NAME_OP		0x08
#define LOCAL0		0x60
#define ARG0		0x68
#define ARG1		0x69
#define ARG3		0x6b

/* _OSC control bits granted: PME (2), AER (3), PCIe capability structure (4). */
#define OSC_CTRL_GRANTED	0x1c
#define OSC_UNKNOWN_UUID	0x04
#define OSC_UNKNOWN_REVISION	0x08
#define OSC_CAPS_MASKED		0x10

/* ToUUID("33DB4D5B-1FF7-401C-9657-7441C03DD766"), the PCI host bridge's _OSC. */
static const uint8_t pci_osc_uuid[16] = {
	0x5b, 0x4d, 0xdb, 0x33, 0xf7, 0x1f, 0x1c, 0x40,
	0x96, 0x57, 0x74, 0x41, 0xc0, 0x3d, 0xd7, 0x66,
};

/* Or(name, bit, name) */
static void or_into(struct aml *a, const char *name, uint8_t bit)
{
	aml_byte(a, OR_OP);
	aml_namestring(a, name);
	aml_byte(a, BYTE_PREFIX);
	aml_byte(a, bit);
	aml_namestring(a, name);
}

static void create_dword_field(struct aml *a, uint8_t index, const char *name)
{
	aml_byte(a, CREATE_DWORD_FIELD_OP);
	aml_byte(a, ARG3);
	aml_integer(a, index);
	aml_namestring(a, name);
}

/* The PCI host bridge UUID's branch: refuse what we do not grant, say so in CDW1. */
static void osc_pci(struct aml *a)
{
	static const uint8_t if_op[] = { IF_OP };
	static const uint8_t rev_ne_1[] = { LNOT_OP, LEQUAL_OP, ARG1, 0x01 };

	create_dword_field(a, 8, "CDW3");
	aml_open(a, if_op, 1);				/* If (Arg1 != 1) */
	aml_bytes(a, rev_ne_1, sizeof(rev_ne_1));
	or_into(a, "CDW1", OSC_UNKNOWN_REVISION);
	aml_close(a);
	aml_byte(a, AND_OP);				/* Local0 = CDW3 & granted */
	aml_namestring(a, "CDW3");
	aml_byte(a, BYTE_PREFIX);
	aml_byte(a, OSC_CTRL_GRANTED);
	aml_byte(a, LOCAL0);
	aml_open(a, if_op, 1);				/* If (CDW3 != Local0) */
	aml_byte(a, LNOT_OP);
	aml_byte(a, LEQUAL_OP);
	aml_namestring(a, "CDW3");
	aml_byte(a, LOCAL0);
	or_into(a, "CDW1", OSC_CAPS_MASKED);
	aml_close(a);
	aml_byte(a, STORE_OP);				/* CDW3 = Local0 */
	aml_byte(a, LOCAL0);
	aml_namestring(a, "CDW3");
}

/* Method (_OSC, 4) { ...; Return (Arg3) } (ACPI 6.x, 6.2.11; PCI Firmware 3.x, 4.5) */
static void osc(struct aml *a)
{
	static const uint8_t method_op[] = { METHOD_OP }, if_op[] = { IF_OP };
	static const uint8_t else_op[] = { ELSE_OP }, buf_op[] = { BUFFER_OP };

	aml_open(a, method_op, 1);
	aml_namestring(a, "_OSC");
	aml_byte(a, 4);					/* 4 arguments, not serialized */
	create_dword_field(a, 0, "CDW1");
	aml_open(a, if_op, 1);				/* If (Arg0 == ToUUID(...)) */
	aml_byte(a, LEQUAL_OP);
	aml_byte(a, ARG0);
	aml_open(a, buf_op, 1);
	aml_integer(a, sizeof(pci_osc_uuid));
	aml_bytes(a, pci_osc_uuid, sizeof(pci_osc_uuid));
	aml_close(a);
	osc_pci(a);
	aml_close(a);
	aml_open(a, else_op, 1);
	or_into(a, "CDW1", OSC_UNKNOWN_UUID);
	aml_close(a);
	aml_byte(a, RETURN_OP);
	aml_byte(a, ARG3);
	aml_close(a);
}

void acpi_q35_pci0(struct aml *a, uint64_t ecam_base)
{
	aml_name_integer(a, "_CID", aml_eisaid("PNP0A03"));
	aml_name_integer(a, "_ADR", 0);
	/* Always a QWordConst, so x86_acpi_move_ecam can patch it in place. */
	aml_byte(a, NAME_OP);
	aml_namestring(a, "_CBA");
	aml_byte(a, QWORD_PREFIX);
	aml_bytes(a, &ecam_base, 8);
	osc(a);
}

static void table_checksum(uint8_t *t, uint32_t len)
{
	uint8_t sum = 0;
	uint32_t i;

	t[9] = 0;
	for (i = 0; i < len; i++)
		sum += t[i];
	t[9] = -sum;
}

struct ecam_move {
	uint64_t base, size;
};

/* Tables start 16-byte aligned in the blob (acpi.c's alloc_table); find them by signature. */
static void patch_tables(uint8_t *data, size_t len, void *opaque)
{
	static const uint8_t cba[] = { NAME_OP, '_', 'C', 'B', 'A', QWORD_PREFIX };
	const struct ecam_move *mv = opaque;
	uint32_t tlen, i;
	size_t off;

	for (off = 0; off + 36 <= len; off += 16) {
		memcpy(&tlen, data + off + 4, 4);
		if (tlen < 36 || tlen > len - off)
			continue;
		if (!memcmp(data + off, "MCFG", 4) && tlen == ACPI_MCFG_LEN) {
			struct acpi_mcfg_entry *e = (void *)(data + off + ACPI_MCFG_ENTRY_OFF);

			e->base = mv->base;
			e->end_bus = (mv->size >> 20) - 1;
			table_checksum(data + off, tlen);
		} else if (!memcmp(data + off, "DSDT", 4)) {
			for (i = 36; i + sizeof(cba) + 8 <= tlen; i++)
				if (!memcmp(data + off + i, cba, sizeof(cba)))
					memcpy(data + off + i + sizeof(cba), &mv->base, 8);
			table_checksum(data + off, tlen);
		}
	}
}

void x86_acpi_move_ecam(struct vm *vm, uint64_t base, uint64_t size)
{
	struct ecam_move mv = { base, size };

	fw_cfg_modify_file(vm, "etc/acpi/tables", patch_tables, &mv);
}
