/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_net: drives the first virtio-net function (1af4:1041) with the
 * polling client in lib/vnet.c, at CPL3, and checks it from the guest's
 * side while tests/guest/test_virtio_net.py checks the host's:
 *
 *   - negotiation: VERSION_1, MAC, STATUS, MTU, MRG_RXBUF, CTRL_VQ, CTRL_RX,
 *     MQ (and EVENT_IDX); config: mac=, status= (link up), mtu=, max_pairs=
 *   - with pairs=2: the control queue enables two pairs
 *     (VQ_PAIRS_SET 2 acked OK; 0, max+1 and an unknown class acked ERR)
 *   - transmit: tx= frames on every pair's transmit queue, alternately with
 *     the header in the frame's buffer and in a descriptor of its own, then
 *     "tx_done=1". Frame (q, seq): broadcast, from our MAC, type 0x88b5,
 *     "VMKITNET", q, seq (big-endian 16), then byte i of the frame is
 *     (i * 7 + seq * 13 + q * 101) & 0xff; its length is
 *     60 + (seq * 97) % 1455.
 *   - receive: waits (timeout= seconds, default 20) for rx= IPv4/UDP frames
 *     to port 9999 carrying "VMKITRX", seq (big-endian 16) and then payload
 *     byte j = (j * 11 + seq * 5) & 0xff, on any receive queue; checks every
 *     byte and that each seq came once. Output: rx_q<i>= per queue, rx_good=,
 *     rx_other= (frames that are not ours), rx_missing=.
 *
 *   - with gso: offloads. CSUM, GUEST_CSUM, HOST_TSO4 and GUEST_TSO4 are
 *     negotiated; after its frames the guest sends one TCP/IPv4 frame of
 *     GSO_TX_LEN bytes as a GSO packet (NEEDS_CSUM, TCPV4, gso_size 1448),
 *     to port 9997, payload byte k = (k * 3 + 7) & 0xff; and among the frames
 *     it receives expects one TCP/IPv4 frame to port 9998 of gso_rx= bytes
 *     with the same payload pattern, handed over whole (gso_type TCPV4, in
 *     several mergeable buffers): gso_rx_len=, gso_rx_type=, gso_rx_bufs=.
 *
 *   - with hostile: before its frames, chains a device must refuse without
 *     stopping: a transmit chain with a device-writable buffer, one shorter
 *     than the header, a header and no frame, a header with a GSO type that
 *     does not exist, and a control command with no buffer for the ack.
 *     Each must come back used; none may reach the wire (the host checks).
 *
 *   - with reinit: after sending its frames, the guest resets the device,
 *     sets it up again from scratch (features, queues, pairs) and sends the
 *     same frames once more before it receives: each frame reaches the host
 *     twice.
 *
 *   - with link_watch: after tx_done=1 the guest says link_watch=1 and
 *     polls the config's status: once the host takes the link down
 *     (link_down_seen=1, with a new config_generation) it sends 4 frames,
 *     seq 1000..1003, that must not reach the wire (down_tx_done=1), then
 *     waits for the link to come back (link_up_seen=1).
 *
 * Command line: pairs=<n> (1), tx=<n> (16), rx=<n> (0), timeout=<s>,
 * no-mrg (do not negotiate MRG_RXBUF), no-event-idx, gso, gso_rx=<bytes>,
 * hostile, reinit, link_watch, rx_delay=<ms> (wait that long after
 * tx_done=1 before taking any received frame: the receive ring fills and
 * the device has to wait).
 */
#include "lib/rt.h"
#include "lib/vnet.h"
#include "lib/vblk.h"	/* command-line helpers */

RT_TEST("virtio_net");

#define TX_TYPE		0x88b5
#define MAX_RX		4096

static struct vnet net;
static uint8_t frame[VNET_TXBUF];
static uint8_t seen[MAX_RX];
static unsigned gso_rx_want;	/* 0: none expected */
static bool gso_rx_seen;

#define GSO_TX_LEN	4000
#define GSO_MSS		1448

/* A TCP/IPv4 frame of len bytes to dport, payload byte k = (k * 3 + 7) & 0xff. */
static void tcp_frame(uint8_t *f, unsigned len, unsigned dport)
{
	unsigned ip_len = len - 14;

	memset(f, 0xff, 6);
	memcpy(f + 6, net.mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(f + 14, 0, 40);
	f[14] = 0x45;
	f[16] = ip_len >> 8;
	f[17] = ip_len;
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, (const uint8_t[]){ 10, 99, 0, 2, 10, 99, 0, 1 }, 8);
	f[34] = 5555 >> 8;
	f[35] = 5555 & 0xff;
	f[36] = dport >> 8;
	f[37] = dport & 0xff;
	f[46] = 5 << 4;		/* data offset */
	f[47] = 0x18;		/* PSH, ACK */
	f[48] = 0xff;		/* window */
	for (unsigned k = 0; k < len - 54; k++)
		f[54 + k] = (k * 3 + 7) & 0xff;
}

