/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_blkbench: drives the first virtio-blk disk with the polling driver
 * at CPL3 (no interrupts: completions are found by polling the used ring)
 * and reports throughput, for bench/blk.sh. Tests, each for secs= seconds
 * (rdtsc), with qd requests kept in flight (refilled as they complete, one
 * notification per batch of refills, EVENT_IDX negotiated when offered):
 *
 *   randread      4 KiB random reads, queue depth 32 (qd=)
 *   randwrite     4 KiB random writes, queue depth 32
 *   seqread       1 MiB sequential reads, queue depth 4 (seqqd=)
 *   seqwrite      1 MiB sequential writes, queue depth 4
 *   randread_qd1  4 KiB random reads, one at a time (latency)
 *   randwrite_qd1 4 KiB random writes, one at a time (latency)
 *
 * Random offsets are 4 KiB aligned, uniform over the whole disk (or the
 * first span= MiB); sequential ones start at sector 0 and wrap at the end.
 *
 * Command line: secs=<n> (default 2), tests=<name,name...> (default all
 * six), qd=<n>, seqqd=<n>, seqbs=<KiB> (the sequential tests' request
 * size, 4-1024, default 1024), span=<MiB>, seed=<n>.
 *
 * Output per test <t>: <t>_ops=, <t>_bytes=, <t>_cycles= (TSC cycles from
 * the first submission to the last completion), <t>_iops=, <t>_mbps=
 * (MiB/s), <t>_lat_us= (mean time a request is in flight), <t>_notifies=
 * (notify writes, each an exit to the monitor); and tsc_khz= (rdtsc
 * against 100 ms of PIT channel 2), which the two rates use. The host may
 * recompute them from the cycles with its own TSC frequency.
 */
#include "lib/rt.h"
#include "lib/vblk.h"

RT_TEST("virtio_blkbench");

#define KiB		1024u
#define MiB		(1024u * 1024u)
#define RAND_BS		(4 * KiB)
#define SEQ_BS		(1 * MiB)
#define MAX_QD		64
#define MAX_SEQ_QD	8

#define NOINIT(s) __attribute__((section(".noinit.bench" s), aligned(4096)))
static uint8_t small_bufs[MAX_QD][RAND_BS] NOINIT("s");
static uint8_t big_bufs[MAX_SEQ_QD][SEQ_BS] NOINIT("b");
static struct vblk_req reqs[MAX_QD] __attribute__((aligned(64)));
static struct vblk disk;
static uint64_t tsc_khz;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

struct test {
	const char *name;
	uint32_t type;
	uint32_t bs;
	bool random;
	bool big;		/* uses the 1 MiB buffers */
	unsigned qd;
};

static struct test tests[] = {
	{ "randread", VIRTIO_BLK_T_IN, RAND_BS, true, false, 32 },
	{ "randwrite", VIRTIO_BLK_T_OUT, RAND_BS, true, false, 32 },
	{ "seqread", VIRTIO_BLK_T_IN, SEQ_BS, false, true, 4 },
	{ "seqwrite", VIRTIO_BLK_T_OUT, SEQ_BS, false, true, 4 },
	{ "randread_qd1", VIRTIO_BLK_T_IN, RAND_BS, true, false, 1 },
	{ "randwrite_qd1", VIRTIO_BLK_T_OUT, RAND_BS, true, false, 1 },
};
#define NTESTS (sizeof(tests) / sizeof(tests[0]))

static uint64_t span_sectors;
static uint64_t seq_pos;

static uint64_t next_sector(const struct test *t)
{
	uint64_t per = t->bs / VBLK_SECTOR, blocks = span_sectors / per, s;

	if (t->random)
		return rng() % blocks * per;
	s = seq_pos * per;
	seq_pos = (seq_pos + 1) % blocks;
	return s;
}

static void *buf_of(const struct test *t, unsigned slot)
{
	return t->big ? (void *)big_bufs[slot] : (void *)small_bufs[slot];
}

static bool run_test(const struct test *t, uint64_t secs)
{
	uint64_t issued = 0, done = 0, t0, t1, deadline, notifies0 = disk.vq.notifies;
	struct vblk_req *r;

	seq_pos = 0;
	t0 = rdtsc();
	deadline = t0 + secs * tsc_khz * 1000;
	for (unsigned i = 0; i < t->qd; i++) {
		if (vblk_add(&disk, &reqs[i], t->type, next_sector(t), buf_of(t, i), t->bs) < 0)
			return rt_failf("%s: %s", t->name, vblk_error);
		issued++;
	}
	vblk_kick(&disk);
	while (done < issued) {
		int e = vblk_get(&disk, VIRTIO_TIMEOUT_US, &r);

		if (e)
			return rt_failf("%s after %lu requests: %s", t->name, done, vblk_error);
		done++;
		if (rdtsc() < deadline) {
			unsigned slot = r - reqs;

			if (vblk_add(&disk, r, t->type, next_sector(t), buf_of(t, slot), t->bs) < 0)
				return rt_failf("%s: %s", t->name, vblk_error);
			issued++;
		}
		/* Refill everything that has completed, then one notification. */
		if (!vblk_pending(&disk))
			vblk_kick(&disk);
	}
	t1 = rdtsc();

	uint64_t cyc = t1 - t0, bytes = done * t->bs;
	uint64_t hz = tsc_khz * 1000;
	uint64_t iops = done * hz / cyc;
	/* MiB/s with two decimals */
	/* No 128-bit division here (no libgcc): KiB first, then kHz. */
	uint64_t mbps100 = bytes / KiB * 100 * tsc_khz / cyc * 1000 / KiB;
	uint64_t lat_ns = cyc * t->qd * 1000000 / tsc_khz / done;

	rt_info("%s_ops=%lu", t->name, done);
	rt_info("%s_bytes=%lu", t->name, bytes);
	rt_info("%s_cycles=%lu", t->name, cyc);
	rt_info("%s_iops=%lu", t->name, iops);
	rt_info("%s_mbps=%lu.%02lu", t->name, mbps100 / 100, mbps100 % 100);
	rt_info("%s_lat_us=%lu.%03lu", t->name, lat_ns / 1000, lat_ns % 1000);
	rt_info("%s_notifies=%lu", t->name, disk.vq.notifies - notifies0);
	return true;
}

