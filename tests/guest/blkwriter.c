/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkwriter: the guest half of the backup tests (test_backup.py). It
 * rewrites the first `blocks=` blocks of `bs=` bytes of the first virtio-blk
 * disk, pass after pass, one write at a time and in order, at CPL3; every
 * 8-byte word of block b in pass g holds (g << 32) | b.
 *
 * So the disk at any moment is a run of blocks of pass g+1 followed by
 * blocks of pass g (zeros for g = 0): a backup that is one point in time
 * shows exactly that shape, and one that let a later write through shows a
 * block of a newer pass after an older one, or a torn block.
 *
 * Command line: blocks=<n> (default 512), bs=<bytes> (a multiple of 512, at
 * most 64 KiB, default 16 KiB), passes=<n> (0, the default: for ever),
 * spin=<n> (pause instructions between two writes, default 0: a slower writer).
 * Output: pass=<g> as each pass begins (g from 1), done=1 after passes=,
 * then it idles until stopped.
 */
#include "lib/rt.h"
#include "lib/vblk.h"

RT_TEST("blkwriter");

#define MAX_BS	(64u << 10)

static uint8_t buf[MAX_BS] __attribute__((section(".noinit.blkwriter"), aligned(4096)));
static struct vblk_req req __attribute__((aligned(64)));
static struct vblk disk;

static uint64_t run(void *arg)
{
	struct hvm_start_info *si = arg;
	uint64_t blocks = 512, bs = 16u << 10, passes = 0, spin = 0;
	const char *v;

	if ((v = vblk_cmdline_arg(si, "blocks=")))
		blocks = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "bs=")))
		bs = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "passes=")))
		passes = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "spin=")))
		spin = vblk_parse_u64(v);
	if (!bs || bs % VBLK_SECTOR || bs > MAX_BS || !blocks)
		return rt_failf("bs=%lu blocks=%lu: bs a multiple of 512 up to %u", bs, blocks,
				MAX_BS);
	if (!vblk_open(&disk, 0, 0, 64))
		return rt_failf("%s", vblk_error);
	if (disk.ro)
		return rt_failf("the disk is read-only");
	if (blocks * bs / VBLK_SECTOR > disk.capacity)
		return rt_failf("%lu blocks of %lu bytes are past the capacity %lu", blocks, bs,
				disk.capacity);
	for (uint64_t g = 1; !passes || g <= passes; g++) {
		rt_info("pass=%lu", g);
		for (uint64_t b = 0; b < blocks; b++) {
			uint64_t *w = (uint64_t *)buf, stamp = (g << 32) | b;

			for (uint64_t i = 0; i < bs / 8; i++)
				w[i] = stamp;
			if (vblk_sync(&disk, &req, VIRTIO_BLK_T_OUT, b * bs / VBLK_SECTOR, buf,
				      (uint32_t)bs))
				return rt_failf("write of block %lu in pass %lu: %s", b, g,
						vblk_error);
			for (uint64_t i = 0; i < spin; i++)
				cpu_relax();
		}
	}
	rt_info("done=1");
	/* Idle from here on (the host backs up a disk nobody writes), until it is stopped. */
	for (;;)
		cpu_relax();
	return true;
}

void guest_main(struct hvm_start_info *si)
{
	if (!cpl3_call(run, si))
		rt_fail("%s", rt_why);
	rt_fail("returned from the idle loop");
}