static bool send_gso(void)
{
	struct vnet_hdr h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = 54, .gso_size = GSO_MSS, .csum_start = 34, .csum_offset = 16,
	};

	tcp_frame(frame, GSO_TX_LEN, 9997);
	if (!vnet_tx(&net, 0, frame, GSO_TX_LEN, &h, false, false) || !vnet_tx_flush(&net, 0))
		return rt_failf("gso tx: %s", vnet_error);
	rt_info("gso_tx=%u", GSO_TX_LEN);
	return true;
}

/* The big TCP frame to port 9998: 1 if it is that (and right), 0 if not, -1 if wrong. */
static int check_gso_rx(const uint8_t *f, uint32_t len, const struct vnet_hdr *h, unsigned q)
{
	if (len < 54 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6 || f[36] != 9998 >> 8 ||
	    f[37] != (9998 & 0xff))
		return 0;
	rt_info("gso_rx_len=%u", len);
	rt_info("gso_rx_type=%u", h->gso_type);
	rt_info("gso_rx_size=%u", h->gso_size);
	rt_info("gso_rx_bufs=%u", h->num_buffers);
	if (len != gso_rx_want)
		return rt_failf("gso rx: %u bytes, want %u in one frame", len, gso_rx_want), -1;
	for (unsigned k = 0; k < len - 54; k++)
		if (f[54 + k] != ((k * 3 + 7) & 0xff))
			return rt_failf("gso rx: payload byte %u is %#x", k, f[54 + k]), -1;
	gso_rx_seen = true;
	return 1;
}

static unsigned tx_len(unsigned seq)
{
	return 60 + (seq * 97) % 1455;
}

static bool send_all(unsigned pairs, unsigned count)
{
	for (unsigned seq = 0; seq < count; seq++) {
		for (unsigned q = 0; q < pairs; q++) {
			unsigned len = tx_len(seq);

			memset(frame, 0xff, 6);
			memcpy(frame + 6, net.mac, 6);
			frame[12] = TX_TYPE >> 8;
			frame[13] = TX_TYPE & 0xff;
			memcpy(frame + 14, "VMKITNET", 8);
			frame[22] = q;
			frame[23] = seq >> 8;
			frame[24] = seq;
			for (unsigned i = 25; i < len; i++)
				frame[i] = (i * 7 + seq * 13 + q * 101) & 0xff;
			if (!vnet_tx(&net, q, frame, len, NULL, seq & 1, false))
				return rt_failf("send q%u seq %u: %s", q, seq, vnet_error);
		}
	}
	for (unsigned q = 0; q < pairs; q++)
		if (!vnet_tx_flush(&net, q))
			return rt_failf("%s", vnet_error);
	return true;
}

static uint16_t be16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

/* Ours: 1 (and seq set), not ours: 0, ours but wrong: rt_why set, -1. */
static int check_rx(const uint8_t *f, uint32_t len, unsigned *seq)
{
	const uint8_t *udp = f + 34, *pl = f + 42;
	unsigned plen;

	if (len < 42 + 9 || be16(f + 12) != 0x0800 || f[23] != 17 || be16(udp + 2) != 9999 ||
	    memcmp(pl, "VMKITRX", 7))
		return 0;
	if (memcmp(f, net.mac, 6))
		return rt_failf("rx: destination is not our MAC"), -1;
	plen = be16(udp + 4) - 8;
	*seq = be16(pl + 7);
	if (42 + plen != len)
		return rt_failf("rx seq %u: %u bytes, UDP says %u", *seq, len, 42 + plen), -1;
	for (unsigned j = 9; j < plen; j++)
		if (pl[j] != ((j * 11 + *seq * 5) & 0xff))
			return rt_failf("rx seq %u: payload byte %u is %#x", *seq, j, pl[j]), -1;
	return 1;
}

