/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The Q35's part of the ACPI tables (vmm/arch/x86/acpi-q35.c), for acpi.c. */
#ifndef VMKIT_X86_ACPI_Q35_H
#define VMKIT_X86_ACPI_Q35_H

#include <stdint.h>

#include "aml.h"

/* PCI0 as a PCIe root: _CID PNP0A03, _CBA (the ECAM base) and _OSC. */
void acpi_q35_pci0(struct aml *a, uint64_t ecam_base);

/* MCFG, the ECAM window for segment 0 (PCI Firmware 3.x, 4.1.2). */
struct acpi_mcfg_entry {
	uint64_t base;
	uint16_t segment;
	uint8_t start_bus, end_bus;
	uint32_t reserved;
} __attribute__((packed));
#define ACPI_MCFG_LEN		(36 + 8 + sizeof(struct acpi_mcfg_entry))
#define ACPI_MCFG_ENTRY_OFF	44

#endif
