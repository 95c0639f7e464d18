/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * User-mode NAT networking (--net user): libslirp in a helper process,
 * vmkit-slirp, installed next to vmkit. The monitor is linked statically
 * and Debian ships libslirp only as a shared library, hence the process
 * boundary. Monitor and helper share one SOCK_SEQPACKET socket: one bare
 * Ethernet frame (no virtio-net header) per message, both ways. The helper
 * exits when the monitor's end closes, or the monitor dies.
 *
 * Options, as QEMU's -netdev user: net=ADDR/PREFIX (default 10.0.2.0/24;
 * host .2, DNS .3, DHCP from .15), host=, dns=, dhcpstart=,
 * hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (repeatable;
 * the guest address defaults to the first DHCP address), restrict=on|off,
 * ipv6=on|off (fec0::/64, default on), mtu=68..65520 (default 1500: a large
 * one, like slirp4netns's 65520, lets a guest that follows the device's MTU
 * move TCP in far fewer frames).
 */
#ifndef VMKIT_NET_USER_H
#define VMKIT_NET_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "vmkit/util.h"

#define NET_USER_HELPER		"vmkit-slirp"
#define NET_USER_MAX_FWDS	64
#define NET_USER_MTU_MAX	65520	/* under libslirp's IF_MTU_MAX (65521) */

struct net_user_fwd {
	bool udp;
	struct in_addr host_addr;	/* INADDR_ANY unless given */
	uint16_t host_port;
	struct in_addr guest_addr;
	uint16_t guest_port;
	char spec[96];			/* as given, for messages */
};

struct net_user_opts {
	struct in_addr net, mask;
	unsigned int prefix;
	struct in_addr host, dns, dhcp_start;
	bool restricted;
	bool ipv6;
	unsigned int mtu;
	unsigned int nr_fwds;
	struct net_user_fwd fwds[NET_USER_MAX_FWDS];
};

/*
 * Parse and check opts ("net=10.0.2.0/24,hostfwd=tcp::2222-:22"; "" for
 * the defaults). Errors name the option: "hostfwd=tcp::99999-:22: port
 * 99999 is not 1-65535". Returns 0 or -EINVAL.
 */
int net_user_parse(const char *opts, struct net_user_opts *o, struct vk_err *err);

/*
 * Check opts, then spawn the helper (next to /proc/self/exe) and wait until
 * it runs: its slirp stack is up and every hostfwd listens (and, unless
 * sandbox is false, its privileges are dropped and its seccomp filter is in). *fd_out is the
 * monitor's end of the frame socket, nonblocking and close-on-exec.
 * Errors: -EINVAL for bad options; otherwise why the helper could not
 * start ("hostfwd=tcp::2222-:22: cannot listen on 0.0.0.0:2222: Address
 * already in use", "vmkit-slirp: No such file or directory").
 */
int net_user_start(const char *opts, bool sandbox, int *fd_out, pid_t *pid_out, struct vk_err *err);

/* Close the frame socket and reap the helper (killing it if it lingers). */
void net_user_stop(int fd, pid_t pid);

#endif
