// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for lib/net's parsers: --net user's options (net_user_parse,
 * shared by the monitor and vmkit-slirp) and the CIDR and interface names
 * of vmkit net.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/net-user.h"
#include "vmkit/netlink.h"

static const char *ip(struct in_addr a)
{
	static char buf[4][INET_ADDRSTRLEN];
	static unsigned int k;
	char *b = buf[k++ % 4];

	return inet_ntop(AF_INET, &a, b, INET_ADDRSTRLEN);
}

static void test_user_defaults(void **state)
{
	struct net_user_opts o;
	struct vk_err err = { 0 };

	assert_int_equal(net_user_parse("", &o, &err), 0);
	assert_string_equal(ip(o.net), "10.0.2.0");
	assert_int_equal(o.prefix, 24);
	assert_string_equal(ip(o.mask), "255.255.255.0");
	assert_string_equal(ip(o.host), "10.0.2.2");
	assert_string_equal(ip(o.dns), "10.0.2.3");
	assert_string_equal(ip(o.dhcp_start), "10.0.2.15");
	assert_false(o.restricted);
	assert_true(o.ipv6);
	assert_int_equal(o.mtu, 1500);
	assert_int_equal(o.nr_fwds, 0);
}

static void test_user_custom(void **state)
{
	struct net_user_opts o;
	struct vk_err err = { 0 };

	assert_int_equal(net_user_parse("net=192.168.0.0/255.255.0.0,host=192.168.1.1,"
					"dns=192.168.1.53,dhcpstart=192.168.2.100,restrict=on,"
					"ipv6=off,mtu=65520", &o, &err), 0);
	assert_int_equal(o.mtu, 65520);
	assert_int_equal(o.prefix, 16);
	assert_string_equal(ip(o.host), "192.168.1.1");
	assert_string_equal(ip(o.dns), "192.168.1.53");
	assert_string_equal(ip(o.dhcp_start), "192.168.2.100");
	assert_true(o.restricted);
	assert_false(o.ipv6);
	/* The defaults follow net=. */
	assert_int_equal(net_user_parse("net=172.20.0.0/20", &o, &err), 0);
	assert_string_equal(ip(o.host), "172.20.0.2");
	assert_string_equal(ip(o.dhcp_start), "172.20.0.15");
}

static void test_user_hostfwd(void **state)
{
	struct net_user_opts o;
	struct vk_err err = { 0 };

	assert_int_equal(net_user_parse("hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:5353-10.0.2.20:53,"
					"hostfwd=::8080-:80", &o, &err), 0);
	assert_int_equal(o.nr_fwds, 3);
	assert_false(o.fwds[0].udp);
	assert_string_equal(ip(o.fwds[0].host_addr), "0.0.0.0");
	assert_int_equal(o.fwds[0].host_port, 2222);
	assert_string_equal(ip(o.fwds[0].guest_addr), "10.0.2.15");
	assert_int_equal(o.fwds[0].guest_port, 22);
	assert_true(o.fwds[1].udp);
	assert_string_equal(ip(o.fwds[1].host_addr), "127.0.0.1");
	assert_string_equal(ip(o.fwds[1].guest_addr), "10.0.2.20");
	assert_int_equal(o.fwds[1].guest_port, 53);
	assert_false(o.fwds[2].udp);		/* no protocol: tcp, as QEMU */
	assert_int_equal(o.fwds[2].host_port, 8080);
	/* The same port for tcp and for udp is two forwards, not a clash. */
	assert_int_equal(net_user_parse("hostfwd=tcp::53-:53,hostfwd=udp::53-:53", &o, &err), 0);
	/* The guest address follows dhcpstart=. */
	assert_int_equal(net_user_parse("dhcpstart=10.0.2.100,hostfwd=tcp::2222-:22", &o, &err), 0);
	assert_string_equal(ip(o.fwds[0].guest_addr), "10.0.2.100");
}

