// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ACPI tables: RSDP -> XSDT/RSDT -> FADT (-> FACS, DSDT), MADT. Without
 * firmware they go in the BIOS area (0xE0000-0xFFFFF), where Linux and
 * other guests find the RSDP by scanning even when the boot protocol does
 * not pass its address; with firmware the same tables are handed to it
 * through fw_cfg and its linker/loader (x86_acpi_build_fw_cfg).
 *
 * The FADT describes full (not hardware-reduced) ACPI fixed hardware, so
 * poweroff is the classic PM1a_CNT write and a power button can later be
 * pressed through PM1_STS with an SCI on IRQ 9. The DSDT holds \_S5.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/bios-linker.h"
#include "vmkit/fw-cfg.h"
#include "vmkit/hw.h"
#include "vmkit/pci.h"
#include "vmkit/q35.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#include "acpi-q35.h"
#include "aml.h"

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

/* Generic Address Structure */
struct acpi_gas {
	uint8_t space_id;	/* 1 = system I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;	/* 1 byte, 2 word, 3 dword */
	uint64_t address;
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
	uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
	uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg, sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT layout (ACPI 6.x)");

struct acpi_facs {
	char signature[4];
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved[31];
} __attribute__((packed));

#define FADT_F_WBINVD		(1u << 0)
#define FADT_F_PROC_C1		(1u << 2)
#define FADT_F_SLP_BUTTON	(1u << 5)	/* no fixed sleep button */
#define FADT_F_RTC_S4		(1u << 7)
#define FADT_F_RESET_REG_SUP	(1u << 10)
#define FADT_F_USE_PLATFORM_CLOCK (1u << 15)
#define FADT_F_APIC_CLUSTER	(1u << 18)	/* more than 8 CPUs: no flat logical mode */
#define Q35_RESET_VALUE		0x0f	/* ICH9 RST_CNT: full reset, as QEMU's q35 FADT */
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define BOOT_ARCH_8042		(1u << 1)	/* Linux's i8042 probes only with this or PNP0303 */

/* MADT entries */
#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_ISO		2
#define MADT_LAPIC_NMI		4
#define IOAPIC_ADDR		0xfec00000u
#define LAPIC_ADDR		0xfee00000u

/* Resource descriptors (ACPI 6.x, 6.4) of the PCI host bridge's _CRS. */
#define RES_WORD_ADDR	0x88
#define RES_DWORD_ADDR	0x87
#define RES_IO		0x47
#define RES_END		0x79
#define ADDR_MEM	0
#define ADDR_IO		1
#define ADDR_BUS	2
#define ADDR_FIXED	0x0c	/* producer, positive decode, min and max fixed */
#define PCI_MMIO_BASE	0xc0000000u	/* MMIO_HOLE_START */
#define PCI_MMIO_END	0xfebfffffu	/* below the IOAPIC */

static size_t res_word(uint8_t *p, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	uint16_t w[5] = { 0, min, max, 0, (uint16_t)(max - min + 1) };

	p[0] = RES_WORD_ADDR;
	p[1] = 13;
	p[2] = 0;
	p[3] = type;
	p[4] = ADDR_FIXED;
	p[5] = tflags;
	memcpy(p + 6, w, sizeof(w));
	return 16;
}

static size_t res_dword_mem(uint8_t *p, uint32_t min, uint32_t max)
{
	uint32_t d[5] = { 0, min, max, 0, max - min + 1 };

	p[0] = RES_DWORD_ADDR;
	p[1] = 23;
	p[2] = 0;
	p[3] = ADDR_MEM;
	p[4] = ADDR_FIXED;
	p[5] = 0x01;		/* read-write, non-cacheable */
	memcpy(p + 6, d, sizeof(d));
	return 26;
}

/*
 * What the root bridge decodes: bus 0-255, the config ports, all other I/O,
 * the MMIO hole from mem_base (the q35's starts lower: firmware may put BARs
 * below its ECAM window, OVMF from 2 GiB).
 */
static size_t pci0_crs(uint8_t *p, uint32_t mem_base)
{
	static const uint8_t cfg_io[] = { RES_IO, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
	size_t n = 0;

	n += res_word(p + n, ADDR_BUS, 0, 0x00, 0xff);
	memcpy(p + n, cfg_io, sizeof(cfg_io));
	n += sizeof(cfg_io);
	n += res_word(p + n, ADDR_IO, 0x03, 0x0000, 0x0cf7);
	n += res_word(p + n, ADDR_IO, 0x03, 0x0d00, 0xffff);
	n += res_dword_mem(p + n, mem_base, PCI_MMIO_END);
	p[n++] = RES_END;
	p[n++] = 0;		/* checksum 0: "treat as correct" */
	return n;
}

/*
 * _PRT: where each slot's INTA-INTD go (pci_intx_gsi), as GSIs (source
 * Zero), so the guest takes them as level-triggered, active-low IOAPIC
 * inputs. Slot 0, the host bridge, has no interrupt.
 */
static void pci0_prt(struct aml *a)
{
	unsigned int slot, pin;

	aml_name(a, "_PRT");
	aml_package(a, (PCI_MAX_SLOTS - 1) * 4);
	for (slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		for (pin = 0; pin < 4; pin++) {
			aml_package(a, 4);
			aml_integer(a, ((uint64_t)slot << 16) | 0xffff);	/* any function */
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, pci_intx_gsi(slot, pin));
			aml_close(a);
		}
	}
	aml_close(a);
}

/*
 * The i8042's keyboard (PNP0303: ports 0x60 and 0x64, IRQ 1) and mouse
 * (PNP0F13: IRQ 12), as Linux's i8042 and Windows' i8042prt look for them.
 */
static void dsdt_ps2(struct aml *a)
{
	static const uint8_t kbd_crs[] = {
		RES_IO, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01,
		RES_IO, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01,
		0x22, 0x02, 0x00,	/* IRQNoFlags: IRQ 1 */
		RES_END, 0x00,
	};
	static const uint8_t mou_crs[] = {
		0x22, 0x00, 0x10,	/* IRQNoFlags: IRQ 12 */
		RES_END, 0x00,
	};

	aml_device(a, "PS2K");
	aml_name_integer(a, "_HID", aml_eisaid("PNP0303"));
	aml_name_buffer(a, "_CRS", kbd_crs, sizeof(kbd_crs));
	aml_close(a);
	aml_device(a, "PS2M");
	aml_name_integer(a, "_HID", aml_eisaid("PNP0F13"));
	aml_name_buffer(a, "_CRS", mou_crs, sizeof(mou_crs));
	aml_close(a);
}

/* Where the MCFG and _CBA put ECAM: PCIEXBAR's place, or SeaBIOS's until firmware sets it. */
static uint64_t ecam_base(struct vm *vm)
{
	uint64_t base, size;

	q35_ecam_window(vm, &base, &size);
	return base ? base : Q35_ECAM_BASE;
}

/*
 * DSDT body: \_S5 (the SLP_TYP a poweroff writes) and \_SB.PCI0, the PCI
 * host bridge, so an ACPI guest scans bus 0 through it and routes its
 * interrupt pins.
 */
static void dsdt_body(struct vm *vm, struct aml *a)
{
	const uint64_t s5[] = { S5_SLP_TYP, S5_SLP_TYP, 0, 0 };
	bool q35 = vm_is_q35(vm->cfg);
	uint32_t mem_base = PCI_MMIO_BASE;
	uint8_t crs[128];

	if (q35)
		mem_base = MAX(vm->low_mem_top, 0x80000000ULL);
	aml_name_package(a, "_S5_", s5, 4);
	aml_scope(a, "\\_SB_");
	aml_device(a, "PCI0");
	aml_name_integer(a, "_HID", aml_eisaid(q35 ? "PNP0A08" : "PNP0A03"));
	aml_name_integer(a, "_UID", 0);
	aml_name_integer(a, "_SEG", 0);
	aml_name_integer(a, "_BBN", 0);
	if (q35)
		acpi_q35_pci0(a, ecam_base(vm));
	aml_name_buffer(a, "_CRS", crs, pci0_crs(crs, mem_base));
	pci0_prt(a);
	aml_close(a);
	dsdt_ps2(a);
	aml_close(a);
}

/*
 * The tables are built in one host buffer (the fw_cfg file etc/acpi/tables
 * under firmware) at offsets from base: base is their guest address when
 * the monitor places them itself, 0 when the firmware does. Every pointer
 * between tables goes through put_ptr and every checksum through finish,
 * which also record them for the firmware's loader when there is one.
 */
#define ACPI_TABLES_FILE	"etc/acpi/tables"
#define ACPI_RSDP_FILE		"etc/acpi/rsdp"
#define ACPI_TABLES_MAX		(ACPI_END - ACPI_START - ACPI_RSDP_SPACE)
#define ACPI_RSDP_SPACE		64	/* the RSDP, then the tables 64-byte aligned (FACS) */

struct acpi_builder {
	struct vm *vm;
	uint8_t *buf;
	uint32_t len;
	uint64_t base;
	struct bios_linker *ld;	/* NULL: no firmware */
	bool full;
};

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

/* Reserve len bytes (aligned) in the buffer; returns their offset (0 and b->full when out of room). */
static uint32_t alloc_table(struct acpi_builder *b, size_t len, size_t align)
{
	uint32_t off = ALIGN_UP(b->len, align);

	if (b->full || off + len > ACPI_TABLES_MAX) {
		b->full = true;
		return 0;
	}
	b->len = off + len;
	memset(b->buf + off, 0, len);
	return off;
}

static void *at(struct acpi_builder *b, uint32_t off)
{
	return b->buf + off;
}

/* The size-byte field at off points at the table at target. */
static void put_ptr(struct acpi_builder *b, uint32_t off, uint8_t size, uint32_t target)
{
	uint64_t v = b->base + target;

	memcpy(b->buf + off, &v, size);
	if (b->ld)
		bios_linker_add_pointer(b->ld, ACPI_TABLES_FILE, off, size, ACPI_TABLES_FILE);
}

static void fill_header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, "VMKIT ", 6);
	memcpy(h->oem_table_id, "VMKITVM ", 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, "VMKT", 4);
	h->creator_revision = 1;
}

