// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The Q35 machine on a VM without KVM, driven as SeaBIOS, OVMF and Linux
 * drive it: the MCH and ICH9 LPC IDs through CF8/CFC, PCIEXBAR placing the
 * ECAM window and every config register of every slot read and written
 * through ECAM matching CF8/CFC, PAM at 0x90 switching the shadow RAM,
 * SMRAM's lock, the PIRQ route registers, PMBASE/ACPI_CNTL moving the PM
 * block (PM1, timer, SMI_EN), hostile PMBASE and PCIEXBAR values, and the
 * ACPI tables: MCFG, the FADT's timer and flags, PCI0's PNP0A08/_CBA/_OSC,
 * the e820 reservation, and the MCFG the firmware reads following PCIEXBAR.
 */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/fw-cfg.h"
#include "vmkit/pci.h"
#include "vmkit/q35.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

extern const struct vm_device_class pci_host_class, pm_class, q35_mch_class, ich9_lpc_class,
	fw_cfg_class, firmware_class;

#define RAM_SIZE	(16u << 20)
#define ROM_SIZE	(256u << 10)
#define FOUR_GIB	0x100000000ULL
#define NR_DUMMIES	3

struct tvm {
	struct vm vm;
	struct vm_config cfg;
	struct vcpu vcpus[2];
	struct pci_device dummies[NR_DUMMIES];
	char rom_path[64];
};

