// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * UDP on the host's loopback for bench/net-user.sh:
 *
 *   udpblast sink PORT MAXSECS        count datagrams to 127.0.0.1:PORT until
 *                                     1 s passes without one (after the first),
 *                                     or MAXSECS; prints "datagrams=N bytes=B"
 *   udpblast blast PORT SIZE SECS     send datagrams of SIZE - 42 bytes (a SIZE
 *                                     byte frame in the guest) to 127.0.0.1:PORT
 *                                     for SECS seconds; prints "sent=N"
 *
 * recvmmsg/sendmmsg in batches of 64, so that this side is not the limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int sink(int port, double maxsecs)
{
	static char buf[BATCH][65536];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	unsigned long long n = 0, bytes = 0;
	double end = now() + maxsecs;
	int fd, r, i, sz = 8 << 20;
	struct pollfd p;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udpblast sink");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (now() < end) {
		if (poll(&p, 1, n ? 1000 : 200) == 0) {
			if (n)
				break;
			continue;
		}
		for (i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
			m[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1 };
		}
		r = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
		for (i = 0; i < r; i++)
			bytes += m[i].msg_len;
		if (r > 0)
			n += r;
	}
	printf("datagrams=%llu bytes=%llu\n", n, bytes);
	return 0;
}

static int blast(int port, int size, double secs)
{
	static char buf[2048];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct mmsghdr m[BATCH];
	struct iovec iov = { buf, (size_t)(size - 42) };
	unsigned long long n = 0;
	double end = now() + secs;
	int fd, r, i;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udpblast blast");
		return 1;
	}
	for (i = 0; i < BATCH; i++)
		m[i].msg_hdr = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
	while (now() < end) {
		r = sendmmsg(fd, m, BATCH, 0);
		if (r > 0)
			n += r;
		else if (errno != ECONNREFUSED && errno != EAGAIN && errno != ENOBUFS)
			break;
	}
	printf("sent=%llu\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "sink"))
		return sink(atoi(argv[2]), atof(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "blast") && atoi(argv[3]) >= 60 && atoi(argv[3]) <= 1514)
		return blast(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: udpblast sink PORT MAXSECS | blast PORT SIZE(60-1514) SECS\n");
	return 2;
}