/* Is name in the comma-separated list at p (ending at a space or NUL)? */
static bool listed(const char *p, const char *name)
{
	size_t n = strlen(name);

	while (*p && *p != ' ') {
		const char *e = p;

		while (*e && *e != ' ' && *e != ',')
			e++;
		if ((size_t)(e - p) == n && !memcmp(p, name, n))
			return true;
		p = *e == ',' ? e + 1 : e;
	}
	return false;
}

static uint64_t run(void *arg)
{
	struct hvm_start_info *si = arg;
	const char *v, *only = vblk_cmdline_arg(si, "tests=");
	uint64_t secs = 2, span_mib = 0, t0;
	unsigned qd = 32, seqqd = 4;

	if ((v = vblk_cmdline_arg(si, "secs=")))
		secs = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "qd=")))
		qd = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "seqqd=")))
		seqqd = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "seqbs="))) {
		uint64_t kib = vblk_parse_u64(v);

		if (kib < 4 || kib > SEQ_BS / KiB || (kib & 3))
			return rt_failf("seqbs=%lu: want 4..%u KiB, a multiple of 4", kib, SEQ_BS / KiB);
		tests[2].bs = tests[3].bs = kib * KiB;
	}
	if ((v = vblk_cmdline_arg(si, "span=")))
		span_mib = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "seed=")))
		rng_state = vblk_parse_u64(v) | 1;
	if (!secs || !qd || qd > MAX_QD || !seqqd || seqqd > MAX_SEQ_QD)
		return rt_failf("secs=%lu qd=%u seqqd=%u: want secs >= 1, qd 1..%u, seqqd 1..%u", secs,
			     qd, seqqd, MAX_QD, MAX_SEQ_QD);

	/* TSC against 100 ms of PIT channel 2. */
	t0 = rdtsc();
	if (!pit_delay_us(100000))
		return rt_failf("the PIT does not count: no time base");
	tsc_khz = (rdtsc() - t0) / 100;
	rt_info("tsc_khz=%lu", tsc_khz);
	{
		uint32_t a, b, c, d;

		cpuid(0, 0, &a, &b, &c, &d);
		if (a >= 0x16) {
			cpuid(0x16, 0, &a, &b, &c, &d);
			rt_info("cpuid16_base_mhz=%u", a & 0xffff);
		}
	}

	if (!vblk_open(&disk, 0, VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 256))
		return rt_failf("%s", vblk_error);
	rt_info("features=%#lx", disk.vp.features);
	rt_info("capacity=%lu", disk.capacity);
	rt_info("queue_size=%u", disk.vq.size);
	rt_info("seg_max=%u", disk.seg_max);
	rt_info("size_max=%u", disk.size_max);
	rt_info("event_idx=%u", disk.vq.event_idx);
	span_sectors = disk.capacity;
	if (span_mib && span_mib * (MiB / VBLK_SECTOR) < span_sectors)
		span_sectors = span_mib * (MiB / VBLK_SECTOR);
	if (span_sectors < 16 * (SEQ_BS / VBLK_SECTOR))
		return rt_failf("a disk of %lu sectors is too small (16 MiB at least)", span_sectors);
	if (disk.ro)
		return rt_failf("the disk is read-only");
	if (qd * 3 > disk.vq.size || seqqd * 3 > disk.vq.size)
		return rt_failf("queue of %u entries for qd %u", disk.vq.size, qd);

	for (unsigned i = 0; i < MAX_QD; i++)
		memset(small_bufs[i], 0x5a ^ i, RAND_BS);
	for (unsigned i = 0; i < seqqd; i++)
		memset(big_bufs[i], 0xa5 ^ i, SEQ_BS);

	for (unsigned i = 0; i < NTESTS; i++) {
		struct test *t = &tests[i];

		if (only && !listed(only, t->name))
			continue;
		if (t->qd > 1)
			t->qd = t->big ? seqqd : qd;
		rt_info("test=%s", t->name);
		rt_info("%s_qd=%u", t->name, t->qd);
		if (!run_test(t, secs))
			return false;
	}
	rt_info("requests=%lu", disk.vq.requests);
	rt_info("notifies=%lu", disk.vq.notifies);
	rt_info("notifies_skipped=%lu", disk.vq.notifies_skipped);
	if (!virtio_reset(&disk.vp))
		return rt_failf("reset: %s", virtio_error);
	return true;
}

void guest_main(struct hvm_start_info *si)
{
	if (!cpl3_call(run, si))
		rt_fail("%s", rt_why);
	rt_pass();
}
