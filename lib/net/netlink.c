// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The netlink core: a NETLINK_ROUTE socket, requests built in one buffer,
 * and one send-and-collect call for both dumps and acknowledged requests.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "vmkit/netlink.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

int vk_nl_open(struct vk_nl *nl, struct vk_err *err)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return vk_fail(err, -errno, "netlink: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return vk_fail(err, -e, "netlink: %s", strerror(e));
	}
	/* The kernel's own words for why a request failed, where it has some. */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	nl->fd = fd;
	nl->seq = 1;
	return 0;
}

void vk_nl_close(struct vk_nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

void vk_nl_req_init(struct vk_nl_req *req, uint16_t type, uint16_t flags,
		    const void *body, size_t body_len)
{
	memset(req, 0, sizeof(*req));
	req->hdr.nlmsg_type = type;
	req->hdr.nlmsg_flags = NLM_F_REQUEST | flags;
	req->hdr.nlmsg_len = NLMSG_LENGTH(body_len);
	memcpy(NLMSG_DATA(&req->hdr), body, body_len);
}

/*
 * Requests are small and built by our own code from checked names, so a
 * request that outgrows the buffer is a bug, not an input error.
 */
void vk_nl_put(struct vk_nl_req *req, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(req->hdr.nlmsg_len);
	struct rtattr *rta = (struct rtattr *)(req->buf + off);

	if (off + RTA_SPACE(len) > sizeof(req->buf))
		abort();
	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	req->hdr.nlmsg_len = off + RTA_SPACE(len);
}

void vk_nl_put_u32(struct vk_nl_req *req, uint16_t type, uint32_t v)
{
	vk_nl_put(req, type, &v, sizeof(v));
}

void vk_nl_put_str(struct vk_nl_req *req, uint16_t type, const char *s)
{
	vk_nl_put(req, type, s, strlen(s) + 1);
}

struct rtattr *vk_nl_nest_start(struct vk_nl_req *req, uint16_t type)
{
	struct rtattr *nest = (struct rtattr *)(req->buf + NLMSG_ALIGN(req->hdr.nlmsg_len));

	vk_nl_put(req, type, NULL, 0);
	return nest;
}

void vk_nl_nest_end(struct vk_nl_req *req, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)(req->buf + req->hdr.nlmsg_len - (char *)nest);
}

void vk_nl_parse_attrs(const struct rtattr **tb, unsigned int max,
		       const struct rtattr *rta, size_t len)
{
	unsigned int rlen = (unsigned int)len;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	for (; RTA_OK(rta, rlen); rta = RTA_NEXT(rta, rlen))
		if (rta->rta_type <= max)
			tb[rta->rta_type] = rta;
}

/* The reason of an NLMSG_ERROR: errno text, and the extended ack's message. */
static int nl_error(const struct nlmsghdr *h, struct vk_err *err)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	const struct rtattr *tb[NLMSGERR_ATTR_MAX + 1];
	const char *ext = NULL;
	size_t off;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return vk_fail(err, -EPROTO, "truncated netlink error");
	if (!e->error)
		return 0;
	if (h->nlmsg_flags & NLM_F_ACK_TLVS) {
		/* The request is echoed unless capped; the TLVs follow it. */
		off = sizeof(*e);
		if (!(h->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(e->msg);
		if (NLMSG_LENGTH(off) < h->nlmsg_len) {
			vk_nl_parse_attrs(tb, NLMSGERR_ATTR_MAX,
					  (const struct rtattr *)((const char *)e + NLMSG_ALIGN(off)),
					  h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(off)));
			if (tb[NLMSGERR_ATTR_MSG])
				ext = RTA_DATA(tb[NLMSGERR_ATTR_MSG]);
		}
	}
	if (ext && *ext)
		return vk_fail(err, e->error, "%s (%.*s)", strerror(-e->error),
			       (int)RTA_PAYLOAD(tb[NLMSGERR_ATTR_MSG]), ext);
	return vk_fail(err, e->error, "%s", strerror(-e->error));
}

/*
 * One received datagram: returns 1 when the reply is complete, 0 to read
 * on. *cb_ret keeps fn's first non-zero return.
 */
static int nl_walk(const char *buf, size_t len, uint32_t seq, vk_nl_msg_fn fn, void *opaque,
		   int *cb_ret, struct vk_err *err)
{
	const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
	unsigned int rem = (unsigned int)len;
	int r;

	for (; NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem)) {
		if (h->nlmsg_seq != seq)
			continue;	/* a late reply to an earlier request */
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR) {
			r = nl_error(h, err);
			return r < 0 ? r : 1;
		}
		if (fn && !*cb_ret)
			*cb_ret = fn(h, opaque);
	}
	return 0;
}

int vk_nl_call(struct vk_nl *nl, struct vk_nl_req *req, vk_nl_msg_fn fn, void *opaque,
	       struct vk_err *err)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	_cleanup_free_ char *buf = NULL;
	const size_t buflen = 64 * 1024;
	uint32_t seq = nl->seq++;
	int cb_ret = 0;
	ssize_t n;
	int r;

	/*
	 * A dump ends with NLMSG_DONE; anything else must be acknowledged.
	 * NLM_F_DUMP's bits mean NLM_F_EXCL and NLM_F_REPLACE on a NEW
	 * request, so only a GET (RTM_GETLINK, GETADDR... are 2 mod 4) dumps.
	 */
	if ((req->hdr.nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP ||
	    (req->hdr.nlmsg_type & 3) != (RTM_GETLINK & 3))
		req->hdr.nlmsg_flags |= NLM_F_ACK;
	req->hdr.nlmsg_seq = seq;
	if (sendto(nl->fd, req, req->hdr.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return vk_fail(err, -errno, "%s", strerror(errno));
	buf = malloc(buflen);
	if (!buf)
		return vk_fail(err, -ENOMEM, "%s", strerror(ENOMEM));
	for (;;) {
		n = recv(nl->fd, buf, buflen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vk_fail(err, -errno, "%s", strerror(errno));
		r = nl_walk(buf, (size_t)n, seq, fn, opaque, &cb_ret, err);
		if (r < 0)
			return r;
		if (r)
			return cb_ret;
	}
}
