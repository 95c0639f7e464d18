// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Starting the user-mode NAT helper: a socketpair for the frames, a pipe
 * on which the helper says why it could not start (or closes it once its
 * stack is up and every hostfwd listens), and a child that cannot outlive
 * the monitor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "vmkit/net-user.h"

#define START_TIMEOUT_MS 10000
/* Frames in flight between monitor and helper: a burst of full-size frames. */
#define SOCK_BUF (4 * 1024 * 1024)

/* In the child, between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
child(const char *path, const char *opts, bool sandbox, int frame_fd, int status_fd, pid_t parent)
{
	char *argv[] = { (char *)NET_USER_HELPER, (char *)"--fd=3", (char *)"--status-fd=4",
			 (char *)(sandbox ? "--sandbox=on" : "--sandbox=off"), (char *)opts, NULL };
	char msg[4096];
	int e = -vk_child_prepare(frame_fd, status_fd, parent);

	if (e == ESRCH)
		_exit(1);
	if (e) {
		snprintf(msg, sizeof(msg), "%d cannot set up the helper's fds: %s", e, strerror(e));
		/* Nothing more to do if even that fails: the monitor sees EOF and no helper. */
		(void)!write(status_fd, msg, strlen(msg));
		_exit(126);
	}
	execv(path, argv);
	e = errno;
	snprintf(msg, sizeof(msg), "%d %.3500s: %.400s", e, path, strerror(e));
	(void)!write(4, msg, strlen(msg));
	_exit(127);
}

/* "" from a helper that started; else its "<errno> <message>". */
static int wait_ready(int status_fd, pid_t pid, struct vk_err *err)
{
	struct pollfd p = { .fd = status_fd, .events = POLLIN };
	char msg[sizeof(err->msg)];
	size_t len = 0;
	ssize_t n;
	char *end;
	long code;
	int r;

	for (;;) {
		r = poll(&p, 1, START_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return vk_fail(err, -ETIMEDOUT, "%s (pid %d): did not start in %d s",
				       NET_USER_HELPER, (int)pid, START_TIMEOUT_MS / 1000);
		n = read(status_fd, msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || len + (size_t)n == sizeof(msg) - 1)
			break;
		len += (size_t)n;
	}
	if (!len)
		return 0;
	msg[len] = '\0';
	code = strtol(msg, &end, 10);
	if (code <= 0 || code > 4095 || *end != ' ')
		return vk_fail(err, -EIO, "%s: %s", NET_USER_HELPER, msg);
	return vk_fail(err, (int)-code, "%s", end + 1);
}

static void set_sock_bufs(int fd)
{
	int sz = SOCK_BUF;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

int net_user_start(const char *opts, bool sandbox, int *fd_out, pid_t *pid_out, struct vk_err *err)
{
	struct net_user_opts o;
	char path[PATH_MAX];
	int sv[2], st[2];
	pid_t pid, self = getpid();
	int r;

	r = net_user_parse(opts, &o, err);
	if (r < 0)
		return r;
	r = vk_sibling_path(NET_USER_HELPER, path, sizeof(path), err);
	if (r < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return vk_fail(err, -errno, "socketpair: %s", strerror(errno));
	if (pipe2(st, O_CLOEXEC) < 0) {
		r = vk_fail(err, -errno, "pipe: %s", strerror(errno));
		goto err_sock;
	}
	set_sock_bufs(sv[0]);
	set_sock_bufs(sv[1]);
	pid = fork();
	if (pid < 0) {
		r = vk_fail(err, -errno, "fork: %s", strerror(errno));
		goto err_pipe;
	}
	if (pid == 0)
		child(path, opts, sandbox, sv[1], st[1], self);
	close(sv[1]);
	close(st[1]);
	r = wait_ready(st[0], pid, err);
	close(st[0]);
	if (r < 0) {
		net_user_stop(sv[0], pid);
		return r;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	*fd_out = sv[0];
	*pid_out = pid;
	return 0;

err_pipe:
	close(st[0]);
	close(st[1]);
err_sock:
	close(sv[0]);
	close(sv[1]);
	return r;
}

void net_user_stop(int fd, pid_t pid)
{
	int i;

	if (fd >= 0)
		close(fd);
	if (pid <= 0)
		return;
	/* The helper exits when its socket closes; give it a moment, then insist. */
	for (i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		usleep(1000 * (i < 10 ? 1 : 10));
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
