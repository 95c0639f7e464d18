// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --net user options, checked once by the monitor (so a bad one is a usage
 * error before anything starts) and parsed again by the helper that runs
 * them: one parser for both, with QEMU's defaults and syntax.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/net-user.h"

/* Raw values, resolved once every key is known (host= needs net=). */
struct raw_opts {
	const char *net, *host, *dns, *dhcp;
	char buf[4][64];
	struct net_user_opts *o;
	struct vk_err *err;
};

static int parse_bool(const char *key, const char *val, bool *out, struct vk_err *err)
{
	if (!strcmp(val, "on") || !strcmp(val, "yes") || !strcmp(val, "y"))
		*out = true;
	else if (!strcmp(val, "off") || !strcmp(val, "no") || !strcmp(val, "n"))
		*out = false;
	else
		return vk_fail(err, -EINVAL, "%s=%s: expected on or off", key, val);
	return 0;
}

static int keep(struct raw_opts *ro, int slot, const char **dst, const char *key, const char *val)
{
	if (!*val)
		return vk_fail(ro->err, -EINVAL, "%s=: needs an address", key);
	snprintf(ro->buf[slot], sizeof(ro->buf[slot]), "%s", val);
	*dst = ro->buf[slot];
	return 0;
}

static int opt_kv(void *opaque, const char *key, const char *val)
{
	struct raw_opts *ro = opaque;
	struct net_user_opts *o = ro->o;
	struct net_user_fwd *f;

	if (!strcmp(key, "net"))
		return keep(ro, 0, &ro->net, key, val);
	if (!strcmp(key, "host"))
		return keep(ro, 1, &ro->host, key, val);
	if (!strcmp(key, "dns"))
		return keep(ro, 2, &ro->dns, key, val);
	if (!strcmp(key, "dhcpstart"))
		return keep(ro, 3, &ro->dhcp, key, val);
	if (!strcmp(key, "restrict"))
		return parse_bool(key, val, &o->restricted, ro->err);
	if (!strcmp(key, "ipv6"))
		return parse_bool(key, val, &o->ipv6, ro->err);
	if (!strcmp(key, "mtu")) {
		uint64_t v;

		if (vk_parse_uint(val, 68, NET_USER_MTU_MAX, &v) < 0)
			return vk_fail(ro->err, -EINVAL, "mtu=%s: expected a number from 68 to %u", val,
				       NET_USER_MTU_MAX);
		o->mtu = (unsigned int)v;
		return 0;
	}
	if (!strcmp(key, "hostfwd")) {
		if (o->nr_fwds == NET_USER_MAX_FWDS)
			return vk_fail(ro->err, -EINVAL, "hostfwd=%s: at most %u forwards", val,
				       NET_USER_MAX_FWDS);
		f = &o->fwds[o->nr_fwds++];
		if (strlen(val) >= sizeof(f->spec))
			return vk_fail(ro->err, -EINVAL, "hostfwd=%.40s...: too long", val);
		snprintf(f->spec, sizeof(f->spec), "%s", val);
		return 0;
	}
	return vk_fail(ro->err, -EINVAL,
		       "unknown option '%s' (net, host, dns, dhcpstart, hostfwd, restrict, ipv6, mtu)",
		       key);
}

/* net=ADDR/PREFIX or ADDR/MASK, with no host bits set. */
static int parse_net(const char *s, struct net_user_opts *o, struct vk_err *err)
{
	char ip[32];
	const char *slash = strchr(s, '/');
	uint64_t prefix;
	uint32_t mask;
	struct in_addr m;

	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		return vk_fail(err, -EINVAL, "net=%s: expected ADDRESS/PREFIX (like 10.0.2.0/24)", s);
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	if (inet_pton(AF_INET, ip, &o->net) != 1)
		return vk_fail(err, -EINVAL, "net=%s: %s is not an IPv4 address", s, ip);
	if (inet_pton(AF_INET, slash + 1, &m) == 1) {
		mask = ntohl(m.s_addr);
		for (prefix = 0; prefix < 32 && (mask & (1u << (31 - prefix))); prefix++)
			;
		if (prefix < 32 && mask << prefix)
			return vk_fail(err, -EINVAL, "net=%s: %s is not a netmask", s, slash + 1);
	} else if (vk_parse_uint(slash + 1, 0, 32, &prefix) < 0) {
		return vk_fail(err, -EINVAL, "net=%s: prefix length %s is not 0-32", s, slash + 1);
	}
	/* Room for the host (.2), DNS (.3) and at least one lease after them. */
	if (prefix < 1 || prefix > 29)
		return vk_fail(err, -EINVAL, "net=%s: prefix length must be 1-29", s);
	o->prefix = (unsigned int)prefix;
	o->mask.s_addr = htonl(~0u << (32 - prefix));
	if (o->net.s_addr & ~o->mask.s_addr)
		return vk_fail(err, -EINVAL, "net=%s: host bits set (the network is %s/%u)", s,
			       inet_ntoa((struct in_addr){ o->net.s_addr & o->mask.s_addr }),
			       o->prefix);
	return 0;
}

static bool in_net(const struct net_user_opts *o, struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr), net = ntohl(o->net.s_addr), mask = ntohl(o->mask.s_addr);

	/* Inside, and neither the network's own address nor its broadcast. */
	return (h & mask) == net && h != net && h != (net | ~mask);
}

