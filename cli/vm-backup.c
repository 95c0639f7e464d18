// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit backup / restore-backup: the options and messages around
 * lib/mgmt/vm-backup.c and vm-backup-restore.c (issue 15; Proxmox's vzdump
 * and qmrestore).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm-cli.h"

int cmd_backup(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit backup NAME DIR|POOL [--mode auto|full|incremental]\n"
		"                    [--compress zstd|0] [--bwlimit KIB_PER_S]\n"
		"Back up a VM, running or not, as it is at this moment (a running guest goes\n"
		"on while its disks are copied): its definition and every disk, zstd-\n"
		"compressed, into a new directory vzdump-vmkit-NAME-DATE under DIR (or a\n"
		"pool's dump/). --mode auto (the default) copies only what changed since the\n"
		"VM's last backup into the same place where the disks are qcow2 (their\n"
		"dirty bitmap), else everything. --bwlimit caps a running VM's copy (the\n"
		"guest's own writes are never slowed by it). 'vmkit restore-backup' brings it back.\n";
	struct vm_backup_opts o = { .mode = VM_BACKUP_AUTO, .compress = true };
	char out[PATH_MAX];
	struct vk_err err = { 0 };
	int i;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	for (i = 3; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--mode") && v) {
			if (!strcmp(v, "auto"))
				o.mode = VM_BACKUP_AUTO;
			else if (!strcmp(v, "full"))
				o.mode = VM_BACKUP_FULL;
			else if (!strcmp(v, "incremental"))
				o.mode = VM_BACKUP_INCREMENTAL;
			else
				return mgmt_usage("backup", "--mode is auto, full or incremental");
			i++;
		} else if (!strcmp(argv[i], "--bwlimit") && v) {
			char *end;
			unsigned long long k = strtoull(v, &end, 10);

			if (!*v || *end || k > (1ull << 40))
				return mgmt_usage("backup", "--bwlimit is KiB/s, a whole number");
			o.bwlimit = k << 10;
			i++;
		} else if (!strcmp(argv[i], "--compress") && v) {
			if (!strcmp(v, "zstd") || !strcmp(v, "1"))
				o.compress = true;
			else if (!strcmp(v, "0") || !strcmp(v, "none"))
				o.compress = false;
			else
				return mgmt_usage("backup", "--compress is zstd or 0");
			i++;
		} else {
			return mgmt_usage("backup", "unknown option or missing value");
		}
	}
	if (argc < 3)
		return mgmt_usage("backup", "expected NAME DIR|POOL");
	if (vm_backup(argv[1], argv[2], &o, out, &err))
		return mgmt_report(&err);
	printf("VM %s backed up to %s\n", argv[1], out);
	return 0;
}

int cmd_restore_backup(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit restore-backup DIR [NAME] [--storage POOL]\n"
		"Define a VM from a backup directory 'vmkit backup' made: its definition, as\n"
		"NAME if given (a new name gets new MACs), and each disk as a new qcow2 volume\n"
		"in POOL (default: the pool it came from).\n";
	const char *name = NULL, *storage = NULL;
	char out[MGMT_NAME_MAX];
	struct vk_err err = { 0 };
	int i;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--storage") && i + 1 < argc)
			storage = argv[++i];
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			return mgmt_usage("restore-backup", "unknown option or missing value");
	}
	if (argc < 2)
		return mgmt_usage("restore-backup", "expected DIR");
	if (vm_backup_restore(argv[1], name, storage, out, &err))
		return mgmt_report(&err);
	printf("VM %s restored from %s\n", out, argv[1]);
	return 0;
}
