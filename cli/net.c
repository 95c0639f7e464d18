// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit net: host bridges for bridged guests, the way seed 002 sets up br0
 * by hand, over rtnetlink. Bad usage exits 2, a failed operation 1, each
 * with one line naming the bridge or interface and the kernel's reason.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vmkit/bridge.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000	/* <linux/if.h>, which clashes with <net/if.h> */
#endif

/* The operation was refused (by the kernel, mostly). */
#define EXIT_FAILED 1

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vk_vmsg(fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

static int failed(const struct vk_err *err)
{
	vk_report(err);
	return EXIT_FAILED;
}

/* The positional arguments, each an interface name, exactly n of them. */
static int names(int argc, char **argv, int first, int n, const char *what)
{
	int i;

	if (argc - first != n)
		return usage_error("net %s: expects %s", argv[0], what);
	for (i = first; i < argc; i++)
		if (!vk_nl_valid_ifname(argv[i]))
			return usage_error("%s: not a valid interface name "
					   "(1-15 characters, no '/', ':' or spaces)", argv[i]);
	return 0;
}

static int bridge_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ 0 }
	};
	struct vk_err err = { 0 };
	struct vk_nl_addr addr;
	const char *cidr = NULL;
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'a')
			return usage_error("net bridge-create: unknown option '%s'", argv[optind - 1]);
		cidr = optarg;
	}
	r = names(argc, argv, optind, 1, "NAME [--address CIDR]");
	if (r)
		return r;
	if (cidr && vk_nl_parse_cidr(cidr, &addr) < 0)
		return usage_error("--address %s: not an address with a prefix length "
				   "(10.0.0.1/24 or fd00::1/64)", cidr);
	if (vk_bridge_create(argv[optind], cidr ? &addr : NULL, &err) < 0)
		return failed(&err);
	return 0;
}

static int bridge_delete(int argc, char **argv)
{
	struct vk_err err = { 0 };
	int r = names(argc, argv, 1, 1, "NAME");

	if (r)
		return r;
	return vk_bridge_delete(argv[1], &err) < 0 ? failed(&err) : 0;
}

static int bridge_attach(int argc, char **argv)
{
	struct vk_err err = { 0 };
	int r = names(argc, argv, 1, 2, "NAME IFACE");

	if (r)
		return r;
	return vk_bridge_attach(argv[1], argv[2], &err) < 0 ? failed(&err) : 0;
}

static int bridge_detach(int argc, char **argv)
{
	struct vk_err err = { 0 };
	int r = names(argc, argv, 1, 2, "NAME IFACE");

	if (r)
		return r;
	return vk_bridge_detach(argv[1], argv[2], &err) < 0 ? failed(&err) : 0;
}

/* Everything the listing shows, read once. */
struct net_state {
	struct vk_nl_link *links;
	size_t nlinks;
	struct vk_nl_addr *addrs;
	size_t naddrs;
};

static const char *link_state(const struct vk_nl_link *l)
{
	if (!(l->flags & IFF_UP))
		return "down";
	return l->flags & IFF_LOWER_UP ? "up" : "no-carrier";
}

/* The bridge's addresses (IPv6 link-local ones left out) or its ports, comma-separated. */
static void bridge_addrs(const struct net_state *st, int index, char *buf, size_t len)
{
	char cidr[64];
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < st->naddrs && off < len; i++) {
		if (st->addrs[i].index != index ||
		    (st->addrs[i].family == AF_INET6 && st->addrs[i].scope == RT_SCOPE_LINK))
			continue;
		vk_nl_format_cidr(&st->addrs[i], cidr, sizeof(cidr));
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "", cidr);
	}
}

static void bridge_ports(const struct net_state *st, int index, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < st->nlinks && off < len; i++)
		if (st->links[i].master == index)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						st->links[i].name);
}

static int bridge_list(int argc, char **argv)
{
	struct net_state st = { 0 };
	struct vk_err err = { 0 };
	struct vk_nl nl;
	char addrs[1024], ports[1024];
	size_t i;
	int r;

	if (argc != 1)
		return usage_error("net bridge-list: takes no arguments");
	r = vk_nl_open(&nl, &err);
	if (r == 0) {
		r = vk_nl_link_list(&nl, &st.links, &st.nlinks, &err);
		if (r == 0)
			r = vk_nl_addr_list(&nl, AF_UNSPEC, 0, &st.addrs, &st.naddrs, &err);
		vk_nl_close(&nl);
	}
	if (r < 0) {
		free(st.links);
		return failed(&err);
	}
	printf("%-15s %-10s %-31s %s\n", "NAME", "STATE", "ADDRESSES", "PORTS");
	for (i = 0; i < st.nlinks; i++) {
		if (strcmp(st.links[i].kind, "bridge"))
			continue;
		bridge_addrs(&st, st.links[i].index, addrs, sizeof(addrs));
		bridge_ports(&st, st.links[i].index, ports, sizeof(ports));
		printf("%-15s %-10s %-31s %s\n", st.links[i].name, link_state(&st.links[i]),
		       addrs[0] ? addrs : "-", ports[0] ? ports : "-");
	}
	free(st.links);
	free(st.addrs);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;
} net_commands[] = {
	{ "bridge-create", bridge_create, "NAME [--address CIDR]" },
	{ "bridge-delete", bridge_delete, "NAME" },
	{ "bridge-list", bridge_list, "" },
	{ "bridge-attach", bridge_attach, "NAME IFACE   (moves IFACE's IPv4 addresses and default route)" },
	{ "bridge-detach", bridge_detach, "NAME IFACE" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: vmkit net COMMAND [ARGS]\n\n");
	for (i = 0; i < ARRAY_SIZE(net_commands); i++)
		fprintf(f, "  %s %s\n", net_commands[i].name, net_commands[i].args);
}

int cmd_net(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(net_commands); i++)
		if (!strcmp(argv[1], net_commands[i].name))
			return net_commands[i].fn(argc - 1, argv + 1);
	return usage_error("net: unknown command '%s' (try 'vmkit net --help')", argv[1]);
}
