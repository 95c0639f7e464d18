// SPDX-License-Identifier: GPL-2.0-or-later
/* Typed rtnetlink requests: links, addresses and main-table routes. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/if_link.h>

#include "vmkit/netlink.h"

/* A growing array filled by a dump callback. */
struct nl_vec {
	void *items;
	size_t n, cap, size;
};

static void *vec_push(struct nl_vec *v)
{
	void *p;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;

		p = realloc(v->items, cap * v->size);
		if (!p)
			return NULL;
		v->items = p;
		v->cap = cap;
	}
	p = (char *)v->items + v->n++ * v->size;
	memset(p, 0, v->size);
	return p;
}

static void parse_linkinfo(const struct rtattr *info, struct vk_nl_link *l)
{
	const struct rtattr *tb[IFLA_INFO_MAX + 1];

	vk_nl_parse_attrs(tb, IFLA_INFO_MAX, RTA_DATA(info), RTA_PAYLOAD(info));
	if (tb[IFLA_INFO_KIND])
		snprintf(l->kind, sizeof(l->kind), "%.*s", (int)RTA_PAYLOAD(tb[IFLA_INFO_KIND]),
			 (const char *)RTA_DATA(tb[IFLA_INFO_KIND]));
}

static int parse_link(const struct nlmsghdr *h, struct vk_nl_link *l)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const struct rtattr *tb[IFLA_MAX + 1];

	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return -EPROTO;
	vk_nl_parse_attrs(tb, IFLA_MAX, IFLA_RTA(ifi), IFLA_PAYLOAD(h));
	memset(l, 0, sizeof(*l));
	l->index = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME])
		snprintf(l->name, sizeof(l->name), "%.*s", (int)RTA_PAYLOAD(tb[IFLA_IFNAME]),
			 (const char *)RTA_DATA(tb[IFLA_IFNAME]));
	if (tb[IFLA_MASTER] && RTA_PAYLOAD(tb[IFLA_MASTER]) >= 4)
		l->master = (int)*(const uint32_t *)RTA_DATA(tb[IFLA_MASTER]);
	if (tb[IFLA_OPERSTATE] && RTA_PAYLOAD(tb[IFLA_OPERSTATE]) >= 1)
		l->operstate = *(const uint8_t *)RTA_DATA(tb[IFLA_OPERSTATE]);
	if (tb[IFLA_LINKINFO])
		parse_linkinfo(tb[IFLA_LINKINFO], l);
	return 0;
}

static int link_one(const struct nlmsghdr *h, void *opaque)
{
	parse_link(h, opaque);
	return 0;
}

int vk_nl_link_get(struct vk_nl *nl, const char *name, struct vk_nl_link *out,
		   struct vk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct vk_nl_link l = { .index = 0 };
	struct vk_nl_req req;
	int r;

	vk_nl_req_init(&req, RTM_GETLINK, 0, &ifi, sizeof(ifi));
	vk_nl_put_str(&req, IFLA_IFNAME, name);
	r = vk_nl_call(nl, &req, link_one, &l, err);
	if (r < 0)
		return r;
	if (!l.index)
		return vk_fail(err, -ENODEV, "%s", strerror(ENODEV));
	*out = l;
	return 0;
}

static int link_push(const struct nlmsghdr *h, void *opaque)
{
	struct vk_nl_link l;
	struct vk_nl_link *p;

	if (parse_link(h, &l) < 0)
		return 0;
	p = vec_push(opaque);
	if (!p)
		return -ENOMEM;
	*p = l;
	return 0;
}

int vk_nl_link_list(struct vk_nl *nl, struct vk_nl_link **out, size_t *n, struct vk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nl_vec v = { .size = sizeof(struct vk_nl_link) };
	struct vk_nl_req req;
	int r;

	vk_nl_req_init(&req, RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi));
	r = vk_nl_call(nl, &req, link_push, &v, err);
	if (r < 0) {
		free(v.items);
		return r == -ENOMEM ? vk_fail(err, r, "%s", strerror(-r)) : r;
	}
	*out = v.items;
	*n = v.n;
	return 0;
}

int vk_nl_link_add(struct vk_nl *nl, const char *name, const char *kind, struct vk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct vk_nl_req req;
	struct rtattr *info;

	vk_nl_req_init(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
	vk_nl_put_str(&req, IFLA_IFNAME, name);
	info = vk_nl_nest_start(&req, IFLA_LINKINFO);
	vk_nl_put_str(&req, IFLA_INFO_KIND, kind);
	vk_nl_nest_end(&req, info);
	return vk_nl_call(nl, &req, NULL, NULL, err);
}

int vk_nl_link_del(struct vk_nl *nl, int index, struct vk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index };
	struct vk_nl_req req;

	vk_nl_req_init(&req, RTM_DELLINK, 0, &ifi, sizeof(ifi));
	return vk_nl_call(nl, &req, NULL, NULL, err);
}

