// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the management operations need from the process that runs them: the
 * vmkit binary to start monitors and `vmkit img` steps with, where warnings
 * go, whether those steps may print, and the state lock for one operation.
 * The CLI and vmkit-serve set these differently; the operations never print.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmkit/mgmt-ops.h"

static char exe[PATH_MAX];
static mgmt_warn_fn warn_fn;
static bool child_inherit;

void mgmt_set_exe(const char *path)
{
	snprintf(exe, sizeof(exe), "%s", path ? path : "");
}

const char *vmkit_exe(void)
{
	ssize_t n;

	if (exe[0])
		return exe;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		snprintf(exe, sizeof(exe), "vmkit");
	else
		exe[n] = 0;
	return exe;
}

void mgmt_set_warn(mgmt_warn_fn fn)
{
	warn_fn = fn;
}

void mgmt_warn(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!warn_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn_fn(msg);
}

void mgmt_set_child_stdio(bool inherit)
{
	child_inherit = inherit;
}

/* The child: stdout to /dev/null and stderr to errfd, unless it inherits ours. */
static void exec_img(const char **argv, int errfd)
{
	int null;

	if (errfd >= 0) {
		null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 1);
		dup2(errfd, 2);
	}
	execv(argv[0], (char **)argv);
	_exit(127);
}

/* The last non-empty line the child wrote to fd, into diag. */
static void read_last_line(int fd, char *diag, size_t n)
{
	char buf[4096], line[1024] = "", cur[1024] = "";
	size_t len = 0;
	ssize_t r, i;

	while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)) {
		for (i = 0; i < r; i++) {
			if (buf[i] != '\n') {
				if (len + 1 < sizeof(cur))
					cur[len++] = buf[i];
				continue;
			}
			cur[len] = 0;
			if (len)
				memcpy(line, cur, len + 1);
			len = 0;
		}
	}
	cur[len] = 0;
	if (len)
		memcpy(line, cur, len + 1);
	if (diag && n)
		snprintf(diag, n, "%s", line);
}

int mgmt_run_img(const char *const *args, char *diag, size_t n)
{
	const char *argv[32] = { vmkit_exe(), "img" };
	unsigned int argc = 2;
	int status, pfd[2] = { -1, -1 };
	pid_t pid;

	if (diag && n)
		diag[0] = 0;
	while (*args && argc < ARRAY_SIZE(argv) - 1)
		argv[argc++] = *args++;
	argv[argc] = NULL;
	if (!child_inherit && pipe2(pfd, O_CLOEXEC) < 0)
		return 1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return 1;
	}
	if (!pid)
		exec_img(argv, pfd[1]);
	if (!child_inherit) {
		close(pfd[1]);
		read_last_line(pfd[0], diag, n);
		close(pfd[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int mgmt_op_lock(bool *took, struct vk_err *err)
{
	int ret;

	*took = false;
	if (mgmt_is_locked())
		return 0;
	ret = mgmt_lock(err);
	*took = !ret;
	return ret;
}

int mgmt_op_lock_pools(bool *took, struct vk_err *err)
{
	int ret = mgmt_op_lock(took, err);

	if (!ret)
		ret = pool_ensure_default(err);
	if (ret)
		mgmt_op_unlock(*took);
	return ret;
}

int vm_op_load(const char *name, struct vm_def *d, bool *took, struct vk_err *err)
{
	int ret = mgmt_op_lock(took, err);

	if (!ret)
		ret = vm_load(name, d, err);
	if (ret)
		mgmt_op_unlock(*took);
	return ret;
}

void mgmt_op_unlock(bool took)
{
	if (took)
		mgmt_unlock();
}
