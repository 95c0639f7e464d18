// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state directory: where it is, its lock, names that are safe to use as
 * file names in it, and atomic file replacement (so that a crash or a full
 * disk never leaves a half-written definition behind).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <ftw.h>
#include <sys/stat.h>

#include "vmkit/mgmt.h"

static int lock_fd = -1;

const char *mgmt_home(void)
{
	const char *h = getenv("VMKIT_HOME");

	return h && *h ? h : "/var/lib/vmkit";
}

const char *mgmt_path(char *buf, const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	/* Names are checked and short; a home too long for them gives a path that fails to open. */
	if (snprintf(buf, PATH_MAX, "%s/%s", mgmt_home(), rel) >= PATH_MAX)
		buf[PATH_MAX - 1] = 0;
	return buf;
}

static int mkdir_p(const char *path, struct vk_err *err)
{
	char tmp[PATH_MAX];
	char *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; ; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;

		*p = 0;
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return vk_fail(err, -errno, "%s: %s", tmp, strerror(errno));
		*p = c;
		if (!c)
			return 0;
	}
}

int mgmt_home_init(struct vk_err *err)
{
	static const char *const subdirs[] = { "vms", "pools", "networks", "images" };
	char p[PATH_MAX];
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(subdirs); i++) {
		ret = mkdir_p(mgmt_path(p, "%s", subdirs[i]), err);
		if (ret)
			return ret;
	}
	return 0;
}

int mgmt_lock(struct vk_err *err)
{
	char p[PATH_MAX];
	int ret;

	if (lock_fd >= 0)
		return 0;
	ret = mgmt_home_init(err);
	if (ret)
		return ret;
	lock_fd = open(mgmt_path(p, "lock"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0)
		return vk_fail(err, -errno, "%s: %s", p, strerror(errno));
	while (flock(lock_fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		ret = -errno;
		close(lock_fd);
		lock_fd = -1;
		return vk_fail(err, ret, "%s: cannot lock: %s", p, strerror(-ret));
	}
	return 0;
}

bool mgmt_is_locked(void)
{
	return lock_fd >= 0;
}

void mgmt_unlock(void)
{
	if (lock_fd < 0)
		return;
	close(lock_fd);
	lock_fd = -1;
}

int mgmt_check_name(const char *what, const char *name, struct vk_err *err)
{
	size_t i, n = strlen(name);

	if (!n)
		return vk_fail(err, -EINVAL, "%s name is empty", what);
	if (n >= MGMT_NAME_MAX)
		return vk_fail(err, -EINVAL, "%s name '%s' is longer than %d characters", what,
			       name, MGMT_NAME_MAX - 1);
	for (i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || (i && (c == '.' || c == '_' || c == '-'));

		if (!ok)
			return vk_fail(err, -EINVAL,
				       "%s name '%s': only letters, digits, '.', '_' and '-' are allowed (not first)",
				       what, name);
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, ret = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = 0;
	else
		*slash = 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int mgmt_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      struct vk_err *err)
{
	char tmp[PATH_MAX];
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return vk_fail(err, -ENAMETOOLONG, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return vk_fail(err, -errno, "%s: %s", tmp, strerror(errno));
	ret = vk_write_full(fd, data, len);
	if (ret >= 0 && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (ret >= 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return vk_fail(err, ret, "%s: cannot write: %s", path, strerror(-ret));
	}
	ret = fsync_dir_of(path);
	if (ret)
		return vk_fail(err, ret, "%s: cannot sync its directory: %s", path, strerror(-ret));
	return 0;
}

int mgmt_strv_push(char ***v, const char *s, struct vk_err *err)
{
	size_t n = 0;
	char **nv;

	while (*v && (*v)[n])
		n++;
	nv = realloc(*v, (n + 2) * sizeof(*nv));
	if (!nv)
		return vk_fail(err, -ENOMEM, "out of memory");
	*v = nv;
	nv[n] = strdup(s);
	nv[n + 1] = NULL;
	return nv[n] ? 0 : vk_fail(err, -ENOMEM, "out of memory");
}

void mgmt_strv_free(char **v)
{
	char **p;

	if (!v)
		return;
	for (p = v; *p; p++)
		free(*p);
	free(v);
}

int mgmt_wrap(struct vk_err *err, const char *what)
{
	char msg[sizeof(err->msg)];

	/* Callers that only want to know whether it failed pass no err. */
	if (!err)
		return -EINVAL;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	return vk_fail(err, err->code ? err->code : -EINVAL, "%s: %s", what, msg);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int mgmt_rm_rf(const char *path)
{
	if (access(path, F_OK))
		return 0;
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) ? -errno : 0;
}
