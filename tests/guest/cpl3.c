/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cpl3: runs a 100,000,000-iteration dec/jnz loop at CPL3 through cpl3_call()
 * and times it with rdtsc, then writes to the serial port from CPL3 (IOPL=3,
 * and the TSS I/O bitmap for hosts that do not honour IOPL at CPL3).
 */
#include "lib/rt.h"

RT_TEST("cpl3");

#define LOOPS 100000000ul

static uint64_t loop_tsc;
static unsigned loop_cpl;

static uint64_t user_loop(void *arg)
{
	uint64_t n = (uint64_t)(uintptr_t)arg;
	uint64_t t0, t1;

	loop_cpl = current_cpl();
	t0 = rdtsc();
	__asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n) :: "cc");
	t1 = rdtsc();
	loop_tsc = t1 - t0;
	return n;
}

static unsigned user_iopl;

static uint64_t user_out(void *arg)
{
	uint64_t fl;

	__asm__ volatile("pushfq\n\tpopq %0" : "=r"(fl));
	user_iopl = (fl >> 12) & 3;
	/* Through the runtime's helpers: in (LSR) and out (THR) at CPL3. */
	rt_info("cpl3_out=cpl%u", current_cpl());
	return current_cpl();
}

void guest_main(struct hvm_start_info *si)
{
	uint64_t left = cpl3_call(user_loop, (void *)(uintptr_t)LOOPS);

	if (loop_cpl != 3)
		rt_fail("loop ran at CPL%u", loop_cpl);
	if (left != 0)
		rt_fail("loop returned %lu", left);
	rt_info("cpl3_loop_iterations=%lu", LOOPS);
	rt_info("cpl3_loop_tsc=%lu", loop_tsc);

	uint64_t cpl = cpl3_call(user_out, NULL);
	if (cpl != 3)
		rt_fail("serial write ran at CPL%lu", cpl);
	if (current_cpl() != 0)
		rt_fail("back at CPL%u after cpl3_call", current_cpl());
	/*
	 * cpl3_call() enters CPL3 with IOPL=3. A host that runs guest CPL3 code
	 * natively without virtualizing IOPL (PVM) shows 0 here; the TSS I/O
	 * bitmap is what lets the out above through then.
	 */
	rt_info("cpl3_iopl=%u", user_iopl);
	rt_pass();
}
