// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Host bridges: the steps of seed 002's br0 script (addbr, addif, move the
 * address, up, default route) as rtnetlink requests, each failure reported
 * with the interface it concerns and the kernel's reason.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/bridge.h"

static void nl_closep(struct vk_nl *nl)
{
	vk_nl_close(nl);
}

#define _cleanup_nl_ __attribute__((cleanup(nl_closep)))

/* Prefix the kernel's reason left in err by a request with what was being done. */
static int fail_with(struct vk_err *err, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_with(struct vk_err *err, int r, const char *fmt, ...)
{
	char reason[sizeof(err->msg)];
	char what[256];
	va_list ap;

	snprintf(reason, sizeof(reason), "%s", err->msg[0] ? err->msg : strerror(-r));
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return vk_fail(err, r, "%s: %s", what, reason);
}

static int get_link(struct vk_nl *nl, const char *name, struct vk_nl_link *l,
		    struct vk_err *err)
{
	int r = vk_nl_link_get(nl, name, l, err);

	return r < 0 ? fail_with(err, r, "%s", name) : 0;
}

static int get_bridge(struct vk_nl *nl, const char *name, struct vk_nl_link *l,
		      struct vk_err *err)
{
	int r = get_link(nl, name, l, err);

	if (r < 0)
		return r;
	if (strcmp(l->kind, "bridge"))
		return vk_fail(err, -EINVAL, "%s: not a bridge", name);
	return 0;
}

/* MTU (when not 0), up, then addr (when not NULL and not there yet). */
static int configure(struct vk_nl *nl, const struct vk_nl_link *l, const struct vk_nl_addr *addr,
		     unsigned int mtu, struct vk_err *err)
{
	struct vk_nl_addr a;
	char cidr[64];
	int r;

	if (mtu) {
		r = vk_nl_link_set_mtu(nl, l->index, mtu, err);
		if (r < 0)
			return fail_with(err, r, "%s: cannot set mtu %u", l->name, mtu);
	}
	r = vk_nl_link_set_up(nl, l->index, true, err);
	if (r < 0)
		return fail_with(err, r, "%s: cannot bring up", l->name);
	if (!addr)
		return 0;
	a = *addr;
	a.index = l->index;
	r = vk_nl_addr_add(nl, &a, err);
	/* Already there (a bridge taken over, or started twice) is what was asked for. */
	if (r < 0 && r != -EEXIST) {
		vk_nl_format_cidr(&a, cidr, sizeof(cidr));
		return fail_with(err, r, "%s: cannot add address %s", l->name, cidr);
	}
	return 0;
}

static int create(const char *name, const struct vk_nl_addr *addr, unsigned int mtu,
		  bool may_exist, struct vk_err *err)
{
	_cleanup_nl_ struct vk_nl nl = { .fd = -1 };
	struct vk_nl_link l;
	bool made;
	int r;

	r = vk_nl_open(&nl, err);
	if (r < 0)
		return r;
	r = vk_nl_link_add(&nl, name, "bridge", err);
	if (r < 0 && !(r == -EEXIST && may_exist))
		return fail_with(err, r, "%s: cannot create bridge", name);
	made = r >= 0;
	r = made ? get_link(&nl, name, &l, err) : get_bridge(&nl, name, &l, err);
	if (r < 0)
		return r;
	r = configure(&nl, &l, addr, mtu, err);
	if (r < 0 && made)
		/* No half-made bridge left behind; err keeps the first failure. */
		vk_nl_link_del(&nl, l.index, &(struct vk_err){ 0 });
	return r < 0 ? r : made;
}

int vk_bridge_create(const char *name, const struct vk_nl_addr *addr, struct vk_err *err)
{
	int r = create(name, addr, 0, false, err);

	return r < 0 ? r : 0;
}

int vk_bridge_ensure(const char *name, const struct vk_nl_addr *addr, unsigned int mtu,
		     struct vk_err *err)
{
	return create(name, addr, mtu, true, err);
}

/* Netlink opened, and the interface looked up by name. */
static int open_link(struct vk_nl *nl, const char *name, struct vk_nl_link *l, struct vk_err *err)
{
	int r = vk_nl_open(nl, err);

	return r < 0 ? r : get_link(nl, name, l, err);
}

int vk_link_set_mtu(const char *iface, unsigned int mtu, struct vk_err *err)
{
	_cleanup_nl_ struct vk_nl nl = { .fd = -1 };
	struct vk_nl_link l;
	int r;

	r = open_link(&nl, iface, &l, err);
	if (r < 0)
		return r;
	r = vk_nl_link_set_mtu(&nl, l.index, mtu, err);
	return r < 0 ? fail_with(err, r, "%s: cannot set mtu %u", iface, mtu) : 0;
}

int vk_link_addr_del(const char *iface, const struct vk_nl_addr *addr, struct vk_err *err)
{
	_cleanup_nl_ struct vk_nl nl = { .fd = -1 };
	struct vk_nl_link l;
	struct vk_nl_addr a = *addr;
	char cidr[64];
	int r;

	r = open_link(&nl, iface, &l, err);
	if (r < 0)
		return r;
	a.index = l.index;
	r = vk_nl_addr_del(&nl, &a, err);
	if (r == -EADDRNOTAVAIL)
		return 0;
	vk_nl_format_cidr(&a, cidr, sizeof(cidr));
	return r < 0 ? fail_with(err, r, "%s: cannot remove address %s", iface, cidr) : 0;
}

int vk_bridge_delete(const char *name, struct vk_err *err)
{
	_cleanup_nl_ struct vk_nl nl = { .fd = -1 };
	struct vk_nl_link l;
	int r;

	r = vk_nl_open(&nl, err);
	if (r < 0)
		return r;
	r = get_bridge(&nl, name, &l, err);
	if (r < 0)
		return r;
	r = vk_nl_link_del(&nl, l.index, err);
	return r < 0 ? fail_with(err, r, "%s: cannot delete", name) : 0;
}

/*
 * Move the port's addresses to the bridge: all removed first, secondaries
 * before their primary (removing a primary takes its secondaries along),
 * then added in the order listed so the bridge keeps the same primary.
 * Whatever the bridge refuses is put back on the port.
 */
static int move_addrs(struct vk_nl *nl, const struct vk_nl_addr *addrs, size_t n, int to,
		      const char *iface, const char *bridge, struct vk_err *err)
{
	struct vk_nl_addr a;
	char cidr[64];
	size_t i, j;
	int r;

	for (i = n; i-- > 0;) {
		r = vk_nl_addr_del(nl, &addrs[i], err);
		if (r < 0 && r != -EADDRNOTAVAIL) {
			vk_nl_format_cidr(&addrs[i], cidr, sizeof(cidr));
			fail_with(err, r, "%s: cannot remove address %s", iface, cidr);
			for (j = i + 1; j < n; j++)
				vk_nl_addr_add(nl, &addrs[j], &(struct vk_err){ 0 });
			return r;
		}
	}
	for (i = 0; i < n; i++) {
		a = addrs[i];
		a.index = to;
		r = vk_nl_addr_add(nl, &a, err);
		if (r < 0) {
			vk_nl_format_cidr(&a, cidr, sizeof(cidr));
			fail_with(err, r, "%s: cannot add address %s", bridge, cidr);
			for (j = i; j < n; j++)
				vk_nl_addr_add(nl, &addrs[j], &(struct vk_err){ 0 });
			return r;
		}
	}
	return 0;
}

/*
 * The port's IPv4 default routes, re-created through the bridge. Removing
 * the port's last address already dropped them; with addresses left they
 * remain, and would send through a port that no longer routes.
 */
static int move_default_routes(struct vk_nl *nl, const struct vk_nl_route *rt, size_t n,
			       int from, int to, const char *bridge, struct vk_err *err)
{
	struct vk_nl_route nr;
	char gw[INET6_ADDRSTRLEN];
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		if (rt[i].dst_len || rt[i].oif != from || rt[i].type != RTN_UNICAST)
			continue;
		vk_nl_route_del(nl, &rt[i], &(struct vk_err){ 0 });
		nr = rt[i];
		nr.oif = to;
		r = vk_nl_route_add(nl, &nr, err);
		if (r < 0) {
			inet_ntop(nr.family, nr.gw, gw, sizeof(gw));
			return fail_with(err, r, "%s: cannot add default route%s%s", bridge,
					 nr.has_gw ? " via " : "", nr.has_gw ? gw : "");
		}
	}
	return 0;
}

