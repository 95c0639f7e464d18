/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ioports: unknown I/O ports read as all ones and swallow writes; the PCI
 * configuration mechanism #1 address latch (0xCF8) reads back, bus 0 device 0
 * function 0 has a vendor, and a device that does not exist reads all ones.
 * A machine without PCI (0xCF8 does not latch) is reported and tolerated.
 */
#include "lib/rt.h"

RT_TEST("ioports");

static const uint16_t unknown_ports[] = { 0x2000, 0x9000, 0xe000 };

static uint32_t pci_cfg_read32(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	outl(0xcf8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc));
	return inl(0xcfc);
}

void guest_main(struct hvm_start_info *si)
{
	unsigned bad = 0;

	for (unsigned i = 0; i < sizeof(unknown_ports) / sizeof(unknown_ports[0]); i++) {
		uint16_t p = unknown_ports[i];
		uint8_t b;
		uint16_t w;
		uint32_t l;

		outb(p, 0x5a);
		outw(p, 0xa55a);
		outl(p, 0xdeadbeef);
		b = inb(p);
		w = inw(p);
		l = inl(p);
		if (b != 0xff || w != 0xffff || l != 0xffffffff) {
			rt_info("port_%#x=%#x/%#x/%#x", p, b, w, l);
			bad++;
		}
	}
	if (bad)
		rt_fail("%u unknown port(s) did not read as all ones", bad);
	rt_info("unknown_ports=ok");

	/* PCI configuration mechanism #1 */
	uint32_t saved = inl(0xcf8);
	outl(0xcf8, 0x80000000u);
	uint32_t latch = inl(0xcf8);
	rt_info("pci_cf8=%#x", latch);
	if (latch != 0x80000000u) {
		outl(0xcf8, saved);
		rt_info("pci=absent");
		rt_pass();
	}

	uint32_t id = pci_cfg_read32(0, 0, 0, 0);
	rt_info("pci00=%04x:%04x", id & 0xffff, id >> 16);
	if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0)
		rt_fail("no host bridge at 00:00.0 (id %#x)", id);

	uint32_t none = pci_cfg_read32(0, 0x17, 0, 0);
	uint32_t none2 = pci_cfg_read32(0xfe, 0x1f, 7, 0);
	rt_info("pci_absent=%#x,%#x", none, none2);
	if (none != 0xffffffffu || none2 != 0xffffffffu)
		rt_fail("absent PCI device reads %#x/%#x, want 0xffffffff", none, none2);

	/* Writes to a missing function's config space are dropped. */
	outl(0xcf8, 0x80000000u | 0x17 << 11 | 0x04);
	outl(0xcfc, 0x7);
	if (pci_cfg_read32(0, 0x17, 0, 0) != 0xffffffffu)
		rt_fail("absent PCI device came alive after a config write");
	outl(0xcf8, 0);
	rt_pass();
}