static bool receive_all(unsigned pairs, unsigned count, uint64_t timeout_s)
{
	uint64_t deadline = virtio_now_us() + timeout_s * 1000000;
	unsigned good = 0, other = 0, seq;
	const uint8_t *f;
	uint32_t len;
	struct vnet_hdr hdr;

	while ((good < count || (gso_rx_want && !gso_rx_seen)) && virtio_now_us() < deadline) {
		for (unsigned q = 0; q < pairs; q++) {
			int r = vnet_rx(&net, q, &f, &len, &hdr);

			if (r < 0)
				return rt_failf("%s", vnet_error);
			if (r == 0)
				continue;
			if (gso_rx_want && !gso_rx_seen) {
				r = check_gso_rx(f, len, &hdr, q);
				if (r < 0)
					return false;
				if (r)
					continue;
			}
			r = check_rx(f, len, &seq);
			if (r < 0)
				return false;
			if (r == 0) {
				other++;
				continue;
			}
			if (seq >= MAX_RX || seq >= count)
				return rt_failf("rx: seq %u, expected fewer than %u", seq, count);
			if (seen[seq]++)
				return rt_failf("rx: seq %u twice", seq);
			good++;
		}
	}
	for (unsigned q = 0; q < pairs; q++)
		rt_info("rx_q%u=%lu", q, net.rx_frames[q]);
	rt_info("rx_good=%u", good);
	rt_info("rx_other=%u", other);
	rt_info("rx_missing=%u", count - good);
	if (good < count)
		return rt_failf("received %u of %u frames in %lu s", good, count, timeout_s);
	if (gso_rx_want && !gso_rx_seen)
		return rt_failf("no GSO frame of %u bytes in %lu s", gso_rx_want, timeout_s);
	return true;
}

/* Wait for the link status to read `up`; false after timeout_s. */
static bool wait_link(bool up, uint64_t timeout_s)
{
	uint64_t end = virtio_now_us() + timeout_s * 1000000;

	while (!!(virtio_cfg_read16(&net.vp, VNET_CFG_STATUS) & VIRTIO_NET_S_LINK_UP) != up)
		if (virtio_now_us() > end)
			return false;
	return true;
}

static bool link_watch(uint64_t timeout_s)
{
	uint8_t gen = virtio_config_generation(&net.vp);

	rt_info("link_watch=1");
	if (!wait_link(false, timeout_s))
		return rt_failf("the link did not go down in %lu s", timeout_s);
	if (virtio_config_generation(&net.vp) == gen)
		return rt_failf("the link went down without a new config_generation");
	rt_info("link_down_seen=1");
	for (unsigned seq = 1000; seq < 1004; seq++) {
		unsigned len = tx_len(seq);

		memset(frame, 0xff, 6);
		memcpy(frame + 6, net.mac, 6);
		frame[12] = TX_TYPE >> 8;
		frame[13] = TX_TYPE & 0xff;
		memset(frame + 14, 0xdd, len - 14);
		if (!vnet_tx(&net, 0, frame, len, NULL, false, false))
			return rt_failf("send with the link down: %s", vnet_error);
	}
	if (!vnet_tx_flush(&net, 0))
		return rt_failf("%s", vnet_error);
	rt_info("down_tx_done=1");
	if (!wait_link(true, timeout_s))
		return rt_failf("the link did not come back in %lu s", timeout_s);
	rt_info("link_up_seen=1");
	return true;
}

static uint8_t bad_buf[256] __attribute__((aligned(64)));

static bool hostile(void)
{
	uint64_t b = (uintptr_t)bad_buf;
	const struct {
		const char *what;
		struct virtq_buf bufs[2];
		unsigned n;
	} cases[] = {
		{ "tx chain with a writable buffer", { { b, 12 + 60, false }, { b + 128, 64, true } }, 2 },
		{ "tx chain of 4 bytes", { { b, 4, false } }, 1 },
		{ "tx header without a frame", { { b, 12, false } }, 1 },
		{ "tx header with GSO type 0x55", { { b + 64, 12 + 100, false } }, 1 },
	};
	struct virtq_buf ctrl_noack = { b, 2 + 2, false };
	uint32_t used;
	int r;

	memset(bad_buf, 0, sizeof(bad_buf));
	memset(bad_buf + 12, 0xff, 12);			/* a broadcast frame, type 0 */
	bad_buf[64 + 1] = 0x55;				/* gso_type */
	memset(bad_buf + 64 + 12, 0xff, 12);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = virtq_submit(&net.tx[0], cases[i].bufs, cases[i].n, false, &used,
				 VIRTIO_TIMEOUT_US);
		if (r)
			return rt_failf("%s: %s", cases[i].what, virtio_error);
		if (used)
			return rt_failf("%s: used len %u, want 0", cases[i].what, used);
	}
	if (net.has_ctrl) {
		bad_buf[0] = VIRTIO_NET_CTRL_MQ;
		r = virtq_submit(&net.ctrl, &ctrl_noack, 1, false, &used, VIRTIO_TIMEOUT_US);
		if (r)
			return rt_failf("control command without an ack buffer: %s", virtio_error);
	}
	if (virtio_get_status(&net.vp) & VIRTIO_STATUS_NEEDS_RESET)
		return rt_failf("the device wants a reset after refusing bad requests");
	rt_info("hostile=ok");
	return true;
}

