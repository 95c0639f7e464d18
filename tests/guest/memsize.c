/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memsize: sums the RAM (type 1) entries of the PVH memory map, reports
 * ram_bytes and ram_top, and writes/reads back a word near the top of the
 * largest RAM region.
 */
#include "lib/rt.h"

RT_TEST("memsize");

/* Make sure pa is mapped: the runtime maps [0, 4 GiB); above that add one 2 MiB page. */
static uint64_t high_pd[512] __attribute__((aligned(4096)));

static bool map_high(uint64_t pa)
{
	if (pa < (4ull << 30))
		return true;
	if (pa >= (512ull << 30))
		return false;
	rt_pdpt[pa >> 30] = (uintptr_t)high_pd | 0x7;			/* P RW US */
	high_pd[(pa >> 21) & 511] = (pa & ~((2ull << 20) - 1)) | 0x87;	/* + PS */
	__asm__ volatile("invlpg (%0)" :: "r"(pa) : "memory");
	return true;
}

void guest_main(struct hvm_start_info *si)
{
	const struct hvm_memmap_entry *mm;
	unsigned n = rt_memmap(&mm);
	uint64_t total = 0, top = 0, best_addr = 0, best_size = 0;

	if (!n)
		rt_fail("no memory map in hvm_start_info (version %u)", si->version);

	for (unsigned i = 0; i < n; i++) {
		rt_info("e820_%u=%#lx+%#lx,type=%u", i, mm[i].addr, mm[i].size, mm[i].type);
		if (mm[i].type != E820_RAM)
			continue;
		total += mm[i].size;
		if (mm[i].addr + mm[i].size > top)
			top = mm[i].addr + mm[i].size;
		if (mm[i].size > best_size) {
			best_size = mm[i].size;
			best_addr = mm[i].addr;
		}
	}
	rt_info("ram_bytes=%lu", total);
	rt_info("ram_top=%#lx", top);
	if (!total)
		rt_fail("no RAM in the memory map");

	uint64_t pa = (best_addr + best_size - 64) & ~7ull;
	if (!map_high(pa))
		rt_fail("cannot map %#lx", pa);
	volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)pa;
	const uint64_t pattern = 0x5a5aa5a5c3c33c3cull ^ pa;
	uint64_t old = *w;
	*w = pattern;
	uint64_t got = *w;
	*w = ~pattern;
	uint64_t got2 = *w;
	*w = old;
	rt_info("touched=%#lx", pa);
	if (got != pattern || got2 != ~pattern)
		rt_fail("word at %#lx reads back %#lx/%#lx, wrote %#lx/%#lx", pa, got, got2,
			pattern, ~pattern);
	rt_pass();
}
