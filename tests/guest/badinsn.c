/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * badinsn: executes at CPL0 an instruction neither a PVM host's emulator
 * nor the monitor completes (cmpxchg16b). On PVM hosts the monitor must
 * stop with exit 1 and one line naming RIP and the bytes; on other hosts
 * the instruction simply runs and the guest reports PASS.
 */
#include "lib/rt.h"

RT_TEST("badinsn");

static uint64_t pair[2] __attribute__((aligned(16)));

void guest_main(struct hvm_start_info *si)
{
	uint64_t lo = 0, hi = 0;

	rt_info("about-to-run=cmpxchg16b");
	__asm__ volatile("lock cmpxchg16b %0" : "+m"(*(unsigned __int128 *)pair), "+a"(lo), "+d"(hi)
			 : "b"(1ULL), "c"(2ULL) : "cc", "memory");
	rt_pass();
}