static void write_rom(char *path)
{
	uint8_t *b = malloc(ROM_SIZE);
	int fd = mkstemp(path);
	size_t i;

	assert_true(fd >= 0);
	for (i = 0; i < ROM_SIZE; i++)
		b[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(write(fd, b, ROM_SIZE), (ssize_t)ROM_SIZE);
	close(fd);
	free(b);
}

/* A q35 VM: the chipset, three functions with INTA, and fw_cfg + SeaBIOS's ROM under firmware. */
static struct tvm *tvm_new(enum vm_firmware fw)
{
	struct tvm *t = calloc(1, sizeof(*t));
	struct vk_err err = { 0 };
	unsigned int i;

	strcpy(t->rom_path, "/tmp/vmkit-test-q35romXXXXXX");
	write_rom(t->rom_path);
	t->cfg = (struct vm_config){ .cpus = 2, .mem_bytes = RAM_SIZE, .firmware = fw,
				     .firmware_code = t->rom_path, .topo = { 1, 2, 1 },
				     .machine = MACHINE_Q35 };
	t->vm.cfg = &t->cfg;
	t->vm.kvm_fd = t->vm.vm_fd = -1;
	t->vm.ram = calloc(1, RAM_SIZE);
	t->vm.ram_size = RAM_SIZE;
	t->vm.mem[0] = (struct mem_region){ 0, RAM_SIZE, t->vm.ram };
	t->vm.nr_mem = 1;
	t->vm.low_mem_top = RAM_SIZE;
	t->vcpus[1].apic_id = 1;
	t->vm.vcpus = t->vcpus;
	t->vm.nr_vcpus = 2;
	io_bus_init(&t->vm.pio);
	io_bus_init(&t->vm.mmio);
	assert_int_equal(pci_host_class.create(&t->vm, &err), 0);
	assert_int_equal(pm_class.create(&t->vm, &err), 0);
	assert_int_equal(q35_mch_class.create(&t->vm, &err), 0);
	assert_int_equal(ich9_lpc_class.create(&t->vm, &err), 0);
	if (fw != FIRMWARE_NONE) {
		assert_int_equal(fw_cfg_class.create(&t->vm, &err), 0);
		assert_int_equal(firmware_class.create(&t->vm, &err), 0);
	}
	for (i = 0; i < NR_DUMMIES; i++) {
		pci_device_init(&t->dummies[i], 0x1af4, 0x1041 + i, 0x020000, i, 0x1100);
		pci_device_use_intx(&t->dummies[i]);
		assert_int_equal(pci_register_device(&t->vm, &t->dummies[i], &err), 0);
	}
	return t;
}

static void tvm_free(struct tvm *t)
{
	unsigned int i;

	for (i = 0; i < NR_DUMMIES; i++)
		pci_unregister_device(&t->vm, &t->dummies[i]);
	firmware_class.destroy(&t->vm);
	fw_cfg_class.destroy(&t->vm);
	ich9_lpc_class.destroy(&t->vm);
	q35_mch_class.destroy(&t->vm);
	pm_class.destroy(&t->vm);
	pci_host_class.destroy(&t->vm);
	io_bus_free(&t->vm.pio);
	io_bus_free(&t->vm.mmio);
	unlink(t->rom_path);
	free(t->vm.ram);
	free(t);
}

/* ---- the guest's side of the buses ---- */

static void out(struct vm *vm, uint16_t port, uint32_t v, unsigned int len)
{
	io_bus_write(&vm->pio, port, &v, len);
}

static uint32_t in(struct vm *vm, uint16_t port, unsigned int len)
{
	uint32_t v = 0xffffffff;

	io_bus_read(&vm->pio, port, &v, len);
	return len == 4 ? v : v & ((1u << (8 * len)) - 1);
}

static bool port_claimed(struct vm *vm, uint16_t port)
{
	uint8_t v;

	return io_bus_read(&vm->pio, port, &v, 1);
}

static uint32_t cf8_read(struct vm *vm, unsigned int slot, unsigned int reg, unsigned int len)
{
	out(vm, 0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
	return in(vm, 0xcfc + (reg & 3), len);
}

static void cf8_write(struct vm *vm, unsigned int slot, unsigned int reg, uint32_t v,
		      unsigned int len)
{
	out(vm, 0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
	out(vm, 0xcfc + (reg & 3), v, len);
}

static uint64_t ecam_addr(uint64_t base, unsigned int bus, unsigned int slot, unsigned int fn,
			  unsigned int reg)
{
	return base + ((uint64_t)bus << 20 | slot << 15 | fn << 12 | reg);
}

static uint32_t ecam_read(struct vm *vm, uint64_t gpa, unsigned int len)
{
	uint32_t v = 0;

	assert_true(io_bus_read(&vm->mmio, gpa, &v, len));
	return len == 4 ? v : v & ((1u << (8 * len)) - 1);
}

static void ecam_write(struct vm *vm, uint64_t gpa, uint32_t v, unsigned int len)
{
	assert_true(io_bus_write(&vm->mmio, gpa, &v, len));
}

static bool mmio_claimed(struct vm *vm, uint64_t gpa)
{
	uint8_t v;

	return io_bus_read(&vm->mmio, gpa, &v, 1);
}

/* PCIEXBAR as SeaBIOS and OVMF write it: off, the high half, then base | length | enable. */
static void set_pciexbar(struct vm *vm, uint64_t bar)
{
	cf8_write(vm, 0, Q35_PCIEXBAR, 0, 4);
	cf8_write(vm, 0, Q35_PCIEXBAR + 4, bar >> 32, 4);
	cf8_write(vm, 0, Q35_PCIEXBAR, (uint32_t)bar, 4);
}

/* ---- tests ---- */

static void test_ids(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_NONE);
	struct vm *vm = &t->vm;

	assert_int_equal(cf8_read(vm, 0, 0, 4), 0x29c08086);
	assert_int_equal(cf8_read(vm, 0, 8, 4) >> 8, 0x060000);
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, 0, 4), 0x29188086);
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, 8, 4) >> 8, 0x060100);
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, 0xe, 1), 0x80);	/* multi-function */
	/* Devices fill slots 1 up; 0x1f stays the LPC's. */
	assert_int_equal(t->dummies[0].slot, 1);
	assert_int_equal(cf8_read(vm, 1, 0, 4), 0x10411af4);
	/* Without firmware: ECAM at 0xb0000000, PM block at 0x600, as SeaBIOS leaves them. */
	assert_int_equal(cf8_read(vm, 0, Q35_PCIEXBAR, 4), 0xb0000001);
	assert_int_equal(cf8_read(vm, 0, Q35_PCIEXBAR + 4, 4), 0);
	assert_int_equal(ecam_read(vm, Q35_ECAM_BASE, 4), 0x29c08086);
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_PMBASE, 4), 0x601);
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_ACPI_CNTL, 1), ICH9_ACPI_EN);
	/* TOLUD: 16 MiB of RAM, in MiB from bit 4. */
	assert_int_equal(cf8_read(vm, 0, Q35_TOLUD, 2), 16 << 4);
	/* Absent functions: all ones; nothing on bus 1. */
	assert_int_equal(cf8_read(vm, 30, 0, 4), 0xffffffff);
	assert_int_equal(ecam_read(vm, ecam_addr(Q35_ECAM_BASE, 0, 0x1f, 3, 0), 4), 0xffffffff);
	assert_int_equal(ecam_read(vm, ecam_addr(Q35_ECAM_BASE, 1, 0, 0, 0), 4), 0xffffffff);
	tvm_free(t);
}

