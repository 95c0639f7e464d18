/* SPDX-License-Identifier: GPL-2.0-or-later */
/* x86 platform: kernel loading, CPUID, ACPI tables, initial vCPU state. */
#ifndef VMKIT_X86_H
#define VMKIT_X86_H

#include <stdint.h>

#include "vmkit/util.h"

struct vm;
struct vcpu;

/* I/O ports of the fixed ACPI hardware (vmm/hw/pm.c) that the FADT names. */
#define PM1A_EVT_PORT	0x600	/* PM1_STS (2 bytes) + PM1_EN (2 bytes) */
#define PM1A_CNT_PORT	0x604	/* PM1_CNT (2 bytes) */
#define RESET_PORT	0xcf9	/* FADT RESET_REG: write 0x06 resets */
#define RESET_VALUE	0x06
#define SCI_IRQ		9
#define S5_SLP_TYP	5	/* the \_S5 value the DSDT gives */

/* e820 entry types */
#define E820_RAM	1
#define E820_RESERVED	2

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
} __attribute__((packed));

/* Fill the guest's memory map; returns the count (at most max). */
unsigned int x86_e820_map(struct vm *vm, struct e820_entry *e, unsigned int max);

/* Load kernel, initrd and command line and set vm->entry and friends. */
int x86_load_kernel(struct vm *vm, struct vk_err *err);

/* Build RSDP, XSDT, FADT, FACS, DSDT, MADT at ACPI_START; returns RSDP gpa. */
uint64_t x86_acpi_build(struct vm *vm);
/*
 * The same tables for firmware: fw_cfg files etc/acpi/tables and
 * etc/acpi/rsdp and the etc/table-loader script that places and links them.
 */
int x86_acpi_build_fw_cfg(struct vm *vm, struct vk_err *err);
/*
 * The Q35's firmware moved ECAM (PCIEXBAR): make the MCFG table and _CBA in
 * the fw_cfg copy say so, before the firmware loads them (acpi-q35.c).
 */
void x86_acpi_move_ecam(struct vm *vm, uint64_t base, uint64_t size);

/* Per-vCPU setup: CPUID, MSRs, LAPIC, registers for the boot entry. */
int x86_cpuid_init(struct vm *vm, struct vk_err *err);
int x86_vcpu_init(struct vcpu *v, struct vk_err *err);
/*
 * Save/restore (cpu-state.c, KVM only): a stopped vCPU's state as section
 * "cpu" (instance: its index), the in-kernel PIC, IOAPIC ("irqchip") and
 * kvmclock ("clock"), and back into a VM built from the same config.
 */
struct ss_writer;
struct ss_reader;
void x86_vcpu_state_save(struct vcpu *v, struct ss_writer *w);
int x86_vcpu_state_load(struct vcpu *v, const struct ss_reader *r, struct vk_err *err);
void x86_vm_state_save(struct vm *vm, struct ss_writer *w);
int x86_vm_state_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err);
int x86_vcpu_cpu_init(struct vcpu *v, struct vk_err *err);	/* cpuid.c: CPUID, MSRs, LAPIC */
/* The boot CPU's registers for the loaded kernel's entry. */
int x86_vcpu_boot_regs(struct vcpu *v, struct vk_err *err);
/* The boot CPU's state after RESET, at the firmware's reset vector (CS base 0xffff0000, IP 0xfff0). */
int x86_vcpu_reset_regs(struct vcpu *v, struct vk_err *err);
uint32_t x86_apic_id(const struct vm *vm, unsigned int cpu);

/*
 * Complete an instruction the host's KVM refused to emulate
 * (KVM_INTERNAL_ERROR_EMULATION). Returns 0 when the guest may continue,
 * or -ENOTSUP/-EFAULT with a message in err naming RIP and the bytes.
 */
int x86_emulation_failure(struct vcpu *v, struct vk_err *err);

#endif
