// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit-slirp: the user-mode NAT stack of `vmkit run --net user`, a
 * dynamically linked helper because Debian has no static libslirp.
 *
 *   vmkit-slirp [--fd=N] [--status-fd=N] [--sandbox=on|off] [OPTIONS]
 *
 * Frames (bare Ethernet, one per message) on the SOCK_SEQPACKET socket fd N
 * (default 3). When --status-fd is given, the helper closes it once its
 * stack is up and every hostfwd listens, or writes "<errno> <message>" to
 * it and exits when it cannot start. OPTIONS are --net user's, without
 * mac= (include/vmkit/net-user.h). It exits when the socket's other end
 * closes, and when its parent dies.
 *
 * --sandbox=on (the default): once the stack is up and every hostfwd
 * listens, and before the first frame, the helper drops what it no longer
 * needs (include/vmkit/sandbox.h): as root, a private mount namespace whose
 * root is an empty read-only tmpfs holding only /etc/resolv.conf
 * (read-only; libslirp reads it at each DNS query), the user vmkit (or
 * nobody when there is no vmkit user), no capabilities; always
 * PR_SET_NO_NEW_PRIVS and the seccomp allow-list of sandbox.c. A forbidden
 * call kills it with one line naming the call (on stderr, and on the status
 * fd while starting). --sandbox=off is for debugging.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "slirp-helper.h"

static int status_fd = -1;
static bool sandbox = true;
/* The only host file the helper reads after start-up (libslirp, at DNS queries). */
static const char *const jail_files[] = { "/etc/resolv.conf", NULL };

/* Say why we cannot start, on stderr and to the monitor; exit. */
static void __attribute__((noreturn, format(printf, 2, 3))) die(int code, const char *fmt, ...)
{
	char msg[600];
	char line[640];
	va_list ap;
	int len;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status_fd >= 0) {
		len = snprintf(line, sizeof(line), "%d %s", code > 0 ? code : EINVAL, msg);
		(void)!write(status_fd, line, (size_t)len);
	} else {
		fprintf(stderr, "vmkit-slirp: %s\n", msg);
	}
	exit(code == EINVAL ? 2 : 1);
}

static int parse_fd(const char *arg, const char *name)
{
	uint64_t v;

	if (vk_parse_uint(arg, 0, 1 << 20, &v) < 0)
		die(EINVAL, "%s=%s: not a file descriptor", name, arg);
	return (int)v;
}

static void config_from(const struct net_user_opts *o, SlirpConfig *c)
{
	memset(c, 0, sizeof(*c));
	c->version = 4;
	c->restricted = o->restricted;
	c->in_enabled = true;
	c->vnetwork = o->net;
	c->vnetmask = o->mask;
	c->vhost = o->host;
	c->vdhcp_start = o->dhcp_start;
	c->vnameserver = o->dns;
	c->if_mtu = o->mtu;
	c->if_mru = o->mtu;
	/* QEMU's IPv6 defaults: fec0::/64, host ::2, DNS ::3. */
	c->in6_enabled = o->ipv6;
	inet_pton(AF_INET6, "fec0::", &c->vprefix_addr6);
	c->vprefix_len = 64;
	inet_pton(AF_INET6, "fec0::2", &c->vhost6);
	inet_pton(AF_INET6, "fec0::3", &c->vnameserver6);
}

static void add_fwds(struct slirp_helper *h, const struct net_user_opts *o)
{
	const struct net_user_fwd *f;
	char ha[INET_ADDRSTRLEN];
	unsigned int i;

	for (i = 0; i < o->nr_fwds; i++) {
		f = &o->fwds[i];
		errno = 0;
		if (slirp_add_hostfwd(h->slirp, f->udp, f->host_addr, f->host_port, f->guest_addr,
				      f->guest_port) < 0) {
			int e = errno ? errno : EADDRINUSE;

			inet_ntop(AF_INET, &f->host_addr, ha, sizeof(ha));
			die(e, "hostfwd=%s: cannot listen on %s %s:%u: %s", f->spec,
			    f->udp ? "udp" : "tcp", ha, f->host_port, strerror(e));
		}
	}
}

static void enter_sandbox(void)
{
	struct sandbox_jail jail = { .files = jail_files };
	struct vk_err err = { 0 };
	bool dropped;

	if (sandbox_drop(&jail, &dropped, &err) < 0)
		die(-err.code, "%s", err.msg);
	/* A forbidden call before we are ready is a start failure the monitor reports. */
	sandbox_set_report_fd(status_fd, "1 ");
	if (sandbox_install(&sh_sandbox_kind, &err) < 0)
		die(-err.code, "%s", err.msg);
	sandbox_set_report_fd(-1, NULL);
}

int main(int argc, char **argv)
{
	static struct slirp_helper h = { .fd = 3 };
	struct net_user_opts o;
	struct vk_err err = { 0 };
	const char *opts = "";
	SlirpConfig cfg;
	int type = 0, i;
	socklen_t len = sizeof(type);

	/* Never outlive the monitor, even if it is killed before closing the socket. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--fd=", 5))
			h.fd = parse_fd(argv[i] + 5, "--fd");
		else if (!strncmp(argv[i], "--status-fd=", 12))
			status_fd = parse_fd(argv[i] + 12, "--status-fd");
		else if (!strcmp(argv[i], "--sandbox=on"))
			sandbox = true;
		else if (!strcmp(argv[i], "--sandbox=off"))
			sandbox = false;
		else if (!strncmp(argv[i], "--sandbox=", 10))
			die(EINVAL, "%s: expected --sandbox=on or --sandbox=off", argv[i]);
		else if (!strcmp(argv[i], "--help")) {
			printf("usage: vmkit-slirp [--fd=N] [--status-fd=N] [--sandbox=on|off] [OPTIONS]\n"
			       "OPTIONS: net=ADDR/PREFIX,host=,dns=,dhcpstart=,restrict=on|off,\n"
			       "         ipv6=on|off,mtu=N,hostfwd=[tcp|udp]:[HADDR]:HPORT-[GADDR]:GPORT...\n");
			return 0;
		} else if (i == argc - 1 && argv[i][0] != '-')
			opts = argv[i];
		else
			die(EINVAL, "unexpected argument '%s' (try --help)", argv[i]);
	}
	if (net_user_parse(opts, &o, &err) < 0)
		die(EINVAL, "%s", err.msg);
	if (getsockopt(h.fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET)
		die(EBADF, "fd %d is not a SOCK_SEQPACKET socket", h.fd);

	config_from(&o, &cfg);
	h.slirp = slirp_new(&cfg, &sh_callbacks, &h);
	if (!h.slirp)
		die(EINVAL, "libslirp refused the configuration");
	add_fwds(&h, &o);
	if (sandbox)
		enter_sandbox();
	if (status_fd >= 0)
		close(status_fd);	/* ready */
	i = sh_run(&h);
	slirp_cleanup(h.slirp);
	return i;
}
