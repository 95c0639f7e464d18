// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * netblast: send Ethernet frames out of an interface as fast as one thread
 * can (AF_PACKET, sendmmsg in batches, qdisc bypassed), for bench/net.sh.
 *
 *   netblast IFACE DSTMAC SIZE SECS
 *
 * Frames are IPv4/UDP to DSTMAC, SIZE bytes with the Ethernet header.
 * Prints "sent=<frames the kernel took> tried=<frames offered> secs=<s>".
 * When the interface's queue is full (ENOBUFS: the reader is behind) it
 * backs off for 20 us instead of spinning, so that on a small host the
 * blaster does not take the CPU the reader (the VM's monitor) needs.
 * Into a tap the frames go to whoever reads the tap (the VM); into a veth
 * they come out of its peer: the host's own limit for the same traffic.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_mac(const char *s, uint8_t m[6])
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4],
		      &m[5]) == 6 ? 0 : -1;
}

static void build(uint8_t *f, const uint8_t dst[6], unsigned int size)
{
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	unsigned int ip_len = size - 14, i;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	f[14] = 0x45;
	f[16] = ip_len >> 8;
	f[17] = ip_len;
	f[22] = 64;
	f[23] = 17;
	memcpy(f + 26, (uint8_t[]){ 10, 99, 0, 1, 10, 99, 0, 2 }, 8);
	f[34] = 0x27;	/* source port 10000 */
	f[35] = 0x10;
	f[36] = 0x27;	/* destination port 9999 */
	f[37] = 0x0f;
	f[38] = (ip_len - 20) >> 8;
	f[39] = ip_len - 20;
	for (i = 42; i < size; i++)
		f[i] = i;
}

int main(int argc, char **argv)
{
	static uint8_t frame[1514];
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { frame, 0 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	unsigned long long sent = 0, tried = 0;
	unsigned int size, secs, i;
	uint8_t dst[6];
	double t0, end;
	int s, one = 1;

	if (argc != 5 || parse_mac(argv[2], dst) || (size = atoi(argv[3])) < 60 || size > 1514 ||
	    !(secs = atoi(argv[4]))) {
		fprintf(stderr, "usage: netblast IFACE DSTMAC SIZE(60-1514) SECS\n");
		return 2;
	}
	s = socket(AF_PACKET, SOCK_RAW, 0);
	sll.sll_ifindex = if_nametoindex(argv[1]);
	sll.sll_protocol = htons(ETH_P_IP);
	if (s < 0 || !sll.sll_ifindex || bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror(argv[1]);
		return 1;
	}
	setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	build(frame, dst, size);
	iov.iov_len = size;
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now();
	end = t0 + secs;
	while (now() < end) {
		int n = sendmmsg(s, msgs, BATCH, 0);

		tried += BATCH;
		if (n > 0)
			sent += n;
		if (n < 0 && errno != ENOBUFS && errno != EAGAIN) {
			perror("sendmmsg");
			return 1;
		}
		if (n < BATCH)
			nanosleep(&(struct timespec){ 0, 20000 }, NULL);
	}
	printf("sent=%llu tried=%llu secs=%.3f\n", sent, tried, now() - t0);
	return 0;
}
