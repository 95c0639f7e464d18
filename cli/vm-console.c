// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * console: attach this terminal to a running VM's serial console (the
 * monitor's console socket). Ctrl-] detaches, as in virsh console; the VM
 * keeps running.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>

#include "vm-cli.h"

#define DETACH_CHAR	0x1d	/* Ctrl-] */

static struct termios saved;
static bool raw_mode;

static void tty_restore(void)
{
	if (raw_mode)
		tcsetattr(0, TCSAFLUSH, &saved);
	raw_mode = false;
}

static void tty_raw(void)
{
	struct termios t;

	if (!isatty(0) || tcgetattr(0, &saved))
		return;
	t = saved;
	cfmakeraw(&t);
	if (!tcsetattr(0, TCSAFLUSH, &t))
		raw_mode = true;
}

/* Copy between the terminal and the socket until detach or either side closes. */
static int relay(int sock)
{
	struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
	char buf[4096];
	ssize_t n, i;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[1].revents) {
			n = read(sock, buf, sizeof(buf));
			if (n <= 0)
				return 0;	/* the VM stopped */
			if (vk_write_full(1, buf, n) < 0)
				return 1;
		}
		if (p[0].revents) {
			n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				p[0].fd = -1;	/* stdin closed: keep showing output */
				continue;
			}
			for (i = 0; i < n; i++)
				if (buf[i] == DETACH_CHAR)
					return vk_write_full(sock, buf, i) < 0;
			if (vk_write_full(sock, buf, n) < 0)
				return 1;
		}
	}
}

int cmd_console(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit console NAME\n"
		"Attach to a running VM's serial console; Ctrl-] detaches.\n";
	struct vk_err err = { 0 };
	char p[PATH_MAX];
	struct vm_status st;
	int fd, rc;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("console", "expected one VM NAME");
	if (vm_require_running(argv[1], &st, &err))
		return mgmt_report(&err);
	fd = mgmt_unix_connect(mgmt_path(p, "vms/%s/run/console.sock", argv[1]), &err);
	if (fd < 0)
		return mgmt_report(&err);
	fprintf(stderr, "Connected to VM %s\nEscape character is ^] (Ctrl + ])\n", argv[1]);
	tty_raw();
	rc = relay(fd);
	tty_restore();
	close(fd);
	fprintf(stderr, "\n");
	return rc;
}
