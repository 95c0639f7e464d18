/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hello: the first thing anyone boots. Prints PASS and powers off. */
#include "lib/rt.h"

RT_TEST("hello");

void guest_main(struct hvm_start_info *si)
{
	if (!si || si->magic != HVM_START_MAGIC)
		rt_fail("bad hvm_start_info magic %#x", si ? si->magic : 0);
	rt_pass();
}