static void finish(struct acpi_builder *b, uint32_t off)
{
	struct acpi_header *h = at(b, off);

	h->checksum = 0;
	h->checksum = checksum(h, h->length);
	if (b->ld)
		bios_linker_add_checksum(b->ld, ACPI_TABLES_FILE, off, h->length,
					 off + offsetof(struct acpi_header, checksum));
}

static uint32_t build_dsdt(struct acpi_builder *b)
{
	static struct aml a;	/* 4 KiB: off the vCPU-sized stacks */
	uint32_t len, off;

	memset(&a, 0, sizeof(a));
	dsdt_body(b->vm, &a);
	len = sizeof(struct acpi_header) + a.len;
	off = alloc_table(b, len, 16);
	if (b->full)
		return 0;
	fill_header(at(b, off), "DSDT", len, 2);
	memcpy(b->buf + off + sizeof(struct acpi_header), a.buf, a.len);
	finish(b, off);
	return off;
}

static uint32_t build_facs(struct acpi_builder *b)
{
	uint32_t off = alloc_table(b, sizeof(struct acpi_facs), 64);
	struct acpi_facs *f = at(b, off);

	if (b->full)
		return 0;
	memcpy(f->signature, "FACS", 4);
	f->length = sizeof(*f);
	f->version = 2;
	return off;
}

