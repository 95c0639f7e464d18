/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * powerbtn: waits for the ACPI fixed-feature power button, as Linux's
 * button driver sees it, then powers off. From the FADT: PWR_BUTTON clear
 * (the button is the fixed one), not HW-reduced, PM1a_EVT_BLK and SCI_INT;
 * from the MADT the SCI's interrupt override. It sets PWRBTN_EN, routes the
 * SCI's IOAPIC pin to a vector with interrupts off, and polls PM1_STS at
 * CPL3 until PWRBTN_STS appears (system_powerdown on the control socket).
 * Then the SCI must be pending in the local APIC's IRR; the guest writes
 * the status bit back to clear it, and powers off through S5.
 */
#include "lib/rt.h"

RT_TEST("powerbtn");

#define FADT_SCI_INT		46
#define FADT_PM1A_EVT		56
#define FADT_FLAGS		112
#define FADT_F_PWR_BUTTON	(1u << 4)
#define FADT_F_HW_REDUCED	(1u << 20)
#define PM1_PWRBTN		0x0100

#define IOAPIC_BASE		0xfec00000ul
#define LAPIC_BASE		0xfee00000ul
#define LAPIC_SVR		0xf0
#define LAPIC_IRR		0x200
#define SCI_VECTOR		0x40
#define WAIT_US			120000000ull	/* two minutes at most */

static uint16_t pm1_sts;	/* port of PM1_STS; PM1_EN follows it */
static unsigned int sci_gsi;

static uint32_t u32_at(const void *p, unsigned off)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)p + off, 4);
	return v;
}

static void ioapic_write(unsigned reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

static bool sci_pending(void)
{
	uint32_t irr = mmio_read32(LAPIC_BASE + LAPIC_IRR + 0x10 * (SCI_VECTOR / 32));

	return irr & (1u << (SCI_VECTOR % 32));
}

/* The SCI's GSI and polarity/trigger from the MADT's overrides (default: identity). */
static bool find_sci_override(unsigned sci_irq)
{
	const struct acpi_sdt *madt = acpi_find_table("APIC");
	const uint8_t *p, *end;

	sci_gsi = sci_irq;
	if (!madt)
		return rt_failf("no MADT");
	p = (const uint8_t *)madt + 44;
	end = (const uint8_t *)madt + madt->length;
	for (; p + 2 <= end && p[1] >= 2; p += p[1]) {
		uint16_t flags;

		if (p[0] != 2 || p[3] != sci_irq)
			continue;
		sci_gsi = u32_at(p, 4);
		memcpy(&flags, p + 8, 2);
		rt_info("sci_override=gsi%u,flags=%x", sci_gsi, flags);
		if (flags != 0x000d && flags != 0x0000)
			return rt_failf("SCI override flags %x: want level, active high", flags);
	}
	return true;
}

static bool check_fadt(void)
{
	const struct acpi_sdt *fadt = acpi_find_table("FACP");
	uint32_t flags;
	uint16_t sci;

	if (!fadt)
		return rt_failf("no FADT");
	flags = u32_at(fadt, FADT_FLAGS);
	memcpy(&sci, (const uint8_t *)fadt + FADT_SCI_INT, 2);
	pm1_sts = u32_at(fadt, FADT_PM1A_EVT);
	rt_info("fadt_flags=%x sci_int=%u pm1a_evt=%x", flags, sci, pm1_sts);
	if (flags & FADT_F_PWR_BUTTON)
		return rt_failf("FADT PWR_BUTTON set: no fixed power button");
	if (flags & FADT_F_HW_REDUCED)
		return rt_failf("FADT is HW-reduced: no fixed events");
	if (!pm1_sts)
		return rt_failf("FADT has no PM1a event block");
	return find_sci_override(sci);
}

/* At CPL3: poll PM1_STS, about every millisecond. */
static uint64_t wait_button(void *arg)
{
	uint64_t t0 = rdtsc(), per_ms = *(uint64_t *)arg, next;

	while ((rdtsc() - t0) / per_ms < WAIT_US / 1000) {
		if (inw(pm1_sts) & PM1_PWRBTN)
			return 1;
		for (next = rdtsc() + per_ms; rdtsc() < next;)
			cpu_relax();
	}
	return 0;
}

void guest_main(struct hvm_start_info *si)
{
	uint64_t t0, per_ms;

	if (!check_fadt())
		rt_fail("%s", rt_why);
	if (inw(pm1_sts) & PM1_PWRBTN)
		rt_fail("PWRBTN_STS set before anyone pressed the button");
	/* The SCI's pin, level and active high, to the boot CPU, unmasked. */
	mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x1ff);
	ioapic_write(0x10 + 2 * sci_gsi + 1, 0);
	ioapic_write(0x10 + 2 * sci_gsi, SCI_VECTOR | (1u << 15));
	outw(pm1_sts + 2, PM1_PWRBTN);		/* PWRBTN_EN */
	if (sci_pending())
		rt_fail("SCI pending before the button was pressed");
	t0 = rdtsc();
	pit_delay_us(10000);
	per_ms = (rdtsc() - t0) / 10;
	if (!per_ms)
		per_ms = 2000000;
	rt_info("powerbtn=armed");
	if (!cpl3_call(wait_button, &per_ms))
		rt_fail("no power button press within %llu s", WAIT_US / 1000000);
	rt_info("pwrbtn_sts=1");
	if (!sci_pending())
		rt_fail("PWRBTN_STS set with PWRBTN_EN, but no SCI reached the local APIC");
	rt_info("sci=1");
	outw(pm1_sts, PM1_PWRBTN);		/* write one to clear */
	if (inw(pm1_sts) & PM1_PWRBTN)
		rt_fail("PWRBTN_STS did not clear");
	rt_report_pass();
	acpi_poweroff();
}
