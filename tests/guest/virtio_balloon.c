/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_balloon: a balloon driver that follows the host's num_pages.
 *
 * It writes every page of a pool (RAM from POOL_START to the top of the
 * first RAM region), so the host has to back them, then polls num_pages:
 * when the host asks for more it gives pages from the top of the pool on
 * the inflate queue (their frame numbers, le32) and raises `actual`; when
 * it asks for fewer it takes the most recent back on the deflate queue,
 * and checks what they hold: the host freed them, so they read as zero
 * where the guest had written each page's frame number before.
 *
 * Statistics: one buffer of (tag, value) pairs on the stats queue, refilled
 * and given again each time the device returns it.
 *
 * Runs at CPL3 and never powers off: the test stops it (quit over QMP).
 * First it inflates frame numbers that are not RAM, which the device must
 * ignore. Lines: balloon_pages=N after each change (deflated_zero=N before
 * it), stats_sent=N.
 */
#include "lib/rt.h"
#include "lib/virtio.h"

RT_TEST("virtio_balloon");

#define VIRTIO_ID_BALLOON	5
#define F_STATS_VQ		1
#define F_DEFLATE_ON_OOM	2
#define CFG_NUM_PAGES		0
#define CFG_ACTUAL		4

#define POOL_START		(32ull << 20)
#define PAGE			4096ull
#define BATCH			256	/* frame numbers per request */

enum { S_MAJFLT = 2, S_MINFLT = 3, S_MEMFREE = 4, S_MEMTOT = 5, S_AVAIL = 6 };

struct __attribute__((packed)) stat {
	uint16_t tag;
	uint64_t val;
};

static struct virtio_pci vp;
static struct virtq inflateq, deflateq, statsq;
static uint32_t pfns[BATCH] __attribute__((aligned(4096)));
static struct stat stats[5] __attribute__((aligned(64)));
static uint64_t pool_first_pfn, pool_pages, ram_bytes;
static uint64_t inflated, stats_sent, polls;

static bool find_pool(void)
{
	const struct hvm_memmap_entry *m;
	unsigned n = rt_memmap(&m);

	for (unsigned i = 0; i < n; i++) {
		if (m[i].type != E820_RAM)
			continue;
		ram_bytes += m[i].size;
		if (m[i].addr <= POOL_START && m[i].addr + m[i].size > POOL_START + PAGE &&
		    !pool_pages) {
			pool_first_pfn = POOL_START / PAGE;
			pool_pages = (m[i].addr + m[i].size - POOL_START) / PAGE;
		}
	}
	if (!pool_pages)
		return rt_failf("no RAM region reaches past %llu MiB", POOL_START >> 20);
	return true;
}

static bool give_stats(void)
{
	struct virtq_buf b = { (uint64_t)stats, sizeof(stats), false };
	uint64_t free = (pool_pages - inflated) * PAGE;

	stats[0] = (struct stat){ S_MEMFREE, free };
	stats[1] = (struct stat){ S_MEMTOT, ram_bytes };
	stats[2] = (struct stat){ S_AVAIL, free };
	stats[3] = (struct stat){ S_MINFLT, polls };
	stats[4] = (struct stat){ S_MAJFLT, 0 };
	if (virtq_add(&statsq, &b, 1, false) < 0)
		return rt_failf("stats: %s", virtio_error);
	virtq_kick(&statsq);
	stats_sent++;
	return true;
}

static bool setup(void)
{
	struct pci_dev d;

	if (!pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_BALLOON), 0, &d))
		return rt_failf("no virtio-balloon device");
	if (!virtio_pci_probe(&vp, &d) || !vp.device)
		return rt_failf("probe: %s", virtio_error);
	if (!virtio_init(&vp, VIRTIO_BIT(F_STATS_VQ) | VIRTIO_BIT(F_DEFLATE_ON_OOM)))
		return rt_failf("init: %s", virtio_error);
	rt_info("stats_vq=%d deflate_on_oom=%d", virtio_has(&vp, F_STATS_VQ),
		virtio_has(&vp, F_DEFLATE_ON_OOM));
	if (!virtio_has(&vp, F_STATS_VQ))
		return rt_failf("the device does not offer VIRTIO_BALLOON_F_STATS_VQ");
	if (!virtq_setup(&inflateq, &vp, 0, 64) || !virtq_setup(&deflateq, &vp, 1, 64) ||
	    !virtq_setup(&statsq, &vp, 2, 64))
		return rt_failf("queues: %s", virtio_error);
	if (!virtio_driver_ok(&vp))
		return rt_failf("driver_ok: %s", virtio_error);
	return give_stats();
}

