// SPDX-License-Identifier: GPL-2.0-or-later
/* Helpers shared by the management commands: reporting and usage. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"

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

void mgmt_cli_warn(const char *msg)
{
	fprintf(stderr, "vmkit: %s\n", msg);
}
