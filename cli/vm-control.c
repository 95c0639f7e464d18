// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * shutdown, reboot, destroy, pause, resume, balloon, cdrom: the argument parsing
 * and messages around lib/mgmt/vm-control.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"

#define DEFAULT_SHUTDOWN_TIMEOUT_S	60

static int simple(int argc, char **argv, const char *usage, const char *qmp_cmd,
		  const char *done)
{
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage(argv[0], "expected one VM NAME");
	if (vm_qmp_simple(argv[1], qmp_cmd, &err))
		return mgmt_report(&err);
	printf("VM %s %s\n", argv[1], done);
	return 0;
}

int cmd_pause(int argc, char **argv)
{
	return simple(argc, argv, "usage: vmkit pause NAME\nStop the VM's vCPUs (QMP stop).\n",
		      "stop", "paused");
}

int cmd_resume(int argc, char **argv)
{
	return simple(argc, argv, "usage: vmkit resume NAME\nResume a paused VM (QMP cont).\n",
		      "cont", "resumed");
}

int cmd_reboot(int argc, char **argv)
{
	return simple(argc, argv, "usage: vmkit reboot NAME\nReset the VM (QMP system_reset).\n",
		      "system_reset", "is being rebooted");
}

int cmd_shutdown(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit shutdown NAME [--timeout SECONDS] [--force]\n"
		"Press the VM's ACPI power button, wait until it is off (default 60 s), report.\n"
		"--force: destroy it when the timeout passes.\n";
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t timeout = DEFAULT_SHUTDOWN_TIMEOUT_S;
	struct vk_err err = { 0 };
	bool force = false;
	int c, ret;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	while ((c = getopt_long(argc, argv, "t:f", opts, NULL)) != -1) {
		if (c == 't' && !vk_parse_uint(optarg, 0, 86400, &timeout))
			continue;
		if (c == 'f') {
			force = true;
			continue;
		}
		return mgmt_usage("shutdown", c == 't' ? "--timeout %s: expected seconds" :
				  "unknown option (see --help)", optarg);
	}
	if (optind + 1 != argc)
		return mgmt_usage("shutdown", "expected one VM NAME");
	ret = vm_shutdown(argv[optind], timeout, force, &err);
	if (ret < 0)
		return mgmt_report(&err);
	printf(ret ? "VM %s destroyed\n" : "VM %s is shut down\n", argv[optind]);
	return 0;
}

int cmd_destroy(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit destroy NAME\n"
		"Force the VM off now (the monitor gets SIGTERM, then SIGKILL after 5 s).\n";
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("destroy", "expected one VM NAME");
	if (mgmt_vm_destroy(argv[1], &err))
		return mgmt_report(&err);
	printf("VM %s destroyed\n", argv[1]);
	return 0;
}

int cmd_balloon(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit balloon NAME [SIZE]\n"
		"Set the guest's memory target through its balloon (SIZE in MiB, or with a\n"
		"K/M/G suffix); without SIZE, print the balloon's current state. A target set\n"
		"by hand pauses auto-ballooning (balloon: below memory); SIZE 'auto' resumes it.\n";
	struct vk_err err = { 0 };
	char *ret = NULL;
	uint64_t size;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc == 2) {
		if (vm_qmp_call(argv[1], "query-balloon", NULL, &ret, &err))
			return mgmt_report(&err);
		printf("%s\n", ret);
		free(ret);
		return 0;
	}
	if (argc != 3)
		return mgmt_usage("balloon", "expected NAME [SIZE]");
	if (!strcmp(argv[2], "auto")) {
		if (vm_balloon_auto(argv[1], &err))
			return mgmt_report(&err);
		printf("VM %s: auto-ballooning resumes at its next poll\n", argv[1]);
		return 0;
	}
	if (vk_parse_size(argv[2], MiB, &size) || size < MiB)
		return mgmt_usage("balloon", "'%s' is not a memory size", argv[2]);
	if (vm_balloon_set(argv[1], size, &err))
		return mgmt_report(&err);
	printf("VM %s balloon target set to %llu MiB\n", argv[1], (unsigned long long)(size / MiB));
	return 0;
}

int cmd_cdrom(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit cdrom NAME FILE|POOL:VOLUME|eject\n"
		"Put an ISO into the VM's CD-ROM drive (its first ideN/sataN/scsiN with\n"
		"media=cdrom), or empty it: in the definition, and at once if it runs.\n";
	struct vk_err err = { 0 };
	bool eject;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 3)
		return mgmt_usage("cdrom", "expected NAME FILE|POOL:VOLUME|eject");
	eject = !strcmp(argv[2], "eject");
	if (vm_cdrom(argv[1], eject ? NULL : argv[2], &err))
		return mgmt_report(&err);
	if (eject)
		printf("VM %s: CD-ROM ejected\n", argv[1]);
	else
		printf("VM %s: CD-ROM holds %s\n", argv[1], argv[2]);
	return 0;
}