/* Every register of every slot reads the same through ECAM and CF8/CFC, in every width. */
static void test_ecam_matches_cf8(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_NONE);
	struct vm *vm = &t->vm;
	unsigned int slot, reg, len;

	for (slot = 0; slot < 32; slot++)
		for (len = 1; len <= 4; len *= 2)
			for (reg = 0; reg < 256; reg += len)
				assert_int_equal(ecam_read(vm, ecam_addr(Q35_ECAM_BASE, 0, slot, 0, reg), len),
						 cf8_read(vm, slot, reg, len));
	/* Extended config space of a present function: an empty capability list. */
	assert_int_equal(ecam_read(vm, ecam_addr(Q35_ECAM_BASE, 0, 1, 0, 0x100), 4), 0);
	assert_int_equal(ecam_read(vm, ecam_addr(Q35_ECAM_BASE, 0, 5, 0, 0x100), 4), 0xffffffff);
	/* Writes either way are seen the other way. */
	ecam_write(vm, ecam_addr(Q35_ECAM_BASE, 0, 2, 0, PCI_INTERRUPT_LINE), 0x5a, 1);
	assert_int_equal(cf8_read(vm, 2, PCI_INTERRUPT_LINE, 1), 0x5a);
	cf8_write(vm, 3, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(ecam_read(vm, ecam_addr(Q35_ECAM_BASE, 0, 3, 0, PCI_COMMAND), 2),
			 PCI_COMMAND_MASTER);
	/* Read-only IDs stay; writes to extended space and absent functions go nowhere. */
	ecam_write(vm, ecam_addr(Q35_ECAM_BASE, 0, 0, 0, 0), 0x12345678, 4);
	ecam_write(vm, ecam_addr(Q35_ECAM_BASE, 0, 1, 0, 0xffc), 0x12345678, 4);
	ecam_write(vm, ecam_addr(Q35_ECAM_BASE, 0, 9, 0, 0x3c), 0x12, 1);
	assert_int_equal(cf8_read(vm, 0, 0, 4), 0x29c08086);
	assert_int_equal(ecam_read(vm, ecam_addr(Q35_ECAM_BASE, 0, 1, 0, 0xffc), 4), 0);
	/* The interrupt pin's GSI, as the _PRT says: 16 + slot % 8. */
	assert_int_equal(cf8_read(vm, 1, PCI_INTERRUPT_PIN, 1), 1);
	tvm_free(t);
}

static void test_pciexbar(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	uint64_t base, size;

	/* Under firmware: as after reset, no ECAM until PCIEXBAR enables it. */
	assert_int_equal(cf8_read(vm, 0, Q35_PCIEXBAR, 4), 0);
	assert_false(mmio_claimed(vm, Q35_ECAM_BASE));
	q35_ecam_window(vm, &base, &size);
	assert_int_equal(base, 0);
	/* SeaBIOS: 0xb0000000, 256 buses. */
	set_pciexbar(vm, 0xb0000001);
	assert_int_equal(ecam_read(vm, ecam_addr(0xb0000000, 0, 0x1f, 0, 0), 4), 0x29188086);
	assert_true(mmio_claimed(vm, 0xb0000000 + Q35_ECAM_SIZE - 1));
	assert_false(mmio_claimed(vm, 0xb0000000 + Q35_ECAM_SIZE));
	/* OVMF: 0xe0000000; the old window goes. */
	set_pciexbar(vm, 0xe0000001);
	assert_false(mmio_claimed(vm, 0xb0000000));
	assert_int_equal(ecam_read(vm, 0xe0000000, 4), 0x29c08086);
	/* 64 buses (length 2): 64 MiB, aligned to it; bits below the alignment ignored. */
	set_pciexbar(vm, 0xe4000000 | 4 | 1);
	q35_ecam_window(vm, &base, &size);
	assert_int_equal(base, 0xe4000000);
	assert_int_equal(size, 64 << 20);
	assert_false(mmio_claimed(vm, 0xe4000000 + (64 << 20)));
	set_pciexbar(vm, 0xe4000000 | 0 | 1);	/* 256 buses there: aligned down to 0xe0000000 */
	q35_ecam_window(vm, &base, &size);
	assert_int_equal(base, 0xe0000000);
	/* Hostile: over the firmware's ROM at the top of 4 GiB: refused, ECAM off, monitor fine. */
	set_pciexbar(vm, 0xf0000001);
	q35_ecam_window(vm, &base, &size);
	assert_int_equal(base, 0);
	assert_int_equal(cf8_read(vm, 0, 0, 4), 0x29c08086);
	/* Above 4 GiB (bits 35:32) is fine, and disabling removes it. */
	set_pciexbar(vm, 0x800000001ULL);
	assert_int_equal(ecam_read(vm, 0x800000000ULL, 4), 0x29c08086);
	cf8_write(vm, 0, Q35_PCIEXBAR, 0, 4);
	assert_false(mmio_claimed(vm, 0x800000000ULL));
	tvm_free(t);
}