static struct acpi_gas io_gas(uint16_t port, uint8_t bytes)
{
	return (struct acpi_gas){
		.space_id = 1,
		.bit_width = bytes * 8,
		.access_size = bytes == 4 ? 3 : bytes == 2 ? 2 : 1,
		.address = port,
	};
}

static void fadt_fields(struct acpi_fadt *f)
{
	fill_header(&f->h, "FACP", sizeof(*f), 6);
	f->sci_int = SCI_IRQ;
	f->pm1a_evt_blk = PM1A_EVT_PORT;
	f->pm1a_cnt_blk = PM1A_CNT_PORT;
	f->pm1_evt_len = 4;
	f->pm1_cnt_len = 2;
	f->x_pm1a_evt_blk = io_gas(PM1A_EVT_PORT, 4);
	f->x_pm1a_cnt_blk = io_gas(PM1A_CNT_PORT, 2);
	f->x_pm1a_evt_blk.access_size = 2;	/* status and enable are 16-bit registers */
	f->p_lvl2_lat = 101;			/* > 100: C2 not supported */
	f->p_lvl3_lat = 1001;			/* > 1000: C3 not supported */
	f->century = 0x32;
	f->iapc_boot_arch = BOOT_ARCH_VGA_NOT_PRESENT;
	f->iapc_boot_arch |= BOOT_ARCH_8042;
	f->flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_RTC_S4 |
		   FADT_F_RESET_REG_SUP;
	f->reset_reg = io_gas(RESET_PORT, 1);
	f->reset_value = RESET_VALUE;
	f->minor_version = 0;
}

/* The PM timer at PM block + 8: the ICH9's, or the PIIX4's under firmware. */
static void fadt_pm_timer(struct acpi_fadt *f)
{
	f->pm_tmr_blk = PM1A_EVT_PORT + PM_TMR_OFFSET;
	f->pm_tmr_len = 4;
	f->x_pm_tmr_blk = io_gas(PM1A_EVT_PORT + PM_TMR_OFFSET, 4);
}