static bool control(unsigned pairs)
{
	uint8_t v[2] = { pairs, 0 }, zero[2] = { 0, 0 }, over[2] = { net.max_pairs + 1, 0 };
	uint8_t on = 1;
	int r;

	if ((r = vnet_ctrl(&net, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, zero, 2)) !=
	    VIRTIO_NET_ERR)
		return rt_failf("VQ_PAIRS_SET 0: ack %d, want ERR (%s)", r, vnet_error);
	if ((r = vnet_ctrl(&net, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, over, 2)) !=
	    VIRTIO_NET_ERR)
		return rt_failf("VQ_PAIRS_SET %u: ack %d, want ERR", over[0], r);
	if ((r = vnet_ctrl(&net, 0x77, 0, NULL, 0)) != VIRTIO_NET_ERR)
		return rt_failf("unknown class: ack %d, want ERR", r);
	if ((r = vnet_ctrl(&net, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1)) !=
	    VIRTIO_NET_OK)
		return rt_failf("RX_PROMISC: ack %d", r);
	if (pairs > 1 &&
	    (r = vnet_ctrl(&net, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, v, 2)) !=
	    VIRTIO_NET_OK)
		return rt_failf("VQ_PAIRS_SET %u: ack %d (%s)", pairs, r, vnet_error);
	rt_info("ctrl=ok");
	return true;
}

static uint64_t run(void *arg)
{
	struct hvm_start_info *si = arg;
	const char *v;
	unsigned pairs = 1, ntx = 16, nrx = 0, timeout = 20;
	uint64_t want = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			VIRTIO_BIT(VIRTIO_NET_F_MTU) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX) |
			VIRTIO_BIT(VIRTIO_NET_F_MQ) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

	if ((v = vblk_cmdline_arg(si, "pairs=")))
		pairs = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "tx=")))
		ntx = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "rx=")))
		nrx = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "timeout=")))
		timeout = vblk_parse_u64(v);
	if (vblk_cmdline_arg(si, "no-mrg"))
		want &= ~VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (vblk_cmdline_arg(si, "no-event-idx"))
		want &= ~VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (vblk_cmdline_arg(si, "gso"))
		want |= VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
			VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4);
	if ((v = vblk_cmdline_arg(si, "gso_rx=")))
		gso_rx_want = vblk_parse_u64(v);
	if (!pairs || pairs > VNET_MAX_PAIRS || nrx > MAX_RX)
		return rt_failf("pairs=%u rx=%u: want pairs 1..%u, rx up to %u", pairs, nrx,
				VNET_MAX_PAIRS, MAX_RX);

	if (vblk_cmdline_arg(si, "reinit")) {
		if (!vnet_open(&net, 0, want, pairs))
			return rt_failf("%s", vnet_error);
		if ((net.has_ctrl && !control(pairs)) || !send_all(net.pairs, ntx))
			return false;
		if (!virtio_reset(&net.vp))
			return rt_failf("reset: %s", virtio_error);
		rt_info("reinit=1");
	}
	if (!vnet_open(&net, 0, want, pairs))
		return rt_failf("%s", vnet_error);
	rt_info("offered=%#lx", net.vp.offered);
	rt_info("features=%#lx", net.vp.features);
	rt_info("mac=%02x:%02x:%02x:%02x:%02x:%02x", net.mac[0], net.mac[1], net.mac[2],
		net.mac[3], net.mac[4], net.mac[5]);
	rt_info("status=%u", net.status);
	rt_info("mtu=%u", net.mtu);
	rt_info("max_pairs=%u", net.max_pairs);
	rt_info("pairs=%u", net.pairs);
	if (!(net.status & VIRTIO_NET_S_LINK_UP))
		return rt_failf("link is down (status %#x)", net.status);
	if (net.pairs < pairs)
		return rt_failf("%u pairs wanted, the device has %u", pairs, net.pairs);
	if (vblk_cmdline_arg(si, "hostile") && !hostile())
		return false;
	if (net.has_ctrl && !control(pairs))
		return false;
	if (!send_all(net.pairs, ntx))
		return false;
	if (vblk_cmdline_arg(si, "gso") && !send_gso())
		return false;
	rt_info("tx_done=1");
	if (vblk_cmdline_arg(si, "link_watch") && !link_watch(timeout))
		return false;
	if ((v = vblk_cmdline_arg(si, "rx_delay="))) {
		uint64_t until = virtio_now_us() + vblk_parse_u64(v) * 1000;

		while (virtio_now_us() < until)
			cpu_relax();
	}
	if ((nrx || gso_rx_want) && !receive_all(net.pairs, nrx, timeout))
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
