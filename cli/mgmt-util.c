// SPDX-License-Identifier: GPL-2.0-or-later
/* Helpers shared by the management commands: reporting, self-exec, volume creation. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "vm-cli.h"
#include "vmkit/block.h"

int mgmt_report(const struct vk_err *err)
{
	vk_report(err);
	return err->code == -EINVAL || err->code == -ENOENT || err->code == -EEXIST ?
	       EXIT_USAGE : 1;
}

int mgmt_usage(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vmkit %s: %s\n", cmd, msg);
	return EXIT_USAGE;
}

bool mgmt_want_help(int argc, char **argv, const char *usage)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return true;
		}
	}
	return false;
}

const char *vmkit_exe(void)
{
	static char exe[PATH_MAX];
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

int run_img(const char *const *args)
{
	const char *argv[32] = { vmkit_exe(), "img" };
	unsigned int n = 2;
	int status;
	pid_t pid;

	while (*args && n < ARRAY_SIZE(argv) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid) {
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int vol_create_file(const char *path, const char *format, uint64_t size, const char *backing,
		    const char *backing_fmt, struct vk_err *err)
{
	struct vk_blk_create_opts o = {
		.size = size, .backing_file = backing, .backing_fmt = backing_fmt,
	};

	if (!access(path, F_OK))
		return vk_fail(err, -EEXIST, "%s already exists", path);
	if (strcmp(format, "raw") && strcmp(format, "qcow2"))
		return vk_fail(err, -EINVAL, "format '%s': expected qcow2 or raw", format);
	return vk_blk_create(format, path, &o, err);
}
