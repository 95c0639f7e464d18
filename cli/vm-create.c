// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * create: the options of virt-install, applied in the order given to a
 * vm_creation (lib/mgmt/vm-create.c), which validates everything before it
 * makes volumes and saves the definition.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"

static const char usage[] =
	"usage: vmkit create --name NAME --kernel FILE [--initrd FILE] [--cmdline STR]\n"
	"                    [--memory SIZE] [--cpus N] [--disk SPEC]... [--net SPEC]...\n"
	"                    [--balloon SIZE] [--console serial|virtio] [--autostart] [--start]\n"
	"                    [--firmware bios|uefi] [--boot order=DEV;DEV...]\n"
	"                    [--cdrom FILE|POOL:VOLUME]\n"
	"Define a new VM (like virt-install).\n"
	"  --disk POOL:VOLUME[,OPTS] or /path[,OPTS]   an existing volume or file\n"
	"  --disk size=SIZE[,pool=POOL][,format=qcow2|raw][,backing=POOL:VOLUME][,OPTS]\n"
	"         a new volume NAME-diskN on POOL (default local); OPTS are the disk\n"
	"         options of 'vmkit run' (cache=, aio=, iothread=, discard=, ...) and shared=on\n"
	"  --net virtio[=MAC][,bridge=BR|,network=NAME|,tap=IF|,user][,queues=N]...\n"
	"  --cdrom an installation ISO as a CD-ROM on SATA (the definition's ide2, as Proxmox)\n"
	"  --memory takes MiB or a K/M/G suffix (default 512M); --cpus is the vCPU count.\n"
	"  --firmware: boot through SeaBIOS or OVMF (bios: seabios|ovmf; uefi copies\n"
	"         OVMF_VARS_4M.fd beside the definition); --kernel is then optional.\n";

enum { O_NAME = 256, O_MEMORY, O_CPUS, O_DISK, O_KERNEL, O_INITRD, O_CMDLINE, O_NET,
       O_AUTOSTART, O_BALLOON, O_CONSOLE, O_START, O_FIRMWARE, O_BOOT, O_CDROM };

static const struct option opts[] = {
	{ "name", required_argument, NULL, O_NAME },
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "vcpus", required_argument, NULL, O_CPUS },
	{ "disk", required_argument, NULL, O_DISK },
	{ "kernel", required_argument, NULL, O_KERNEL },
	{ "initrd", required_argument, NULL, O_INITRD },
	{ "cmdline", required_argument, NULL, O_CMDLINE },
	{ "net", required_argument, NULL, O_NET },
	{ "network", required_argument, NULL, O_NET },
	{ "balloon", required_argument, NULL, O_BALLOON },
	{ "console", required_argument, NULL, O_CONSOLE },
	{ "autostart", no_argument, NULL, O_AUTOSTART },
	{ "start", no_argument, NULL, O_START },
	{ "firmware", required_argument, NULL, O_FIRMWARE },
	{ "boot", required_argument, NULL, O_BOOT },
	{ "cdrom", required_argument, NULL, O_CDROM },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The vm_creation option of each getopt value (NULL: not one). */
static const char *creation_opt(int o)
{
	switch (o) {
	case O_MEMORY: return "memory";
	case O_CPUS: return "cpus";
	case O_DISK: return "disk";
	case O_KERNEL: return "kernel";
	case O_INITRD: return "initrd";
	case O_CMDLINE: return "cmdline";
	case O_NET: return "net";
	case O_BALLOON: return "balloon";
	case O_CONSOLE: return "console";
	case O_AUTOSTART: return "autostart";
	case O_FIRMWARE: return "firmware";
	case O_BOOT: return "boot";
	case O_CDROM: return "cdrom";
	}
	return NULL;
}

/* The name first: new disks are named after it. */
static const char *find_name(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--name") && i + 1 < argc)
			return argv[i + 1];
		if (!strncmp(argv[i], "--name=", 7))
			return argv[i] + 7;
	}
	return NULL;
}

int cmd_create(int argc, char **argv)
{
	const char *name = find_name(argc, argv), *opt;
	struct vk_err err = { 0 };
	struct vm_creation *c;
	bool start = false;
	int o, ret = 0;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (!name)
		return mgmt_usage("create", "--name is required");
	if (mgmt_lock(&err) || vm_creation_new(name, &c, &err))
		return mgmt_report(&err);
	while (!ret && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (o == '?' || o == 'h')
			return mgmt_usage("create", "bad option (see --help)");
		if (o == O_START)
			start = true;
		else if ((opt = creation_opt(o)))
			ret = vm_creation_add(c, opt, optarg, &err);
	}
	if (!ret && optind < argc)
		ret = vk_fail(&err, -EINVAL, "unexpected argument '%s'", argv[optind]);
	if (ret) {
		vm_creation_abort(c);
		return mgmt_report(&err);
	}
	if (vm_creation_commit(c, &err))
		return mgmt_report(&err);
	printf("VM %s created\n", name);
	if (start) {
		if (vm_start(name, &err))
			return mgmt_report(&err);
		printf("VM %s started\n", name);
	}
	return 0;
}
