// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Networks as libvirt's net-* commands, for bridged networks: define,
 * undefine, start, stop, autostart, around lib/mgmt/network.c's
 * definitions and network-run.c's bridges, adding what they do not know:
 * which running VMs use a network. Each takes the state lock.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/mgmt-ops.h"

/* The keys a definition is made of; active and made-bridge are start's and stop's. */
static bool define_key(const char *key)
{
	static const char *const keys[] = { "bridge", "address", "uplink", "mtu", "autostart" };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

static int build_locked(const char *name, const struct vm_kv *kv, unsigned int nkv,
			struct network_def *n, struct vk_err *err)
{
	unsigned int i;
	int ret = mgmt_check_name("network", name, err);

	if (ret)
		return ret;
	if (!network_load(name, n, NULL))
		return vk_fail(err, -EEXIST, "network '%s' already exists", name);
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	for (i = 0; i < nkv && !ret; i++)
		ret = define_key(kv[i].key) ? network_set(n, kv[i].key, kv[i].val, err) :
		      vk_fail(err, -EINVAL, "network define: unknown key '%s'", kv[i].key);
	return ret;
}

int network_build(const char *name, const struct vm_kv *kv, unsigned int nkv,
		  struct network_def *n, struct vk_err *err)
{
	bool took;
	int ret = mgmt_op_lock(&took, err);

	if (!ret)
		ret = build_locked(name, kv, nkv, n, err);
	mgmt_op_unlock(took);
	return ret;
}

int network_define(const char *name, const struct vm_kv *kv, unsigned int nkv,
		   struct network_def *n, struct vk_err *err)
{
	bool took;
	int ret = mgmt_op_lock(&took, err);

	if (!ret)
		ret = build_locked(name, kv, nkv, n, err);
	if (!ret)
		ret = network_check(n, err);
	if (!ret)
		ret = network_save(n, err);
	mgmt_op_unlock(took);
	return ret;
}

/* Does a net key's value name this network, or its bridge? */
static bool net_uses(const char *val, const struct network_def *n)
{
	const char *p;
	size_t len;

	for (p = strchr(val, ','); p; p = strchr(p + 1, ',')) {
		len = strcspn(p + 1, ",");
		if ((!strncmp(p + 1, "network=", 8) && len - 8 == strlen(n->name) &&
		     !strncmp(p + 9, n->name, len - 8)) ||
		    (!strncmp(p + 1, "bridge=", 7) && len - 7 == strlen(n->bridge) &&
		     !strncmp(p + 8, n->bridge, len - 7)))
			return true;
	}
	return false;
}

static bool vm_uses(const char *vm, const struct network_def *n)
{
	struct vm_status st;
	struct vm_def d;
	unsigned int i;
	bool uses = false;

	if (vm_status_get(vm, &st) || !st.pid || vm_load(vm, &d, NULL))
		return false;
	for (i = 0; i < d.n && !uses; i++)
		uses = !strncmp(d.kv[i].key, "net", 3) && net_uses(d.kv[i].val, n);
	vm_def_free(&d);
	return uses;
}

/* The running VMs on the network, comma-separated, into buf; their count. */
unsigned int network_users(const struct network_def *n, char *buf, size_t len)
{
	char **names, **p;
	unsigned int count = 0;
	size_t off = 0;

	buf[0] = 0;
	if (vm_list_names(&names, NULL))
		return 0;
	for (p = names; *p; p++) {
		if (!vm_uses(*p, n))
			continue;
		count++;
		if (off < len)
			off += snprintf(buf + off, len - off, "%s%s", off ? "," : "", *p);
	}
	mgmt_strv_free(names);
	return count;
}

enum net_change { NET_UP, NET_DOWN, NET_FORCE_DOWN, NET_AUTOSTART, NET_NO_AUTOSTART,
		  NET_UNDEFINE };

static int change_locked(struct network_def *n, enum net_change what, struct vk_err *err)
{
	char users[1024];

	switch (what) {
	case NET_UP:
		if (network_is_active(n))
			return vk_fail(err, -EALREADY, "network '%s' is already active", n->name);
		return network_start(n, err);
	case NET_DOWN:
	case NET_FORCE_DOWN:
		if (!network_is_active(n))
			return vk_fail(err, -EALREADY, "network '%s' is not active", n->name);
		if (what == NET_DOWN && network_users(n, users, sizeof(users)))
			return vk_fail(err, -EBUSY, "network '%s' is in use by running VM %s (--force to stop it anyway)",
				       n->name, users);
		return network_stop(n, err);
	case NET_AUTOSTART:
	case NET_NO_AUTOSTART:
		n->autostart = what == NET_AUTOSTART;
		return network_save(n, err);
	case NET_UNDEFINE:
		if (network_is_active(n))
			return vk_fail(err, -EBUSY, "network '%s' is active (vmkit network stop %s)",
				       n->name, n->name);
		/* As virsh net-undefine: VM configs naming it stay, and fail to start. */
		return network_delete(n->name, err);
	}
	return -EINVAL;
}

static int change(const char *name, enum net_change what, struct vk_err *err)
{
	struct network_def n;
	bool took;
	int ret = mgmt_op_lock(&took, err);

	if (!ret)
		ret = network_load(name, &n, err);
	if (!ret)
		ret = change_locked(&n, what, err);
	mgmt_op_unlock(took);
	return ret;
}

int network_undefine(const char *name, struct vk_err *err)
{
	return change(name, NET_UNDEFINE, err);
}

int network_up(const char *name, struct vk_err *err)
{
	return change(name, NET_UP, err);
}

int network_down(const char *name, bool force, struct vk_err *err)
{
	return change(name, force ? NET_FORCE_DOWN : NET_DOWN, err);
}

int network_set_autostart(const char *name, bool on, struct vk_err *err)
{
	return change(name, on ? NET_AUTOSTART : NET_NO_AUTOSTART, err);
}
