// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Commands that act on a running VM: shutdown, reboot, destroy, pause,
 * resume, balloon. Everything but destroy goes through the monitor's QMP
 * socket; destroy signals the monitor (SIGTERM, then SIGKILL), as virsh
 * destroy does when the monitor does not answer.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"

#define DEFAULT_SHUTDOWN_TIMEOUT_S	60

/* One QMP command to one VM; ret_json may be NULL. */
static int qmp_one(const char *name, const char *cmd, const char *args, char **ret_json)
{
	struct vk_err err = { 0 };
	struct qmpc *q;
	int ret;

	if (vm_qmp(name, &q, &err))
		return mgmt_report(&err);
	ret = qmpc_execute(q, cmd, args, ret_json, &err);
	qmpc_close(q);
	if (ret) {
		char what[MGMT_NAME_MAX + 32];

		snprintf(what, sizeof(what), "%s: %s", name, cmd);
		mgmt_wrap(&err, what);
		return mgmt_report(&err);
	}
	return 0;
}

static int simple(int argc, char **argv, const char *usage, const char *qmp_cmd,
		  const char *done)
{
	int rc;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage(argv[0], "expected one VM NAME");
	rc = qmp_one(argv[1], qmp_cmd, NULL, NULL);
	if (!rc)
		printf("VM %s %s\n", argv[1], done);
	return rc;
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
	bool force = false;
	int c, rc;

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
	rc = qmp_one(argv[optind], "system_powerdown", NULL, NULL);
	if (rc)
		return rc;
	if (vm_wait_stopped(argv[optind], timeout)) {
		printf("VM %s is shut down\n", argv[optind]);
		return 0;
	}
	if (force) {
		char *dargv[] = { "destroy", argv[optind], NULL };

		fprintf(stderr, "vmkit: VM %s did not shut down within %llu s; destroying it\n",
			argv[optind], (unsigned long long)timeout);
		return cmd_destroy(2, dargv);
	}
	fprintf(stderr, "vmkit: VM %s did not shut down within %llu s; it is still running "
		"('vmkit destroy %s' forces it off)\n", argv[optind], (unsigned long long)timeout,
		argv[optind]);
	return 1;
}

int cmd_destroy(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit destroy NAME\n"
		"Force the VM off now (the monitor gets SIGTERM, then SIGKILL after 5 s).\n";
	struct vk_err err = { 0 };
	char p[PATH_MAX];
	struct vm_status st;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("destroy", "expected one VM NAME");
	if (vm_require_running(argv[1], &st, &err))
		return mgmt_report(&err);
	/* Tell the supervisor this end was asked for, so it is not reported as a crash. */
	mgmt_write_atomic(mgmt_path(p, "vms/%s/run/destroy", argv[1]), "1\n", 2, 0600, NULL);
	kill(st.pid, SIGTERM);
	if (!vm_wait_stopped(argv[1], 5)) {
		kill(st.pid, SIGKILL);
		vm_wait_stopped(argv[1], 10);
	}
	printf("VM %s destroyed\n", argv[1]);
	return 0;
}

/* Hand the target back to the supervisor's auto-ballooning (cli/vm-autoballoon.c). */
static int balloon_auto(const char *name)
{
	struct vk_err err = { 0 };
	struct vm_status st;
	char p[PATH_MAX];
	struct vm_def d;
	uint64_t min = 0;
	const char *b;

	if (vm_load(name, &d, &err))
		return mgmt_report(&err);
	b = vm_def_get(&d, "balloon");
	if (!b || vk_parse_size(b, MiB, &min) || !min || min / MiB >= vm_def_memory_mib(&d))
		vk_fail(&err, -EINVAL, "VM '%s' has no auto-ballooning (it needs balloon: below memory:)",
			name);
	vm_def_free(&d);
	if (!err.code)
		vm_require_running(name, &st, &err);
	if (!err.code)
		mgmt_write_atomic(mgmt_path(p, "vms/%s/run/autoballoon-resume", name), "1\n", 2,
				  0600, &err);
	if (err.code)
		return mgmt_report(&err);
	printf("VM %s: auto-ballooning resumes at its next poll\n", name);
	return 0;
}

int cmd_balloon(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit balloon NAME [SIZE]\n"
		"Set the guest's memory target through its balloon (SIZE in MiB, or with a\n"
		"K/M/G suffix); without SIZE, print the balloon's current state. A target set\n"
		"by hand pauses auto-ballooning (balloon: below memory); SIZE 'auto' resumes it.\n";
	char *ret = NULL, args[64];
	uint64_t size;
	int rc;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc == 2) {
		rc = qmp_one(argv[1], "query-balloon", NULL, &ret);
		if (!rc)
			printf("%s\n", ret);
		free(ret);
		return rc;
	}
	if (argc != 3)
		return mgmt_usage("balloon", "expected NAME [SIZE]");
	if (!strcmp(argv[2], "auto"))
		return balloon_auto(argv[1]);
	if (vk_parse_size(argv[2], MiB, &size) || size < MiB)
		return mgmt_usage("balloon", "'%s' is not a memory size", argv[2]);
	snprintf(args, sizeof(args), "{\"value\": %llu}", (unsigned long long)size);
	rc = qmp_one(argv[1], "balloon", args, NULL);
	if (!rc)
		printf("VM %s balloon target set to %llu MiB\n", argv[1],
		       (unsigned long long)(size / MiB));
	return rc;
}
