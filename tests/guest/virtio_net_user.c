/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_net_user: a few hundred lines of IPv4 on the polling virtio-net
 * client (lib/vnet.c), at CPL3, for --net user (libslirp behind the
 * device); tests/guest/test_virtio_net_user.py plays the host's part.
 *
 *   - DHCP: DISCOVER, OFFER, REQUEST, ACK. Reports lease=, router=, dns=,
 *     mask= (from the ACK), then "dhcp_done=1".
 *   - ARP for the router (the DHCP server when no router is offered, as
 *     with restrict=on): router_mac=.
 *   - connect=PORT: a TCP connection to router:PORT, which slirp makes to
 *     the host's loopback: SYN, SYN-ACK (tcp_synack=1), ACK, then it sends
 *     CLIENT_HELLO and reports the first data that comes back as tcp_rx=.
 *   - listen=PORT (after "listen_ready=1"): waits for a SYN to PORT, which
 *     a hostfwd of the host sends, answers it (fwd_syn=1), reports the
 *     first data as fwd_rx=, replies SERVER_REPLY and waits for the
 *     host's FIN (fwd_fin=1), so that the reply has left before the VM
 *     exits.
 *
 *   - udp_tx=PORT (for bench/net-user.sh): UDP datagrams to router:PORT in
 *     size= byte frames (60 to 8192, default 60) for secs= seconds (3), the
 *     transmit ring kept full; the host counts what arrives. Reports
 *     udp_tx_frames=, udp_tx_us=, udp_tx_pps=.
 *   - udp_rx=PORT: after "udp_rx_ready=1", counts the UDP frames to PORT
 *     (a udp hostfwd of the host's) for secs= seconds from the first one:
 *     udp_rx_frames=, udp_rx_bytes=, udp_rx_us=, udp_rx_pps=, udp_rx_mbps=.
 *
 * The guest answers ARP requests for its address while it waits.
 * Command line: connect=<port>, listen=<port>, udp_tx=<port>, udp_rx=<port>,
 * size=<bytes>, secs=<s>, timeout=<s> (default 30).
 */
#include "lib/rt.h"
#include "lib/vnet.h"
#include "lib/vblk.h"	/* command-line helpers */

RT_TEST("virtio_net_user");

#define CLIENT_HELLO	"hello from the guest\n"
#define SERVER_REPLY	"pong from the guest\n"

#define ETH_IP		0x0800
#define ETH_ARP		0x0806
#define TCP_FIN		0x01
#define TCP_SYN		0x02
#define TCP_RST		0x04
#define TCP_PSH		0x08
#define TCP_ACK		0x10

static struct vnet net;
static uint8_t tx[VNET_TXBUF];
static uint8_t rx[VNET_TXBUF];	/* the frame a wait matched */
static uint32_t rx_len;
static uint32_t my_ip, router_ip, dns_ip, mask;	/* host byte order */
static uint8_t router_mac[6];
static uint64_t deadline;

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }

static uint32_t sum16(const uint8_t *p, unsigned len, uint32_t s)
{
	for (; len > 1; p += 2, len -= 2)
		s += get16(p);
	if (len)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static const char *ip_str(uint32_t a)
{
	static char buf[4][16];
	static unsigned k;
	char *b = buf[k++ % 4];

	rt_snprintf(b, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	return b;
}

static void eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, net.mac, 6);
	put16(f + 12, type);
}

/* An IPv4 header at f + 14 for a payload of len bytes. */
static void ipv4(uint8_t *f, uint32_t src, uint32_t dst, uint8_t proto, unsigned len)
{
	uint8_t *ip = f + 14;

	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, 20 + len);
	ip[6] = 0x40;		/* DF */
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, fold(sum16(ip, 20, 0)));
}

/* The TCP/UDP checksum over the pseudo-header and seg. */
static uint16_t l4_sum(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *seg, unsigned len)
{
	uint8_t ph[12];

	put32(ph, src);
	put32(ph + 4, dst);
	ph[8] = 0;
	ph[9] = proto;
	put16(ph + 10, len);
	return fold(sum16(seg, len, sum16(ph, 12, 0)));
}