static uint8_t mmio8(struct vm *vm, uint64_t gpa)
{
	uint8_t v = 0;

	assert_true(io_bus_read(&vm->mmio, gpa, &v, 1));
	return v;
}

static void mmio_w8(struct vm *vm, uint64_t gpa, uint8_t v)
{
	assert_true(io_bus_write(&vm->mmio, gpa, &v, 1));
}

/* PAM at 0x90-0x96 switch the shadow RAM as the i440FX's do at 0x59-0x5f. */
static void test_pam(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	uint8_t rom_f0000 = (uint8_t)((ROM_SIZE - 0x10000) * 7 + 1);

	assert_int_equal(mmio8(vm, 0xf0000), rom_f0000);
	cf8_write(vm, 0, 0x90, 0x30, 1);		/* PAM0 read-write: RAM */
	mmio_w8(vm, 0xf0000, 0x42);
	assert_int_equal(vm->ram[0xf0000], 0x42);
	assert_int_equal(mmio8(vm, 0xf0000), 0x42);
	cf8_write(vm, 0, 0x90, 0x10, 1);		/* locked: writes dropped */
	mmio_w8(vm, 0xf0000, 0x99);
	assert_int_equal(mmio8(vm, 0xf0000), 0x42);
	cf8_write(vm, 0, 0x90, 0xff, 1);		/* only bits 5:4 of PAM0 exist */
	assert_int_equal(cf8_read(vm, 0, 0x90, 1), 0x30);
	cf8_write(vm, 0, 0x91, 0x03, 1);		/* PAM1 low nibble: 0xc0000 */
	mmio_w8(vm, 0xc0000, 0x77);
	mmio_w8(vm, 0xc4000, 0x77);
	assert_int_equal(mmio8(vm, 0xc0000), 0x77);
	assert_int_equal(mmio8(vm, 0xc4000), 0xff);
	/* Through ECAM too, once enabled. */
	set_pciexbar(vm, 0xb0000001);
	ecam_write(vm, ecam_addr(0xb0000000, 0, 0, 0, 0x90), 0x00, 1);
	assert_int_equal(mmio8(vm, 0xf0000), rom_f0000);
	/* The i440FX's offsets are nothing on the MCH. */
	cf8_write(vm, 0, 0x59, 0x30, 1);
	assert_int_equal(cf8_read(vm, 0, 0x59, 1), 0);
	assert_int_equal(mmio8(vm, 0xf0000), rom_f0000);
	tvm_free(t);
}

static void test_smram(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;

	assert_int_equal(cf8_read(vm, 0, Q35_SMRAM, 1), 0x02);
	assert_int_equal(cf8_read(vm, 0, Q35_ESMRAMC, 1), 0x38);
	cf8_write(vm, 0, Q35_SMRAM, 0x4a, 1);		/* D_OPEN | G_SMRAME, as SeaBIOS would */
	assert_int_equal(cf8_read(vm, 0, Q35_SMRAM, 1), 0x4a);
	cf8_write(vm, 0, Q35_SMRAM, 0x1a, 1);		/* D_LCK: from now on read-only */
	cf8_write(vm, 0, Q35_SMRAM, 0x42, 1);
	assert_int_equal(cf8_read(vm, 0, Q35_SMRAM, 1), 0x1a);
	tvm_free(t);
}

