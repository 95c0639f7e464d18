// SPDX-License-Identifier: GPL-2.0-or-later
/* --qmp argument parsing (vmm/control/server.c): the spellings QEMU users type. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/control.h"

static void accepts(const char *spec, const char *want)
{
	struct vk_err err = { 0 };
	char *path = NULL;

	assert_int_equal(control_parse_spec(spec, &path, &err), 0);
	assert_string_equal(path, want);
	free(path);
}

static void refuses(const char *spec, const char *msg)
{
	struct vk_err err = { 0 };
	char *path = (char *)"untouched";

	assert_int_equal(control_parse_spec(spec, &path, &err), -EINVAL);
	assert_string_equal(path, "untouched");
	if (!strstr(err.msg, msg))
		fail_msg("'%s': message '%s' lacks '%s'", spec, err.msg, msg);
}

static void test_good(void **state)
{
	accepts("/run/vm.sock", "/run/vm.sock");
	accepts("unix:/run/vm.sock", "/run/vm.sock");
	accepts("unix:/run/vm.sock,server=on,wait=off", "/run/vm.sock");
	accepts("unix:/run/vm.sock,server,nowait", "/run/vm.sock");
	accepts("relative.sock", "relative.sock");
	accepts("./dir:with:colons/q.sock", "./dir:with:colons/q.sock");
}

static void test_bad(void **state)
{
	refuses("", "no socket path");
	refuses("unix:", "no socket path");
	refuses("unix:,server=on", "no socket path");
	refuses("tcp:127.0.0.1:4444", "only unix sockets");
	refuses("telnet:x", "only unix sockets");
	refuses("unix:/x,server=off", "server=off");
	refuses("unix:/x,wait=on", "wait=on");
	refuses("unix:/x,wait", "wait");
	refuses("unix:/x,server=on,", "unknown option ''");
	refuses("unix:/x,reconnect=1", "unknown option 'reconnect=1'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