static bool xmit(unsigned len)
{
	if (len < 60) {
		memset(tx + len, 0, 60 - len);
		len = 60;
	}
	if (!vnet_tx(&net, 0, tx, len, NULL, false, false))
		return rt_failf("send: %s", vnet_error);
	return true;
}

static bool answer_arp(const uint8_t *f, uint32_t len)
{
	const uint8_t *a = f + 14;

	if (len < 42 || get16(f + 12) != ETH_ARP || get16(a + 6) != 1 || !my_ip ||
	    get32(a + 24) != my_ip)
		return true;
	eth(tx, a + 8, ETH_ARP);
	memcpy(tx + 14, a, 6);
	put16(tx + 20, 2);
	memcpy(tx + 22, net.mac, 6);
	put32(tx + 28, my_ip);
	memcpy(tx + 32, a + 8, 10);	/* their MAC and address */
	return xmit(42);
}

/* Wait for a frame match() accepts, into rx; false (rt_why) on the deadline. */
static bool wait_for(bool (*match)(const uint8_t *f, uint32_t len, const void *ctx),
		     const void *ctx, const char *what)
{
	const uint8_t *f;
	struct vnet_hdr h;
	uint32_t len;
	int r;

	while (virtio_now_us() < deadline) {
		r = vnet_rx(&net, 0, &f, &len, &h);
		if (r < 0)
			return rt_failf("receive: %s", vnet_error);
		if (r == 0) {
			cpu_relax();
			continue;
		}
		if (len < 14 || !answer_arp(f, len))
			continue;
		if (match(f, len, ctx)) {
			rx_len = len < sizeof(rx) ? len : (uint32_t)sizeof(rx);
			memcpy(rx, f, rx_len);
			vnet_rx_kick(&net, 0);
			return true;
		}
	}
	return rt_failf("no %s before the timeout", what);
}

/* ---- DHCP ---- */

static uint32_t xid = 0x564d4b54;

static unsigned dhcp_build(uint8_t type, uint32_t server)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *b = tx + 42, *o;
	unsigned len;

	memset(b, 0, 300);
	b[0] = 1;		/* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	put32(b + 4, xid);
	put16(b + 10, 0x8000);	/* reply by broadcast: we have no address yet */
	memcpy(b + 28, net.mac, 6);
	put32(b + 236, 0x63825363);
	o = b + 240;
	*o++ = 53, *o++ = 1, *o++ = type;
	if (type == 3) {
		*o++ = 50, *o++ = 4, put32(o, my_ip), o += 4;
		*o++ = 54, *o++ = 4, put32(o, server), o += 4;
	}
	*o++ = 55, *o++ = 3, *o++ = 1, *o++ = 3, *o++ = 6;
	*o++ = 255;
	len = (unsigned)(o - b);
	eth(tx, bcast, ETH_IP);
	ipv4(tx, 0, 0xffffffff, 17, 8 + len);
	put16(tx + 34, 68);
	put16(tx + 36, 67);
	put16(tx + 38, 8 + len);
	put16(tx + 40, 0);	/* no UDP checksum */
	return 42 + len;
}

/* The value of DHCP option code in the reply in rx (NULL if absent). */
static const uint8_t *dhcp_opt(uint8_t code, uint8_t *olen)
{
	const uint8_t *o = rx + 42 + 240, *end = rx + rx_len;

	while (o < end && *o != 255) {
		if (*o == 0) {
			o++;
			continue;
		}
		if (o + 2 > end || o + 2 + o[1] > end)
			return NULL;
		if (*o == code) {
			*olen = o[1];
			return o + 2;
		}
		o += 2 + o[1];
	}
	return NULL;
}

static bool is_dhcp_reply(const uint8_t *f, uint32_t len, const void *ctx)
{
	uint8_t type = *(const uint8_t *)ctx;
	const uint8_t *o = f + 42 + 240;

	if (len < 42 + 240 + 3 || get16(f + 12) != ETH_IP || f[23] != 17 ||
	    get16(f + 34) != 67 || get16(f + 36) != 68 || get32(f + 42 + 4) != xid)
		return false;
	/* Option 53 comes first from slirp; look for it anywhere to be fair. */
	for (; o + 2 < f + len && *o != 255; o += *o ? 2 + o[1] : 1)
		if (o[0] == 53)
			return o[2] == type;
	return false;
}

