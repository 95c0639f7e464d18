/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * smp: counts the enabled CPUs in the ACPI MADT, starts every AP with
 * INIT-SIPI-SIPI through the xAPIC (trampoline in lib/ap_trampoline.S), each
 * AP records its APIC ID (CPUID.1:EBX[31:24]) and checks in through an atomic
 * counter. PASS when every MADT CPU checked in with a distinct, matching ID.
 */
#include "lib/rt.h"

RT_TEST("smp");

#define MAX_CPUS 64		/* AP_MAX in ap_trampoline.S */

extern const char ap_tramp_start[], ap_tramp_end[], ap_tramp_pm32[], ap_tramp_gdtr[];
extern const char ap_tramp_pm32_rel[];	/* absolute symbol: offset of the 32-bit part */

static volatile uint32_t ap_ids[MAX_CPUS];
static volatile uint32_t ap_checked_in;

#define APIC_ID		0x020
#define APIC_SVR	0x0f0
#define APIC_ICR_LO	0x300
#define APIC_ICR_HI	0x310

void ap_main(unsigned slot);
void ap_main(unsigned slot)
{
	uint32_t a, b, c, d;

	cpuid(1, 0, &a, &b, &c, &d);
	ap_ids[slot] = b >> 24;
	__atomic_fetch_add(&ap_checked_in, 1, __ATOMIC_RELEASE);
}

static uint64_t lapic;

static void lapic_write(unsigned reg, uint32_t v) { mmio_write32(lapic + reg, v); }
static uint32_t lapic_read(unsigned reg) { return mmio_read32(lapic + reg); }

static bool send_ipi(uint32_t apic_id, uint32_t lo)
{
	lapic_write(APIC_ICR_HI, apic_id << 24);
	lapic_write(APIC_ICR_LO, lo);
	for (int i = 0; i < 1000; i++)
		if (!(lapic_read(APIC_ICR_LO) & (1u << 12)))	/* delivery status */
			return true;
	return false;
}