int vk_nl_link_set_master(struct vk_nl *nl, int index, int master, struct vk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index };
	struct vk_nl_req req;

	vk_nl_req_init(&req, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	vk_nl_put_u32(&req, IFLA_MASTER, (uint32_t)master);
	return vk_nl_call(nl, &req, NULL, NULL, err);
}

int vk_nl_link_set_up(struct vk_nl *nl, int index, bool up, struct vk_err *err)
{
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC, .ifi_index = index,
		.ifi_flags = up ? IFF_UP : 0, .ifi_change = IFF_UP,
	};
	struct vk_nl_req req;

	vk_nl_req_init(&req, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	return vk_nl_call(nl, &req, NULL, NULL, err);
}

int vk_nl_link_set_mtu(struct vk_nl *nl, int index, unsigned int mtu, struct vk_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index };
	struct vk_nl_req req;

	vk_nl_req_init(&req, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	vk_nl_put_u32(&req, IFLA_MTU, mtu);
	return vk_nl_call(nl, &req, NULL, NULL, err);
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static int addr_push(const struct nlmsghdr *h, void *opaque)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	const struct rtattr *tb[IFA_MAX + 1];
	const struct rtattr *local;
	struct vk_nl_addr *a;
	struct nl_vec *v = opaque;
	size_t alen;

	if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return 0;
	vk_nl_parse_attrs(tb, IFA_MAX, IFA_RTA(ifa), IFA_PAYLOAD(h));
	/* IFA_LOCAL is the address itself; IFA_ADDRESS the peer on point-to-point links. */
	local = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	alen = addr_len(ifa->ifa_family);
	if (!local || RTA_PAYLOAD(local) < alen)
		return 0;
	a = vec_push(v);
	if (!a)
		return -ENOMEM;
	a->index = (int)ifa->ifa_index;
	a->family = ifa->ifa_family;
	a->prefixlen = ifa->ifa_prefixlen;
	a->scope = ifa->ifa_scope;
	memcpy(a->local, RTA_DATA(local), alen);
	if (tb[IFA_BROADCAST] && RTA_PAYLOAD(tb[IFA_BROADCAST]) >= 4) {
		memcpy(a->brd, RTA_DATA(tb[IFA_BROADCAST]), 4);
		a->has_brd = true;
	}
	return 0;
}

