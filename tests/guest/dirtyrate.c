/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dirtyrate: writes guest RAM at a set rate, for bench/migrate.py's
 * "dirtying N MiB/s" runs: one word in each 4 KiB page of size= MiB (from
 * 16 MiB), page after page, round after round, at CPL3, paced by the TSC
 * (calibrated against 100 ms of the PIT) so that rate= MiB of pages are
 * written each second. Says "dirtyrate_boot", "tsc_khz=", then "round=N"
 * after each pass.
 *
 * Command line: rate=<MiB/s> (default 64; 0: as fast as it can),
 * size=<MiB> (default 256), tsc_khz=<kHz> (instead of the PIT, which
 * QEMU's microvm does not give this guest: bench/migrate.py passes the
 * rate measured under vmkit on the same host).
 */
#include "lib/rt.h"
#include "lib/vblk.h"

RT_TEST("dirtyrate");

#define START	(16ul << 20)
#define MiB	(1ul << 20)

static uint64_t tsc_khz, rate_mib = 64, size_mib = 256;

static uint64_t user_dirty(void *arg)
{
	uint64_t t0 = rdtsc(), written = 0;

	(void)arg;
	for (uint64_t round = 1;; round++) {
		for (uint64_t pa = START; pa < START + size_mib * MiB; pa += 4096) {
			*(volatile uint64_t *)(uintptr_t)pa = round ^ pa;
			written += 4096;
			/* Every MiB: wait until it is due at the rate. */
			if (rate_mib && !(written % MiB))
				while (rdtsc() - t0 < written / MiB * tsc_khz * 1000 / rate_mib)
					cpu_relax();
		}
		rt_info("round=%lu", round);
	}
	return 0;
}

void guest_main(struct hvm_start_info *si)
{
	const char *v;
	uint64_t t0;

	rt_info("dirtyrate_boot");
	if ((v = vblk_cmdline_arg(si, "rate=")))
		rate_mib = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "size=")))
		size_mib = vblk_parse_u64(v);
	if (!size_mib || size_mib > 4096)
		rt_fail("size=%lu: 1 to 4096 MiB", size_mib);
	if ((v = vblk_cmdline_arg(si, "tsc_khz="))) {
		tsc_khz = vblk_parse_u64(v);
	} else {
		t0 = rdtsc();
		if (!pit_delay_us(100000))
			rt_fail("the PIT does not count: no time base (give tsc_khz=)");
		tsc_khz = (rdtsc() - t0) / 100;
	}
	if (!tsc_khz)
		rt_fail("tsc_khz=0");
	rt_info("tsc_khz=%lu", tsc_khz);
	if (cpl3_call(user_dirty, NULL))
		rt_fail("%s", rt_why);
	rt_fail("the loop returned");
}
