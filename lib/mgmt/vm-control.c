// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Acting on a running VM: shutdown, reboot, destroy, pause, resume,
 * balloon. Everything but destroy goes through the monitor's QMP socket;
 * destroy signals the monitor (SIGTERM, then SIGKILL), as virsh destroy
 * does when the monitor does not answer. None of these take the state
 * lock: they change no definition, and a hung VM must stay stoppable.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/mgmt-ops.h"

int vm_qmp_call(const char *name, const char *cmd, const char *args_json, char **ret_json,
		struct vk_err *err)
{
	char what[MGMT_NAME_MAX + 32];
	struct qmpc *q;
	int ret = vm_qmp(name, &q, err);

	if (ret)
		return ret;
	ret = qmpc_execute(q, cmd, args_json, ret_json, err);
	qmpc_close(q);
	if (ret) {
		snprintf(what, sizeof(what), "%s: %s", name, cmd);
		mgmt_wrap(err, what);
	}
	return ret;
}

int vm_qmp_simple(const char *name, const char *qmp_cmd, struct vk_err *err)
{
	return vm_qmp_call(name, qmp_cmd, NULL, NULL, err);
}

int vm_shutdown(const char *name, double timeout_s, bool force, struct vk_err *err)
{
	int ret = vm_qmp_call(name, "system_powerdown", NULL, NULL, err);

	if (ret)
		return ret;
	if (vm_wait_stopped(name, timeout_s))
		return 0;
	if (!force)
		return vk_fail(err, -ETIMEDOUT,
			       "VM %s did not shut down within %g s; it is still running ('vmkit destroy %s' forces it off)",
			       name, timeout_s, name);
	mgmt_warn("VM %s did not shut down within %g s; destroying it", name, timeout_s);
	ret = mgmt_vm_destroy(name, err);
	return ret ? ret : 1;
}

int mgmt_vm_destroy(const char *name, struct vk_err *err)
{
	char p[PATH_MAX];
	struct vm_status st;
	int ret = vm_require_running(name, &st, err);

	if (ret)
		return ret;
	/* Tell the supervisor this end was asked for, so it is not reported as a crash. */
	mgmt_write_atomic(mgmt_path(p, "vms/%s/run/destroy", name), "1\n", 2, 0600, NULL);
	kill(st.pid, SIGTERM);
	if (!vm_wait_stopped(name, 5)) {
		kill(st.pid, SIGKILL);
		vm_wait_stopped(name, 10);
	}
	return 0;
}

int vm_balloon_set(const char *name, uint64_t bytes, struct vk_err *err)
{
	char args[64];

	if (bytes < MiB)
		return vk_fail(err, -EINVAL, "balloon: %llu bytes is below 1 MiB",
			       (unsigned long long)bytes);
	snprintf(args, sizeof(args), "{\"value\": %llu}", (unsigned long long)bytes);
	return vm_qmp_call(name, "balloon", args, NULL, err);
}

/* Hand the target back to the supervisor's auto-ballooning (lib/mgmt/vm-autoballoon.c). */
int vm_balloon_auto(const char *name, struct vk_err *err)
{
	struct vm_status st;
	char p[PATH_MAX];
	struct vm_def d;
	uint64_t min = 0;
	const char *b;
	int ret = vm_load(name, &d, err);

	if (ret)
		return ret;
	b = vm_def_get(&d, "balloon");
	if (!b || vk_parse_size(b, MiB, &min) || !min || min / MiB >= vm_def_memory_mib(&d))
		ret = vk_fail(err, -EINVAL,
			      "VM '%s' has no auto-ballooning (it needs balloon: below memory:)", name);
	vm_def_free(&d);
	if (!ret)
		ret = vm_require_running(name, &st, err);
	if (!ret)
		ret = mgmt_write_atomic(mgmt_path(p, "vms/%s/run/autoballoon-resume", name), "1\n",
					2, 0600, err);
	return ret;
}
