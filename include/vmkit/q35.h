/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Q35 machine (--machine q35): the MCH host bridge (8086:29c0) with its
 * PCIe ECAM window (MMCONFIG, placed by PCIEXBAR), PAM and SMRAM registers
 * (vmm/hw/q35-mch.c), and the ICH9 LPC bridge (8086:2918) at 00:1f.0 with
 * the PIRQ routing registers and PMBASE/ACPI_CNTL, which place the ACPI PM
 * block (vmm/hw/ich9-lpc.c). Both exist with or without firmware: without
 * it they start as SeaBIOS leaves them (ECAM at Q35_ECAM_BASE, the PM block
 * at 0x600), so a directly booted Linux finds ECAM through the MCFG table.
 */
#ifndef VMKIT_Q35_H
#define VMKIT_Q35_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/config.h"
#include "vmkit/util.h"

struct vm;

#define Q35_MCH_DEVICE		0x29c0
#define ICH9_LPC_DEVICE		0x2918
#define ICH9_LPC_SLOT		0x1f

/* MCH config registers (Intel 316966, 5.1) */
#define Q35_PCIEXBAR		0x60	/* 64-bit: base, length, enable */
#define Q35_PCIEXBAR_EN		0x1
#define Q35_SMRAM		0x9d
#define Q35_ESMRAMC		0x9e
#define Q35_TOLUD		0xb0	/* 16-bit: top of low usable DRAM, bits 15:4 = MiB */

/*
 * Where SeaBIOS puts ECAM, and so where it is without firmware: 256 buses
 * of 1 MiB. RAM below 4 GiB ends at or before it (OVMF puts ECAM higher,
 * at 0xe0000000; the ACPI tables follow PCIEXBAR).
 */
#define Q35_ECAM_BASE		0xb0000000ULL
#define Q35_ECAM_SIZE		(256 * MiB)

/* ICH9 LPC config registers (Intel 316972, 13.1) */
#define ICH9_PMBASE		0x40
#define ICH9_ACPI_CNTL		0x44
#define ICH9_ACPI_EN		0x80
#define ICH9_PIRQA_ROUT		0x60	/* PIRQA-D, 0x60-0x63 */
#define ICH9_PIRQE_ROUT		0x68	/* PIRQE-H, 0x68-0x6b */
#define ICH9_RCBA		0xf0

/* The ACPI PM I/O block relative to PMBASE (128 ports) */
#define ICH9_PM_SIZE		0x80
#define ICH9_PM_TMR		0x08	/* 24-bit ACPI PM timer, 3.579545 MHz */
#define ICH9_PM_GPE0		0x20
#define ICH9_PM_SMI_EN		0x30
#define ICH9_SMI_EN_APMC_EN	0x20

static inline bool vm_is_q35(const struct vm_config *c)
{
	return c->machine == MACHINE_Q35;
}

/* Where ECAM decodes now and its size (0, 0 while PCIEXBAR leaves it off). */
void q35_ecam_window(struct vm *vm, uint64_t *base, uint64_t *size);

#endif
