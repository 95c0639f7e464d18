// SPDX-License-Identifier: GPL-2.0-or-later
/* The unprivileged user vmkit's processes run as: looked up, created when missing. */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmkit/sandbox.h"

/*
 * Local users only, read from /etc/passwd with fgetpwent_r: the monitor is
 * linked statically, where NSS (getpwnam) would dlopen modules and crash
 * on a name that is not in the file. System users are local anyway.
 */
int sandbox_lookup_user(const char *name, uid_t *uid, gid_t *gid, struct vk_err *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	FILE *f = fopen("/etc/passwd", "re");
	int e = ENOENT;

	if (!f)
		return vk_fail(err, -errno, "sandbox: /etc/passwd: %s", strerror(errno));
	while (fgetpwent_r(f, &pw, buf, sizeof(buf), &res) == 0)
		if (!strcmp(pw.pw_name, name)) {
			*uid = pw.pw_uid;
			*gid = pw.pw_gid;
			e = 0;
			break;
		}
	fclose(f);
	if (e)
		return vk_fail(err, -e, "sandbox: no user '%s' in /etc/passwd", name);
	return 0;
}

/* Whether /etc/group has a group of this name (read as /etc/passwd is, above). */
static bool group_exists(const char *name)
{
	struct group gr, *res = NULL;
	char buf[4096];
	FILE *f = fopen("/etc/group", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgetgrent_r(f, &gr, buf, sizeof(buf), &res) == 0)
		found = !strcmp(gr.gr_name, name);
	fclose(f);
	return found;
}

int sandbox_ensure_user(const char *user, struct vk_err *err)
{
	/* A group of the user's name left behind (userdel keeps a used one): joined, not remade. */
	bool group = group_exists(user);
	uid_t u;
	gid_t g;
	pid_t pid;
	int st;
	char *argv[] = { (char *)"useradd", (char *)"--system", (char *)"--no-create-home",
			 (char *)"--home-dir", (char *)"/nonexistent", (char *)"--shell",
			 (char *)"/usr/sbin/nologin", (char *)"--user-group", (char *)user, NULL,
			 NULL };

	if (group) {
		argv[7] = (char *)"--gid";	/* --gid NAME NAME */
		argv[9] = (char *)user;
	}
	if (sandbox_lookup_user(user, &u, &g, NULL) == 0)
		return 0;
	pid = fork();
	if (pid < 0)
		return vk_fail(err, -errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		execv("/usr/sbin/useradd", argv);	/* a PATH without sbin */
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return vk_fail(err, -errno, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return vk_fail(err, -EPERM, "useradd --system %s failed (status %d)", user,
			       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return sandbox_lookup_user(user, &u, &g, err);
}
