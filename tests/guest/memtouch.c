/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memtouch: writes one word in every 4 KiB page of RAM from 4 MiB up to the
 * end of the largest RAM region below 4 GiB, at CPL3 (native speed on PVM
 * hosts), twice: the first pass pays the host's page faults (4 KiB pages,
 * hugetlb pages, THP), the second only the TLB. Reports both in TSC cycles
 * (touch1_tsc, touch2_tsc) and prints "VMKIT-INFO phase=..." lines around
 * them so a host can time them on the wall clock. For bench/memback.py.
 */
#include "lib/rt.h"

RT_TEST("memtouch");

#define START (4ul << 20)

struct range { uint64_t lo, hi, sum; };

static uint64_t user_touch(void *arg)
{
	struct range *r = arg;
	uint64_t t0 = rdtsc();

	for (uint64_t pa = r->lo; pa < r->hi; pa += 4096) {
		volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)pa;

		*w = pa;
	}
	return rdtsc() - t0;
}

static uint64_t user_check(void *arg)
{
	struct range *r = arg;
	uint64_t bad = 0;

	for (uint64_t pa = r->lo; pa < r->hi; pa += 4096)
		bad += *(volatile uint64_t *)(uintptr_t)pa != pa;
	return bad;
}

void guest_main(struct hvm_start_info *si)
{
	const struct hvm_memmap_entry *mm;
	unsigned n = rt_memmap(&mm);
	struct range r = { START, 0, 0 };
	uint64_t t1, t2, t3, bad;

	for (unsigned i = 0; i < n; i++) {
		uint64_t end = mm[i].addr + mm[i].size;

		if (mm[i].type == E820_RAM && mm[i].addr <= START && end > r.hi)
			r.hi = end < (4ul << 30) ? end : (4ul << 30);
	}
	if (r.hi <= START)
		rt_fail("no RAM above 4 MiB");
	rt_info("touch_mib=%lu", (r.hi - r.lo) >> 20);
	rt_info("phase=touch1");
	t1 = cpl3_call(user_touch, &r);
	rt_info("phase=touch2");
	t2 = cpl3_call(user_touch, &r);
	rt_info("phase=done");
	t3 = rdtsc();
	bad = cpl3_call(user_check, &r);
	rt_info("touch1_tsc=%lu", t1);
	rt_info("touch2_tsc=%lu", t2);
	rt_info("check_tsc=%lu", rdtsc() - t3);
	if (bad)
		rt_fail("%lu pages lost their word", bad);
	rt_pass();
}
