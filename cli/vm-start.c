// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit start NAME... | --autostart: vm_start (lib/mgmt/vm-start.c) for each
 * VM; the monitor runs detached, under a supervisor, and outlives the CLI.
 */
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"

static int start_autostart(void)
{
	struct vk_err err = { 0 };
	char **names, **n;
	/* Networks first: an autostart VM on network=NAME needs its bridge. */
	int rc = network_autostart_all();

	if (vm_list_names(&names, &err))
		return mgmt_report(&err);
	for (n = names; *n; n++) {
		struct vk_err lerr = { 0 };
		struct vm_status st;
		struct vm_def d;
		const char *ob;
		bool want;

		/* One broken definition is reported; the other VMs still start. */
		if (vm_load(*n, &d, &lerr)) {
			rc = mgmt_report(&lerr);
			continue;
		}
		ob = vm_def_get(&d, "onboot");
		want = ob && (!strcmp(ob, "1") || !strcmp(ob, "on") || !strcmp(ob, "yes"));
		vm_def_free(&d);
		if (!want || vm_status_get(*n, &st) || st.pid)
			continue;
		if (vm_start(*n, &err)) {
			rc = mgmt_report(&err);
			continue;
		}
		printf("VM %s started\n", *n);
	}
	mgmt_strv_free(names);
	return rc;
}

int cmd_start(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit start NAME... | vmkit start --autostart\n"
		"Start VMs; the monitor runs detached, under a supervisor. --autostart starts\n"
		"every network marked with 'vmkit network autostart' that is not active, then\n"
		"every VM marked with 'vmkit autostart' (onboot: 1) that is not running.\n";
	struct vk_err err = { 0 };
	int i, rc = 0;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc < 2)
		return mgmt_usage("start", "expected NAME... or --autostart");
	if (mgmt_lock(&err))
		return mgmt_report(&err);
	if (!strcmp(argv[1], "--autostart"))
		return start_autostart();
	for (i = 1; i < argc; i++) {
		if (vm_start(argv[i], &err)) {
			rc = mgmt_report(&err);
			continue;
		}
		printf("VM %s started\n", argv[i]);
	}
	return rc;
}