static int check_port(const struct vk_nl_link *br, const struct vk_nl_link *port,
		      struct vk_err *err)
{
	char other[IFNAMSIZ];

	if (port->index == br->index)
		return vk_fail(err, -EINVAL, "%s: cannot attach a bridge to itself", br->name);
	if (port->master == br->index)
		return vk_fail(err, -EEXIST, "%s: already attached to %s", port->name, br->name);
	if (port->master)
		return vk_fail(err, -EBUSY, "%s: already attached to %s", port->name,
			       if_indextoname((unsigned int)port->master, other) ? other : "another master");
	return 0;
}

/* A netlink socket, the bridge and the interface to attach to or detach from it. */
static int open_bridge_and_port(struct vk_nl *nl, const char *bridge, struct vk_nl_link *br,
				const char *iface, struct vk_nl_link *port, struct vk_err *err)
{
	int r = vk_nl_open(nl, err);

	if (r >= 0)
		r = get_bridge(nl, bridge, br, err);
	if (r >= 0)
		r = get_link(nl, iface, port, err);
	return r;
}

int vk_bridge_attach(const char *bridge, const char *iface, struct vk_err *err)
{
	_cleanup_nl_ struct vk_nl nl = { .fd = -1 };
	_cleanup_free_ struct vk_nl_addr *addrs = NULL;
	_cleanup_free_ struct vk_nl_route *routes = NULL;
	struct vk_nl_link br, port;
	size_t naddrs, nroutes;
	int r;

	r = open_bridge_and_port(&nl, bridge, &br, iface, &port, err);
	if (r < 0)
		return r;
	r = check_port(&br, &port, err);
	if (r < 0)
		return r;
	/* Read what is to move before anything changes. */
	r = vk_nl_addr_list(&nl, AF_INET, port.index, &addrs, &naddrs, err);
	if (r < 0)
		return fail_with(err, r, "%s: cannot list addresses", iface);
	r = vk_nl_route_list(&nl, AF_INET, &routes, &nroutes, err);
	if (r < 0)
		return fail_with(err, r, "%s: cannot list routes", iface);

	r = vk_nl_link_set_master(&nl, port.index, br.index, err);
	if (r < 0)
		return fail_with(err, r, "%s: cannot attach to %s", iface, bridge);
	r = vk_nl_link_set_up(&nl, port.index, true, err);
	if (r < 0)
		return fail_with(err, r, "%s: cannot bring up", iface);
	r = vk_nl_link_set_up(&nl, br.index, true, err);
	if (r < 0)
		return fail_with(err, r, "%s: cannot bring up", bridge);
	r = move_addrs(&nl, addrs, naddrs, br.index, iface, bridge, err);
	if (r < 0)
		return r;
	return move_default_routes(&nl, routes, nroutes, port.index, br.index, bridge, err);
}

