// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit migrate NAME HOST / migrate-incoming NAME: around lib/mgmt/vm-migrate.c (issue 15). */
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"

int cmd_migrate(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit migrate NAME HOST [--with-local-disks]\n"
		"Move the running VM to HOST while it runs (qm migrate --online, virsh migrate\n"
		"--live): its definition is made there over ssh (VMKIT_MIGRATE_RSH replaces\n"
		"'ssh'), its RAM and state follow over TCP, and here it is removed. Its disks\n"
		"are on storage both hosts see under the same paths, or, with\n"
		"--with-local-disks, copied there too (made anew where the definition puts\n"
		"them; the ones here are deleted once it runs there).\n";
	bool local = argc == 4 && !strcmp(argv[3], "--with-local-disks");
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 3 && !local)
		return mgmt_usage("migrate", "expected NAME HOST [--with-local-disks]");
	if (vm_migrate(argv[1], argv[2], local, stderr, &err))
		return mgmt_report(&err);
	printf("VM %s migrated to %s\n", argv[1], argv[2]);
	return 0;
}

int cmd_migrate_incoming(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit migrate-incoming NAME\n"
		"The receiving end of 'vmkit migrate', run by it over ssh: reads the VM's\n"
		"definition on standard input and talks back on standard output.\n";
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("migrate-incoming", "expected NAME");
	if (vm_migrate_incoming(argv[1], stdin, stdout, &err))
		return mgmt_report(&err);
	return 0;
}
