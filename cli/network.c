// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit network: libvirt's net-* commands for bridged networks.
 *   define NAME --bridge BR [--address CIDR] [--uplink IFACE] [--mtu N] [--autostart]
 *   list [--all] | info NAME | start NAME | stop NAME [--force]
 *   autostart NAME [--disable] | delete NAME
 * Definitions live in $VMKIT_HOME/networks/NAME.conf; VM configs use them as
 * net0: virtio,network=NAME.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"

static const char usage[] =
	"usage: vmkit network define NAME --bridge BR [--address CIDR] [--uplink IFACE]\n"
	"                            [--mtu N] [--autostart]\n"
	"       vmkit network list [--all] | info NAME | start NAME | stop NAME [--force]\n"
	"       vmkit network autostart NAME [--disable] | delete NAME\n"
	"Networks: host bridges that VM configs name as net0: virtio,network=NAME.\n"
	"start makes the bridge (or takes an existing one), sets its MTU (68-65535) and\n"
	"address (10.0.0.1/24 or fd00::1/64), and attaches the uplink, moving the\n"
	"uplink's IPv4 addresses and default route to the bridge. stop gives them back\n"
	"to the uplink and deletes the bridge; it is refused while a running VM uses\n"
	"the network, unless --force. delete is refused while the network is active.\n"
	"'vmkit start --autostart' starts autostart networks before autostart VMs.\n";

static const struct {
	const char *opt, *key;
} define_opts[] = {
	{ "--bridge", "bridge" },
	{ "--address", "address" },
	{ "--uplink", "uplink" },
	{ "--mtu", "mtu" },
};

static int define_opt(struct network_def *n, int argc, char **argv, int *i, struct vk_err *err)
{
	unsigned int k;

	if (!strcmp(argv[*i], "--autostart")) {
		n->autostart = true;
		return 0;
	}
	for (k = 0; k < ARRAY_SIZE(define_opts); k++) {
		if (strcmp(argv[*i], define_opts[k].opt))
			continue;
		if (*i + 1 >= argc)
			return vk_fail(err, -EINVAL, "network define: %s needs a value", argv[*i]);
		*i += 1;
		return network_set(n, define_opts[k].key, argv[*i], err);
	}
	return vk_fail(err, -EINVAL, "network define: unknown option '%s'", argv[*i]);
}

static int net_define(int argc, char **argv, struct vk_err *err)
{
	struct network_def n = { 0 };
	int i, ret;

	if (argc < 2 || argv[1][0] == '-')
		return vk_fail(err, -EINVAL, "network define: expected NAME --bridge BR");
	ret = mgmt_check_name("network", argv[1], err);
	if (ret)
		return ret;
	if (!network_load(argv[1], &n, NULL))
		return vk_fail(err, -EEXIST, "network '%s' already exists", argv[1]);
	memset(&n, 0, sizeof(n));
	snprintf(n.name, sizeof(n.name), "%s", argv[1]);
	for (i = 2; i < argc && !ret; i++)
		ret = define_opt(&n, argc, argv, &i, err);
	if (!ret)
		ret = network_check(&n, err);
	if (!ret)
		ret = network_save(&n, err);
	if (!ret)
		printf("Network %s defined (bridge %s)\n", n.name, n.bridge);
	return ret;
}

