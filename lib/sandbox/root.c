// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A private mount namespace whose root holds only what the process needs:
 * an empty tmpfs (read-only once the files asked for are bound into it)
 * or a given directory. The host's tree is detached, not just hidden
 * behind a chroot: nothing of it stays reachable through "..".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmkit/sandbox.h"

/*
 * Where the empty root is mounted before it becomes "/" (in our namespace
 * only): a directory of its own, which never holds anything, because the
 * mount hides what is under it. It was /tmp, and files there (a disk, a
 * --debugcon log) could then not be bound in: they were hidden by then.
 */
#define STAGE "/run/vmkit-root"

int sandbox_mkdirs(char *path)
{
	char *s;

	for (s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*s = '/';
			return -errno;
		}
		*s = '/';
	}
	return 0;
}

/* Bind host file (or directory) src at the same path under dir; a missing src is skipped. */
static int bind_file(const char *dir, const char *src, bool rw, struct vk_err *err)
{
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID;
	char dst[PATH_MAX];
	struct stat st;
	int fd;

	if (stat(src, &st) < 0)
		return 0;
	if ((size_t)snprintf(dst, sizeof(dst), "%s%s", dir, src) >= sizeof(dst))
		return vk_fail(err, -ENAMETOOLONG, "sandbox: %s: path too long", src);
	if (sandbox_mkdirs(dst) < 0)
		return vk_fail(err, -errno, "sandbox: mkdir for %s: %s", dst, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		/* A directory (--outdir, mem-path=, sysfs counters): nothing in it runs. */
		if (mkdir(dst, 0755) < 0 && errno != EEXIST)
			return vk_fail(err, -errno, "sandbox: %s: %s", dst, strerror(errno));
		flags |= MS_NOEXEC;
	} else {
		fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
		if (fd < 0 && errno != EISDIR)
			return vk_fail(err, -errno, "sandbox: %s: %s", dst, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	if (!rw)
		flags |= MS_RDONLY;
	if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
		flags |= MS_NODEV;	/* device nodes (/dev/kvm, a disk) keep working */
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0 || mount(NULL, dst, NULL, flags, NULL) < 0)
		return vk_fail(err, -errno, "sandbox: bind %s: %s", src, strerror(errno));
	return 0;
}

static int stage_root(const char *root, struct vk_err *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return vk_fail(err, -errno, "sandbox: unshare(CLONE_NEWNS): %s", strerror(errno));
	/* Nothing we mount from here on reaches the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return vk_fail(err, -errno, "sandbox: make / private: %s", strerror(errno));
	if (root) {
		if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
			return vk_fail(err, -errno, "sandbox: %s: %s", root, strerror(errno));
		return 0;
	}
	if (mkdir(STAGE, 0755) < 0 && errno != EEXIST)
		return vk_fail(err, -errno, "sandbox: mkdir " STAGE ": %s", strerror(errno));
	if (mount("vmkit-sandbox", STAGE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=16k,nr_inodes=64,mode=0755") < 0)
		return vk_fail(err, -errno, "sandbox: tmpfs on " STAGE ": %s", strerror(errno));
	return 0;
}

static int bind_all(const char *dir, const char *const *files, bool rw, struct vk_err *err)
{
	int r;

	for (; files && *files; files++) {
		r = bind_file(dir, *files, rw, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int sandbox_enter_root(const struct sandbox_jail *jail, struct vk_err *err)
{
	const char *root = jail->root, *dir = root ? root : STAGE;
	char cwd[PATH_MAX];
	bool have_cwd = !root && getcwd(cwd, sizeof(cwd));
	int r;

	r = stage_root(root, err);
	if (!r)
		r = bind_all(dir, jail->files, false, err);
	if (!r)
		r = bind_all(dir, jail->rw_files, true, err);
	if (r < 0)
		return r;
	/* pivot_root(".", "."): the old root ends up stacked on the new one, then detached. */
	if (chdir(dir) < 0 || syscall(__NR_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return vk_fail(err, -errno, "sandbox: pivot_root to %s: %s", dir, strerror(errno));
	if (!root && mount(NULL, "/", NULL,
			   MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			   NULL) < 0)
		return vk_fail(err, -errno, "sandbox: read-only root: %s", strerror(errno));
	/*
	 * The working directory as before, where a bound file made it exist:
	 * a disk given as a relative path (bound at its absolute one) is then
	 * found again at each build. Else "/".
	 */
	if (have_cwd && chdir(cwd) < 0 && chdir("/") < 0)
		return vk_fail(err, -errno, "sandbox: chdir /: %s", strerror(errno));
	return 0;
}
