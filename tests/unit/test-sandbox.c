// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for lib/sandbox: in forked children, a kind's filter lets its
 * calls through and kills the process by SIGSYS, with one line naming the
 * call, on anything else (argument filters included); the self-test hook;
 * the status-fd report; and, as root, the privilege drop (empty root,
 * unprivileged uid, no capabilities) and the creation of a system user.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/sandbox.h"

static const struct sandbox_rule test_rules[] = {
	SB_ALLOW(getpid),
	SB_ALLOW_ARG(fcntl, 1, F_GETFL),
};
static const struct sandbox_kind test_kind = SANDBOX_KIND("test", test_rules);

enum action { CALL_ALLOWED, CALL_FORBIDDEN, CALL_BAD_ARG, NOTHING, REPORT_FD };

/* In the child: install test_kind, then do what is asked; 0 = the calls worked. */
static void __attribute__((noreturn)) child(enum action a, int report)
{
	struct vk_err err = { 0 };
	struct rlimit none = { 0, 0 };

	setrlimit(RLIMIT_CORE, &none);	/* SIGSYS dumps core by default */
	if (a == REPORT_FD)
		sandbox_set_report_fd(report, "1 ");
	if (sandbox_install(&test_kind, &err) < 0) {
		(void)!write(2, err.msg, strlen(err.msg));
		_exit(3);
	}
	switch (a) {
	case CALL_ALLOWED:
		_exit(getpid() > 0 && fcntl(2, F_GETFL) >= 0 ? 0 : 4);
	case CALL_FORBIDDEN:
	case REPORT_FD:
		getppid();
		_exit(5);
	case CALL_BAD_ARG:
		fcntl(2, F_GETFD);
		_exit(6);
	case NOTHING:
		break;
	}
	_exit(0);
}

/* Run child(a) with stderr on a pipe; returns its wait status, *out what it wrote. */
static int run(enum action a, char *out, size_t len, char *rep, size_t rlen)
{
	int p[2], r[2], st;
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(r), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		close(r[0]);
		dup2(p[1], 2);
		child(a, r[1]);
	}
	close(p[1]);
	close(r[1]);
	while ((n = read(p[0], out + got, len - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	got = 0;
	while (rep && (n = read(r[0], rep + got, rlen - 1 - (size_t)got)) > 0)
		got += n;
	if (rep)
		rep[got] = '\0';
	close(p[0]);
	close(r[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void test_allowed(void **state)
{
	char out[256];
	int st = run(CALL_ALLOWED, out, sizeof(out), NULL, 0);

	assert_string_equal(out, "");
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_forbidden(void **state)
{
	char out[256];
	int st = run(CALL_FORBIDDEN, out, sizeof(out), NULL, 0);

	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	assert_string_equal(out, "vmkit: sandbox: test: forbidden system call getppid (110)\n");
}

static void test_bad_argument(void **state)
{
	char out[256];
	int st = run(CALL_BAD_ARG, out, sizeof(out), NULL, 0);

	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	assert_string_equal(out, "vmkit: sandbox: test: forbidden system call fcntl (72)\n");
}

static void test_selftest_hook(void **state)
{
	char out[256];
	int st;

	setenv("VMKIT_SANDBOX_SELFTEST", "test", 1);
	st = run(NOTHING, out, sizeof(out), NULL, 0);
	unsetenv("VMKIT_SANDBOX_SELFTEST");
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
	assert_string_equal(out, "vmkit: sandbox: test: forbidden system call ptrace (101)\n");
	/* Another kind's name: no self-test for this one. */
	setenv("VMKIT_SANDBOX_SELFTEST", "vcpu", 1);
	st = run(NOTHING, out, sizeof(out), NULL, 0);
	unsetenv("VMKIT_SANDBOX_SELFTEST");
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_report_fd(void **state)
{
	char out[256], rep[256];
	int st = run(REPORT_FD, out, sizeof(out), rep, sizeof(rep));

	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	assert_string_equal(out, "vmkit: sandbox: test: forbidden system call getppid (110)\n");
	assert_string_equal(rep, "1 sandbox: test: forbidden system call getppid (110)");
}

static void test_kind_size(void **state)
{
	/* getpid, fcntl and the base five (rt_sigreturn, exit, exit_group, write, sigaltstack). */
	assert_int_equal(sandbox_kind_size(&test_kind), 7);
}

static void __attribute__((noreturn)) drop_child(void)
{
	static const char *const files[] = { "/etc/hostname", NULL };
	struct sandbox_jail jail = { .user = "nobody", .files = files };
	struct vk_err err = { 0 };
	bool dropped;
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (sandbox_drop(&jail, &dropped, &err) < 0) {
		(void)!write(2, err.msg, strlen(err.msg));
		_exit(3);
	}
	if (!dropped || getuid() != 65534 || geteuid() != 65534 || getgid() != 65534)
		_exit(4);
	if (setuid(0) == 0 || open("/etc/passwd", O_RDONLY) >= 0)
		_exit(5);
	if (open("/etc/hostname", O_RDONLY) < 0 || open("/x", O_CREAT | O_WRONLY, 0600) >= 0)
		_exit(6);
	d = opendir("/");
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n += strcmp(e->d_name, "etc") ? 100 : 1;
	_exit(n == 1 ? 0 : 7);
}

static void test_drop(void **state)
{
	int st;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		drop_child();
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * A file under /tmp can be bound (the empty root is staged elsewhere: on
 * /tmp it hid them), and the working directory stays where it was when a
 * bound file keeps it in the new root: relative paths still resolve.
 */
static void __attribute__((noreturn)) cwd_child(const char *tmpfile)
{
	const char *files[] = { "/etc/hostname", tmpfile, NULL };
	struct sandbox_jail jail = { .user = "nobody", .files = files };
	struct vk_err err = { 0 };
	bool dropped;

	if (chdir("/etc") < 0)
		_exit(2);
	if (sandbox_drop(&jail, &dropped, &err) < 0) {
		(void)!write(2, err.msg, strlen(err.msg));
		_exit(3);
	}
	if (open("hostname", O_RDONLY) < 0)
		_exit(4);
	if (open(tmpfile, O_RDONLY) < 0)
		_exit(5);
	_exit(0);
}

static void test_drop_keeps_cwd_and_tmp(void **state)
{
	char tmpfile[] = "/tmp/vmkit-test-jailXXXXXX";
	int st, fd;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	fd = mkstemp(tmpfile);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		cwd_child(tmpfile);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(tmpfile);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_ensure_user(void **state)
{
	const char *name = "vmkit-sbxtest";
	struct vk_err err = { 0 };
	uid_t u;
	gid_t g;

	if (geteuid() != 0 || access("/usr/sbin/useradd", X_OK))
		skip();
	assert_int_equal(sandbox_lookup_user(name, &u, &g, NULL), -ENOENT);
	assert_int_equal(sandbox_ensure_user(name, &err), 0);
	assert_int_equal(sandbox_lookup_user(name, &u, &g, NULL), 0);
	assert_true(u > 0 && u < 1000);
	assert_int_equal(sandbox_ensure_user(name, &err), 0);	/* there already */
	assert_int_equal(system("userdel vmkit-sbxtest"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_forbidden),
		cmocka_unit_test(test_bad_argument),
		cmocka_unit_test(test_selftest_hook),
		cmocka_unit_test(test_report_fd),
		cmocka_unit_test(test_kind_size),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_drop_keeps_cwd_and_tmp),
		cmocka_unit_test(test_ensure_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