/* host=, dns=, dhcpstart=: the given address, else the network's .offset. */
static int addr_in_net(const char *key, const char *val, uint32_t offset,
		       const struct net_user_opts *o, struct in_addr *out, struct vk_err *err)
{
	struct in_addr a;
	char net[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &o->net, net, sizeof(net));
	if (!val) {
		a.s_addr = htonl(ntohl(o->net.s_addr) + offset);
		if (!in_net(o, a))
			return vk_fail(err, -EINVAL, "net=%s/%u: too small for the default %s "
				       "(.%u); give %s=", net, o->prefix, key, offset, key);
	} else if (inet_pton(AF_INET, val, &a) != 1) {
		return vk_fail(err, -EINVAL, "%s=%s: not an IPv4 address", key, val);
	} else if (!in_net(o, a)) {
		return vk_fail(err, -EINVAL, "%s=%s: not a host address in %s/%u", key, val, net,
			       o->prefix);
	}
	*out = a;
	return 0;
}

static int parse_port(const struct net_user_fwd *f, const char *s, uint16_t *out,
		      struct vk_err *err)
{
	uint64_t v;

	if (vk_parse_uint(s, 1, 65535, &v) < 0)
		return vk_fail(err, -EINVAL, "hostfwd=%s: port '%s' is not 1-65535", f->spec, s);
	*out = (uint16_t)v;
	return 0;
}

/* [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static int parse_fwd(struct net_user_fwd *f, const struct net_user_opts *o, struct vk_err *err)
{
	char s[sizeof(f->spec)], *proto = s, *haddr, *hport, *gaddr, *gport;

	memcpy(s, f->spec, sizeof(s));
	haddr = strchr(proto, ':');
	hport = haddr ? strchr(haddr + 1, ':') : NULL;
	gaddr = hport ? strchr(hport + 1, '-') : NULL;
	gport = gaddr ? strchr(gaddr + 1, ':') : NULL;
	if (!gport || strchr(gport + 1, ':'))
		return vk_fail(err, -EINVAL, "hostfwd=%s: expected "
			       "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", f->spec);
	*haddr++ = *hport++ = *gaddr++ = *gport++ = '\0';
	if (!strcmp(proto, "udp"))
		f->udp = true;
	else if (*proto && strcmp(proto, "tcp"))
		return vk_fail(err, -EINVAL, "hostfwd=%s: protocol '%s' is not tcp or udp",
			       f->spec, proto);
	f->host_addr.s_addr = htonl(INADDR_ANY);
	if (*haddr && inet_pton(AF_INET, haddr, &f->host_addr) != 1)
		return vk_fail(err, -EINVAL, "hostfwd=%s: '%s' is not an IPv4 address", f->spec,
			       haddr);
	f->guest_addr = o->dhcp_start;
	if (*gaddr && inet_pton(AF_INET, gaddr, &f->guest_addr) != 1)
		return vk_fail(err, -EINVAL, "hostfwd=%s: '%s' is not an IPv4 address", f->spec,
			       gaddr);
	if (!in_net(o, f->guest_addr))
		return vk_fail(err, -EINVAL, "hostfwd=%s: guest address %s is not in the guest "
			       "network", f->spec, inet_ntoa(f->guest_addr));
	if (parse_port(f, hport, &f->host_port, err) || parse_port(f, gport, &f->guest_port, err))
		return -EINVAL;
	return 0;
}

static int check_fwds(struct net_user_opts *o, struct vk_err *err)
{
	unsigned int i, j;

	for (i = 0; i < o->nr_fwds; i++) {
		if (parse_fwd(&o->fwds[i], o, err))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (o->fwds[j].udp == o->fwds[i].udp &&
			    o->fwds[j].host_port == o->fwds[i].host_port &&
			    o->fwds[j].host_addr.s_addr == o->fwds[i].host_addr.s_addr)
				return vk_fail(err, -EINVAL, "hostfwd=%s: host port %u is already "
					       "forwarded by hostfwd=%s", o->fwds[i].spec,
					       o->fwds[i].host_port, o->fwds[j].spec);
	}
	return 0;
}

int net_user_parse(const char *opts, struct net_user_opts *o, struct vk_err *err)
{
	struct raw_opts ro = { .net = "10.0.2.0/24", .o = o, .err = err };

	memset(o, 0, sizeof(*o));
	o->ipv6 = true;
	o->mtu = 1500;
	if (vk_parse_kv(opts, opt_kv, &ro))
		return -EINVAL;
	if (parse_net(ro.net, o, err) ||
	    addr_in_net("host", ro.host, 2, o, &o->host, err) ||
	    addr_in_net("dns", ro.dns, 3, o, &o->dns, err) ||
	    addr_in_net("dhcpstart", ro.dhcp, 15, o, &o->dhcp_start, err))
		return -EINVAL;
	if (o->host.s_addr == o->dns.s_addr || o->host.s_addr == o->dhcp_start.s_addr ||
	    o->dns.s_addr == o->dhcp_start.s_addr)
		return vk_fail(err, -EINVAL, "host, dns and dhcpstart must be three different "
			       "addresses");
	return check_fwds(o, err);
}