static void test_pirq(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_PIRQA_ROUT + i, 1), 0x80);
		assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_PIRQE_ROUT + i, 1), 0x80);
		/* SeaBIOS: IRQ 10 and 11 */
		cf8_write(vm, ICH9_LPC_SLOT, ICH9_PIRQA_ROUT + i, 10 + i / 2, 1);
	}
	cf8_write(vm, ICH9_LPC_SLOT, ICH9_PIRQE_ROUT, 0x0b0b0a0a, 4);
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_PIRQA_ROUT, 4), 0x0b0b0a0a);
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_PIRQE_ROUT, 4), 0x0b0b0a0a);
	cf8_write(vm, ICH9_LPC_SLOT, ICH9_PIRQA_ROUT, 0xff, 1);	/* reserved bits 6:4 */
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_PIRQA_ROUT, 1), 0x8f);
	cf8_write(vm, ICH9_LPC_SLOT, 0x64, 0xff, 1);		/* between the two sets */
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, 0x64, 1), 0);
	/* RCBA holds what OVMF writes. */
	cf8_write(vm, ICH9_LPC_SLOT, ICH9_RCBA, 0xfed1c001, 4);
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_RCBA, 4), 0xfed1c001);
	tvm_free(t);
}

/* PMBASE and ACPI_CNTL place the PM block: PM1 (pm.c), the timer, SMI_EN. */
static void test_pmbase(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	struct timespec ts = { 0, 2000000 };
	uint32_t t1, t2;

	/* After reset: PMBASE 1 (I/O), ACPI_EN off, nothing decodes. */
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_PMBASE, 4), 1);
	assert_false(port_claimed(vm, PM1A_CNT_PORT));
	assert_false(port_claimed(vm, 0x608));
	/* As SeaBIOS and OVMF: 0x600 | 1, then ACPI_EN. */
	cf8_write(vm, ICH9_LPC_SLOT, ICH9_PMBASE, 0x601, 4);
	assert_false(port_claimed(vm, PM1A_CNT_PORT));
	cf8_write(vm, ICH9_LPC_SLOT, ICH9_ACPI_CNTL, ICH9_ACPI_EN, 1);
	assert_int_equal(in(vm, PM1A_CNT_PORT, 2) & 1, 1);	/* SCI_EN: always ACPI mode */
	assert_int_equal(in(vm, 0x600 + ICH9_PM_SMI_EN, 4) & ICH9_SMI_EN_APMC_EN,
			 ICH9_SMI_EN_APMC_EN);
	assert_int_equal(in(vm, 0x600 + ICH9_PM_GPE0, 4), 0);
	/* The PM timer: 24 bits at 3.58 MHz, so 2 ms is about 7160 ticks. */
	t1 = in(vm, 0x608, 4);
	nanosleep(&ts, NULL);
	t2 = in(vm, 0x608, 4);
	assert_true(t1 <= 0xffffff && t2 <= 0xffffff);
	assert_true(((t2 - t1) & 0xffffff) >= 7000);
	assert_true(((t2 - t1) & 0xffffff) < 3579545);
	/* Moved: the old ports go quiet. Bits 6:1 of PMBASE do not exist. */
	cf8_write(vm, ICH9_LPC_SLOT, ICH9_PMBASE, 0xb07f, 4);
	assert_int_equal(cf8_read(vm, ICH9_LPC_SLOT, ICH9_PMBASE, 4), 0xb001);
	assert_false(port_claimed(vm, PM1A_CNT_PORT));
	assert_int_equal(in(vm, 0xb004, 2) & 1, 1);
	assert_true(port_claimed(vm, 0xb008));
	/* Hostile: over the PCI config ports (0xc80-0xcff): refused, the block decodes nowhere. */
	cf8_write(vm, ICH9_LPC_SLOT, ICH9_PMBASE, 0xc81, 4);
	assert_false(port_claimed(vm, 0xc84));
	assert_false(port_claimed(vm, 0xb004));
	assert_int_equal(cf8_read(vm, 0, 0, 4), 0x29c08086);
	/* Back at 0x600, then ACPI_EN off. */
	cf8_write(vm, ICH9_LPC_SLOT, ICH9_PMBASE, 0x601, 4);
	assert_true(port_claimed(vm, PM1A_CNT_PORT));
	cf8_write(vm, ICH9_LPC_SLOT, ICH9_ACPI_CNTL, 0, 1);
	assert_false(port_claimed(vm, PM1A_CNT_PORT));
	assert_false(port_claimed(vm, 0x608));
	tvm_free(t);
}

