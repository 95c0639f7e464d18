// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit: one executable, subcommands dispatched from this table. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "run", cmd_run, "run a virtual machine (the monitor)" },
	{ "img", cmd_img, "create, inspect and convert disk images (qemu-img compatible)" },
};

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f, "usage: vmkit COMMAND [OPTIONS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'vmkit COMMAND --help' describes a command's options.\n");
}

/* A closed stdin/stdout/stderr would let /dev/kvm or a disk take fd 0-2. */
static void ensure_std_fds(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

int main(int argc, char **argv)
{
	unsigned int i;

	ensure_std_fds();
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("vmkit %s\n", VMKIT_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmkit: unknown command '%s' (try 'vmkit --help')\n", argv[1]);
	return EXIT_USAGE;
}
