// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit-sysbench: what a system call and a process start cost inside the guest.
 *
 *   vmkit-sysbench syscall N   getppid(2) N times
 *   vmkit-sysbench spawn N     fork + exec of /bin/true N times, each waited for
 *   vmkit-sysbench pvm-entry N ADDR
 *                              N getppid(2) and one write(2) entered the way a
 *                              PVM host leaves a SYSCALL: RAX, RCX and R11 set
 *                              as SYSCALL sets them, then a user-mode jump to
 *                              entry_SYSCALL_64 (ADDR, from the kernel's symbol
 *                              table). Any x86 then raises the #PF that the guest
 *                              kernel patch (guest/patches) completes as the
 *                              system call: this checks that patch on any host,
 *                              with or without PVM. A kernel without it kills
 *                              the process with SIGSEGV.
 *
 * Prints "VMKIT-BENCH <what> n=N total_ns=T per_op_ns=P". Built static by
 * scripts/guest-rootfs.sh into the root disk; bench/guest-syscall.sh runs it.
 * On PVM hosts the kernel side of both is emulated, so these are the numbers
 * that say how much slower than native guest user space is there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * A system call entered as a PVM host leaves one: RCX = the return address,
 * R11 = RFLAGS (a fixed user value here), then a jump to the kernel's SYSCALL
 * entry, which faults in user mode. The patched kernel returns to label 1.
 */
static long pvm_syscall3(unsigned long entry, long nr, long a1, long a2, long a3)
{
	long ret;

	asm volatile("lea 1f(%%rip), %%rcx\n\t"
		     "mov $0x246, %%r11\n\t"
		     "jmp *%[entry]\n"
		     "1:"
		     : "=a"(ret)
		     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), [entry] "r"(entry)
		     : "rcx", "r11", "memory", "cc");
	return ret;
}

static int pvm_entry(long n, const char *addr)
{
	static const char msg[] = "VMKIT-PVM-ENTRY write ok\n";
	unsigned long entry;
	long i, want = getppid();
	char *end;

	entry = strtoul(addr, &end, 16);
	if (*end || !entry) {
		fprintf(stderr, "vmkit-sysbench: ADDR must be a hex address, not '%s'\n", addr);
		return 2;
	}
	fflush(stdout);
	if (pvm_syscall3(entry, SYS_write, 1, (long)msg, sizeof(msg) - 1) != sizeof(msg) - 1) {
		fprintf(stderr, "vmkit-sysbench: write through the SYSCALL entry failed\n");
		return 1;
	}
	for (i = 0; i < n; i++) {
		long got = pvm_syscall3(entry, SYS_getppid, 0, 0, 0);

		if (got != want) {
			fprintf(stderr, "vmkit-sysbench: getppid through the SYSCALL entry gave %ld, "
				"not %ld\n", got, want);
			return 1;
		}
	}
	return 0;
}

static int spawn_once(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	long long t0, t;
	long n, i;
	char *end;

	if (argc < 3 || argc != 3 + !strcmp(argv[1], "pvm-entry") ||
	    (strcmp(argv[1], "syscall") && strcmp(argv[1], "spawn") && strcmp(argv[1], "pvm-entry"))) {
		fprintf(stderr, "usage: vmkit-sysbench syscall|spawn N | pvm-entry N ADDR\n");
		return 2;
	}
	n = strtol(argv[2], &end, 10);
	if (*end || n <= 0) {
		fprintf(stderr, "vmkit-sysbench: N must be a positive number, not '%s'\n", argv[2]);
		return 2;
	}
	t0 = now_ns();
	if (argv[1][0] == 'p') {
		int r = pvm_entry(n, argv[3]);

		if (r)
			return r;
	}
	for (i = 0; argv[1][0] != 'p' && i < n; i++) {
		if (argv[1][1] == 'y') {
			syscall(SYS_getppid);	/* not cached by libc */
		} else if (spawn_once()) {
			perror("vmkit-sysbench: fork/exec /bin/true");
			return 1;
		}
	}
	t = now_ns() - t0;
	printf("VMKIT-BENCH %s n=%ld total_ns=%lld per_op_ns=%lld\n", argv[1], n, t, t / n);
	return 0;
}
