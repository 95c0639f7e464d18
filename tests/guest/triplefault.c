/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * triplefault: an empty IDT (limit 0) and a ud2: the #UD cannot be delivered
 * (#GP), nor can the #GP (#DF), nor the #DF: shutdown. The monitor is expected
 * to report a triple fault with a register dump and exit 1.
 */
#include "lib/rt.h"

RT_TEST("triplefault");

void guest_main(struct hvm_start_info *si)
{
	static const struct rt_dtr empty = { 0, 0 };

	rt_info("about-to-fault");
	__asm__ volatile("lidt %0\n\tud2" :: "m"(empty));
	rt_fail("still running after ud2 with an empty IDT");
}
