/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_netbench: packet rate and throughput of the first virtio-net
 * function with the polling client of lib/vnet.c at CPL3 (no interrupts),
 * for bench/net.sh. One test per run, chosen on the command line:
 *
 *   mode=tx  send size= byte frames (broadcast, type 0x88b5) on pair 0 for
 *            secs= seconds, keeping the transmit ring full (one kick per
 *            batch, EVENT_IDX); the host counts what reached the tap.
 *   mode=rx  wait (up to wait= seconds) for the first frame, then count
 *            every frame that arrives for secs= seconds; the host blasts.
 *
 * Output: <mode>_frames=, <mode>_bytes= (frames without the virtio-net
 * header), <mode>_us= (elapsed), <mode>_pps=, <mode>_mbps= (Mbit/s of
 * frame bytes), <mode>_kicks= (notify writes: exits to the monitor).
 */
#include "lib/rt.h"
#include "lib/vnet.h"
#include "lib/vblk.h"	/* command-line helpers */

RT_TEST("virtio_netbench");

#define BATCH	32

static struct vnet net;
static uint8_t frame[VNET_BUF];

static void report(const char *mode, uint64_t frames, uint64_t bytes, uint64_t us, uint64_t kicks)
{
	if (!us)
		us = 1;
	rt_info("%s_frames=%lu", mode, frames);
	rt_info("%s_bytes=%lu", mode, bytes);
	rt_info("%s_us=%lu", mode, us);
	rt_info("%s_pps=%lu", mode, frames * 1000000 / us);
	rt_info("%s_mbps=%lu", mode, bytes * 8 / us);
	rt_info("%s_kicks=%lu", mode, kicks);
}

static bool bench_tx(unsigned size, uint64_t secs)
{
	uint64_t t0, end, n = 0, kicks0 = net.tx[0].notifies;

	memset(frame, 0xff, 6);
	memcpy(frame + 6, net.mac, 6);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	for (unsigned i = 14; i < size; i++)
		frame[i] = i;
	t0 = virtio_now_us();
	end = t0 + secs * 1000000;
	while (virtio_now_us() < end) {
		for (unsigned b = 0; b < BATCH; b++) {
			if (!vnet_tx(&net, 0, frame, size, NULL, false, true))
				return rt_failf("tx after %lu frames: %s", n, vnet_error);
			n++;
		}
		vnet_tx_kick(&net, 0);
	}
	if (!vnet_tx_flush(&net, 0))
		return rt_failf("%s", vnet_error);
	report("tx", n, n * size, virtio_now_us() - t0, net.tx[0].notifies - kicks0);
	return true;
}

static bool bench_rx(uint64_t secs, uint64_t wait)
{
	uint64_t t0, end, n = 0, bytes = 0, kicks0 = net.rx[0].notifies;
	const uint8_t *f;
	struct vnet_hdr hdr;
	uint32_t len;
	int r;

	end = virtio_now_us() + wait * 1000000;
	while ((r = vnet_rx(&net, 0, &f, &len, &hdr)) == 0)
		if (virtio_now_us() > end)
			return rt_failf("no frame in %lu s", wait);
	if (r < 0)
		return rt_failf("%s", vnet_error);
	rt_info("rx_started=1");
	t0 = virtio_now_us();
	end = t0 + secs * 1000000;
	while (virtio_now_us() < end) {
		r = vnet_rx(&net, 0, &f, &len, &hdr);
		if (r < 0)
			return rt_failf("rx after %lu frames: %s", n, vnet_error);
		if (r) {
			n++;
			bytes += len;
		}
	}
	report("rx", n, bytes, virtio_now_us() - t0, net.rx[0].notifies - kicks0);
	return true;
}

static uint64_t run(void *arg)
{
	struct hvm_start_info *si = arg;
	const char *v, *mode = vblk_cmdline_arg(si, "mode=");
	uint64_t secs = 2, wait = 30, size = 60;
	uint64_t want = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

	if ((v = vblk_cmdline_arg(si, "secs=")))
		secs = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "wait=")))
		wait = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "size=")))
		size = vblk_parse_u64(v);
	if (!mode || !secs || size < 60 || size > 1514)
		return rt_failf("want mode=tx|rx, secs >= 1, size 60..1514");
	if (!vnet_open(&net, 0, want, 1))
		return rt_failf("%s", vnet_error);
	rt_info("features=%#lx", net.vp.features);
	if (!memcmp(mode, "tx", 2) && !bench_tx(size, secs))
		return false;
	if (!memcmp(mode, "rx", 2) && !bench_rx(secs, wait))
		return false;
	if (!virtio_reset(&net.vp))
		return rt_failf("reset: %s", virtio_error);
	return true;
}

void guest_main(struct hvm_start_info *si)
{
	if (!cpl3_call(run, si))
		rt_fail("%s", rt_why);
	rt_pass();
}
