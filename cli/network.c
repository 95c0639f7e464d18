// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit network: libvirt's net-* commands for bridged networks.
 *   define NAME --bridge BR [--address CIDR] [--uplink IFACE] [--mtu N] [--autostart]
 *   list [--all] | info NAME | start NAME | stop NAME [--force]
 *   autostart NAME [--disable] | delete NAME
 * Definitions live in $VMKIT_HOME/networks/NAME.conf; VM configs use them as
 * net0: virtio,network=NAME. The argument parsing and messages around
 * lib/mgmt/network-ops.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* One option at argv[*i] into kv; a message for a bad one. */
static int define_opt(struct vm_kv *kv, int argc, char **argv, int *i, struct vk_err *err)
{
	unsigned int k;

	if (!strcmp(argv[*i], "--autostart")) {
		kv->key = "autostart";
		kv->val = "1";
		return 0;
	}
	for (k = 0; k < ARRAY_SIZE(define_opts); k++) {
		if (strcmp(argv[*i], define_opts[k].opt))
			continue;
		if (*i + 1 >= argc)
			return vk_fail(err, -EINVAL, "network define: %s needs a value", argv[*i]);
		*i += 1;
		kv->key = (char *)define_opts[k].key;
		kv->val = argv[*i];
		return 0;
	}
	return vk_fail(err, -EINVAL, "network define: unknown option '%s'", argv[*i]);
}

static int net_define(int argc, char **argv, struct vk_err *err)
{
	struct vk_err perr = { 0 };
	struct network_def n;
	struct vm_kv *kv;
	unsigned int nkv = 0;
	int i, ret = 0;

	if (argc < 2 || argv[1][0] == '-')
		return vk_fail(err, -EINVAL, "network define: expected NAME --bridge BR");
	kv = calloc(argc, sizeof(*kv));
	if (!kv)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 2; i < argc && !ret; i++)
		if (!(ret = define_opt(&kv[nkv], argc, argv, &i, &perr)))
			nkv++;
	/* A bad option is named unless the name or an option before it is wrong. */
	if (ret) {
		ret = network_build(argv[1], kv, nkv, &n, err);
		if (!ret)
			ret = vk_fail(err, perr.code, "%s", perr.msg);
	} else {
		ret = network_define(argv[1], kv, nkv, &n, err);
	}
	free(kv);
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

static int net_info(const struct network_def *n)
{
	char users[1024];

	network_users(n, users, sizeof(users));
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

static int net_change(const char *verb, const char *name, const char *arg, struct vk_err *err)
{
	if (!strcmp(verb, "start"))
		return arg ? vk_fail(err, -EINVAL, "network start: unexpected '%s'", arg) :
			     network_up(name, err);
	if (!strcmp(verb, "stop")) {
		if (arg && strcmp(arg, "--force"))
			return vk_fail(err, -EINVAL, "network stop: unknown option '%s'", arg);
		return network_down(name, arg, err);
	}
	if (!strcmp(verb, "autostart")) {
		if (arg && strcmp(arg, "--disable"))
			return vk_fail(err, -EINVAL, "network autostart: unknown option '%s'", arg);
		return network_set_autostart(name, !arg, err);
	}
	if (!strcmp(verb, "delete"))
		return arg ? vk_fail(err, -EINVAL, "network delete: unexpected '%s'", arg) :
			     network_undefine(name, err);
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
	ret = net_change(argv[0], n.name, argc > 2 ? argv[2] : NULL, err);
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
