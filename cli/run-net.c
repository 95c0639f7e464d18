// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit run --net: parse the option (one line and exit 2 for anything
 * wrong), give each NIC its MAC, and open the backends before the VM is
 * built so that a tap that cannot be made stops the run before it starts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vmkit/config.h"
#include "vmkit/net.h"
#include "vmkit/net-user.h"

static int net_error(const char *spec, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int net_error(const char *spec, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	vk_msg("--net %s: %s", spec, buf);
	return -EINVAL;
}

static int net_uint(const struct net_config *n, const char *key, const char *val,
		    unsigned int min, unsigned int max, unsigned int *out)
{
	uint64_t v;

	if (vk_parse_uint(val, min, max, &v))
		return net_error(n->spec, "%s=%s: expected a number from %u to %u", key, val, min,
				 max);
	*out = v;
	return 0;
}

/* An interface name the kernel would take: 1-15 bytes, no '/', ':' or blanks. */
static int ifname_ok(const struct net_config *n, const char *key, const char *val)
{
	size_t len = strlen(val);

	if (!len || len >= 16 || strpbrk(val, "/: \t\n") || !strcmp(val, ".") ||
	    !strcmp(val, ".."))
		return net_error(n->spec, "%s=%s: not an interface name (1-15 characters, no '/', ':' or spaces)",
				 key, val);
	return 0;
}

/* Options every backend takes; 1 when key is not one of them. */
static int common_kv(struct net_config *n, const char *key, const char *val)
{
	if (!strcmp(key, "mac")) {
		if (net_parse_mac(val, n->mac))
			return net_error(n->spec, "mac=%s: not a unicast MAC address (like 52:54:00:12:34:56)",
					 val);
		n->mac_given = true;
		return 0;
	}
	return 1;
}

static int tap_kv(void *opaque, const char *key, const char *val)
{
	struct net_config *n = opaque;
	int r = common_kv(n, key, val);

	if (r <= 0)
		return r;
	if (!strcmp(key, "ifname")) {
		if (ifname_ok(n, key, val))
			return -EINVAL;
		snprintf(n->ifname, sizeof(n->ifname), "%s", val);
	} else if (!strcmp(key, "bridge") || !strcmp(key, "br")) {
		if (ifname_ok(n, key, val))
			return -EINVAL;
		n->bridge = strdup(val);
	} else if (!strcmp(key, "queues")) {
		return net_uint(n, key, val, 1, NET_MAX_QUEUES, &n->queues);
	} else if (!strcmp(key, "mtu")) {
		return net_uint(n, key, val, 68, 65535, &n->mtu);
	} else if (!strcmp(key, "vhost")) {
		if (!strcmp(val, "on"))
			n->vhost = 1;
		else if (!strcmp(val, "off"))
			n->vhost = 0;
		else
			return net_error(n->spec, "vhost=%s: expected on or off", val);
	} else {
		return net_error(n->spec, "unknown option '%s' (ifname, bridge, mac, queues, vhost, mtu)",
				 key);
	}
	return 0;
}

/*
 * --net user: mac= is the NIC's; everything else is the NAT helper's, kept
 * as an option string (commas in values doubled again) and checked here
 * by the helper's own parser, so a bad one stops the run before it starts.
 */
static int user_kv(void *opaque, const char *key, const char *val)
{
	static const char *const keys[] = { "net", "host", "dns", "dhcpstart", "hostfwd",
					    "restrict", "ipv6", "mtu" };
	struct net_config *n = opaque;
	size_t len = n->user_opts ? strlen(n->user_opts) : 0;
	unsigned int i;
	char *p;
	int r = common_kv(n, key, val);

	if (r <= 0)
		return r;
	for (i = 0; i < ARRAY_SIZE(keys) && strcmp(key, keys[i]); i++)
		;
	if (i == ARRAY_SIZE(keys))
		return net_error(n->spec, "unknown option '%s' (mac, net, host, dns, dhcpstart, hostfwd, restrict, ipv6, mtu)",
				 key);
	p = realloc(n->user_opts, len + strlen(key) + 2 * strlen(val) + 3);
	if (!p)
		return net_error(n->spec, "out of memory");
	n->user_opts = p;
	p += len;
	if (len)
		*p++ = ',';
	p = stpcpy(p, key);
	*p++ = '=';
	for (; *val; val++) {
		if (*val == ',')
			*p++ = ',';
		*p++ = *val;
	}
	*p = '\0';
	return 0;
}

static int user_check(struct net_config *n)
{
	struct net_user_opts o;
	struct vk_err err = { 0 };

	if (net_user_parse(n->user_opts ? n->user_opts : "", &o, &err))
		return net_error(n->spec, "%s", err.msg);
	return 0;
}

struct net_type {
	const char *name;
	enum net_kind kind;
	vk_kv_fn kv;
	int (*check)(struct net_config *n);	/* once every option is read; optional */
};

static const struct net_type net_types[] = {
	{ "tap", NET_TAP, tap_kv, NULL },
	{ "user", NET_USER, user_kv, user_check },
};

int run_parse_net(struct vm_config *c, const char *arg)
{
	const struct net_type *t = NULL;
	struct net_config *n;
	size_t len = strcspn(arg, ",");
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(net_types); i++)
		if (strlen(net_types[i].name) == len && !strncmp(arg, net_types[i].name, len))
			t = &net_types[i];
	if (!t)
		return net_error(arg, "unknown network type '%.*s' (tap, user)", (int)len, arg);
	if (c->nr_nets == VM_MAX_NICS)
		return net_error(arg, "at most %u NICs", VM_MAX_NICS);
	n = &c->nets[c->nr_nets];
	*n = (struct net_config){ .kind = t->kind, .spec = arg, .queues = 1, .vhost = -1 };
	if (arg[len] && vk_parse_kv(arg + len + 1, t->kv, n))
		return -EINVAL;
	if (t->check && t->check(n))
		return -EINVAL;
	c->nr_nets++;
	return 0;
}

/* Once every option is known (--name may come after --net): the MACs. */
void run_finish_nets(struct vm_config *c)
{
	unsigned int i;

	for (i = 0; i < c->nr_nets; i++)
		if (!c->nets[i].mac_given)
			net_default_mac(c->name, i, c->nets[i].mac);
}

int run_open_nets(struct vm_config *c)
{
	struct vk_err err = { 0 };
	unsigned int i;

	for (i = 0; i < c->nr_nets; i++) {
		struct net_config *n = &c->nets[i];
		const uint8_t *m = n->mac;

		if (net_backend_open(n, &n->backend, &err)) {
			vk_report(&err);
			run_close_nets(c);
			return -EINVAL;
		}
		vk_msg("net%u: %s %s%s%s, %u queue pair%s, mac %02x:%02x:%02x:%02x:%02x:%02x%s", i,
		       n->backend->ops->name, n->backend->ifname, n->bridge ? " on bridge " : "",
		       n->bridge ? n->bridge : "",
		       n->backend->nr_queues, n->backend->nr_queues > 1 ? "s" : "", m[0], m[1],
		       m[2], m[3], m[4], m[5], n->backend->vhost[0] ? ", vhost-net" : "");
	}
	return 0;
}

void run_close_nets(struct vm_config *c)
{
	unsigned int i;

	for (i = 0; i < c->nr_nets; i++) {
		net_backend_close(c->nets[i].backend);
		c->nets[i].backend = NULL;
	}
}
