// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for lib/mgmt/cgroup.c's two backends, on a directory tree laid
 * out as the kernel lays out each cgroup file system ($VMKIT_CGROUP_ROOT).
 *
 * Why not the real thing: this project's CI host mounts the cpu and memory
 * controllers in v1, and a controller cannot be in v1 and v2 at once, so the
 * v2 backend can only be run for real on a v2 host. tests/mgmt checks the v1
 * backend against the kernel (values read back from /sys/fs/cgroup); here both
 * backends are checked for what they write, where, and in which format, and
 * for the kernel's refusals reaching the caller as one line naming the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/mgmt.h"

static char root[PATH_MAX];

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
}

/*
 * The last value written to the file. These are plain files, where a short
 * write over a longer one leaves a tail, so reading also empties the file.
 */
static const char *get(const char *rel)
{
	static char buf[256];
	char p[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_RDWR);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	assert_int_equal(ftruncate(fd, 0), 0);
	close(fd);
	buf[n < 0 ? 0 : n] = 0;
	return buf;
}

/* The files a cgroup directory has the moment the kernel makes it. */
static void v2_cgroup(const char *rel)
{
	static const char *const files[] = { "cgroup.procs", "cgroup.subtree_control",
					     "cpu.max", "cpu.weight", "memory.max",
					     "memory.high" };
	char p[PATH_MAX];
	unsigned int i;

	dir(rel);
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(p, sizeof(p), "%s/%s", rel, files[i]);
		put(p, "");
	}
}

static int setup_root(void **state)
{
	snprintf(root, sizeof(root), "/tmp/vmkit-cgtest.XXXXXX");
	assert_non_null(mkdtemp(root));
	setenv("VMKIT_CGROUP_ROOT", root, 1);
	return 0;
}

static int teardown_root(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	unsetenv("VMKIT_CGROUP_ROOT");
	return 0;
}

static void test_v2_limits(void **state)
{
	struct cg_limits l = { .cpulimit = 1.5, .cpuunits = 2048,
			       .mem_hard = 512ull << 20, .mem_soft = 384ull << 20 };
	struct vk_err err = { 0 };

	put("cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
	put("cgroup.subtree_control", "");
	v2_cgroup("vmkit");
	v2_cgroup("vmkit/web");
	assert_string_equal(cg_version(), "v2");
	assert_int_equal(cg_setup("web", &l, &err), 0);
	assert_string_equal(get("cgroup.subtree_control"), "+cpu +memory");
	assert_string_equal(get("vmkit/cgroup.subtree_control"), "+cpu +memory");
	assert_string_equal(get("vmkit/web/cpu.max"), "150000 100000");
	/* cpuunits 2048 (twice Proxmox's default) is twice cpu.weight's default of 100. */
	assert_string_equal(get("vmkit/web/cpu.weight"), "200");
	assert_string_equal(get("vmkit/web/memory.max"), "536870912");
	assert_string_equal(get("vmkit/web/memory.high"), "402653184");
	assert_int_equal(cg_attach("web", 4242, &err), 0);
	assert_string_equal(get("vmkit/web/cgroup.procs"), "4242");

	/* `vmkit set web cpulimit= memtune=`: back to no limits. */
	l = (struct cg_limits){ .cpuunits = 1024 };
	assert_int_equal(cg_setup("web", &l, &err), 0);
	assert_string_equal(get("vmkit/web/cpu.max"), "max 100000");
	assert_string_equal(get("vmkit/web/cpu.weight"), "100");
	assert_string_equal(get("vmkit/web/memory.max"), "max");
	assert_string_equal(get("vmkit/web/memory.high"), "max");

	/* The extremes of cpuunits stay inside cpu.weight's 1-10000. */
	l.cpuunits = 1;
	assert_int_equal(cg_setup("web", &l, &err), 0);
	assert_string_equal(get("vmkit/web/cpu.weight"), "1");
	l.cpuunits = 500000;
	assert_int_equal(cg_setup("web", &l, &err), 0);
	assert_string_equal(get("vmkit/web/cpu.weight"), "10000");
}

static void test_v2_refusal_named(void **state)
{
	struct cg_limits l = { .cpuunits = 1024 };
	struct vk_err err = { 0 };

	put("cgroup.controllers", "cpu memory\n");
	put("cgroup.subtree_control", "");
	v2_cgroup("vmkit");
	/* The VM's directory comes without cpu.max: as a kernel without the controller enabled. */
	dir("vmkit/db");
	assert_int_equal(cg_setup("db", &l, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "vmkit/db/cpu.max"));
	assert_null(strchr(err.msg, '\n'));
}

static void test_v1_limits(void **state)
{
	struct cg_limits l = { .cpulimit = 0.25, .cpuunits = 512, .mem_hard = 1ull << 30 };
	struct vk_err err = { 0 };
	static const char *const cpu_files[] = { "cpu.shares", "cpu.cfs_period_us",
						 "cpu.cfs_quota_us", "cgroup.procs" };
	static const char *const mem_files[] = { "memory.limit_in_bytes",
						 "memory.soft_limit_in_bytes", "cgroup.procs" };
	char p[PATH_MAX];
	unsigned int i;

	dir("cpu");
	dir("memory");
	put("cpu/cpu.shares", "1024\n");
	put("memory/memory.limit_in_bytes", "9223372036854771712\n");
	dir("cpu/vmkit");
	dir("cpu/vmkit/mail");
	dir("memory/vmkit");
	dir("memory/vmkit/mail");
	for (i = 0; i < ARRAY_SIZE(cpu_files); i++) {
		snprintf(p, sizeof(p), "cpu/vmkit/mail/%s", cpu_files[i]);
		put(p, "");
	}
	for (i = 0; i < ARRAY_SIZE(mem_files); i++) {
		snprintf(p, sizeof(p), "memory/vmkit/mail/%s", mem_files[i]);
		put(p, "");
	}
	assert_string_equal(cg_version(), "v1");
	assert_int_equal(cg_setup("mail", &l, &err), 0);
	assert_string_equal(get("cpu/vmkit/mail/cpu.cfs_period_us"), "100000");
	assert_string_equal(get("cpu/vmkit/mail/cpu.cfs_quota_us"), "25000");
	assert_string_equal(get("cpu/vmkit/mail/cpu.shares"), "512");
	assert_string_equal(get("memory/vmkit/mail/memory.limit_in_bytes"), "1073741824");
	assert_string_equal(get("memory/vmkit/mail/memory.soft_limit_in_bytes"), "-1");
	assert_int_equal(cg_attach("mail", 77, &err), 0);
	assert_string_equal(get("cpu/vmkit/mail/cgroup.procs"), "77");
	assert_string_equal(get("memory/vmkit/mail/cgroup.procs"), "77");
	cg_remove("mail");	/* rmdir of a non-empty plain directory fails quietly here */
}

static void test_none(void **state)
{
	struct cg_limits l = { .cpuunits = 1024 };
	struct vk_err err = { 0 };

	assert_string_equal(cg_version(), "none");
	assert_int_equal(cg_setup("x", &l, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, root));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v2_limits, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_v2_refusal_named, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_v1_limits, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_none, setup_root, teardown_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