int vk_bridge_detach(const char *bridge, const char *iface, struct vk_err *err)
{
	_cleanup_nl_ struct vk_nl nl = { .fd = -1 };
	struct vk_nl_link br, port;
	int r;

	r = open_bridge_and_port(&nl, bridge, &br, iface, &port, err);
	if (r < 0)
		return r;
	if (port.master != br.index)
		return vk_fail(err, -EINVAL, "%s: not attached to %s", iface, bridge);
	r = vk_nl_link_set_master(&nl, port.index, 0, err);
	return r < 0 ? fail_with(err, r, "%s: cannot detach from %s", iface, bridge) : 0;
}

static bool same_addr(const struct vk_nl_addr *a, const struct vk_nl_addr *b)
{
	return b && a->family == b->family && a->prefixlen == b->prefixlen &&
	       !memcmp(a->local, b->local, a->family == AF_INET ? 4 : 16);
}

int vk_bridge_detach_restore(const char *bridge, const char *iface, const struct vk_nl_addr *keep,
			     struct vk_err *err)
{
	_cleanup_nl_ struct vk_nl nl = { .fd = -1 };
	_cleanup_free_ struct vk_nl_addr *addrs = NULL;
	_cleanup_free_ struct vk_nl_route *routes = NULL;
	struct vk_nl_link br, port;
	size_t naddrs, nroutes, i, k;
	int r;

	r = open_bridge_and_port(&nl, bridge, &br, iface, &port, err);
	if (r < 0)
		return r;
	if (port.master != br.index)
		return vk_fail(err, -ENOTCONN, "%s: not attached to %s", iface, bridge);
	r = vk_nl_addr_list(&nl, AF_INET, br.index, &addrs, &naddrs, err);
	if (r < 0)
		return fail_with(err, r, "%s: cannot list addresses", bridge);
	r = vk_nl_route_list(&nl, AF_INET, &routes, &nroutes, err);
	if (r < 0)
		return fail_with(err, r, "%s: cannot list routes", bridge);
	for (i = k = 0; i < naddrs; i++)
		if (!same_addr(&addrs[i], keep))
			addrs[k++] = addrs[i];
	r = vk_nl_link_set_master(&nl, port.index, 0, err);
	if (r < 0)
		return fail_with(err, r, "%s: cannot detach from %s", iface, bridge);
	r = move_addrs(&nl, addrs, k, port.index, bridge, iface, err);
	if (r < 0)
		return r;
	return move_default_routes(&nl, routes, nroutes, br.index, port.index, iface, err);
}