static void sort_u32(uint32_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j && v[j - 1] > v[j]; j--) {
			uint32_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

static void print_ids(const char *key, const uint32_t *v, unsigned n)
{
	rt_printf("VMKIT-INFO %s=", key);
	for (unsigned i = 0; i < n; i++)
		rt_printf(i ? ",%u" : "%u", v[i]);
	serial_putc('\n');
}

static bool page_ok(uint64_t pa, struct hvm_start_info *si)
{
	const struct hvm_memmap_entry *mm;
	unsigned n = rt_memmap(&mm);
	const uint64_t len = 4096;
	bool in_ram = !n;	/* no map: trust conventional memory */

#define OVERLAP(a, l) ((a) < pa + len && pa < (a) + (l))
	for (unsigned i = 0; i < n; i++)
		if (mm[i].type == E820_RAM && mm[i].addr <= pa && pa + len <= mm[i].addr + mm[i].size)
			in_ram = true;
	if (!in_ram)
		return false;
	if (OVERLAP((uintptr_t)si, 4096))	/* start info (and what loaders put beside it) */
		return false;
	if (n && OVERLAP(si->memmap_paddr, (uint64_t)n * sizeof(*mm)))
		return false;
	if (si->cmdline_paddr && OVERLAP(si->cmdline_paddr, 4096))
		return false;
	if (si->nr_modules && OVERLAP(si->modlist_paddr, (uint64_t)si->nr_modules * 32))
		return false;
	return !acpi_overlaps(pa, len);
#undef OVERLAP
}

void guest_main(struct hvm_start_info *si)
{
	const struct acpi_sdt *madt = acpi_find_table("APIC");
	uint32_t madt_ids[MAX_CPUS], ids[MAX_CPUS];
	unsigned nmadt = 0;
	uint32_t a, b, c, d;

	if (!madt)
		rt_fail("no MADT");

	/* The MADT: u32 local APIC address, u32 flags, then entries. */
	const uint8_t *p = (const uint8_t *)madt + 44, *end = (const uint8_t *)madt + madt->length;
	uint32_t lapic32;
	memcpy(&lapic32, (const uint8_t *)madt + 36, 4);
	lapic = lapic32;
	for (; p + 2 <= end && p[1] >= 2; p += p[1]) {
		uint32_t flags, id;

		switch (p[0]) {
		case 0:		/* processor local APIC */
			memcpy(&flags, p + 4, 4);
			if ((flags & 1) && nmadt < MAX_CPUS)
				madt_ids[nmadt++] = p[3];
			break;
		case 5:		/* local APIC address override */
			memcpy(&lapic, p + 4, 8);
			break;
		case 9:		/* processor local x2APIC */
			memcpy(&id, p + 4, 4);
			memcpy(&flags, p + 8, 4);
			if ((flags & 1) && nmadt < MAX_CPUS)
				madt_ids[nmadt++] = id;
			break;
		}
	}
	sort_u32(madt_ids, nmadt);
	rt_info("madt_cpus=%u", nmadt);
	if (!nmadt)
		rt_fail("no enabled CPU in the MADT");

	cpuid(1, 0, &a, &b, &c, &d);
	uint32_t bsp = b >> 24;
	rt_info("bsp_apic_id=%u", bsp);
	/* The timer features KVM emulates, which the VMM must add to CPUID itself. */
	rt_info("tsc_deadline=%u", (c >> 24) & 1);
	cpuid(0, 0, &a, &b, &c, &d);
	if (a >= 6) {
		cpuid(6, 0, &a, &b, &c, &d);
		rt_info("arat=%u", (a >> 2) & 1);
	}
	rt_info("lapic=%#lx", lapic);

	unsigned want_aps = 0;
	for (unsigned i = 0; i < nmadt; i++)
		if (madt_ids[i] != bsp)
			want_aps++;

	if (want_aps) {
		static const uint64_t candidates[] = {
			0x8000, 0x9000, 0x10000, 0x20000, 0x30000, 0x40000,
			0x50000, 0x60000, 0x70000, 0x80000, 0x90000,
		};
		uint64_t base = 0;

		for (unsigned i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
			if (page_ok(candidates[i], si)) {
				base = candidates[i];
				break;
			}
		if (!base)
			rt_fail("no free RAM page below 1 MiB for the AP trampoline");
		rt_info("trampoline=%#lx", base);

		uint8_t *t = (uint8_t *)(uintptr_t)base;
		memcpy(t, ap_tramp_start, ap_tramp_end - ap_tramp_start);
		uint32_t pm32 = (uint32_t)(base + (uintptr_t)ap_tramp_pm32_rel);
		memcpy(t + (ap_tramp_pm32 - ap_tramp_start), &pm32, 4);
		memcpy(t + (ap_tramp_gdtr - ap_tramp_start), &rt_gdt_ptr, 6);

		lapic_write(APIC_SVR, lapic_read(APIC_SVR) | 0x1ff);	/* enable, spurious 0xff */

		/* INIT to all, wait, then two SIPIs (vector = page number). */
		for (unsigned i = 0; i < nmadt; i++)
			if (madt_ids[i] != bsp && !send_ipi(madt_ids[i], 0x00004500))
				rt_fail("INIT to APIC %u not delivered", madt_ids[i]);
		pit_delay_us(10000);
		for (int round = 0; round < 2; round++) {
			for (unsigned i = 0; i < nmadt; i++)
				if (madt_ids[i] != bsp &&
				    !send_ipi(madt_ids[i], 0x00004600 | (uint32_t)(base >> 12)))
					rt_fail("SIPI to APIC %u not delivered", madt_ids[i]);
			if (!round)
				pit_delay_us(200);
		}

		/* Wait up to ~2 s (PIT); without a PIT, a bounded number of port reads. */
		bool pit = true;
		for (int i = 0; i < 200 && pit; i++) {
			if (__atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE) >= want_aps)
				break;
			pit = pit_delay_us(10000);
		}
		for (int i = 0; !pit && i < 200000; i++) {
			if (__atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE) >= want_aps)
				break;
			inb(0x80);
		}
		/* Any extra AP (not in the MADT) would still be counted. */
		if (__atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE) >= want_aps)
			pit_delay_us(1000);
	}

	unsigned n = __atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE);
	if (n > MAX_CPUS - 1)
		n = MAX_CPUS - 1;
	ids[0] = bsp;
	for (unsigned i = 0; i < n; i++)
		ids[i + 1] = ap_ids[i];
	n++;
	sort_u32(ids, n);
	rt_info("cpus=%u", n);
	print_ids("apic_ids", ids, n);
	print_ids("madt_apic_ids", madt_ids, nmadt);

	for (unsigned i = 1; i < n; i++)
		if (ids[i] == ids[i - 1])
			rt_fail("APIC ID %u checked in twice", ids[i]);
	if (n != nmadt)
		rt_fail("%u CPUs checked in, the MADT has %u", n, nmadt);
	for (unsigned i = 0; i < n; i++)
		if (ids[i] != madt_ids[i])
			rt_fail("APIC IDs do not match the MADT");
	rt_pass();
}
