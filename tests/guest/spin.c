/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spin: counts forever at CPL3 in the 64-bit word at guest-physical
 * SPIN_COUNTER_GPA, so a test on the host can watch the guest make progress
 * (or not, while the VM is paused). Never powers off by itself.
 */
#include "lib/rt.h"

RT_TEST("spin");

#define SPIN_COUNTER_GPA 0x200000ul

static uint64_t user_spin(void *arg)
{
	volatile uint64_t *counter = (volatile uint64_t *)SPIN_COUNTER_GPA;

	for (;;)
		(*counter)++;
	return 0;
}

void guest_main(struct hvm_start_info *si)
{
	rt_info("spin_counter=%lx", SPIN_COUNTER_GPA);
	cpl3_call(user_spin, NULL);
}
