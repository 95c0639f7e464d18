// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for lib/mgmt/autoballoon.c: the auto-balloon policy (shrink by
 * the VM's share of the excess over the goal, grow by its share of the room
 * under the hysteresis band, clamps to [min, max], tiny changes skipped) and
 * the knobs file's parser. The guest-level test is tests/mgmt/test_autoballoon.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/autoballoon.h"

/* A 10000 MiB host: goal 80% = 8000 MiB, hysteresis 2% = 200 MiB (grow below 7800). */
static struct ab_input vm(uint64_t used, uint64_t min, uint64_t max, uint64_t actual)
{
	return (struct ab_input){
		.host_total = 10000, .host_used = used, .target_pct = 80,
		.min = min, .max = max, .actual = actual, .target = actual,
		.span_total = max - min,
	};
}

static void test_shrink_by_the_excess(void **state)
{
	struct ab_input in = vm(8300, 1024, 4096, 4096);
	uint64_t t;

	(void)state;
	assert_int_equal(ab_decide(&in, &t), AB_SHRINK);
	assert_int_equal(t, 4096 - 300);
}

static void test_shrink_clamps_at_min(void **state)
{
	struct ab_input in = vm(9900, 1024, 4096, 2000);
	uint64_t t;

	(void)state;
	assert_int_equal(ab_decide(&in, &t), AB_SHRINK);
	assert_int_equal(t, 1024);
	/* Already there: nothing to send. */
	in.actual = in.target = 1024;
	assert_int_equal(ab_decide(&in, &t), AB_KEEP);
	assert_int_equal(t, 1024);
}

static void test_grow_by_the_room(void **state)
{
	struct ab_input in = vm(7000, 1024, 4096, 2048);
	uint64_t t;

	(void)state;
	/* room = 8000 - 200 - 7000 = 800 */
	assert_int_equal(ab_decide(&in, &t), AB_GROW);
	assert_int_equal(t, 2048 + 800);
}

static void test_grow_clamps_at_max(void **state)
{
	struct ab_input in = vm(1000, 1024, 4096, 3000);
	uint64_t t;

	(void)state;
	assert_int_equal(ab_decide(&in, &t), AB_GROW);
	assert_int_equal(t, 4096);
	in.actual = in.target = 4096;
	assert_int_equal(ab_decide(&in, &t), AB_KEEP);
}

static void test_hysteresis_band(void **state)
{
	uint64_t used, t;

	(void)state;
	/* From the goal down to the goal minus 2% of the host: nothing moves. */
	for (used = 7800; used <= 8000; used += 50) {
		struct ab_input in = vm(used, 1024, 4096, 2048);

		assert_int_equal(ab_decide(&in, &t), AB_KEEP);
		assert_int_equal(t, 2048);
	}
	{
		struct ab_input in = vm(8001, 1024, 4096, 2048);

		assert_int_equal(ab_decide(&in, &t), AB_KEEP);	/* 1 MiB: under 1% of max */
		in.host_used = 8100;
		assert_int_equal(ab_decide(&in, &t), AB_SHRINK);
		assert_int_equal(t, 1948);
		in.host_used = 7700;
		assert_int_equal(ab_decide(&in, &t), AB_GROW);
		assert_int_equal(t, 2148);
	}
}

static void test_shares_across_vms(void **state)
{
	/* Two auto VMs: this one can give 3072, the other 1024: this one gives 3/4. */
	struct ab_input in = vm(8400, 1024, 4096, 4096);
	uint64_t t;

	(void)state;
	in.span_total = 3072 + 1024;
	assert_int_equal(ab_decide(&in, &t), AB_SHRINK);
	assert_int_equal(t, 4096 - 300);
	/* Growing: 3/4 of the room of 800. */
	in = vm(7000, 1024, 4096, 2048);
	in.span_total = 4096;
	assert_int_equal(ab_decide(&in, &t), AB_GROW);
	assert_int_equal(t, 2048 + 600);
	/* A share that does not divide evenly is rounded up when shrinking. */
	in = vm(8100, 1000, 2000, 2000);
	in.span_total = 3000;
	assert_int_equal(ab_decide(&in, &t), AB_SHRINK);
	assert_int_equal(t, 2000 - 34);
	/* A stale sum smaller than the VM's own span counts as the VM alone. */
	in = vm(8300, 1024, 4096, 4096);
	in.span_total = 10;
	assert_int_equal(ab_decide(&in, &t), AB_SHRINK);
	assert_int_equal(t, 4096 - 300);
}

static void test_tiny_changes_skipped(void **state)
{
	struct ab_input in = vm(8030, 1024, 4096, 3000);
	uint64_t t;

	(void)state;
	/* 30 MiB < 1% of 4096: skipped. */
	assert_int_equal(ab_decide(&in, &t), AB_KEEP);
	assert_int_equal(t, 3000);
	in.host_used = 8041;
	assert_int_equal(ab_decide(&in, &t), AB_SHRINK);
	assert_int_equal(t, 2959);
	/* A small step that reaches min is made: the job is finished. */
	in = vm(8030, 1024, 4096, 1040);
	assert_int_equal(ab_decide(&in, &t), AB_SHRINK);
	assert_int_equal(t, 1024);
	/* So is one that reaches max. */
	in = vm(7700, 1024, 4096, 4090);
	assert_int_equal(ab_decide(&in, &t), AB_GROW);
	assert_int_equal(t, 4096);
}

static void test_decides_from_actual_not_target(void **state)
{
	/* The guest is still inflating toward 2000: the same excess gives the same target. */
	struct ab_input in = vm(9000, 1024, 4096, 3000);
	uint64_t t;

	(void)state;
	in.target = 2000;
	assert_int_equal(ab_decide(&in, &t), AB_KEEP);
	assert_int_equal(t, 2000);
	/* The host freed memory on its own meanwhile: less to give. */
	in.host_used = 8500;
	assert_int_equal(ab_decide(&in, &t), AB_GROW);
	assert_int_equal(t, 2500);
}

