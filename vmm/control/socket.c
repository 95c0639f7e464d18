// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket's file: --qmp parsing, binding it 0600 under a
 * temporary name and renaming it into place, and removing it on exit
 * (only if it is still ours).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "qmp.h"

/* Is there a live server at path? A stale socket refuses connections. */
static bool socket_in_use(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return live;
}

/*
 * Bind to a temporary name beside path, then rename it into place: a
 * client never finds a socket that is not yet listening or not yet 0600.
 * What is at path already is replaced only if it is a stale socket.
 */
int qmp_bind(struct control *c, struct vk_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX }, tmp = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int r;

	if (strlen(c->path) + 16 >= sizeof(sa.sun_path))
		return vk_fail(err, -ENAMETOOLONG, "--qmp %s: path too long for a unix socket",
			       c->path);
	strcpy(sa.sun_path, c->path);
	snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d.tmp", c->path, (int)getpid());
	if (lstat(c->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return vk_fail(err, -EEXIST, "--qmp %s: exists and is not a socket", c->path);
		if (socket_in_use(&sa))
			return vk_fail(err, -EADDRINUSE, "--qmp %s: another process is serving it",
				       c->path);
	}
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0)
		return vk_fail(err, -errno, "--qmp: socket: %s", strerror(errno));
	unlink(tmp.sun_path);
	old = umask(0177);	/* before any other thread exists: umask is per process */
	r = bind(c->listen_fd, (struct sockaddr *)&tmp, sizeof(tmp));
	umask(old);
	if (r < 0)
		return vk_fail(err, -errno, "--qmp %s: %s", c->path, strerror(errno));
	if (chmod(tmp.sun_path, 0600) < 0 || listen(c->listen_fd, 16) < 0 ||
	    stat(tmp.sun_path, &st) < 0 || rename(tmp.sun_path, c->path) < 0) {
		r = -errno;
		unlink(tmp.sun_path);
		return vk_fail(err, r, "--qmp %s: %s", c->path, strerror(-r));
	}
	c->sock_dev = st.st_dev;
	c->sock_ino = st.st_ino;
	return 0;
}

void qmp_unbind(struct control *c)
{
	struct stat st;

	if (c->listen_fd < 0)
		return;
	if (stat(c->path, &st) == 0 && st.st_dev == c->sock_dev && st.st_ino == c->sock_ino)
		unlink(c->path);
	close(c->listen_fd);
	c->listen_fd = -1;
}

/* --qmp [unix:]PATH[,server=on|server][,wait=off|nowait] */
static int spec_opt(const char *opt, struct vk_err *err)
{
	if (!strcmp(opt, "server") || !strcmp(opt, "server=on") || !strcmp(opt, "nowait") ||
	    !strcmp(opt, "wait=off"))
		return 0;
	if (!strcmp(opt, "server=off"))
		return vk_fail(err, -EINVAL, "--qmp: server=off: vmkit only listens (server=on)");
	if (!strcmp(opt, "wait=on") || !strcmp(opt, "wait"))
		return vk_fail(err, -EINVAL, "--qmp: %s: not supported, the VM starts at once (wait=off)",
			       opt);
	return vk_fail(err, -EINVAL, "--qmp: unknown option '%s' (server=on, wait=off)", opt);
}

int control_parse_spec(const char *spec, char **path, struct vk_err *err)
{
	char *s, *comma, *opt;
	int r = 0;

	if (!strncmp(spec, "unix:", 5))
		spec += 5;
	else if (strchr(spec, ':') && !strchr(spec, '/'))
		return vk_fail(err, -EINVAL, "--qmp %s: only unix sockets are supported (unix:PATH)",
			       spec);
	s = strdup(spec);
	if (!s)
		return vk_fail(err, -ENOMEM, "out of memory");
	comma = strchr(s, ',');
	if (comma)
		*comma = '\0';
	for (opt = comma ? comma + 1 : NULL; opt && !r; opt = comma ? comma + 1 : NULL) {
		comma = strchr(opt, ',');
		if (comma)
			*comma = '\0';
		r = spec_opt(opt, err);
	}
	if (!r && !*s)
		r = vk_fail(err, -EINVAL, "--qmp: no socket path given");
	if (r) {
		free(s);
		return r;
	}
	*path = s;
	return 0;
}