/* QEMU's q35 FADT: the PM timer at PMBASE+8, the platform clock, ICH9's reset value. */
static void fadt_q35(struct vm *vm, struct acpi_fadt *f)
{
	fadt_pm_timer(f);
	f->flags |= FADT_F_USE_PLATFORM_CLOCK;
	if (vm->nr_vcpus > 8)
		f->flags |= FADT_F_APIC_CLUSTER;
	f->reset_value = Q35_RESET_VALUE;
}

static uint32_t build_fadt(struct acpi_builder *b, uint32_t dsdt, uint32_t facs)
{
	uint32_t off = alloc_table(b, sizeof(struct acpi_fadt), 16);

	if (b->full)
		return 0;
	fadt_fields(at(b, off));
	if (vm_is_q35(b->vm->cfg))
		fadt_q35(b->vm, at(b, off));
	else if (b->vm->cfg->firmware != FIRMWARE_NONE)
		fadt_pm_timer(at(b, off));	/* vmm/hw/piix4-pm.c's */
	put_ptr(b, off + offsetof(struct acpi_fadt, firmware_ctrl), 4, facs);
	put_ptr(b, off + offsetof(struct acpi_fadt, dsdt), 4, dsdt);
	put_ptr(b, off + offsetof(struct acpi_fadt, x_dsdt), 8, dsdt);
	finish(b, off);
	return off;
}

static uint8_t *madt_entry(uint8_t **p, uint8_t type, uint8_t len)
{
	uint8_t *e = *p;

	e[0] = type;
	e[1] = len;
	*p += len;
	return e;
}

static void madt_iso(uint8_t **p, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	uint8_t *e = madt_entry(p, MADT_ISO, 10);

	e[2] = 0;	/* ISA bus */
	e[3] = irq;
	memcpy(e + 4, &gsi, 4);
	memcpy(e + 8, &flags, 2);
}

static uint32_t build_madt(struct acpi_builder *b)
{
	struct vm *vm = b->vm;
	uint32_t len = 44 + vm->nr_vcpus * 8 + 12 + 2 * 10 + 6;
	uint32_t lapic = LAPIC_ADDR, ioapic = IOAPIC_ADDR, pcat_compat = 1, gsi_base = 0;
	uint32_t off = alloc_table(b, len, 16);
	uint8_t *t, *p, *e;
	unsigned int i;

	if (b->full)
		return 0;
	t = at(b, off);
	fill_header((struct acpi_header *)t, "APIC", len, 4);
	memcpy(t + 36, &lapic, 4);
	memcpy(t + 40, &pcat_compat, 4);	/* dual 8259s present */
	p = t + 44;
	for (i = 0; i < vm->nr_vcpus; i++) {
		e = madt_entry(&p, MADT_LAPIC, 8);
		e[2] = i;				/* ACPI processor UID */
		e[3] = vm->vcpus[i].apic_id;
		e[4] = 1;				/* enabled */
	}
	e = madt_entry(&p, MADT_IOAPIC, 12);
	e[2] = 0;					/* IOAPIC id */
	memcpy(e + 4, &ioapic, 4);
	memcpy(e + 8, &gsi_base, 4);
	madt_iso(&p, 0, 2, 0);				/* PIT on IOAPIC pin 2 */
	madt_iso(&p, SCI_IRQ, SCI_IRQ, 0x000d);		/* SCI: active high, level */
	e = madt_entry(&p, MADT_LAPIC_NMI, 6);
	e[2] = 0xff;					/* all processors */
	e[5] = 1;					/* LINT1 */
	finish(b, off);
	return off;
}

/* The XSDT (entry 8 bytes) or RSDT (4 bytes) listing tables. */
static uint32_t build_sdt(struct acpi_builder *b, const char *sig, uint8_t entry,
			  const uint32_t *tables, unsigned int n)
{
	uint32_t len = sizeof(struct acpi_header) + n * entry;
	uint32_t off = alloc_table(b, len, 16);
	unsigned int i;

	if (b->full)
		return 0;
	fill_header(at(b, off), sig, len, 1);
	for (i = 0; i < n; i++)
		put_ptr(b, off + sizeof(struct acpi_header) + i * entry, entry, tables[i]);
	finish(b, off);
	return off;
}

/* The q35's ECAM window: segment 0, buses 0-255 (the firmware may shrink it later). */
static uint32_t build_mcfg(struct acpi_builder *b)
{
	uint32_t off = alloc_table(b, ACPI_MCFG_LEN, 16);
	struct acpi_mcfg_entry e = { .base = ecam_base(b->vm), .end_bus = 255 };
	uint64_t base, size;

	if (b->full)
		return 0;
	q35_ecam_window(b->vm, &base, &size);
	if (base)
		e.end_bus = (size >> 20) - 1;
	fill_header(at(b, off), "MCFG", ACPI_MCFG_LEN, 1);
	memcpy(b->buf + off + ACPI_MCFG_ENTRY_OFF, &e, sizeof(e));
	finish(b, off);
	return off;
}

