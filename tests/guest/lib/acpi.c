/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Just enough ACPI to find tables, power off (S5) and reset. */
#include "rt.h"

struct acpi_rsdp {
	char sig[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;	/* revision >= 2 */
	uint64_t xsdt;
	uint8_t xchecksum;
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_gas {
	uint8_t space;		/* 0 memory, 1 I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

/* FADT field offsets (ACPI 6.x, table 5.9) */
#define FADT_DSDT		40
#define FADT_PM1A_CNT		64
#define FADT_PM1B_CNT		68
#define FADT_FLAGS		112
#define FADT_RESET_REG		116
#define FADT_RESET_VALUE	128
#define FADT_X_DSDT		140
#define FADT_X_PM1A_CNT		172
#define FADT_X_PM1B_CNT		184
#define FADT_SLEEP_CONTROL	244

#define FADT_F_RESET_REG_SUP	(1u << 10)
#define FADT_F_HW_REDUCED	(1u << 20)

static uint8_t sum8(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (n--)
		s += *b++;
	return s;
}

static uint64_t rsdp_cache;

uint64_t acpi_find_rsdp(void)
{
	struct hvm_start_info *si = rt_start_info;

	if (rsdp_cache)
		return rsdp_cache;
	if (si && si->magic == HVM_START_MAGIC && si->rsdp_paddr) {
		rsdp_cache = si->rsdp_paddr;
		return rsdp_cache;
	}
	/* "RSD PTR " on a 16-byte boundary in the BIOS area. */
	const uint64_t want = 0x2052545020445352ull;	/* "RSD PTR " little-endian */
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		if (*(volatile uint64_t *)a == want && sum8((void *)a, 20) == 0) {
			rsdp_cache = a;
			break;
		}
	}
	return rsdp_cache;
}

static const struct acpi_sdt *check_table(uint64_t pa, const char sig[4])
{
	const struct acpi_sdt *t = (const struct acpi_sdt *)(uintptr_t)pa;

	if (!pa || pa >= (1ull << 32))
		return NULL;
	if (memcmp(t->sig, sig, 4))
		return NULL;
	return t;
}

const struct acpi_sdt *acpi_find_table(const char sig[4])
{
	uint64_t rp = acpi_find_rsdp();
	const struct acpi_rsdp *r = (const struct acpi_rsdp *)(uintptr_t)rp;
	const struct acpi_sdt *root;
	unsigned n;

	if (!rp)
		return NULL;
	if (r->revision >= 2 && r->xsdt && (root = check_table(r->xsdt, "XSDT"))) {
		n = (root->length - sizeof(*root)) / 8;
		const uint8_t *e = (const uint8_t *)(root + 1);
		for (unsigned i = 0; i < n; i++) {
			uint64_t pa;

			memcpy(&pa, e + 8 * i, 8);
			const struct acpi_sdt *t = check_table(pa, sig);
			if (t)
				return t;
		}
		return NULL;
	}
	if (!(root = check_table(r->rsdt, "RSDT")))
		return NULL;
	n = (root->length - sizeof(*root)) / 4;
	const uint8_t *e = (const uint8_t *)(root + 1);
	for (unsigned i = 0; i < n; i++) {
		uint32_t pa;

		memcpy(&pa, e + 4 * i, 4);
		const struct acpi_sdt *t = check_table(pa, sig);
		if (t)
			return t;
	}
	return NULL;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static bool table_overlaps(uint64_t pa, uint64_t a, uint64_t len)
{
	const struct acpi_sdt *t = (const struct acpi_sdt *)(uintptr_t)pa;

	if (!pa || pa >= (1ull << 32))
		return false;
	return ranges_overlap(pa, t->length, a, len);
}

bool acpi_overlaps(uint64_t a, uint64_t len)
{
	uint64_t rp = acpi_find_rsdp();
	const struct acpi_rsdp *r = (const struct acpi_rsdp *)(uintptr_t)rp;
	const struct acpi_sdt *root, *fadt;
	bool x;

	if (!rp)
		return false;
	if (ranges_overlap(rp, sizeof(*r), a, len))
		return true;
	x = r->revision >= 2 && r->xsdt && check_table(r->xsdt, "XSDT");
	root = (const struct acpi_sdt *)(uintptr_t)(x ? r->xsdt : r->rsdt);
	if (!root || !check_table((uintptr_t)root, x ? "XSDT" : "RSDT"))
		return false;
	if (table_overlaps((uintptr_t)root, a, len))
		return true;
	unsigned esz = x ? 8 : 4, n = (root->length - sizeof(*root)) / esz;
	for (unsigned i = 0; i < n; i++) {
		uint64_t pa = 0;

		memcpy(&pa, (const uint8_t *)(root + 1) + esz * i, esz);
		if (table_overlaps(pa, a, len))
			return true;
	}
	if ((fadt = acpi_find_table("FACP"))) {
		uint64_t d = 0;

		if (fadt->length >= FADT_X_DSDT + 8)
			memcpy(&d, (const uint8_t *)fadt + FADT_X_DSDT, 8);
		if (!d && fadt->length >= FADT_DSDT + 4)
			memcpy(&d, (const uint8_t *)fadt + FADT_DSDT, 4);
		if (table_overlaps(d, a, len))
			return true;
	}
	return false;
}

static uint32_t fadt_u32(const struct acpi_sdt *f, unsigned off)
{
	uint32_t v = 0;

	if (f->length >= off + 4)
		memcpy(&v, (const uint8_t *)f + off, 4);
	return v;
}

static bool fadt_gas(const struct acpi_sdt *f, unsigned off, struct acpi_gas *g)
{
	if (f->length < off + sizeof(*g))
		return false;
	memcpy(g, (const uint8_t *)f + off, sizeof(*g));
	return g->address != 0;
}

static void gas_write8(const struct acpi_gas *g, uint8_t v)
{
	if (g->space == 1)
		outb((uint16_t)g->address, v);
	else if (g->space == 0)
		mmio_write8(g->address, v);
}

/* One element of the \_S5 package: BytePrefix n, ZeroOp, OneOp (or OnesOp). */
static int aml_small_int(const uint8_t *p, const uint8_t *end, const uint8_t **next)
{
	if (p >= end)
		return -1;
	switch (p[0]) {
	case 0x0a:
		if (p + 1 >= end)
			return -1;
		*next = p + 2;
		return p[1];
	case 0x00:
	case 0x01:
		*next = p + 1;
		return p[0];
	case 0xff:
		*next = p + 1;
		return 0xff;
	default:
		return -1;
	}
}

/* SLP_TYPa/b of \_S5 from the DSDT; false if not found. */
static bool find_s5(const struct acpi_sdt *dsdt, int *typa, int *typb)
{
	const uint8_t *p = (const uint8_t *)dsdt, *end = p + dsdt->length;
	const uint32_t name = 0x5f35535f;	/* "_S5_" */

	for (p += sizeof(*dsdt); p + 8 <= end; p++) {
		uint32_t w;

		memcpy(&w, p, 4);
		if (w != name || p[4] != 0x12)
			continue;
		const uint8_t *q = p + 5;
		q += 1 + (q[0] >> 6);		/* PkgLength */
		q++;				/* NumElements */
		*typa = aml_small_int(q, end, &q);
		if (*typa < 0)
			continue;
		*typb = aml_small_int(q, end, &q);
		if (*typb < 0)
			*typb = *typa;
		return true;
	}
	return false;
}

void acpi_poweroff(void)
{
	const char *why;
	const struct acpi_sdt *fadt, *dsdt;
	uint64_t dsdt_pa = 0;
	int typa, typb;

	__asm__ volatile("cli");
	if (!acpi_find_rsdp()) {
		why = "no RSDP";
		goto fail;
	}
	if (!(fadt = acpi_find_table("FACP"))) {
		why = "no FADT";
		goto fail;
	}
	if (fadt->length >= FADT_X_DSDT + 8)
		memcpy(&dsdt_pa, (const uint8_t *)fadt + FADT_X_DSDT, 8);
	if (!dsdt_pa)
		dsdt_pa = fadt_u32(fadt, FADT_DSDT);
	if (!(dsdt = check_table(dsdt_pa, "DSDT"))) {
		why = "no DSDT";
		goto fail;
	}
	if (!find_s5(dsdt, &typa, &typb)) {
		why = "no \\_S5 in DSDT";
		goto fail;
	}

	struct acpi_gas g;
	if (fadt_u32(fadt, FADT_FLAGS) & FADT_F_HW_REDUCED) {
		if (!fadt_gas(fadt, FADT_SLEEP_CONTROL, &g)) {
			why = "HW-reduced FADT without SLEEP_CONTROL_REG";
			goto fail;
		}
		gas_write8(&g, (uint8_t)(((typa & 7) << 2) | 0x20));
		why = "SLEEP_CONTROL_REG write did not power off";
	} else {
		uint32_t a = fadt_u32(fadt, FADT_PM1A_CNT), b = fadt_u32(fadt, FADT_PM1B_CNT);

		if (!a && fadt_gas(fadt, FADT_X_PM1A_CNT, &g) && g.space == 1)
			a = (uint32_t)g.address;
		if (!b && fadt_gas(fadt, FADT_X_PM1B_CNT, &g) && g.space == 1)
			b = (uint32_t)g.address;
		if (!a) {
			why = "FADT without PM1a_CNT_BLK";
			goto fail;
		}
		outw((uint16_t)a, (uint16_t)(((typa & 7) << 10) | (1 << 13)));
		if (b)
			outw((uint16_t)b, (uint16_t)(((typb & 7) << 10) | (1 << 13)));
		why = "PM1_CNT write did not power off";
	}
	rt_settle();
fail:
	rt_printf("VMKIT-TEST %s FAIL poweroff: %s\n", rt_test_name, why);
	rt_halt();
}

void acpi_reset(void)
{
	const struct acpi_sdt *fadt;
	struct acpi_gas g;

	if (!acpi_find_rsdp() || !(fadt = acpi_find_table("FACP")))
		return;
	if (!(fadt_u32(fadt, FADT_FLAGS) & FADT_F_RESET_REG_SUP) ||
	    fadt->length <= FADT_RESET_VALUE || !fadt_gas(fadt, FADT_RESET_REG, &g))
		return;
	gas_write8(&g, *((const uint8_t *)fadt + FADT_RESET_VALUE));
	rt_settle();
}