static int net_list(int argc, char **argv, struct vk_err *err)
{
	bool all = argc > 1 && !strcmp(argv[1], "--all");
	char **names, **p;
	int ret;

	if (argc > 2 || (argc == 2 && !all))
		return vk_fail(err, -EINVAL, "network list: unexpected '%s'", argv[argc - 1]);
	ret = network_list_names(&names, err);
	if (ret)
		return ret;
	printf("%-20s %-10s %-10s %s\n", "NAME", "STATE", "AUTOSTART", "BRIDGE");
	for (p = names; *p; p++) {
		struct network_def n;
		bool active;

		if (network_load(*p, &n, NULL))
			continue;
		active = network_is_active(&n);
		if (active || all)
			printf("%-20s %-10s %-10s %s\n", n.name, active ? "active" : "inactive",
			       n.autostart ? "yes" : "no", n.bridge);
	}
	mgmt_strv_free(names);
	return 0;
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
static unsigned int net_users(const struct network_def *n, char *buf, size_t len)
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

static int net_info(const struct network_def *n)
{
	char users[1024];

	net_users(n, users, sizeof(users));
	printf("Name:           %s\nBridge:         %s\n", n->name, n->bridge);
	printf("State:          %s\nAutostart:      %s\n",
	       network_is_active(n) ? "active" : "inactive", n->autostart ? "yes" : "no");
	printf("Address:        %s\nUplink:         %s\n", n->address[0] ? n->address : "-",
	       n->uplink[0] ? n->uplink : "-");
	if (n->mtu)
		printf("MTU:            %u\n", n->mtu);
	else
		printf("MTU:            default\n");
	printf("Used by:        %s\n", users[0] ? users : "-");
	return 0;
}

static int net_start(struct network_def *n, struct vk_err *err)
{
	if (network_is_active(n))
		return vk_fail(err, -EALREADY, "network '%s' is already active", n->name);
	return network_start(n, err);
}

static int net_stop(struct network_def *n, const char *arg, struct vk_err *err)
{
	char users[1024];

	if (arg && strcmp(arg, "--force"))
		return vk_fail(err, -EINVAL, "network stop: unknown option '%s'", arg);
	if (!network_is_active(n))
		return vk_fail(err, -EALREADY, "network '%s' is not active", n->name);
	if (!arg && net_users(n, users, sizeof(users)))
		return vk_fail(err, -EBUSY, "network '%s' is in use by running VM %s (--force to stop it anyway)",
			       n->name, users);
	return network_stop(n, err);
}

static int net_change(const char *verb, struct network_def *n, const char *arg,
		      struct vk_err *err)
{
	if (!strcmp(verb, "start"))
		return arg ? vk_fail(err, -EINVAL, "network start: unexpected '%s'", arg) :
			     net_start(n, err);
	if (!strcmp(verb, "stop"))
		return net_stop(n, arg, err);
	if (!strcmp(verb, "autostart")) {
		if (arg && strcmp(arg, "--disable"))
			return vk_fail(err, -EINVAL, "network autostart: unknown option '%s'", arg);
		n->autostart = !arg;
		return network_save(n, err);
	}
	if (!strcmp(verb, "delete")) {
		if (arg)
			return vk_fail(err, -EINVAL, "network delete: unexpected '%s'", arg);
		if (network_is_active(n))
			return vk_fail(err, -EBUSY, "network '%s' is active (vmkit network stop %s)",
				       n->name, n->name);
		/* As virsh net-undefine: VM configs naming it stay, and fail to start. */
		return network_delete(n->name, err);
	}
	return vk_fail(err, -EINVAL, "network: unknown command '%s'", verb);
}

int network_autostart_all(void)
{
	struct vk_err err = { 0 };
	char **names, **p;
	int rc = 0;

	if (network_list_names(&names, &err))
		return mgmt_report(&err);
	for (p = names; *p; p++) {
		struct network_def n;

		if (network_load(*p, &n, &err)) {
			rc = mgmt_report(&err);
			continue;
		}
		if (!n.autostart || network_is_active(&n))
			continue;
		if (network_start(&n, &err)) {
			rc = mgmt_report(&err);
			continue;
		}
		printf("Network %s started\n", n.name);
	}
	mgmt_strv_free(names);
	return rc;
}

static int net_named(int argc, char **argv, struct vk_err *err)
{
	struct network_def n;
	int ret;

	if (argc < 2)
		return vk_fail(err, -EINVAL, "network %s: expected a network NAME", argv[0]);
	if (argc > 3)
		return vk_fail(err, -EINVAL, "network %s: unexpected '%s'", argv[0], argv[3]);
	ret = network_load(argv[1], &n, err);
	if (ret)
		return ret;
	if (!strcmp(argv[0], "info"))
		return argc > 2 ? vk_fail(err, -EINVAL, "network info: unexpected '%s'", argv[2]) :
				  net_info(&n);
	ret = net_change(argv[0], &n, argc > 2 ? argv[2] : NULL, err);
	if (!ret)
		printf("Network %s: %s done\n", n.name, argv[0]);
	return ret;
}

static const struct {
	const char *verb, *help;
} verbs[] = {
	{ "define", "usage: vmkit network define NAME --bridge BR [--address CIDR] [--uplink IFACE]\n"
		    "                            [--mtu N] [--autostart]\n"
		    "Define a network (not started). --bridge: the host bridge's name (at most 15\n"
		    "characters); --address: the bridge's address (10.0.0.1/24 or fd00::1/64);\n"
		    "--uplink: an interface to attach to the bridge, whose IPv4 addresses and\n"
		    "default route move to the bridge; --mtu: 68-65535, also set on the uplink;\n"
		    "--autostart: started by 'vmkit start --autostart'.\n" },
	{ "list", "usage: vmkit network list [--all]\n"
		  "The active networks (--all: also the inactive ones): name, state, autostart, bridge.\n" },
	{ "info", "usage: vmkit network info NAME\n"
		  "A network's definition, state, and the running VMs that use it.\n" },
	{ "start", "usage: vmkit network start NAME\n"
		   "Make the bridge (or take an existing one), set its MTU and address, attach the uplink.\n" },
	{ "stop", "usage: vmkit network stop NAME [--force]\n"
		  "Detach the uplink (its IPv4 addresses and default route back on it) and delete\n"
		  "the bridge. Refused while a running VM uses the network, unless --force (its\n"
		  "taps then lose their bridge).\n" },
	{ "autostart", "usage: vmkit network autostart NAME [--disable]\n"
		       "Start the network in 'vmkit start --autostart', before the autostart VMs.\n" },
	{ "delete", "usage: vmkit network delete NAME\n"
		    "Remove an inactive network's definition (VM configs naming it stay).\n" },
};

int cmd_network(int argc, char **argv)
{
	struct vk_err err = { 0 };
	unsigned int v;
	int ret;

	if (argc < 2)
		return mgmt_usage("network", "expected a command (see --help)");
	for (v = 0; v < ARRAY_SIZE(verbs) && strcmp(argv[1], verbs[v].verb); v++)
		;
	if (mgmt_want_help(argc, argv, v < ARRAY_SIZE(verbs) ? verbs[v].help : usage))
		return 0;
	if (v == ARRAY_SIZE(verbs))
		return mgmt_usage("network", "unknown command '%s' (see --help)", argv[1]);
	ret = mgmt_lock(&err);
	if (!ret)
		ret = mgmt_home_init(&err);
	if (ret)
		return mgmt_report(&err);
	if (!strcmp(argv[1], "define"))
		ret = net_define(argc - 1, argv + 1, &err);
	else if (!strcmp(argv[1], "list"))
		ret = net_list(argc - 1, argv + 1, &err);
	else
		ret = net_named(argc - 1, argv + 1, &err);
	return ret ? mgmt_report(&err) : 0;
}
