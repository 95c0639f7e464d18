// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit: one executable, subcommands dispatched from this table. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vm-cli.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "run", cmd_run, "run a virtual machine (the monitor)" },
	{ "img", cmd_img, "create, inspect and convert disk images (qemu-img compatible)" },
	{ "create", cmd_create, "define a new VM (like virt-install), making its disks" },
	{ "define", cmd_define, "define or replace a VM from a config file" },
	{ "dumpconfig", cmd_dumpconfig, "print a VM's config" },
	{ "list", cmd_list, "list VMs (--all: also those shut off)" },
	{ "show", cmd_show, "a VM's state and config" },
	{ "start", cmd_start, "start VMs (detached, supervised); --autostart" },
	{ "console", cmd_console, "attach to a VM's serial console (Ctrl-] detaches)" },
	{ "shutdown", cmd_shutdown, "ACPI power button, then wait" },
	{ "reboot", cmd_reboot, "reset a VM" },
	{ "destroy", cmd_destroy, "force a VM off" },
	{ "pause", cmd_pause, "pause a VM's vCPUs" },
	{ "resume", cmd_resume, "resume a paused VM" },
	{ "save", cmd_save, "save a running VM's memory and state to a file, stop it" },
	{ "restore", cmd_restore, "start a VM from a file 'vmkit save' wrote" },
	{ "backup", cmd_backup, "back up a VM (running or not) and its config, as vzdump" },
	{ "restore-backup", cmd_restore_backup, "define a VM from a backup (as qmrestore)" },
	{ "migrate", cmd_migrate, "move a running VM to another host, live (over ssh and TCP)" },
	{ "migrate-incoming", cmd_migrate_incoming, "the receiving end of migrate (run over ssh)" },
	{ "delete", cmd_delete, "undefine a VM (--purge: and its volumes)" },
	{ "rename", cmd_rename, "rename a VM" },
	{ "edit", cmd_edit, "edit a VM's config with $EDITOR" },
	{ "set", cmd_set, "set keys of a VM's config (like qm set)" },
	{ "autostart", cmd_autostart, "start a VM at boot (--disable)" },
	{ "clone", cmd_clone, "copy a VM (--linked: qcow2 overlays)" },
	{ "template", cmd_template, "turn a shut-off VM into a template (a base for clones)" },
	{ "snapshot", cmd_snapshot, "disk snapshots: create, list, revert, delete" },
	{ "balloon", cmd_balloon, "set or show a VM's balloon target" },
	{ "sendkey", cmd_sendkey, "press keys in a VM (ctrl-alt-delete, h e l l o ret)" },
	{ "screenshot", cmd_screenshot, "save a VM's screen to a PNG or PPM file" },
	{ "vnc", cmd_vnc, "print where a VM's VNC server listens" },
	{ "cdrom", cmd_cdrom, "change or eject the medium in a VM's CD-ROM drive" },
	{ "pool", cmd_pool, "storage pools: define, list, info, start, stop, delete..." },
	{ "vol", cmd_vol, "volumes: create, list, info, delete, resize, clone..." },
	{ "network", cmd_network, "networks (bridges VMs name): define, list, start, stop, autostart..." },
	{ "serve", cmd_serve, "the REST API and web interface (https://127.0.0.1:8006)" },
	{ "token", cmd_token, "API tokens for the REST API: add, list, remove" },
	{ "net", cmd_net, "host bridges: create, list, attach interfaces (moving their addresses)" },
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
	/* Run as qemu-img (a symlink of that name): be qemu-img, down to its messages. */
	if (argc >= 1 && !strcmp(basename(argv[0]), "qemu-img")) {
		vk_set_progname("qemu-img");
		return cmd_img(argc, argv);
	}
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
	/* The management operations print nothing: their warnings speak here. */
	mgmt_set_warn(mgmt_cli_warn);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmkit: unknown command '%s' (try 'vmkit --help')\n", argv[1]);
	return EXIT_USAGE;
}
