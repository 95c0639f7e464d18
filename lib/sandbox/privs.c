// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Dropping root: the capability bounding set and ambient set emptied while
 * still privileged, groups, gid and uid switched for good (real, effective
 * and saved), every remaining capability cleared, no new privileges.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vmkit/sandbox.h"

static int drop_bounding(struct vk_err *err)
{
	int c;

	/* PR_CAPBSET_READ fails (EINVAL) past the kernel's last capability. */
	for (c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return vk_fail(err, -errno, "sandbox: PR_CAPBSET_DROP %d: %s", c,
				       strerror(errno));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

static int clear_caps(struct vk_err *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(__NR_capset, &hdr, data) < 0)
		return vk_fail(err, -errno, "sandbox: capset: %s", strerror(errno));
	return 0;
}

int sandbox_switch_user(uid_t uid, gid_t gid, struct vk_err *err)
{
	int r = drop_bounding(err);

	if (r < 0)
		return r;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return vk_fail(err, -errno, "sandbox: cannot switch to uid %u gid %u: %s",
			       (unsigned int)uid, (unsigned int)gid, strerror(errno));
	r = clear_caps(err);
	if (r < 0)
		return r;
	/* Make sure it sticks: root must not be reachable again. */
	if (uid != 0 && setresuid(0, 0, 0) == 0)
		return vk_fail(err, -EPERM, "sandbox: uid 0 still reachable after the switch");
	return 0;
}

static const char *default_user(void)
{
	uid_t u;
	gid_t g;

	return sandbox_lookup_user(SANDBOX_USER, &u, &g, NULL) == 0 ? SANDBOX_USER
								    : SANDBOX_USER_FALLBACK;
}

int sandbox_drop(const struct sandbox_jail *jail, bool *dropped, struct vk_err *err)
{
	const char *user = jail->user ? jail->user : default_user();
	pid_t ppid = getppid();
	int pdeath = 0, r;
	uid_t uid;
	gid_t gid;

	*dropped = false;
	if (geteuid() == 0) {
		/* Names resolve through the host's /etc: before the root changes. */
		r = sandbox_lookup_user(user, &uid, &gid, err);
		if (r < 0)
			return r;
		prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);
		r = sandbox_enter_root(jail, err);
		if (r < 0)
			return r;
		r = sandbox_switch_user(uid, gid, err);
		if (r < 0)
			return r;
		*dropped = true;
		/* A uid change clears the parent-death signal: set it again. */
		if (pdeath && (prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0) < 0 || getppid() != ppid))
			return vk_fail(err, -ESRCH, "sandbox: the parent process is gone");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return vk_fail(err, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	return 0;
}