/* Write each pool page's frame number into it: the host must back every page. */
static void touch_pool(void)
{
	for (uint64_t i = 0; i < pool_pages; i++)
		*(volatile uint64_t *)((pool_first_pfn + i) * PAGE) = pool_first_pfn + i;
}

/* Page i of the balloon: the pool is given from its top down. */
static uint32_t balloon_pfn(uint64_t i)
{
	return pool_first_pfn + pool_pages - 1 - i;
}

static bool send(struct virtq *q, unsigned n)
{
	struct virtq_buf b = { (uint64_t)pfns, n * 4, false };
	uint32_t len;
	int r = virtq_submit(q, &b, 1, false, &len, VIRTIO_TIMEOUT_US);

	if (r)
		return rt_failf("%s: %s", q == &inflateq ? "inflate" : "deflate", virtio_error);
	return true;
}

/*
 * Frames that are not RAM (beyond 4 GiB with little RAM, the MMIO hole, the
 * last frame number there is, a run off the end of RAM): the device must
 * skip them and carry on. (The run's first two frames are RAM of the pool,
 * written again before use.)
 */
static bool hostile_inflate(void)
{
	pfns[0] = 0xffffffffu;
	pfns[1] = 0xc0000;			/* 3 GiB: the PCI hole */
	pfns[2] = ram_bytes / PAGE + 0x100000;	/* far past the end of RAM */
	pfns[3] = 0xfee00;			/* the local APIC */
	/* A run of frames that starts in RAM and runs off its end. */
	for (unsigned i = 0; i < 4; i++)
		pfns[4 + i] = pool_first_pfn + pool_pages - 2 + i;
	if (!send(&inflateq, 8))
		return false;
	rt_info("hostile_inflate=done");
	return true;
}

static bool inflate(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pfns[i] = balloon_pfn(inflated + i);
	if (!send(&inflateq, n))
		return false;
	inflated += n;
	return true;
}

static uint64_t zero;		/* deflated pages that came back zeroed */

static bool deflate(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pfns[i] = balloon_pfn(inflated - 1 - i);
	if (!send(&deflateq, n))
		return false;
	inflated -= n;
	for (unsigned i = 0; i < n; i++) {
		volatile uint64_t *p = (volatile uint64_t *)((uint64_t)pfns[i] * PAGE);

		zero += *p == 0;
		*p = pfns[i];		/* ours again */
	}
	return true;
}

/* One step towards the host's target; true while work remains. */
static bool follow(uint64_t target, bool *busy)
{
	uint64_t want = target < pool_pages ? target : pool_pages;

	*busy = want != inflated;
	if (want > inflated)
		return inflate(want - inflated < BATCH ? want - inflated : BATCH);
	if (want < inflated)
		return deflate(inflated - want < BATCH ? inflated - want : BATCH);
	return true;
}

static uint64_t run(void *arg)
{
	uint64_t reported = ~0ull, next;
	uint32_t id, len;
	bool busy;

	touch_pool();
	rt_info("pool_pages=%llu", (unsigned long long)pool_pages);
	for (;;) {
		polls++;
		if (!follow(virtio_cfg_read32(&vp, CFG_NUM_PAGES), &busy))
			return 0;
		if (inflated != reported) {
			mmio_write32(vp.device + CFG_ACTUAL, inflated);
			if (!busy) {
				rt_info("deflated_zero=%llu", (unsigned long long)zero);
				rt_info("balloon_pages=%llu", (unsigned long long)inflated);
				reported = inflated;
			}
		}
		if (statsq.used->idx != statsq.used_idx) {
			if (virtq_get(&statsq, 0, &id, &len))
				return rt_failf("stats: %s", virtio_error);
			if (!give_stats())
				return 0;
			rt_info("stats_sent=%llu", (unsigned long long)stats_sent);
		}
		if (busy)
			continue;
		for (next = virtio_now_us() + 5000; virtio_now_us() < next;)
			cpu_relax();
	}
}

void guest_main(struct hvm_start_info *si)
{
	if (!find_pool() || !setup() || !hostile_inflate())
		rt_fail("%s", rt_why);
	virtio_now_us();	/* calibrate at CPL0 */
	rt_info("ready=1");
	cpl3_call(run, NULL);
	rt_fail("%s", rt_why);
}