static void test_no_auto_without_room(void **state)
{
	struct ab_input in = vm(9900, 4096, 4096, 4096);
	uint64_t t;

	(void)state;
	assert_int_equal(ab_decide(&in, &t), AB_KEEP);
	assert_int_equal(t, 4096);
	/* A target below min (set by hand) is brought back up to min. */
	in = vm(9900, 1024, 4096, 512);
	assert_int_equal(ab_decide(&in, &t), AB_GROW);
	assert_int_equal(t, 1024);
}

static void test_extreme_targets(void **state)
{
	struct ab_input in = vm(500, 128, 256, 256);
	uint64_t t;

	(void)state;
	in.target_pct = 1;	/* goal 100 MiB of 10000: everything is excess */
	assert_int_equal(ab_decide(&in, &t), AB_SHRINK);
	assert_int_equal(t, 128);
	in.actual = in.target = 128;
	in.target_pct = 100;	/* goal the whole host: all room */
	assert_int_equal(ab_decide(&in, &t), AB_GROW);
	assert_int_equal(t, 256);
}

static void test_knobs(void **state)
{
	struct vk_err err = { 0 };
	struct ab_knobs k;

	(void)state;
	assert_int_equal(ab_parse_knobs("", &k, &err), 0);
	assert_int_equal(k.target_pct, 80);
	assert_int_equal(k.interval_ms, 10000);
	assert_int_equal(ab_parse_knobs("# host policy\n\ntarget: 65\ninterval: 0.2\n", &k, &err), 0);
	assert_int_equal(k.target_pct, 65);
	assert_int_equal(k.interval_ms, 200);
	assert_int_equal(ab_parse_knobs("  target :  1 \r\ninterval:3600", &k, &err), 0);
	assert_int_equal(k.target_pct, 1);
	assert_int_equal(k.interval_ms, 3600000);
}

static void test_bad_knobs(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "target: 0\n", "line 1: target: '0' is not a percentage from 1 to 100" },
		{ "target: 101", "line 1: target: '101' is not a percentage from 1 to 100" },
		{ "\ntarget: lots", "line 2: target: 'lots' is not a percentage from 1 to 100" },
		{ "interval: 0.05", "line 1: interval: '0.05' is not a number of seconds from 0.1 to 3600" },
		{ "interval: 1h", "line 1: interval: '1h' is not a number of seconds from 0.1 to 3600" },
		{ "interval: nan", "line 1: interval: 'nan' is not a number of seconds from 0.1 to 3600" },
		{ "interval: 4000", "line 1: interval: '4000' is not a number of seconds from 0.1 to 3600" },
		{ "target 50", "line 1: expected 'key: value'" },
		{ "goal: 50", "line 1: unknown key 'goal' (target, interval)" },
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vk_err err = { 0 };
		struct ab_knobs k = { 7, 7 };

		assert_int_equal(ab_parse_knobs(bad[i].text, &k, &err), -EINVAL);
		assert_string_equal(err.msg, bad[i].msg);
		assert_int_equal(k.target_pct, 80);
		assert_int_equal(k.interval_ms, 10000);
	}
	{
		struct vk_err err = { 0 };
		struct ab_knobs k;

		/* The bad line is skipped, the good ones count; the first bad line is named. */
		assert_int_equal(ab_parse_knobs("target: 1x\ninterval: 0.2\nfoo: 1\n", &k, &err),
				 -EINVAL);
		assert_string_equal(err.msg, "line 1: target: '1x' is not a percentage from 1 to 100");
		assert_int_equal(k.target_pct, 80);
		assert_int_equal(k.interval_ms, 200);
		assert_int_equal(ab_parse_knobs("target: 50\ntarget: x", &k, &err), -EINVAL);
		assert_int_equal(k.target_pct, 50);
	}
}

static void test_load_knobs(void **state)
{
	char dir[] = "/tmp/vmkit-ab-XXXXXX", p[64];
	struct vk_err err = { 0 };
	struct ab_knobs k;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/autoballoon", dir);
	/* No file: the defaults, no error. */
	assert_int_equal(ab_load_knobs(p, &k, &err), 0);
	assert_int_equal(k.target_pct, 80);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("target: 90\n", f);
	fclose(f);
	assert_int_equal(ab_load_knobs(p, &k, &err), 0);
	assert_int_equal(k.target_pct, 90);
	f = fopen(p, "w");
	fputs("target: ninety\n", f);
	fclose(f);
	assert_int_equal(ab_load_knobs(p, &k, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "/autoballoon: line 1: target: 'ninety'"));
	assert_int_equal(k.target_pct, 80);
	f = fopen(p, "w");
	fwrite("target: 5\0\n", 1, 11, f);
	fclose(f);
	assert_int_equal(ab_load_knobs(p, &k, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a text file"));
	unlink(p);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shrink_by_the_excess),
		cmocka_unit_test(test_shrink_clamps_at_min),
		cmocka_unit_test(test_grow_by_the_room),
		cmocka_unit_test(test_grow_clamps_at_max),
		cmocka_unit_test(test_hysteresis_band),
		cmocka_unit_test(test_shares_across_vms),
		cmocka_unit_test(test_tiny_changes_skipped),
		cmocka_unit_test(test_decides_from_actual_not_target),
		cmocka_unit_test(test_no_auto_without_room),
		cmocka_unit_test(test_extreme_targets),
		cmocka_unit_test(test_knobs),
		cmocka_unit_test(test_bad_knobs),
		cmocka_unit_test(test_load_knobs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
