/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rtnetlink, spoken directly: a socket, request building, one call that
 * sends a request and collects its replies (a dump or an acknowledgement),
 * and the typed link, address and route requests the bridge commands need.
 * Errors carry the kernel's reason (errno text plus its extended ack).
 */
#ifndef VMKIT_NETLINK_H
#define VMKIT_NETLINK_H

#include <net/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "vmkit/util.h"

struct vk_nl {
	int fd;
	uint32_t seq;
};

/* One request under construction: header, fixed body, then attributes. */
struct vk_nl_req {
	union {
		struct nlmsghdr hdr;
		char buf[4096];
	};
};

int vk_nl_open(struct vk_nl *nl, struct vk_err *err);
void vk_nl_close(struct vk_nl *nl);

void vk_nl_req_init(struct vk_nl_req *req, uint16_t type, uint16_t flags,
		    const void *body, size_t body_len);
void vk_nl_put(struct vk_nl_req *req, uint16_t type, const void *data, size_t len);
void vk_nl_put_u32(struct vk_nl_req *req, uint16_t type, uint32_t v);
void vk_nl_put_str(struct vk_nl_req *req, uint16_t type, const char *s);
struct rtattr *vk_nl_nest_start(struct vk_nl_req *req, uint16_t type);
void vk_nl_nest_end(struct vk_nl_req *req, struct rtattr *nest);

/*
 * Send req and read its replies, calling fn (when not NULL) for each data
 * message, until the dump ends or the kernel acknowledges. A non-zero return
 * of fn stops and is returned once the replies are drained. On a kernel
 * error returns its negative errno with err->msg set to the reason alone
 * ("File exists", or "Invalid argument (<extended ack>)").
 */
typedef int (*vk_nl_msg_fn)(const struct nlmsghdr *h, void *opaque);
int vk_nl_call(struct vk_nl *nl, struct vk_nl_req *req, vk_nl_msg_fn fn, void *opaque,
	       struct vk_err *err);

/* tb[type] = the attribute of that type (the last one wins), for type <= max. */
void vk_nl_parse_attrs(const struct rtattr **tb, unsigned int max,
		       const struct rtattr *rta, size_t len);

/* A link as RTM_NEWLINK describes it. */
struct vk_nl_link {
	int index;
	unsigned int flags;		/* IFF_* */
	int master;			/* index of the master (bridge), 0 for none */
	uint8_t operstate;		/* IF_OPER_* */
	char name[IFNAMSIZ];
	char kind[16];			/* IFLA_INFO_KIND: "bridge", "veth"; "" for none */
};

/* An address as RTM_NEWADDR describes it. */
struct vk_nl_addr {
	int index;
	int family;			/* AF_INET or AF_INET6 */
	uint8_t prefixlen;
	uint8_t scope;
	uint8_t local[16];		/* IFA_LOCAL (IPv4) or IFA_ADDRESS (IPv6) */
	uint8_t brd[4];
	bool has_brd;
};

/* An IPv4 or IPv6 route as RTM_NEWROUTE describes it (the fields we keep). */
struct vk_nl_route {
	int family;
	int oif;
	uint8_t dst_len;
	uint8_t table;
	uint8_t protocol;
	uint8_t scope;
	uint8_t type;
	uint8_t gw[16];
	bool has_gw;
	uint32_t priority;
	bool has_priority;
};

/*
 * The request functions fill err with the kernel's reason alone; callers
 * name the interface. Lists are malloc'd arrays the caller frees.
 */
int vk_nl_link_get(struct vk_nl *nl, const char *name, struct vk_nl_link *out,
		   struct vk_err *err);
int vk_nl_link_list(struct vk_nl *nl, struct vk_nl_link **out, size_t *n, struct vk_err *err);
int vk_nl_link_add(struct vk_nl *nl, const char *name, const char *kind, struct vk_err *err);
int vk_nl_link_del(struct vk_nl *nl, int index, struct vk_err *err);
int vk_nl_link_set_master(struct vk_nl *nl, int index, int master, struct vk_err *err);
int vk_nl_link_set_up(struct vk_nl *nl, int index, bool up, struct vk_err *err);
int vk_nl_link_set_mtu(struct vk_nl *nl, int index, unsigned int mtu, struct vk_err *err);

/* family AF_UNSPEC for all; index 0 for every link. */
int vk_nl_addr_list(struct vk_nl *nl, int family, int index, struct vk_nl_addr **out,
		    size_t *n, struct vk_err *err);
int vk_nl_addr_add(struct vk_nl *nl, const struct vk_nl_addr *a, struct vk_err *err);
int vk_nl_addr_del(struct vk_nl *nl, const struct vk_nl_addr *a, struct vk_err *err);

/* The routes of the main table in family. */
int vk_nl_route_list(struct vk_nl *nl, int family, struct vk_nl_route **out, size_t *n,
		     struct vk_err *err);
int vk_nl_route_add(struct vk_nl *nl, const struct vk_nl_route *r, struct vk_err *err);
int vk_nl_route_del(struct vk_nl *nl, const struct vk_nl_route *r, struct vk_err *err);

/* "10.0.0.1/24" or "fd00::1/64" into a (its index left 0); -EINVAL when malformed. */
int vk_nl_parse_cidr(const char *s, struct vk_nl_addr *a);
/* "10.0.0.1/24" from a; buf of at least INET6_ADDRSTRLEN + 4 bytes. */
void vk_nl_format_cidr(const struct vk_nl_addr *a, char *buf, size_t len);

/* Whether the kernel would take name as an interface name (dev_valid_name). */
bool vk_nl_valid_ifname(const char *name);

#endif
