/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * counter: says "counter_boot" once, then counts in memory at CPL3 for
 * ever, printing the count every 2^22 increments. Saved and restored
 * (tests/guest/test_savestate.py), it must go on from where it was: the
 * counts keep rising and counter_boot does not come again.
 */
#include "lib/rt.h"

RT_TEST("counter");

static volatile uint64_t count;

static uint64_t user_count(void *arg)
{
	for (;;) {
		count++;
		if (!(count & ((1ul << 22) - 1)))
			rt_info("count=%lu", count);
	}
	return 0;
}

void guest_main(struct hvm_start_info *si)
{
	rt_info("counter_boot");
	cpl3_call(user_count, NULL);
	rt_fail("the counting loop returned");
}
