/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_flush: the guest half of the durability test
 * (test_virtio_durability.py). On the first virtio-blk disk it writes a
 * pattern, FLUSHes when the device offers VIRTIO_BLK_F_FLUSH, says
 * `VMKIT-INFO flushed=1` and then spins at CPL3 for ever, so that the host
 * can SIGKILL the monitor at a moment when every write is complete and
 * check the disk file.
 *
 * Command line (all optional):
 *   seed=<n>     the pattern's seed (decimal or 0x hex; default 1)
 *   sector=<n>   first sector written (default 2048)
 *   bytes=<n>    how much (default 1 MiB; a multiple of 4096, at most 4 MiB)
 *   chunk=<n>    bytes per write request (default 128 KiB), all in flight at once
 *   wait         print `ready=1`, then wait for a byte on the serial port
 *                before writing anything (the negative control kills it there)
 *
 * The pattern is one 64-bit word per 8 bytes: at byte offset o of the disk,
 * splitmix64(seed ^ o) (the finaliser of splitmix64, so that every word
 * differs and none is zero in practice).
 *
 * Output: features=, flush_offered=0|1, wce=, writeback=, ready=1 (wait),
 * written=1, flush=done|not_offered, flushed=1.
 */
#include "lib/rt.h"
#include "lib/vblk.h"

RT_TEST("virtio_flush");

#define MAX_BYTES	(4u << 20)
#define MAX_REQS	64

static uint8_t data[MAX_BYTES] __attribute__((section(".noinit.flush"), aligned(4096)));
static struct vblk_req reqs[MAX_REQS] __attribute__((aligned(64)));
static struct vblk disk;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static void wait_serial_byte(void)
{
	while (!(inb(COM1 + 5) & 0x01))
		cpu_relax();
	(void)inb(COM1);
}

static uint64_t run(void *arg)
{
	struct hvm_start_info *si = arg;
	const char *v;
	uint64_t seed = 1, sector = 2048, bytes = 1u << 20, chunk = 128u << 10;
	unsigned nreq, done = 0;

	if ((v = vblk_cmdline_arg(si, "seed=")))
		seed = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "sector=")))
		sector = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "bytes=")))
		bytes = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "chunk=")))
		chunk = vblk_parse_u64(v);
	if (!bytes || bytes > MAX_BYTES || bytes % 4096 || !chunk || chunk % 4096)
		return rt_failf("bytes=%lu chunk=%lu: want multiples of 4096, bytes up to %u", bytes,
			     chunk, MAX_BYTES);
	nreq = (bytes + chunk - 1) / chunk;
	if (nreq > MAX_REQS)
		return rt_failf("%u requests: at most %u", nreq, MAX_REQS);

	if (!vblk_open(&disk, 0, VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 256))
		return rt_failf("%s", vblk_error);
	rt_info("features=%#lx", disk.vp.features);
	rt_info("capacity=%lu", disk.capacity);
	rt_info("flush_offered=%u", disk.flush);
	rt_info("wce=%u", disk.wce);
	if (disk.wce)
		rt_info("writeback=%u", disk.writeback);
	if (disk.ro)
		return rt_failf("the disk is read-only");
	if (sector + bytes / VBLK_SECTOR > disk.capacity)
		return rt_failf("sectors %lu+%lu are past the capacity %lu", sector,
			     bytes / VBLK_SECTOR, disk.capacity);
	if ((sector * VBLK_SECTOR) % disk.blk_size)
		return rt_failf("sector %lu is not on a %u-byte block", sector, disk.blk_size);
	if (nreq * 3 > disk.vq.size)
		return rt_failf("%u requests do not fit a queue of %u", nreq, disk.vq.size);

	if (vblk_cmdline_arg(si, "wait")) {
		rt_info("ready=1");
		wait_serial_byte();
	}

	uint64_t *w = (uint64_t *)data, base = sector * VBLK_SECTOR;

	for (uint64_t i = 0; i < bytes / 8; i++)
		w[i] = mix(seed ^ (base + i * 8));

	/* Every chunk in flight at once, one notification. */
	for (unsigned i = 0; i < nreq; i++) {
		uint64_t off = (uint64_t)i * chunk;
		uint32_t len = bytes - off < chunk ? bytes - off : chunk;

		if (vblk_add(&disk, &reqs[i], VIRTIO_BLK_T_OUT, sector + off / VBLK_SECTOR,
			     data + off, len) < 0)
			return rt_failf("write %u: %s", i, vblk_error);
	}
	vblk_kick(&disk);
	while (done < nreq) {
		struct vblk_req *r;
		int e = vblk_get(&disk, VIRTIO_TIMEOUT_US, &r);

		if (e)
			return rt_failf("write: %s", vblk_error);
		done++;
	}
	rt_info("written=1");

	if (disk.flush) {
		if (vblk_sync(&disk, &reqs[0], VIRTIO_BLK_T_FLUSH, 0, NULL, 0))
			return rt_failf("flush: %s", vblk_error);
		rt_info("flush=done");
	} else {
		rt_info("flush=not_offered");
	}
	rt_info("flushed=1");
	/* Stay alive until the host kills the monitor: nothing after this point. */
	for (;;)
		cpu_relax();
	return true;
}

void guest_main(struct hvm_start_info *si)
{
	if (!cpl3_call(run, si))
		rt_fail("%s", rt_why);
	rt_fail("returned from the spin loop");
}
