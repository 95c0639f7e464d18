// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A file made visible to a running monitor that lives in its own private
 * root (vmkit run --runas, which `vmkit start` uses; vm-runas.c): a CD-ROM
 * changed while the VM runs names an ISO the monitor's root does not hold.
 * As libvirt does for devices hot-plugged into QEMU's namespace: the file
 * is cloned as a mount here (open_tree), then a child joins the monitor's
 * mount namespace and attaches it at the same path, read-only (move_mount).
 * The monitor itself never gains a way to reach the host's tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmkit/mgmt.h"
#include "vmkit/sandbox.h"

/* The monitor's root: the tmpfs vmkit run makes read-only after its binds. */
#define ROOT_FLAGS (MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC)

/*
 * In the child, inside the monitor's namespace: returns an errno for the parent.
 * The root is the monitor's own (its /proc/PID/root, opened before): setns
 * gives the namespace's top mount, which is not the monitor's root when the
 * caller was chrooted (a fresh-machine run: the ISO went to the wrong tree).
 */
static int attach(int ns, int root, int tree, const char *file)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, r = 0;

	if (setns(ns, CLONE_NEWNS) < 0 || fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return errno;
	if (stat(file, &st) == 0)
		return 0;	/* there already (the same ISO again) */
	snprintf(path, sizeof(path), "%s", file);
	if (mount(NULL, "/", NULL, ROOT_FLAGS, NULL) < 0)
		return errno;
	if (sandbox_mkdirs(path) < 0 || (fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0444)) < 0)
		r = errno;
	else
		close(fd);
	if (!r && move_mount(tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		r = errno;
	if (!r && mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
			MS_NODEV | MS_NOEXEC, NULL) < 0)
		r = errno;
	if (mount(NULL, "/", NULL, ROOT_FLAGS | MS_RDONLY, NULL) < 0 && !r)
		r = errno;
	return r;
}

static bool same_ns(pid_t pid)
{
	char p[64];
	struct stat a, b;

	snprintf(p, sizeof(p), "/proc/%d/ns/mnt", (int)pid);
	return stat(p, &a) < 0 || stat("/proc/self/ns/mnt", &b) < 0 ||
	       (a.st_ino == b.st_ino && a.st_dev == b.st_dev);
}

int vm_jail_expose(pid_t pid, const char *file, struct vk_err *err)
{
	char p[64];
	int ns, root, tree, st = 0, r;
	pid_t child;

	if (file[0] != '/')
		return vk_fail(err, -EINVAL, "%s: not an absolute path", file);
	if (same_ns(pid))
		return 0;	/* the monitor sees the host's files */
	tree = open_tree(AT_FDCWD, file, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return vk_fail(err, -errno, "%s: %s", file, strerror(errno));
	snprintf(p, sizeof(p), "/proc/%d/ns/mnt", (int)pid);
	ns = open(p, O_RDONLY | O_CLOEXEC);
	snprintf(p, sizeof(p), "/proc/%d/root", (int)pid);
	root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ns < 0 || root < 0) {
		r = vk_fail(err, -errno, "%s: %s", p, strerror(errno));
		if (ns >= 0)
			close(ns);
		close(tree);
		return r;
	}
	fflush(NULL);
	child = fork();
	if (child == 0)
		_exit(attach(ns, root, tree, file));
	close(ns);
	close(root);
	close(tree);
	if (child < 0)
		return vk_fail(err, -errno, "fork: %s", strerror(errno));
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			return vk_fail(err, -errno, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st))
		return vk_fail(err, -EIO, "%s: the helper joining the VM's root died", file);
	r = WEXITSTATUS(st);
	if (r)
		return vk_fail(err, -r, "%s: making it visible in the VM's root: %s", file,
			       strerror(r));
	return 0;
}