static bool dhcp(void)
{
	uint8_t offer = 2, ack = 5, l;
	const uint8_t *v;
	uint32_t server;

	if (!xmit(dhcp_build(1, 0)) || !wait_for(is_dhcp_reply, &offer, "DHCPOFFER"))
		return false;
	my_ip = get32(rx + 42 + 16);
	v = dhcp_opt(54, &l);
	server = v && l == 4 ? get32(v) : 0;
	if (!xmit(dhcp_build(3, server)) || !wait_for(is_dhcp_reply, &ack, "DHCPACK"))
		return false;
	my_ip = get32(rx + 42 + 16);
	if ((v = dhcp_opt(3, &l)) && l >= 4)
		router_ip = get32(v);
	if ((v = dhcp_opt(6, &l)) && l >= 4)
		dns_ip = get32(v);
	if ((v = dhcp_opt(1, &l)) && l == 4)
		mask = get32(v);
	rt_info("lease=%s", ip_str(my_ip));
	rt_info("router=%s", ip_str(router_ip));
	rt_info("dns=%s", ip_str(dns_ip));
	rt_info("mask=%s", ip_str(mask));
	/* restrict=on offers no router: talk to the DHCP server's address then. */
	if (!router_ip)
		router_ip = server;
	if (!my_ip || !router_ip)
		return rt_failf("DHCPACK without an address, a router or a server id");
	rt_info("dhcp_done=1");
	return true;
}

static bool is_arp_reply(const uint8_t *f, uint32_t len, const void *ctx)
{
	return len >= 42 && get16(f + 12) == ETH_ARP && get16(f + 20) == 2 &&
	       get32(f + 28) == *(const uint32_t *)ctx;
}

static bool arp_router(void)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	eth(tx, bcast, ETH_ARP);
	put16(tx + 14, 1);
	put16(tx + 16, ETH_IP);
	tx[18] = 6;
	tx[19] = 4;
	put16(tx + 20, 1);
	memcpy(tx + 22, net.mac, 6);
	put32(tx + 28, my_ip);
	memset(tx + 32, 0, 6);
	put32(tx + 38, router_ip);
	if (!xmit(42) || !wait_for(is_arp_reply, &router_ip, "ARP reply from the router"))
		return false;
	memcpy(router_mac, rx + 22, 6);
	rt_info("router_mac=%02x:%02x:%02x:%02x:%02x:%02x", router_mac[0], router_mac[1],
		router_mac[2], router_mac[3], router_mac[4], router_mac[5]);
	return true;
}

/* ---- TCP, one connection at a time ---- */

struct tcb {
	uint16_t lport, rport;
	uint32_t rip;
	uint32_t snd_nxt, rcv_nxt;
};

static bool tcp_send(const struct tcb *c, uint8_t flags, const void *data, unsigned len)
{
	uint8_t *t = tx + 34;

	eth(tx, router_mac, ETH_IP);
	ipv4(tx, my_ip, c->rip, 6, 20 + len);
	memset(t, 0, 20);
	put16(t, c->lport);
	put16(t + 2, c->rport);
	put32(t + 4, c->snd_nxt);
	put32(t + 8, flags & TCP_ACK ? c->rcv_nxt : 0);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 16384);
	memcpy(t + 20, data, len);
	put16(t + 16, l4_sum(my_ip, c->rip, 6, t, 20 + len));
	return xmit(34 + 20 + len);
}

/* A segment of connection c (any port from the peer when rport is 0). */
static bool is_segment(const uint8_t *f, uint32_t len, const void *ctx)
{
	const struct tcb *c = ctx;

	return len >= 54 && get16(f + 12) == ETH_IP && (f[14] & 0x0f) == 5 && f[23] == 6 &&
	       get32(f + 26) == c->rip && get32(f + 30) == my_ip && get16(f + 36) == c->lport &&
	       (!c->rport || get16(f + 34) == c->rport);
}

static uint8_t seg_flags(void) { return rx[34 + 13]; }
static uint32_t seg_seq(void) { return get32(rx + 34 + 4); }
static const uint8_t *seg_data(unsigned *len)
{
	unsigned ip_len = get16(rx + 16), off = (rx[34 + 12] >> 4) * 4;

	*len = ip_len > 20 + off ? ip_len - 20 - off : 0;
	if (34 + off + *len > rx_len)
		*len = 0;
	return rx + 34 + off;
}