static void test_user_bad(void **state)
{
	static const char *const bad[][2] = {
		{ "net=10.0.2.0", "expected ADDRESS/PREFIX" },
		{ "net=10.0.2.0/30", "prefix length must be 1-29" },
		{ "net=10.0.2.1/24", "host bits set (the network is 10.0.2.0/24)" },
		{ "net=10.0.2.0/28", "too small for the default dhcpstart" },
		{ "host=10.0.2.0", "not a host address" },
		{ "dns=10.0.2.255", "not a host address" },
		{ "dhcpstart=10.0.2.3", "three different addresses" },
		{ "host=", "needs an address" },
		{ "hostfwd=tcp::2222-:22x", "port '22x'" },
		{ "hostfwd=tcp::2222-:22:1", "expected [tcp|udp]" },
		{ "hostfwd=icmp::1-:1", "protocol 'icmp'" },
		{ "hostfwd=tcp::65536-:22", "port '65536'" },
		{ "hostfwd=tcp::1-10.0.2.255:22", "is not in the guest network" },
		{ "hostfwd=udp::9-:9,hostfwd=udp::9-:10", "already forwarded" },
		{ "restrict=1", "expected on or off" },
		{ "mtu=65521", "expected a number from 68 to 65520" },
		{ "mtu=", "mtu=: expected a number" },
		{ "mac=52:54:00:00:00:01", "unknown option 'mac'" },
	};
	struct net_user_opts o;
	struct vk_err err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(net_user_parse(bad[i][0], &o, &err), -EINVAL);
		if (!strstr(err.msg, bad[i][1]))
			fail_msg("%s: '%s' lacks '%s'", bad[i][0], err.msg, bad[i][1]);
	}
}

static void test_cidr(void **state)
{
	struct vk_nl_addr a;
	char buf[64];

	assert_int_equal(vk_nl_parse_cidr("10.1.2.3/24", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.prefixlen, 24);
	assert_true(a.has_brd);
	assert_memory_equal(a.brd, ((uint8_t[]){ 10, 1, 2, 255 }), 4);
	vk_nl_format_cidr(&a, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.2.3/24");
	assert_int_equal(vk_nl_parse_cidr("10.1.2.3/31", &a), 0);
	assert_false(a.has_brd);		/* point-to-point: no broadcast */
	assert_int_equal(vk_nl_parse_cidr("fd00::1/64", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	vk_nl_format_cidr(&a, buf, sizeof(buf));
	assert_string_equal(buf, "fd00::1/64");
	assert_int_equal(vk_nl_parse_cidr("10.1.2.3", &a), -EINVAL);
	assert_int_equal(vk_nl_parse_cidr("10.1.2.3/33", &a), -EINVAL);
	assert_int_equal(vk_nl_parse_cidr("10.1.2/24", &a), -EINVAL);
	assert_int_equal(vk_nl_parse_cidr("/24", &a), -EINVAL);
	assert_int_equal(vk_nl_parse_cidr("fd00::1/129", &a), -EINVAL);
}

static void test_ifnames(void **state)
{
	assert_true(vk_nl_valid_ifname("br0"));
	assert_true(vk_nl_valid_ifname("a-very-long-na"));
	assert_true(vk_nl_valid_ifname("fifteen-chars15"));
	assert_false(vk_nl_valid_ifname("sixteen-chars-16"));
	assert_false(vk_nl_valid_ifname(""));
	assert_false(vk_nl_valid_ifname("."));
	assert_false(vk_nl_valid_ifname(".."));
	assert_false(vk_nl_valid_ifname("a/b"));
	assert_false(vk_nl_valid_ifname("a:b"));
	assert_false(vk_nl_valid_ifname("a b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_defaults),
		cmocka_unit_test(test_user_custom),
		cmocka_unit_test(test_user_hostfwd),
		cmocka_unit_test(test_user_bad),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_ifnames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
