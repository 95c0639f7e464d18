// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitor's allow-lists (vmm/core/sandbox.c), as far as a host without
 * /dev/kvm can check them: libseccomp accepts every kind, a thread under
 * one keeps the calls of its kind (mmap, futex, epoll) and dies by SIGSYS
 * naming its kind on a call outside it (execve, ptrace), and executable
 * memory is refused. Whether the lists are complete for a running VM needs
 * /dev/kvm (tests/guest/test_sandbox.py).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/vmm-sandbox.h"

static const struct sandbox_kind *const kinds[] = {
	&vmm_sandbox_vcpu, &vmm_sandbox_devices, &vmm_sandbox_iothread, &vmm_sandbox_control,
};

/* In a child: install kind, then an allowed call or a forbidden one. */
static int in_child(const struct sandbox_kind *k, int what, char *out, size_t len)
{
	struct rlimit none = { 0, 0 };
	int p[2], st;
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct vk_err err = { 0 };
		void *m;
		int ep;

		close(p[0]);
		dup2(p[1], 2);
		setrlimit(RLIMIT_CORE, &none);
		vmm_sandbox_enable(true);
		vmm_sandbox_enter(k);
		(void)err;
		if (what == 0) {
			m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			ep = epoll_create1(0);	/* only devices may; others die here */
			_exit(m != MAP_FAILED && ep >= 0 ? 0 : 1);
		}
		if (what == 1)
			mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		else
			execl("/bin/true", "true", (char *)NULL);
		_exit(2);
	}
	close(p[1]);
	while ((n = read(p[0], out + got, len - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void test_kinds_load_and_allow(void **state)
{
	char out[256];
	int st = in_child(&vmm_sandbox_devices, 0, out, sizeof(out));

	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* epoll_create1 belongs to the main thread's kind only. */
	st = in_child(&vmm_sandbox_vcpu, 0, out, sizeof(out));
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	assert_string_equal(out, "vmkit: sandbox: vcpu: forbidden system call epoll_create1 (291)\n");
}

static void test_kinds_refuse(void **state)
{
	char out[256], want[128];
	unsigned int i;
	int st;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		st = in_child(kinds[i], 2, out, sizeof(out));
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
		snprintf(want, sizeof(want), "vmkit: sandbox: %s: forbidden system call execve (59)\n",
			 kinds[i]->name);
		assert_string_equal(out, want);
		st = in_child(kinds[i], 1, out, sizeof(out));
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
		snprintf(want, sizeof(want), "vmkit: sandbox: %s: forbidden system call mmap (9)\n",
			 kinds[i]->name);
		assert_string_equal(out, want);
		printf("# %s: %u system calls\n", kinds[i]->name, sandbox_kind_size(kinds[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds_load_and_allow),
		cmocka_unit_test(test_kinds_refuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