/* Wait for data on c (ACKing it); its first bytes reported as key=. */
static bool tcp_take_data(struct tcb *c, const char *key)
{
	char text[64];
	const uint8_t *d;
	unsigned len, i;

	for (;;) {
		if (!wait_for(is_segment, c, "data"))
			return false;
		if (seg_flags() & TCP_RST)
			return rt_failf("%s: connection reset", key);
		d = seg_data(&len);
		if (len && seg_seq() == c->rcv_nxt)
			break;
	}
	c->rcv_nxt += len;
	for (i = 0; i < len && i < sizeof(text) - 1 && d[i] != '\n'; i++)
		text[i] = d[i] >= 0x20 && d[i] < 0x7f ? (char)d[i] : '?';
	text[i] = '\0';
	rt_info("%s=%s", key, text);
	return tcp_send(c, TCP_ACK, NULL, 0);
}

static bool tcp_connect(uint16_t port)
{
	struct tcb c = { .lport = 40000, .rport = port, .rip = router_ip, .snd_nxt = 0x1000 };

	if (!tcp_send(&c, TCP_SYN, NULL, 0))
		return false;
	c.snd_nxt++;
	if (!wait_for(is_segment, &c, "SYN-ACK"))
		return false;
	if (seg_flags() & TCP_RST) {
		rt_info("tcp_rst=1");
		return rt_failf("connect: refused (RST)");
	}
	if ((seg_flags() & (TCP_SYN | TCP_ACK)) != (TCP_SYN | TCP_ACK) || get32(rx + 42) != c.snd_nxt)
		return rt_failf("connect: flags %#x ack %#x instead of a SYN-ACK of %#x",
				seg_flags(), get32(rx + 42), c.snd_nxt);
	rt_info("tcp_synack=1");
	c.rcv_nxt = seg_seq() + 1;
	if (!tcp_send(&c, TCP_ACK | TCP_PSH, CLIENT_HELLO, sizeof(CLIENT_HELLO) - 1))
		return false;
	c.snd_nxt += sizeof(CLIENT_HELLO) - 1;
	return tcp_take_data(&c, "tcp_rx");
}

static bool is_syn(const uint8_t *f, uint32_t len, const void *ctx)
{
	return len >= 54 && get16(f + 12) == ETH_IP && f[23] == 6 &&
	       get32(f + 30) == my_ip && get16(f + 36) == *(const uint16_t *)ctx &&
	       (f[34 + 13] & (TCP_SYN | TCP_ACK)) == TCP_SYN;
}

static bool tcp_accept(uint16_t port)
{
	struct tcb c = { .lport = port, .snd_nxt = 0x2000 };

	rt_info("listen_ready=1");
	if (!wait_for(is_syn, &port, "SYN from the hostfwd"))
		return false;
	c.rip = get32(rx + 26);
	c.rport = get16(rx + 34);
	c.rcv_nxt = seg_seq() + 1;
	rt_info("fwd_syn=1");
	rt_info("fwd_from=%s", ip_str(c.rip));
	if (!tcp_send(&c, TCP_SYN | TCP_ACK, NULL, 0))
		return false;
	c.snd_nxt++;
	if (!tcp_take_data(&c, "fwd_rx"))
		return false;
	if (!tcp_send(&c, TCP_ACK | TCP_PSH, SERVER_REPLY, sizeof(SERVER_REPLY) - 1))
		return false;
	c.snd_nxt += sizeof(SERVER_REPLY) - 1;
	/* The host closes once it has our reply: then it has surely left. */
	do {
		if (!wait_for(is_segment, &c, "FIN from the host"))
			return false;
	} while (!(seg_flags() & TCP_FIN));
	c.rcv_nxt = seg_seq() + 1;
	rt_info("fwd_fin=1");
	return tcp_send(&c, TCP_ACK | TCP_FIN, NULL, 0);
}

/* ---- UDP blasts, for the benchmark ---- */

