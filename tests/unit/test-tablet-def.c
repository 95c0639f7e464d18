// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The management layer's tablet: key (Proxmox's; issue 13) as it becomes
 * `vmkit run --tablet`: on by default when the VM has a screen (vga: std),
 * as Proxmox's tablet defaults to 1; tablet: 0 turns it off, tablet: 1 on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/mgmt.h"

static bool argv_has_tablet(const char *def)
{
	struct vk_err err = { 0 };
	struct vm_def d;
	char **argv = NULL;
	bool found = false;
	unsigned int i;

	assert_int_equal(vm_def_parse(def, "test.conf", &d, &err), 0);
	assert_int_equal(vm_build_argv(&d, "vmkit", &argv, &err), 0);
	for (i = 0; argv[i]; i++) {
		found |= !strcmp(argv[i], "--tablet");
		free(argv[i]);
	}
	free(argv);
	vm_def_free(&d);
	return found;
}

static void test_definition_key(void **state)
{
	struct vk_err err = { 0 };
	struct vm_def d;

	assert_true(argv_has_tablet("name: t\nkernel: /k\nvga: std\n"));
	assert_false(argv_has_tablet("name: t\nkernel: /k\nvga: std\ntablet: 0\n"));
	assert_false(argv_has_tablet("name: t\nkernel: /k\n"));
	assert_false(argv_has_tablet("name: t\nkernel: /k\nvga: none\n"));
	assert_true(argv_has_tablet("name: t\nkernel: /k\ntablet: 1\n"));
	assert_int_not_equal(vm_def_parse("name: t\nkernel: /k\ntablet: maybe\n", "bad.conf", &d,
					  &err), 0);
	assert_non_null(strstr(err.msg, "tablet: 'maybe': expected 0 or 1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_definition_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
