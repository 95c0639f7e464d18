/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dirtier: writes every 4 KiB page of 32 MiB (from 8 MiB) round after round
 * at CPL3, as fast as the host lets it, for live migration's tests
 * (tests/guest/test_migrate.py). Each write first checks that the page
 * still holds what the round before wrote: a page a migration left stale
 * or torn on the destination shows as "stale=N" and the VM stops with a
 * failure. Says "dirtier_boot" once and "round=N" every 4 rounds.
 */
#include "lib/rt.h"

RT_TEST("dirtier");

#define START (8ul << 20)
#define SIZE (32ul << 20)

static uint64_t value(uint64_t round, uint64_t pa)
{
	return round ? (round * 0x9e3779b97f4a7c15ul) ^ pa : 0;
}

static uint64_t user_dirty(void *arg)
{
	for (uint64_t round = 1;; round++) {
		uint64_t stale = 0;

		for (uint64_t pa = START; pa < START + SIZE; pa += 4096) {
			volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)pa;

			stale += w[0] != value(round - 1, pa) || w[511] != value(round - 1, pa);
			w[0] = value(round, pa);
			w[511] = value(round, pa);
		}
		if (stale) {
			rt_failf("stale=%lu in round %lu", stale, round);
			return stale;
		}
		if (!(round % 4))
			rt_info("round=%lu", round);
	}
	return 0;
}

void guest_main(struct hvm_start_info *si)
{
	rt_info("dirtier_boot");
	if (cpl3_call(user_dirty, NULL))
		rt_fail("%s", rt_why);
	rt_fail("the loop returned");
}
