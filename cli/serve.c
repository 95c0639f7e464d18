// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * serve, token: run vmkit-serve, installed beside vmkit. The server is its
 * own, dynamically linked binary (TLS, PAM and libwebsockets are shared
 * libraries; PAM loads its modules at run time), so vmkit stays one static
 * executable for the monitor.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vm-cli.h"
#include "vmkit/mgmt-ops.h"

static int exec_serve(const char *sub, int argc, char **argv)
{
	char path[PATH_MAX], *slash;
	char *args[64];
	int i, n = 0;

	snprintf(path, sizeof(path), "%s", vmkit_exe());
	slash = strrchr(path, '/');
	if (!slash || argc > 60) {
		fprintf(stderr, "vmkit: %s: cannot find vmkit-serve\n", sub);
		return 1;
	}
	snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "vmkit-serve");
	args[n++] = path;
	args[n++] = (char *)sub;
	for (i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(path, args);
	fprintf(stderr, "vmkit: %s: %s\n", path, strerror(errno));
	return 1;
}

int cmd_serve(int argc, char **argv)
{
	return exec_serve("serve", argc, argv);
}

int cmd_token(int argc, char **argv)
{
	return exec_serve("token", argc, argv);
}
