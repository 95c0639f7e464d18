// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Live migration's wire (include/vmkit/migrate.h): tcp: addresses, and
 * whole buffers over the socket with a time limit for a silent peer.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migrate-int.h"
#include "vmkit/migrate.h"

const char mig_magic[8] = "VMKITMIG";

void migrate_job_init(struct migrate_job *j)
{
	memset(j, 0, sizeof(*j));
	j->downtime_limit_ms = MIGRATE_DOWNTIME_MS;
	j->bandwidth = MIGRATE_BANDWIDTH;
	j->max_rounds = MIGRATE_MAX_ROUNDS;
}

/* ---- addresses ---- */

int migrate_parse_tcp(const char *uri, struct sockaddr_storage *sa, unsigned int *salen,
		      struct vk_err *err)
{
	char host[128];
	const char *p, *colon;
	unsigned long port;
	char *end;
	size_t n;

	if (strncmp(uri, "tcp:", 4))
		return vk_fail(err, -EINVAL, "%s: not tcp:ADDR:PORT", uri);
	p = uri + 4;
	colon = strrchr(p, ':');
	if (!colon)
		return vk_fail(err, -EINVAL, "%s: no port (tcp:ADDR:PORT)", uri);
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port > 65535)
		return vk_fail(err, -EINVAL, "%s: '%s' is not a port number", uri, colon + 1);
	n = colon - p;
	if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {	/* [IPv6] */
		p++;
		n -= 2;
	}
	if (n >= sizeof(host))
		return vk_fail(err, -EINVAL, "%s: address too long", uri);
	memcpy(host, p, n);
	host[n] = 0;
	memset(sa, 0, sizeof(*sa));
	if (!n || !strcmp(host, "0")) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_port = htons(port);
		*salen = sizeof(*in);
	} else if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*salen = sizeof(*in6);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return vk_fail(err, -EINVAL, "%s: '%s' is not an IPv6 address", uri, host);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*salen = sizeof(*in);
		/* Names need /etc and NSS, which the sandboxed monitor has not: numbers only. */
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return vk_fail(err, -EINVAL, "%s: '%s' is not an IP address (the monitor "
				       "takes numbers, not host names)", uri, host);
	}
	return 0;
}

/* ---- the wire ---- */

int mig_wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r;

	do
		r = poll(&p, 1, IO_TIMEOUT_S * 1000);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

int mig_send_iov(struct mig_chan *c, struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };
	int fd = c->fd;

	if (c->ssl)
		return mig_tls_send(c, iov, n);
	while (m.msg_iovlen) {
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int r = mig_wait_fd(fd, POLLOUT);

			if (r)
				return r;
			continue;
		}
		if (w < 0)
			return -errno;
		while (m.msg_iovlen && (size_t)w >= m.msg_iov->iov_len) {
			w -= m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen) {
			m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + w;
			m.msg_iov->iov_len -= w;
		}
	}
	return 0;
}

int mig_recv_all(struct mig_chan *c, void *buf, size_t len)
{
	uint8_t *p = buf;
	int fd = c->fd;

	if (c->ssl)
		return mig_tls_recv(c, buf, len);
	while (len) {
		ssize_t r = recv(fd, p, len, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			int w = mig_wait_fd(fd, POLLIN);

			if (w)
				return w;
			continue;
		}
		if (r < 0)
			return -errno;
		if (!r)
			return -ECONNRESET;	/* the peer closed before the end */
		p += r;
		len -= r;
	}
	return 0;
}

const char *mig_wire_error(int r)
{
	switch (r) {
	case -ECONNRESET: case -EPIPE:
		return "the other side closed the connection";
	case -ETIMEDOUT:
		return "the other side stopped answering";
	default:
		return strerror(-r);
	}
}