/* ---- ACPI ---- */

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static const uint8_t *find(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	size_t i;

	for (i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return hay + i;
	return NULL;
}

static const uint8_t *table(struct vm *vm, uint64_t gpa)
{
	const uint8_t *p = vm->ram + gpa;
	uint32_t len;

	memcpy(&len, p + 4, 4);
	assert_true(len >= 36 && gpa + len <= RAM_SIZE);
	assert_int_equal(sum(p, len), 0);
	return p;
}

/* Direct boot: the tables at 0xe0000, as Linux finds them. */
static void test_acpi_direct(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_NONE);
	struct vm *vm = &t->vm;
	const uint8_t *rsdp, *xsdt, *fadt = NULL, *mcfg = NULL, *dsdt, *p;
	static const uint8_t pnp0a08[] = { 0x41, 0xd0, 0x0a, 0x08 }, pnp0a03[] = { 0x41, 0xd0, 0x0a, 0x03 };
	static const uint8_t cba[] = { 0x08, '_', 'C', 'B', 'A', 0x0e, 0, 0, 0, 0xb0, 0, 0, 0, 0 };
	uint64_t xsdt_gpa, e, dsdt_gpa, base;
	uint32_t len, flags, i, tmr;
	struct e820_entry map[8];
	unsigned int n;

	rsdp = vm->ram + x86_acpi_build(vm);
	memcpy(&xsdt_gpa, rsdp + 24, 8);
	xsdt = table(vm, xsdt_gpa);
	memcpy(&len, xsdt + 4, 4);
	assert_int_equal((len - 36) / 8, 3);		/* FADT, MADT, MCFG */
	for (i = 0; i < (len - 36) / 8; i++) {
		memcpy(&e, xsdt + 36 + 8 * i, 8);
		p = table(vm, e);
		if (!memcmp(p, "FACP", 4))
			fadt = p;
		if (!memcmp(p, "MCFG", 4))
			mcfg = p;
	}
	assert_non_null(fadt);
	assert_non_null(mcfg);
	/* MCFG: one entry, 0xb0000000, segment 0, buses 0-255. */
	memcpy(&len, mcfg + 4, 4);
	assert_int_equal(len, 60);
	memcpy(&base, mcfg + 44, 8);
	assert_int_equal(base, Q35_ECAM_BASE);
	assert_int_equal(mcfg[52] | mcfg[53] << 8, 0);
	assert_int_equal(mcfg[54], 0);
	assert_int_equal(mcfg[55], 255);
	/* FADT: PM timer at PMBASE + 8, QEMU's q35 flags, ICH9's reset value. */
	memcpy(&tmr, fadt + 76, 4);
	assert_int_equal(tmr, 0x608);
	assert_int_equal(fadt[91], 4);
	memcpy(&flags, fadt + 112, 4);
	assert_int_equal(flags, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 7) | (1u << 10) |
				(1u << 15));
	assert_int_equal(fadt[128], 0x0f);
	/* DSDT: PCI0 a PCIe root (PNP0A08, compatible PNP0A03), _CBA, _OSC. */
	memcpy(&dsdt_gpa, fadt + 140, 8);
	dsdt = table(vm, dsdt_gpa);
	memcpy(&len, dsdt + 4, 4);
	assert_non_null(find(dsdt, len, pnp0a08, 4));
	assert_non_null(find(dsdt, len, pnp0a03, 4));
	assert_non_null(find(dsdt, len, cba, sizeof(cba)));
	p = find(dsdt, len, "_OSC", 4);
	assert_non_null(p);
	assert_int_equal(p[-3], 0x14);			/* MethodOp, two-byte PkgLength */
	assert_int_equal(p[-2] >> 6, 1);
	assert_int_equal(p[4], 4);			/* four arguments */
	assert_non_null(find(dsdt, len, "\x5b\x4d\xdb\x33\xf7\x1f\x1c\x40", 8));
	/* e820: RAM, and ECAM reserved so that Linux uses it. */
	n = x86_e820_map(vm, map, 8);
	for (i = 0; i < n; i++)
		if (map[i].addr == Q35_ECAM_BASE)
			break;
	assert_true(i < n);
	assert_int_equal(map[i].size, Q35_ECAM_SIZE);
	assert_int_equal(map[i].type, E820_RESERVED);
	tvm_free(t);
}

/* ---- the firmware's copy through fw_cfg ---- */

static void cfg_select(struct vm *vm, uint16_t key)
{
	out(vm, FW_CFG_PORT_SEL, key, 2);
}

