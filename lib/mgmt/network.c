// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Network definitions: networks/NAME.conf, `key: value` lines as pools
 * have. A network is a host bridge (libvirt's bridged network, Proxmox's
 * vmbr0) with an optional address, MTU and uplink; VM configs name it with
 * network=NAME, resolved to its bridge when the VM starts. Every key is
 * checked the same way whether it comes from `network define` or the file.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/mgmt.h"
#include "vmkit/netlink.h"

static int set_ifname(char *dst, const char *key, const char *val, struct vk_err *err)
{
	if (!vk_nl_valid_ifname(val))
		return vk_fail(err, -EINVAL,
			       "%s: '%s' is not a valid interface name (1-15 characters, no '/', ':' or spaces)",
			       key, val);
	snprintf(dst, IFNAMSIZ, "%s", val);
	return 0;
}

static int set_flag(bool *dst, const char *key, const char *val, struct vk_err *err)
{
	if (strcmp(val, "0") && strcmp(val, "1"))
		return vk_fail(err, -EINVAL, "%s: '%s' is not 0 or 1", key, val);
	*dst = val[0] == '1';
	return 0;
}

int network_set(struct network_def *n, const char *key, const char *val, struct vk_err *err)
{
	struct vk_nl_addr a;
	uint64_t mtu;

	if (!strcmp(key, "bridge"))
		return set_ifname(n->bridge, key, val, err);
	if (!strcmp(key, "uplink"))
		return set_ifname(n->uplink, key, val, err);
	if (!strcmp(key, "address")) {
		if (vk_nl_parse_cidr(val, &a) < 0 || strlen(val) >= sizeof(n->address))
			return vk_fail(err, -EINVAL,
				       "address: '%s' is not an address with a prefix length (10.0.0.1/24 or fd00::1/64)",
				       val);
		snprintf(n->address, sizeof(n->address), "%s", val);
		return 0;
	}
	if (!strcmp(key, "mtu")) {
		/* 68: IPv4's minimum; 65535: the most a bridge takes. */
		if (vk_parse_uint(val, 68, 65535, &mtu) < 0)
			return vk_fail(err, -EINVAL, "mtu: '%s' is not a number in 68-65535", val);
		n->mtu = (unsigned int)mtu;
		return 0;
	}
	if (!strcmp(key, "autostart"))
		return set_flag(&n->autostart, key, val, err);
	if (!strcmp(key, "active"))
		return set_flag(&n->active, key, val, err);
	if (!strcmp(key, "made-bridge"))
		return set_flag(&n->made_bridge, key, val, err);
	return vk_fail(err, -EINVAL, "unknown key '%s'", key);
}

/* Is the bridge or uplink of n also one of another network's interfaces? */
static int check_other(const struct network_def *n, const char *other, struct vk_err *err)
{
	struct network_def o;

	if (!strcmp(other, n->name) || network_load(other, &o, NULL))
		return 0;
	if (!strcmp(o.bridge, n->bridge) || !strcmp(o.uplink, n->bridge))
		return vk_fail(err, -EEXIST, "bridge: %s is already used by network '%s'", n->bridge,
			       o.name);
	if (n->uplink[0] && (!strcmp(o.bridge, n->uplink) || !strcmp(o.uplink, n->uplink)))
		return vk_fail(err, -EEXIST, "uplink: %s is already used by network '%s'", n->uplink,
			       o.name);
	return 0;
}

int network_check(const struct network_def *n, struct vk_err *err)
{
	char **names, **p;
	int ret;

	if (!n->bridge[0])
		return vk_fail(err, -EINVAL, "bridge: missing (every network is a bridge)");
	if (!strcmp(n->bridge, n->uplink))
		return vk_fail(err, -EINVAL, "uplink: %s is the bridge itself", n->uplink);
	ret = network_list_names(&names, err);
	if (ret)
		return ret;
	for (p = names; *p && !ret; p++)
		ret = check_other(n, *p, err);
	mgmt_strv_free(names);
	return ret;
}

static int set_key(void *ctx, const char *key, const char *val, struct vk_err *err)
{
	return network_set(ctx, key, val, err);
}

int network_load(const char *name, struct network_def *n, struct vk_err *err)
{
	char path[PATH_MAX];
	int ret;

	ret = mgmt_check_name("network", name, err);
	if (ret)
		return ret;
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	ret = mgmt_load_kv(mgmt_path(path, "networks/%s.conf", name), "network", name, set_key, n,
			   err);
	if (ret)
		return ret;
	if (!n->bridge[0])
		return vk_fail(err, -EINVAL, "%s: bridge: missing", path);
	return 0;
}

int network_save(const struct network_def *n, struct vk_err *err)
{
	char path[PATH_MAX], text[512];
	int len;

	len = snprintf(text, sizeof(text), "bridge: %s\n", n->bridge);
	if (n->address[0])
		len += snprintf(text + len, sizeof(text) - len, "address: %s\n", n->address);
	if (n->uplink[0])
		len += snprintf(text + len, sizeof(text) - len, "uplink: %s\n", n->uplink);
	if (n->mtu)
		len += snprintf(text + len, sizeof(text) - len, "mtu: %u\n", n->mtu);
	len += snprintf(text + len, sizeof(text) - len, "autostart: %d\nactive: %d\n", n->autostart,
			n->active);
	if (n->active)
		len += snprintf(text + len, sizeof(text) - len, "made-bridge: %d\n", n->made_bridge);
	return mgmt_write_atomic(mgmt_path(path, "networks/%s.conf", n->name), text, len, 0600,
				 err);
}

int network_delete(const char *name, struct vk_err *err)
{
	char path[PATH_MAX];

	if (unlink(mgmt_path(path, "networks/%s.conf", name)) < 0)
		return vk_fail(err, -errno, "network '%s': %s", name, strerror(errno));
	return 0;
}

static bool is_network_conf(const char *dir, const char *name, char *out)
{
	size_t n = strlen(name);

	(void)dir;
	if (n < 6 || n - 5 >= MGMT_NAME_MAX || strcmp(name + n - 5, ".conf"))
		return false;
	snprintf(out, MGMT_NAME_MAX, "%.*s", (int)(n - 5), name);
	return !mgmt_check_name("network", out, NULL);
}

int network_list_names(char ***names, struct vk_err *err)
{
	char p[PATH_MAX];

	return mgmt_list_dir(mgmt_path(p, "networks"), is_network_conf, names, err);
}

bool network_is_active(const struct network_def *n)
{
	return n->active && if_nametoindex(n->bridge);
}

int network_resolve(const char *name, char *bridge, unsigned int *mtu, struct vk_err *err)
{
	struct network_def n;
	int ret = network_load(name, &n, err);

	if (ret)
		return ret;
	if (!network_is_active(&n))
		return vk_fail(err, -EINVAL, "network '%s' is not active (vmkit network start %s)",
			       name, name);
	snprintf(bridge, IFNAMSIZ, "%s", n.bridge);
	*mtu = n.mtu;
	return 0;
}
