// SPDX-License-Identifier: GPL-2.0-or-later
/* list and show: what is defined, and what runs. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"

static void fmt_uptime(double s, char *buf, size_t n)
{
	unsigned long t = (unsigned long)s;

	if (t >= 86400)
		snprintf(buf, n, "%lud %02lu:%02lu:%02lu", t / 86400, t / 3600 % 24, t / 60 % 60,
			 t % 60);
	else
		snprintf(buf, n, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

int cmd_list(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit list [--all]\n"
		"The running and paused VMs; --all adds shut-off and crashed ones.\n";
	bool all = argc == 2 && !strcmp(argv[1], "--all");
	struct vk_err err = { 0 };
	char **names, **n;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 1 && !all)
		return mgmt_usage("list", "unknown option '%s'", argv[1]);
	if (vm_list_names(&names, &err))
		return mgmt_report(&err);
	printf("%-24s %-10s %5s %10s %12s\n", "NAME", "STATE", "VCPUS", "MEMORY", "UPTIME");
	for (n = names; *n; n++) {
		struct vk_err lerr = { 0 };
		struct vm_status st;
		struct vm_def d;
		char up[32] = "-";

		if (vm_load(*n, &d, &lerr)) {
			/* A definition that does not load is shown, never hidden, and says why. */
			if (all)
				printf("%-24s %-10s %5s %10s %12s\n", *n, "broken", "-", "-", "-");
			vk_report(&lerr);
			continue;
		}
		vm_status_get(*n, &st);
		if (all || st.state == VM_RUNNING || st.state == VM_PAUSED) {
			if (st.pid)
				fmt_uptime(st.uptime, up, sizeof(up));
			printf("%-24s %-10s %5u %7lluMiB %12s\n", d.name, vm_state_name(st.state),
			       vm_def_vcpus(&d), (unsigned long long)vm_def_memory_mib(&d), up);
		}
		vm_def_free(&d);
	}
	mgmt_strv_free(names);
	return 0;
}

/* What the supervisor's auto-ballooning last wrote (lib/mgmt/vm-autoballoon.c). */
static void show_autoballoon(const char *name)
{
	_cleanup_free_ char *text = NULL;
	char p[PATH_MAX];
	size_t len;

	if (vk_read_file(mgmt_path(p, "vms/%s/run/autoballoon", name), (void **)&text, &len, 4096))
		return;
	text[strcspn(text, "\n")] = 0;
	printf("autoballoon: %s\n", text);
}

int cmd_show(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit show NAME\nA VM's state, its run files and its config.\n";
	struct vk_err err = { 0 };
	char p[PATH_MAX], up[32];
	struct vm_status st;
	struct vm_def d;
	char *text;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("show", "expected one VM NAME");
	if (vm_load(argv[1], &d, &err))
		return mgmt_report(&err);
	vm_status_get(d.name, &st);
	printf("state: %s\n", vm_state_name(st.state));
	if (st.reason[0])
		printf("reason: %s\n", st.reason);
	if (st.pid) {
		fmt_uptime(st.uptime, up, sizeof(up));
		printf("pid: %d\nuptime: %s\n", (int)st.pid, up);
		printf("qmp: %s\n", mgmt_path(p, "vms/%s/run/qmp.sock", d.name));
		printf("console: %s\n", mgmt_path(p, "vms/%s/run/console.sock", d.name));
	}
	if (st.pid)
		show_autoballoon(d.name);
	printf("log: %s\n", mgmt_path(p, "vms/%s/run/log", d.name));
	printf("cgroup: %s vmkit/%s\n", cg_version(), d.name);
	printf("\n");
	text = vm_def_format(&d);
	if (text)
		fputs(text, stdout);
	free(text);
	vm_def_free(&d);
	return 0;
}