static uint8_t *read_fw_file(struct vm *vm, const char *name, uint32_t *size)
{
	uint32_t count, i, j, sz;
	uint16_t sel;
	uint8_t e[64], *b;

	cfg_select(vm, FW_CFG_FILE_DIR);
	for (j = 0; j < 4; j++)
		((uint8_t *)&count)[j] = in(vm, FW_CFG_PORT_DATA, 1);
	for (i = 0; i < be32toh(count); i++) {
		for (j = 0; j < 64; j++)
			e[j] = in(vm, FW_CFG_PORT_DATA, 1);
		if (strcmp((char *)e + 8, name))
			continue;
		memcpy(&sz, e, 4);
		memcpy(&sel, e + 4, 2);
		*size = be32toh(sz);
		b = malloc(*size);
		cfg_select(vm, be16toh(sel));
		for (j = 0; j < *size; j++)
			b[j] = in(vm, FW_CFG_PORT_DATA, 1);
		return b;
	}
	fail_msg("no fw_cfg file %s", name);
	return NULL;
}

static const uint8_t *blob_table(const uint8_t *b, uint32_t size, const char *sig)
{
	uint32_t off, len;

	for (off = 0; off + 36 <= size; off += 16) {
		memcpy(&len, b + off + 4, 4);
		if (!memcmp(b + off, sig, 4) && len >= 36 && off + len <= size) {
			assert_int_equal(sum(b + off, len), 0);
			return b + off;
		}
	}
	fail_msg("no %s in etc/acpi/tables", sig);
	return NULL;
}

/* OVMF puts ECAM at 0xe0000000: the MCFG and _CBA it loads say so. */
static void test_acpi_follows_pciexbar(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	const uint8_t *mcfg, *dsdt;
	static const uint8_t cba_e[] = { 0x08, '_', 'C', 'B', 'A', 0x0e, 0, 0, 0, 0xe0, 0, 0, 0, 0 };
	static const uint8_t cba_b[] = { 0x08, '_', 'C', 'B', 'A', 0x0e, 0, 0, 0, 0xb0, 0, 0, 0, 0 };
	uint8_t *blob;
	uint32_t size, len;
	uint64_t base;

	assert_int_equal(x86_acpi_build_fw_cfg(vm, &(struct vk_err){ 0 }), 0);
	blob = read_fw_file(vm, "etc/acpi/tables", &size);
	mcfg = blob_table(blob, size, "MCFG");
	memcpy(&base, mcfg + 44, 8);
	assert_int_equal(base, Q35_ECAM_BASE);		/* SeaBIOS's place until told */
	free(blob);

	set_pciexbar(vm, 0xe0000000 | 4 | 1);		/* 64 buses at 0xe0000000 */
	blob = read_fw_file(vm, "etc/acpi/tables", &size);
	mcfg = blob_table(blob, size, "MCFG");
	memcpy(&base, mcfg + 44, 8);
	assert_int_equal(base, 0xe0000000);
	assert_int_equal(mcfg[55], 63);
	dsdt = blob_table(blob, size, "DSDT");
	memcpy(&len, dsdt + 4, 4);
	assert_non_null(find(dsdt, len, cba_e, sizeof(cba_e)));
	assert_null(find(dsdt, len, cba_b, sizeof(cba_b)));
	free(blob);
	tvm_free(t);
}

/* The pc machine is untouched: no MCH, no LPC, no MCFG. */
static void test_pc_unchanged(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_NONE);
	struct vm vm2;
	struct vm_config cfg = t->cfg;
	const uint8_t *rsdp, *xsdt;
	uint64_t xsdt_gpa;
	uint32_t len;

	cfg.machine = MACHINE_PC;
	vm2 = t->vm;
	vm2.cfg = &cfg;
	rsdp = vm2.ram + x86_acpi_build(&vm2);
	memcpy(&xsdt_gpa, rsdp + 24, 8);
	xsdt = table(&vm2, xsdt_gpa);
	memcpy(&len, xsdt + 4, 4);
	assert_int_equal((len - 36) / 8, 2);
	tvm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_ecam_matches_cf8),
		cmocka_unit_test(test_pciexbar),
		cmocka_unit_test(test_pam),
		cmocka_unit_test(test_smram),
		cmocka_unit_test(test_pirq),
		cmocka_unit_test(test_pmbase),
		cmocka_unit_test(test_acpi_direct),
		cmocka_unit_test(test_acpi_follows_pciexbar),
		cmocka_unit_test(test_pc_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