int vk_nl_addr_list(struct vk_nl *nl, int family, int index, struct vk_nl_addr **out,
		    size_t *n, struct vk_err *err)
{
	struct ifaddrmsg ifa = { .ifa_family = (uint8_t)family };
	struct nl_vec v = { .size = sizeof(struct vk_nl_addr) };
	struct vk_nl_addr *a;
	struct vk_nl_req req;
	size_t i, k;
	int r;

	vk_nl_req_init(&req, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
	r = vk_nl_call(nl, &req, addr_push, &v, err);
	if (r < 0) {
		free(v.items);
		return r == -ENOMEM ? vk_fail(err, r, "%s", strerror(-r)) : r;
	}
	/* Dumps are per family, not per link: keep the asked link's. */
	a = v.items;
	for (i = k = 0; i < v.n; i++)
		if (!index || a[i].index == index)
			a[k++] = a[i];
	*out = a;
	*n = k;
	return 0;
}

static void addr_req(struct vk_nl_req *req, uint16_t type, uint16_t flags,
		     const struct vk_nl_addr *a)
{
	struct ifaddrmsg ifa = {
		.ifa_family = (uint8_t)a->family, .ifa_prefixlen = a->prefixlen,
		.ifa_scope = a->scope, .ifa_index = (uint32_t)a->index,
	};
	size_t alen = addr_len(a->family);

	vk_nl_req_init(req, type, flags, &ifa, sizeof(ifa));
	if (a->family == AF_INET)
		vk_nl_put(req, IFA_LOCAL, a->local, alen);
	vk_nl_put(req, IFA_ADDRESS, a->local, alen);
	if (a->family == AF_INET && a->has_brd)
		vk_nl_put(req, IFA_BROADCAST, a->brd, 4);
}

int vk_nl_addr_add(struct vk_nl *nl, const struct vk_nl_addr *a, struct vk_err *err)
{
	struct vk_nl_req req;

	addr_req(&req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, a);
	return vk_nl_call(nl, &req, NULL, NULL, err);
}

int vk_nl_addr_del(struct vk_nl *nl, const struct vk_nl_addr *a, struct vk_err *err)
{
	struct vk_nl_req req;

	addr_req(&req, RTM_DELADDR, 0, a);
	return vk_nl_call(nl, &req, NULL, NULL, err);
}

static int route_push(const struct nlmsghdr *h, void *opaque)
{
	const struct rtmsg *rtm = NLMSG_DATA(h);
	const struct rtattr *tb[RTA_MAX + 1];
	struct vk_nl_route *rt;
	size_t alen;

	if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return 0;
	vk_nl_parse_attrs(tb, RTA_MAX, RTM_RTA(rtm), RTM_PAYLOAD(h));
	if ((tb[RTA_TABLE] && RTA_PAYLOAD(tb[RTA_TABLE]) >= 4 ?
	     *(const uint32_t *)RTA_DATA(tb[RTA_TABLE]) : rtm->rtm_table) != RT_TABLE_MAIN)
		return 0;
	rt = vec_push(opaque);
	if (!rt)
		return -ENOMEM;
	alen = addr_len(rtm->rtm_family);
	rt->family = rtm->rtm_family;
	rt->dst_len = rtm->rtm_dst_len;
	rt->table = RT_TABLE_MAIN;
	rt->protocol = rtm->rtm_protocol;
	rt->scope = rtm->rtm_scope;
	rt->type = rtm->rtm_type;
	if (tb[RTA_OIF] && RTA_PAYLOAD(tb[RTA_OIF]) >= 4)
		rt->oif = (int)*(const uint32_t *)RTA_DATA(tb[RTA_OIF]);
	if (tb[RTA_GATEWAY] && RTA_PAYLOAD(tb[RTA_GATEWAY]) >= alen) {
		memcpy(rt->gw, RTA_DATA(tb[RTA_GATEWAY]), alen);
		rt->has_gw = true;
	}
	if (tb[RTA_PRIORITY] && RTA_PAYLOAD(tb[RTA_PRIORITY]) >= 4) {
		rt->priority = *(const uint32_t *)RTA_DATA(tb[RTA_PRIORITY]);
		rt->has_priority = true;
	}
	return 0;
}

int vk_nl_route_list(struct vk_nl *nl, int family, struct vk_nl_route **out, size_t *n,
		     struct vk_err *err)
{
	struct rtmsg rtm = { .rtm_family = (uint8_t)family };
	struct nl_vec v = { .size = sizeof(struct vk_nl_route) };
	struct vk_nl_req req;
	int r;

	vk_nl_req_init(&req, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
	r = vk_nl_call(nl, &req, route_push, &v, err);
	if (r < 0) {
		free(v.items);
		return r == -ENOMEM ? vk_fail(err, r, "%s", strerror(-r)) : r;
	}
	*out = v.items;
	*n = v.n;
	return 0;
}

static void route_req(struct vk_nl_req *req, uint16_t type, uint16_t flags,
		      const struct vk_nl_route *r)
{
	struct rtmsg rtm = {
		.rtm_family = (uint8_t)r->family, .rtm_dst_len = r->dst_len,
		.rtm_table = r->table, .rtm_protocol = r->protocol,
		.rtm_scope = r->scope, .rtm_type = r->type,
	};

	vk_nl_req_init(req, type, flags, &rtm, sizeof(rtm));
	if (r->oif)
		vk_nl_put_u32(req, RTA_OIF, (uint32_t)r->oif);
	if (r->has_gw)
		vk_nl_put(req, RTA_GATEWAY, r->gw, addr_len(r->family));
	if (r->has_priority)
		vk_nl_put_u32(req, RTA_PRIORITY, r->priority);
}

/* Only default routes are moved, so dst is never needed (dst_len 0). */
int vk_nl_route_add(struct vk_nl *nl, const struct vk_nl_route *r, struct vk_err *err)
{
	struct vk_nl_req req;

	route_req(&req, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r);
	return vk_nl_call(nl, &req, NULL, NULL, err);
}

int vk_nl_route_del(struct vk_nl *nl, const struct vk_nl_route *r, struct vk_err *err)
{
	struct vk_nl_req req;

	route_req(&req, RTM_DELROUTE, 0, r);
	return vk_nl_call(nl, &req, NULL, NULL, err);
}

int vk_nl_parse_cidr(const char *s, struct vk_nl_addr *a)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	uint64_t plen;
	uint32_t host, mask;
	size_t n;

	if (!slash)
		return -EINVAL;
	n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, ip, a->local) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, a->local) == 1)
		a->family = AF_INET6;
	else
		return -EINVAL;
	if (vk_parse_uint(slash + 1, 0, a->family == AF_INET ? 32 : 128, &plen) < 0)
		return -EINVAL;
	a->prefixlen = (uint8_t)plen;
	a->scope = RT_SCOPE_UNIVERSE;
	if (a->family == AF_INET && plen < 31) {
		/* The broadcast address, as `ip addr add ... brd +` sets it. */
		memcpy(&host, a->local, 4);
		mask = plen ? htonl(~0u << (32 - plen)) : 0;
		host |= ~mask;
		memcpy(a->brd, &host, 4);
		a->has_brd = true;
	}
	return 0;
}

void vk_nl_format_cidr(const struct vk_nl_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(a->family, a->local, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, a->prefixlen);
}

bool vk_nl_valid_ifname(const char *name)
{
	const char *p;

	if (!*name || strlen(name) >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (p = name; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return false;
	return true;
}
