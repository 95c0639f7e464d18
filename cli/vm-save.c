// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit save NAME FILE / vmkit restore FILE: the messages around lib/mgmt/vm-save.c (issue 15). */
#include <stdio.h>

#include "vm-cli.h"

int cmd_save(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit save NAME FILE\n"
		"Write the running VM's memory and device state to FILE and stop it (virsh\n"
		"save); 'vmkit restore FILE' starts it again where it was.\n";
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 3)
		return mgmt_usage("save", "expected NAME FILE");
	if (vm_save_state(argv[1], argv[2], &err))
		return mgmt_report(&err);
	printf("VM %s saved to %s\n", argv[1], argv[2]);
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit restore FILE\n"
		"Start the VM saved in FILE ('vmkit save') from where it was; it must be\n"
		"defined here, shut off, with the definition it was saved with.\n";
	char name[MGMT_NAME_MAX];
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("restore", "expected FILE");
	if (vm_restore_state(argv[1], name, &err))
		return mgmt_report(&err);
	printf("VM %s restored from %s\n", name, argv[1]);
	return 0;
}