static bool udp_tx(uint16_t port, unsigned size, uint64_t secs)
{
	uint64_t t0, end, n = 0, us;
	unsigned len = size - 42;

	eth(tx, router_mac, ETH_IP);
	ipv4(tx, my_ip, router_ip, 17, 8 + len);
	put16(tx + 34, 40001);
	put16(tx + 36, port);
	put16(tx + 38, 8 + len);
	put16(tx + 40, 0);
	for (unsigned i = 0; i < len; i++)
		tx[42 + i] = (uint8_t)i;
	t0 = virtio_now_us();
	end = t0 + secs * 1000000;
	while (virtio_now_us() < end) {
		for (unsigned b = 0; b < 32; b++, n++)
			if (!vnet_tx(&net, 0, tx, size, NULL, false, true))
				return rt_failf("udp_tx after %lu frames: %s", n, vnet_error);
		vnet_tx_kick(&net, 0);
	}
	if (!vnet_tx_flush(&net, 0))
		return rt_failf("udp_tx flush: %s", vnet_error);
	us = virtio_now_us() - t0;
	rt_info("udp_tx_frames=%lu", n);
	rt_info("udp_tx_us=%lu", us);
	rt_info("udp_tx_pps=%lu", n * 1000000 / us);
	return true;
}

static bool is_udp_to(const uint8_t *f, uint32_t len, const void *ctx)
{
	return len >= 42 && get16(f + 12) == ETH_IP && f[23] == 17 &&
	       get16(f + 36) == *(const uint16_t *)ctx;
}

static bool udp_rx(uint16_t port, uint64_t secs)
{
	uint64_t t0, end, n = 1, bytes, us;
	const uint8_t *f;
	struct vnet_hdr h;
	uint32_t len;
	int r;

	rt_info("udp_rx_ready=1");
	if (!wait_for(is_udp_to, &port, "UDP datagram from the host"))
		return false;
	bytes = rx_len;
	t0 = virtio_now_us();
	end = t0 + secs * 1000000;
	while (virtio_now_us() < end) {
		r = vnet_rx(&net, 0, &f, &len, &h);
		if (r < 0)
			return rt_failf("udp_rx: %s", vnet_error);
		if (r > 0 && is_udp_to(f, len, &port)) {
			n++;
			bytes += len;
		}
	}
	us = virtio_now_us() - t0;
	rt_info("udp_rx_frames=%lu", n);
	rt_info("udp_rx_bytes=%lu", bytes);
	rt_info("udp_rx_us=%lu", us);
	rt_info("udp_rx_pps=%lu", n * 1000000 / us);
	rt_info("udp_rx_mbps=%lu", bytes * 8 / us);
	return true;
}

static uint64_t run(void *arg)
{
	struct hvm_start_info *si = arg;
	uint64_t want = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_MTU);
	uint64_t timeout = 30, secs = 3;
	unsigned size = 60;
	const char *v;

	if ((v = vblk_cmdline_arg(si, "timeout=")))
		timeout = vblk_parse_u64(v);
	if (!vnet_open(&net, 0, want, 1))
		return rt_failf("%s", vnet_error);
	rt_info("mac=%02x:%02x:%02x:%02x:%02x:%02x", net.mac[0], net.mac[1], net.mac[2],
		net.mac[3], net.mac[4], net.mac[5]);
	rt_info("mtu=%u", net.mtu);
	deadline = virtio_now_us() + timeout * 1000000;
	if (!dhcp() || !arp_router())
		return false;
	if ((v = vblk_cmdline_arg(si, "connect=")) && !tcp_connect((uint16_t)vblk_parse_u64(v)))
		return false;
	if ((v = vblk_cmdline_arg(si, "listen=")) && !tcp_accept((uint16_t)vblk_parse_u64(v)))
		return false;
	if ((v = vblk_cmdline_arg(si, "secs=")))
		secs = vblk_parse_u64(v);
	if ((v = vblk_cmdline_arg(si, "size=")))
		size = vblk_parse_u64(v);
	if (size < 60 || size > sizeof(tx))
		return rt_failf("size=%u: want 60 to %u", size, (unsigned)sizeof(tx));
	if ((v = vblk_cmdline_arg(si, "udp_tx=")) &&
	    !udp_tx((uint16_t)vblk_parse_u64(v), size, secs))
		return false;
	if ((v = vblk_cmdline_arg(si, "udp_rx=")) && !udp_rx((uint16_t)vblk_parse_u64(v), secs))
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
