// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the management operations need from the process that runs them: the
 * vmkit binary to start monitors and `vmkit img` steps with, where warnings
 * go, whether those steps may print, and the state lock for one operation.
 * The CLI and vmkit-serve set these differently; the operations never print.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmkit/mgmt-ops.h"

static char exe[PATH_MAX];
static mgmt_warn_fn warn_fn;

void mgmt_set_exe(const char *path)
{
	snprintf(exe, sizeof(exe), "%s", path ? path : "");
}

const char *vmkit_exe(void)
{
	ssize_t n;

	if (exe[0])
		return exe;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		snprintf(exe, sizeof(exe), "vmkit");
	else
		exe[n] = 0;
	return exe;
}

void mgmt_set_warn(mgmt_warn_fn fn)
{
	warn_fn = fn;
}

void mgmt_warn(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!warn_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn_fn(msg);
}

int mgmt_op_lock(bool *took, struct vk_err *err)
{
	int ret;

	*took = false;
	if (mgmt_is_locked())
		return 0;
	ret = mgmt_lock(err);
	*took = !ret;
	return ret;
}

int mgmt_op_lock_pools(bool *took, struct vk_err *err)
{
	int ret = mgmt_op_lock(took, err);

	if (!ret)
		ret = pool_ensure_default(err);
	if (ret)
		mgmt_op_unlock(*took);
	return ret;
}

int vm_op_load(const char *name, struct vm_def *d, bool *took, struct vk_err *err)
{
	int ret = mgmt_op_lock(took, err);

	if (!ret)
		ret = vm_load(name, d, err);
	if (ret)
		mgmt_op_unlock(*took);
	return ret;
}

void mgmt_op_unlock(bool took)
{
	if (took)
		mgmt_unlock();
}
