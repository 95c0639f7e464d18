/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pit: the PIT's very first access is a control word (channel 2, LSB then
 * MSB, mode 0). vmkit creates the in-kernel PIT on that access and must
 * replay it, or the two count bytes that follow land wrongly and the delay
 * comes out wrong. Times a 20 ms one-shot with the TSC; the test converts.
 */
#include "lib/rt.h"

RT_TEST("pit");

#define PIT_HZ 1193182u

static uint64_t one_shot(uint32_t ms, bool first)
{
	uint32_t count = (uint32_t)((uint64_t)ms * PIT_HZ / 1000);
	uint64_t t0, polls = 0;
	uint8_t p61;

	/* Gate off first, unless this is the very first access (it must be the control word). */
	if (!first)
		outb(0x61, inb(0x61) & ~0x03);
	outb(0x43, 0xb0);		/* channel 2, LSB/MSB, mode 0, binary */
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	p61 = inb(0x61);
	t0 = rdtsc();
	outb(0x61, (p61 & ~0x02) | 0x01);	/* gate 2 on: counting starts */
	while (!(inb(0x61) & 0x20))
		if (++polls > 100000000)
			return 0;
	return rdtsc() - t0;
}

void guest_main(struct hvm_start_info *si)
{
	uint64_t a = one_shot(20, true);
	uint64_t b = one_shot(20, false);

	if (!a || !b)
		rt_fail("OUT2 never went high");
	rt_info("first_tsc=%lu", a);
	rt_info("second_tsc=%lu", b);
	rt_pass();
}
