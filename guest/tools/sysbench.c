// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit-sysbench: what a system call and a process start cost inside the guest.
 *
 *   vmkit-sysbench syscall N   getppid(2) N times
 *   vmkit-sysbench spawn N     fork + exec of /bin/true N times, each waited for
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

	if (argc != 3 || (strcmp(argv[1], "syscall") && strcmp(argv[1], "spawn"))) {
		fprintf(stderr, "usage: vmkit-sysbench syscall|spawn N\n");
		return 2;
	}
	n = strtol(argv[2], &end, 10);
	if (*end || n <= 0) {
		fprintf(stderr, "vmkit-sysbench: N must be a positive number, not '%s'\n", argv[2]);
		return 2;
	}
	t0 = now_ns();
	for (i = 0; i < n; i++) {
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
