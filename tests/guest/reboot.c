/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reboot: prints "VMKIT-INFO boot" and resets the machine: keyboard
 * controller (0xFE to port 0x64), then the PCI reset control register (0xCF9),
 * then the ACPI FADT reset register. Still alive after all three: FAIL.
 */
#include "lib/rt.h"

RT_TEST("reboot");

void guest_main(struct hvm_start_info *si)
{
	rt_info("boot");

	/* i8042: wait for the input buffer to drain (bit 1), pulse reset.
	 * 0xff is what an absent controller reads as: then do not wait for it. */
	uint8_t st = 0xff;
	for (int i = 0; i < 10000; i++) {
		st = inb(0x64);
		if (!(st & 0x02) || st == 0xff)
			break;
	}
	outb(0x64, 0xfe);
	if (st != 0xff)
		rt_settle();

	/* Reset control register: full reset (bit 2 = do it, bit 1 = hard). */
	uint8_t rcr = inb(0xcf9);
	outb(0xcf9, 0x06);
	if (rcr != 0xff)
		rt_settle();

	/* HW-reduced machines (QEMU microvm): the FADT reset register. */
	acpi_reset();
	rt_fail("still running after keyboard controller, 0xCF9 and ACPI reset");
}