/* All tables but the RSDP; *xsdt and *rsdt get their offsets. 0 or -ENOSPC. */
static int build_tables(struct acpi_builder *b, uint32_t *xsdt, uint32_t *rsdt)
{
	uint32_t dsdt, facs, tables[3];
	unsigned int n = 2;

	dsdt = build_dsdt(b);
	facs = build_facs(b);
	tables[0] = build_fadt(b, dsdt, facs);
	tables[1] = build_madt(b);
	if (vm_is_q35(b->vm->cfg))
		tables[n++] = build_mcfg(b);
	*xsdt = build_sdt(b, "XSDT", 8, tables, n);
	*rsdt = build_sdt(b, "RSDT", 4, tables, n);
	return b->full ? -ENOSPC : 0;
}

static void fill_rsdp(struct acpi_rsdp *rsdp, uint64_t xsdt, uint32_t rsdt)
{
	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, "VMKIT ", 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->rsdt_address = rsdt;
	rsdp->xsdt_address = xsdt;
	rsdp->checksum = checksum(rsdp, 20);
	rsdp->extended_checksum = checksum(rsdp, sizeof(*rsdp));
}

uint64_t x86_acpi_build(struct vm *vm)
{
	static uint8_t buf[ACPI_TABLES_MAX];
	struct acpi_builder b = { vm, buf, 0, ACPI_START + ACPI_RSDP_SPACE, NULL, false };
	uint32_t xsdt, rsdt;

	/* The RSDP first, at the start of the BIOS area, so a scan finds it at once. */
	if (build_tables(&b, &xsdt, &rsdt))
		return 0;
	memcpy(vm_gpa_to_hva(vm, b.base, b.len), buf, b.len);
	fill_rsdp(vm_gpa_to_hva(vm, ACPI_START, sizeof(struct acpi_rsdp)), b.base + xsdt,
		  b.base + rsdt);
	return ACPI_START;
}

/*
 * Under firmware: the same tables as fw_cfg files, with the script that
 * places them (tables anywhere in RAM, the RSDP in the F segment where
 * guests scan for it), links the pointers and redoes the checksums.
 */
int x86_acpi_build_fw_cfg(struct vm *vm, struct vk_err *err)
{
	_cleanup_free_ uint8_t *buf = calloc(1, ACPI_TABLES_MAX);
	struct bios_linker ld = { 0 };
	struct acpi_builder b = { vm, buf, 0, 0, &ld, false };
	struct acpi_rsdp rsdp = { 0 };
	uint32_t xsdt, rsdt;
	int r;

	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	bios_linker_alloc(&ld, ACPI_RSDP_FILE, 16, BIOS_LINKER_ZONE_FSEG);
	bios_linker_alloc(&ld, ACPI_TABLES_FILE, 64, BIOS_LINKER_ZONE_HIGH);
	r = build_tables(&b, &xsdt, &rsdt);
	fill_rsdp(&rsdp, xsdt, rsdt);
	bios_linker_add_pointer(&ld, ACPI_RSDP_FILE, offsetof(struct acpi_rsdp, rsdt_address), 4,
				ACPI_TABLES_FILE);
	bios_linker_add_pointer(&ld, ACPI_RSDP_FILE, offsetof(struct acpi_rsdp, xsdt_address), 8,
				ACPI_TABLES_FILE);
	bios_linker_add_checksum(&ld, ACPI_RSDP_FILE, 0, 20, offsetof(struct acpi_rsdp, checksum));
	bios_linker_add_checksum(&ld, ACPI_RSDP_FILE, 0, sizeof(rsdp),
				 offsetof(struct acpi_rsdp, extended_checksum));
	r = r ? r : ld.error;
	if (!r)
		r = fw_cfg_add_file(vm, ACPI_TABLES_FILE, buf, b.len);
	if (!r)
		r = fw_cfg_add_file(vm, ACPI_RSDP_FILE, &rsdp, sizeof(rsdp));
	if (!r)
		r = fw_cfg_add_file(vm, "etc/table-loader", ld.e, ld.nr * sizeof(*ld.e));
	bios_linker_free(&ld);
	if (r)
		return vk_fail(err, r, "ACPI tables for the firmware: %s", strerror(-r));
	return 0;
}
