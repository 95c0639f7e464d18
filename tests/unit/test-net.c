// SPDX-License-Identifier: GPL-2.0-or-later
/* MAC addresses for --net: parsing, and the generated ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/net.h"

static void test_parse(void **state)
{
	uint8_t m[6], want[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

	assert_int_equal(net_parse_mac("52:54:00:ab:cd:ef", m), 0);
	assert_memory_equal(m, want, 6);
	assert_int_equal(net_parse_mac("52-54-00-AB-CD-EF", m), 0);
	assert_memory_equal(m, want, 6);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "52:54:00:ab:cd", "52:54:00:ab:cd:ef:01", "52:54:00:ab:cd:e", "5:54:00:ab:cd:ef0",
		"52:54:00:ab:cd:eg", "52 54 00 ab cd ef", "01:00:5e:00:00:01" /* multicast */,
		"ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00",
	};
	uint8_t m[6] = { 1, 2, 3, 4, 5, 6 }, keep[6] = { 1, 2, 3, 4, 5, 6 };
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(net_parse_mac(bad[i], m), 0);
		assert_memory_equal(m, keep, 6);	/* untouched on failure */
	}
}

static void test_default(void **state)
{
	uint8_t a[6], b[6], c[6], d[6];

	net_default_mac("web1", 0, a);
	net_default_mac("web1", 0, b);
	net_default_mac("web1", 1, c);
	net_default_mac("db1", 0, d);
	assert_memory_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	assert_memory_not_equal(a, d, 6);
	assert_memory_equal(a, "\x52\x54\x00", 3);
	/* Locally administered, unicast. */
	assert_true(a[0] & 2);
	assert_false(a[0] & 1);
	net_default_mac(NULL, 0, a);
	net_default_mac(NULL, 0, b);
	assert_memory_equal(a, "\x52\x54\x00", 3);
	assert_memory_not_equal(a, b, 6);	/* random: equal once in 2^24 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
