// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for lib/util: sizes, integers, option strings, the I/O bus. */
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/bus.h"
#include "vmkit/util.h"

static void test_sizes(void **state)
{
	uint64_t v;

	assert_int_equal(vk_parse_size("256", MiB, &v), 0);
	assert_int_equal(v, 256 * MiB);
	assert_int_equal(vk_parse_size("512M", MiB, &v), 0);
	assert_int_equal(v, 512 * MiB);
	assert_int_equal(vk_parse_size("2G", MiB, &v), 0);
	assert_int_equal(v, 2 * GiB);
	assert_int_equal(vk_parse_size("64k", 1, &v), 0);
	assert_int_equal(v, 64 * KiB);
	assert_int_equal(vk_parse_size("1GiB", 1, &v), 0);
	assert_int_equal(v, GiB);
	assert_int_equal(vk_parse_size("3MB", 1, &v), 0);
	assert_int_equal(v, 3 * MiB);
	assert_int_equal(vk_parse_size("10", 1, &v), 0);
	assert_int_equal(v, 10);
}

static void test_bad_sizes(void **state)
{
	uint64_t v = 42;

	assert_int_equal(vk_parse_size("", MiB, &v), -EINVAL);
	assert_int_equal(vk_parse_size("M", MiB, &v), -EINVAL);
	assert_int_equal(vk_parse_size("-1", MiB, &v), -EINVAL);
	assert_int_equal(vk_parse_size("12Q", MiB, &v), -EINVAL);
	assert_int_equal(vk_parse_size("1G2", MiB, &v), -EINVAL);
	assert_int_equal(vk_parse_size("99999999999999999999", 1, &v), -ERANGE);
	assert_int_equal(vk_parse_size("17179869184G", 1, &v), -ERANGE);
	assert_int_equal(v, 42);	/* untouched on failure */
}

static void test_uint(void **state)
{
	uint64_t v;

	assert_int_equal(vk_parse_uint("4", 1, 8, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(vk_parse_uint("0", 1, 8, &v), -ERANGE);
	assert_int_equal(vk_parse_uint("9", 1, 8, &v), -ERANGE);
	assert_int_equal(vk_parse_uint("4x", 1, 8, &v), -EINVAL);
	assert_int_equal(vk_parse_uint("", 1, 8, &v), -EINVAL);
}

struct kv_seen {
	char keys[8][32], vals[8][64];
	int n;
};

static int collect(void *opaque, const char *key, const char *val)
{
	struct kv_seen *s = opaque;

	if (!strcmp(key, "stop"))
		return -EINVAL;
	strcpy(s->keys[s->n], key);
	strcpy(s->vals[s->n], val);
	s->n++;
	return 0;
}

static void test_kv(void **state)
{
	struct kv_seen s = { 0 };

	assert_int_equal(vk_parse_kv("sockets=1,cores=2,,threads=1,ro", collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.keys[2], "ro");
	assert_string_equal(s.keys[0], "sockets");
	assert_string_equal(s.vals[0], "1");
	assert_string_equal(s.keys[1], "cores");
	assert_string_equal(s.vals[1], "2,threads=1");	/* ",," escapes a comma */

	memset(&s, 0, sizeof(s));
	assert_int_equal(vk_parse_kv("a=1,ro,,x", collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.keys[1], "ro,x");
	assert_string_equal(s.vals[1], "");

	memset(&s, 0, sizeof(s));
	assert_int_equal(vk_parse_kv("a=1,stop,b=2", collect, &s), -EINVAL);
	assert_int_equal(s.n, 1);
}

static uint64_t last_off;
static void test_list(void **state)
{
	unsigned long b[2] = { 0 };

	assert_int_equal(vk_parse_list("0-3,8,70-71", b, 128), 0);
	assert_int_equal(b[0], 0x10fUL);
	assert_int_equal(b[1], 0xc0UL);
	assert_true(vk_bit_test(b, 71) && !vk_bit_test(b, 72));
	assert_int_equal(vk_parse_list("5", b, 128), 0);
	assert_true(vk_bit_test(b, 5));
	assert_int_equal(vk_parse_list("", b, 128), -EINVAL);
	assert_int_equal(vk_parse_list("3-1", b, 128), -EINVAL);
	assert_int_equal(vk_parse_list("1,", b, 128), -EINVAL);
	assert_int_equal(vk_parse_list("1-", b, 128), -EINVAL);
	assert_int_equal(vk_parse_list("a", b, 128), -EINVAL);
	assert_int_equal(vk_parse_list("1;2", b, 128), -EINVAL);
	assert_int_equal(vk_parse_list("128", b, 128), -ERANGE);
	assert_int_equal(vk_parse_list("0-99999999999999999999", b, 128), -ERANGE);
}

static void dev_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	last_off = off;
	memset(data, *(int *)dev, len);
}

static const struct io_ops dev_ops = { .read = dev_read };

static void test_bus(void **state)
{
	struct io_bus bus;
	int a = 0xaa, b = 0xbb;
	uint8_t v = 0;

	io_bus_init(&bus);
	assert_int_equal(io_bus_register(&bus, 0x3f8, 8, &dev_ops, &a), 0);
	assert_int_equal(io_bus_register(&bus, 0x70, 2, &dev_ops, &b), 0);
	assert_int_equal(io_bus_register(&bus, 0x3fc, 8, &dev_ops, &b), -EBUSY);
	assert_int_equal(io_bus_register(&bus, 0x3f0, 9, &dev_ops, &b), -EBUSY);
	assert_int_equal(io_bus_register(&bus, 0x3f0, 8, &dev_ops, &b), 0);
	assert_int_equal(io_bus_register(&bus, 0x10, 0, &dev_ops, &b), -EINVAL);
	assert_true(io_bus_read(&bus, 0x3fd, &v, 1));
	assert_int_equal(v, 0xaa);
	assert_int_equal(last_off, 5);
	assert_true(io_bus_read(&bus, 0x71, &v, 1));
	assert_int_equal(v, 0xbb);
	assert_true(io_bus_read(&bus, 0x3f7, &v, 1));
	assert_int_equal(last_off, 7);
	assert_false(io_bus_read(&bus, 0x400, &v, 1));
	assert_false(io_bus_read(&bus, 0x72, &v, 1));
	assert_false(io_bus_write(&bus, 0x3f8, &v, 1));	/* device has no write op */
	assert_int_equal(io_bus_unregister(&bus, 0x70, &a), -ENOENT);	/* not a's */
	assert_int_equal(io_bus_unregister(&bus, 0x70, &b), 0);
	assert_false(io_bus_read(&bus, 0x71, &v, 1));
	assert_true(io_bus_read(&bus, 0x3f9, &v, 1));
	assert_int_equal(io_bus_register(&bus, 0x70, 2, &dev_ops, &a), 0);
	assert_true(io_bus_read(&bus, 0x70, &v, 1));
	assert_int_equal(v, 0xaa);
	io_bus_free(&bus);
}

/*
 * Files whose stat() size is 0 but which hold text: /proc's, and cgroup v2's
 * (cgroup.controllers), which vmkit read as empty, so that no resource control
 * worked on a cgroup v2 host.
 */
static void test_read_unsized_file(void **state)
{
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(vk_read_file("/proc/self/status", (void **)&text, &len, 1 << 20), 0);
	assert_true(len > 100);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "Name:"));
	free(text);
	/* Larger than max: refused, as for a file whose size is known. */
	assert_int_equal(vk_read_file("/proc/self/status", (void **)&text, &len, 16), -EFBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_bus),
		cmocka_unit_test(test_read_unsized_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
