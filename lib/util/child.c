// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The start of a helper process (the slirp helper, vmkit-vnc), between
 * fork and exec: what every helper needs, with async-signal-safe calls
 * only, as the monitor may have threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vmkit/util.h"

int vk_child_prepare(int fd3, int fd4, pid_t parent)
{
	sigset_t none;
	int a, b, devnull;

	/* The monitor blocks its signals for a signalfd; a helper must not inherit that. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* It dies with the monitor, and not at all if the monitor died before this line. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		return -ESRCH;
	/*
	 * Through fds above 4 first, so that neither dup2 clobbers the other's
	 * source and both land without close-on-exec.
	 */
	a = fcntl(fd3, F_DUPFD, 10);
	b = fcntl(fd4, F_DUPFD, 10);
	if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
		return -errno;
	devnull = open("/dev/null", O_RDONLY);
	if (devnull > 0) {
		dup2(devnull, 0);
		close(devnull);
	}
	/* Nothing of the VM (KVM fds, disks, taps) leaks into the helper. */
	close_range(5, ~0u, 0);
	return 0;
}
