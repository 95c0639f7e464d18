// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Seccomp allow-lists per thread kind, over libseccomp: anything not on the
 * list traps (SIGSYS), the handler names the call on stderr and the
 * process dies by SIGSYS.
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vmkit/sandbox.h"

/* System call names for the handler, resolved before any filter is in place. */
#define NAMES 512
/*
 * A number no kind allows and no kernel implements: the handler calls it
 * with SIGSYS blocked, and the kernel, finding its handler blocked, kills
 * the process by SIGSYS (force_sig_seccomp resets the action to default).
 */
#define DIE_NR 1023
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1	/* si_code of a seccomp SIGSYS (linux/signal.h) */
#endif

static const char *names[NAMES];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;
static __thread const char *thread_kind;
static volatile int report_fd = -1;
static const char *volatile report_prefix = "";

static const struct sandbox_rule base_rules[] = {
	SB_ALLOW(rt_sigreturn),
	SB_ALLOW(exit),
	SB_ALLOW(exit_group),
	SB_ALLOW(write),
	/* AddressSanitizer's runtime sets up alternate signal stacks at thread exit. */
	SB_ALLOW(sigaltstack),
};

const struct sandbox_kind sandbox_base = SANDBOX_KIND("base", base_rules);

static void resolve_names(void)
{
	int nr;

	for (nr = 0; nr < NAMES; nr++)
		names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
}

static size_t put(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, long v)
{
	char d[24];
	int i = 0;

	if (v < 0) {
		at = put(buf, at, cap, "-");
		v = -v;
	}
	do
		d[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < (int)sizeof(d));
	while (i && at < cap)
		buf[at++] = d[--i];
	return at;
}

/* Async-signal-safe: a static table, a stack buffer, write(2). */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[240];
	size_t n = 0, p;
	int nr = si->si_syscall, fd = report_fd;

	if (si->si_code != SYS_SECCOMP)
		return;	/* a kill(SIGSYS) from outside: not ours to report */
	n = put(line, n, sizeof(line), "vmkit: ");
	p = n;
	n = put(line, n, sizeof(line), "sandbox: ");
	n = put(line, n, sizeof(line), thread_kind ? thread_kind : "?");
	n = put(line, n, sizeof(line), ": forbidden system call ");
	n = put(line, n, sizeof(line), nr >= 0 && nr < NAMES && names[nr] ? names[nr] : "unknown");
	n = put(line, n, sizeof(line), " (");
	n = put_num(line, n, sizeof(line) - 2, nr);
	n = put(line, n, sizeof(line), ")\n");
	(void)!write(STDERR_FILENO, line, n);
	if (fd >= 0) {
		const char *pre = report_prefix;
		char msg[sizeof(line)];
		size_t m = put(msg, 0, sizeof(msg), pre);

		/* One write, without the newline: the reader takes it as one message. */
		while (p < n - 1 && m < sizeof(msg))
			msg[m++] = line[p++];
		(void)!write(fd, msg, m);
	}
	syscall(DIE_NR);
	syscall(__NR_exit_group, 128 + SIGSYS);	/* not reached */
}

static int set_handler(struct vk_err *err)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigset_t sys;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return vk_fail(err, -errno, "sigaction(SIGSYS): %s", strerror(errno));
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, const struct sandbox_rule *r)
{
	struct scmp_arg_cmp c = { .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffu };
	unsigned int i;
	int e;

	if (r->arg < 0)
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
	c.arg = (unsigned int)r->arg;
	for (i = 0; i < r->nvals; i++) {
		/* Compared as 32-bit values: ioctl requests, fds, families are ints. */
		c.datum_b = r->vals[i] & 0xffffffffu;
		e = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, r->nr, 1, &c);
		if (e < 0)
			return e;
	}
	return 0;
}

static int add_kind(scmp_filter_ctx ctx, const struct sandbox_kind *k, struct vk_err *err)
{
	unsigned int i;
	int e;

	for (i = 0; i < k->nr_rules; i++) {
		e = add_rule(ctx, &k->rules[i]);
		if (e < 0) {
			const char *nm = k->rules[i].nr < NAMES ? names[k->rules[i].nr] : NULL;

			return vk_fail(err, e, "sandbox %s: cannot allow %s (%d): %s", k->name,
				       nm ? nm : "?", k->rules[i].nr, strerror(-e));
		}
	}
	return 0;
}

/* VMKIT_SANDBOX_SELFTEST=1 or =KIND: a forbidden call right after install. */
static int selftest(const struct sandbox_kind *k, struct vk_err *err)
{
	const char *t = getenv("VMKIT_SANDBOX_SELFTEST");

	if (!t || (strcmp(t, "1") && strcmp(t, k->name)))
		return 0;
	/* PTRACE_PEEKUSER of pid 0: harmless (ESRCH) if it were ever allowed. */
	syscall(__NR_ptrace, 3, 0, 0, 0);
	return vk_fail(err, -EPERM, "sandbox %s: self-test: ptrace was not refused", k->name);
}

void sandbox_set_report_fd(int fd, const char *prefix)
{
	report_prefix = prefix ? prefix : "";
	report_fd = fd;
}

int sandbox_install(const struct sandbox_kind *kind, struct vk_err *err)
{
	const char *log = getenv("VMKIT_SANDBOX_LOG");
	bool learn = log && strcmp(log, "0");
	scmp_filter_ctx ctx;
	int e;

	pthread_once(&names_once, resolve_names);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return vk_fail(err, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	e = set_handler(err);
	if (e < 0)
		return e;
	/*
	 * VMKIT_SANDBOX_LOG=1, for writing allow-lists: a call the list lacks is
	 * logged by the kernel (an audit record, type 1326, in dmesg when audit
	 * is on), not refused, and the thread is named after its kind, which is
	 * the record's comm.
	 */
	if (learn)
		prctl(PR_SET_NAME, kind->name, 0, 0, 0);
	ctx = seccomp_init(learn ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx)
		return vk_fail(err, -ENOMEM, "seccomp_init: out of memory");
	e = add_kind(ctx, &sandbox_base, err);
	if (!e)
		e = add_kind(ctx, kind, err);
	if (!e) {
		thread_kind = kind->name;
		e = seccomp_load(ctx);
		if (e < 0)
			vk_fail(err, e, "sandbox %s: cannot load the seccomp filter: %s", kind->name,
				strerror(-e));
	}
	seccomp_release(ctx);
	if (e < 0)
		return e;
	return selftest(kind, err);
}

unsigned int sandbox_kind_size(const struct sandbox_kind *kind)
{
	char seen[NAMES] = { 0 };
	const struct sandbox_kind *ks[] = { &sandbox_base, kind };
	unsigned int i, j, n = 0;

	for (j = 0; j < 2; j++)
		for (i = 0; i < ks[j]->nr_rules; i++) {
			int nr = ks[j]->rules[i].nr;

			if (nr >= 0 && nr < NAMES && !seen[nr]) {
				seen[nr] = 1;
				n++;
			}
		}
	return n;
}
