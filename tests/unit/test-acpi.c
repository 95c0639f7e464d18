// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ACPI tables as built for a guest (no KVM needed): checksums, the table
 * chain RSDP -> XSDT -> FADT/MADT -> DSDT/FACS, the FADT's fixed hardware,
 * the MADT's processors, and the DSDT's \_S5, PCI0 and its _PRT in encoded AML.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/vm.h"
#include "vmkit/x86.h"

static uint8_t *ram;

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static const uint8_t *table(uint64_t gpa)
{
	const uint8_t *t = ram + gpa;
	uint32_t len;

	assert_true(gpa >= ACPI_START && gpa < ACPI_END);
	memcpy(&len, t + 4, 4);
	assert_true(len >= 36 && gpa + len <= ACPI_END);
	assert_int_equal(sum(t, len), 0);
	return t;
}

static const uint8_t *find(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	size_t i;

	for (i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return hay + i;
	return NULL;
}

static void test_tables(void **state)
{
	struct vm_config cfg = { .cpus = 3 };
	struct vcpu vcpus[3] = { { .apic_id = 0 }, { .apic_id = 1 }, { .apic_id = 2 } };
	struct vm vm = { .cfg = &cfg, .nr_mem = 1, .vcpus = vcpus, .nr_vcpus = 3 };
	const uint8_t *rsdp, *xsdt, *fadt = NULL, *madt = NULL, *dsdt, *p;
	uint64_t rsdp_gpa, xsdt_gpa, entry, dsdt_gpa;
	uint32_t len, u32;
	static const uint8_t prt_first[] = { 0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, 0x01, 0x00,
					     0x00, 0x00, 0x0a, 0x11 };
	static const uint8_t prt_last[] = { 0x12, 0x0c, 0x04, 0x0c, 0xff, 0xff, 0x1f, 0x00,
					    0x0a, 0x03, 0x00, 0x0a, 0x12 };
	unsigned int i, lapics = 0;
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
				      0x0a, 5, 0x0a, 5, 0x00, 0x00 };
	static const uint8_t pnp0a03[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };

	ram = calloc(1, 2 << 20);
	vm.mem[0] = (struct mem_region){ 0, 2 << 20, ram };
	rsdp_gpa = x86_acpi_build(&vm);
	rsdp = ram + rsdp_gpa;
	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(sum(rsdp, 20), 0);
	assert_int_equal(sum(rsdp, 36), 0);
	memcpy(&xsdt_gpa, rsdp + 24, 8);
	xsdt = table(xsdt_gpa);
	assert_memory_equal(xsdt, "XSDT", 4);
	memcpy(&len, xsdt + 4, 4);
	for (i = 0; i < (len - 36) / 8; i++) {
		memcpy(&entry, xsdt + 36 + 8 * i, 8);
		p = table(entry);
		if (!memcmp(p, "FACP", 4))
			fadt = p;
		if (!memcmp(p, "APIC", 4))
			madt = p;
	}
	assert_non_null(fadt);
	assert_non_null(madt);

	/* FADT: SCI 9, PM1a blocks, reset register 0xcf9 = 6, DSDT in both fields. */
	assert_int_equal(fadt[46], SCI_IRQ);
	memcpy(&u32, fadt + 56, 4);
	assert_int_equal(u32, PM1A_EVT_PORT);
	memcpy(&u32, fadt + 64, 4);
	assert_int_equal(u32, PM1A_CNT_PORT);
	memcpy(&entry, fadt + 116 + 4, 8);
	assert_int_equal(entry, RESET_PORT);
	assert_int_equal(fadt[128], RESET_VALUE);
	memcpy(&u32, fadt + 40, 4);
	memcpy(&dsdt_gpa, fadt + 140, 8);
	assert_int_equal(u32, dsdt_gpa);

	/* MADT: one enabled local APIC per vCPU with its APIC ID, one IOAPIC. */
	memcpy(&len, madt + 4, 4);
	for (p = madt + 44; p < madt + len; p += p[1]) {
		assert_true(p[1] >= 2);
		if (p[0] == 0) {
			assert_int_equal(p[3], vcpus[lapics].apic_id);
			assert_int_equal(p[4] & 1, 1);
			lapics++;
		}
	}
	assert_int_equal(lapics, 3);

	/* DSDT: \_S5 package (5, 5, 0, 0) and a PNP0A03 host bridge. */
	dsdt = table(dsdt_gpa);
	memcpy(&len, dsdt + 4, 4);
	assert_non_null(find(dsdt, len, s5, sizeof(s5)));
	assert_non_null(find(dsdt, len, "PCI0", 4));
	assert_non_null(find(dsdt, len, pnp0a03, sizeof(pnp0a03)));
	/*
	 * _PRT: 31 slots x 4 pins; slot 1 INTA -> GSI 17, slot 31 INTD -> GSI
	 * 16 + (31 + 3) % 8 = 18, each Package { 0xSSSSFFFF, pin, Zero, GSI }.
	 */
	p = find(dsdt, len, "_PRT", 4);
	assert_non_null(p);
	assert_int_equal(p[4], 0x12);
	assert_int_equal(p[7], 124);
	assert_non_null(find(dsdt, len, prt_first, sizeof(prt_first)));
	assert_non_null(find(dsdt, len, prt_last, sizeof(prt_last)));
	free(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
