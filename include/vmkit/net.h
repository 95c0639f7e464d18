/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Network backends: where a virtio-net device's frames go on the host.
 *
 * A backend is, per queue pair, one nonblocking fd that carries one
 * Ethernet frame per read() and per write(): a tap queue (with a virtio-net
 * header in front of each frame), or a SOCK_SEQPACKET socket to a helper
 * process (bare frames). The device reads and writes those fds itself on
 * its event loop; the ops table covers what differs between backends:
 * offloads, queues the guest does not use, vhost, teardown.
 */
#ifndef VMKIT_NET_H
#define VMKIT_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"

struct net_config;
struct net_backend;
struct vm;

#define NET_MAX_QUEUES		16	/* queue pairs of one NIC */
#define NET_VNET_HDR_LEN	12	/* struct virtio_net_hdr_v1, num_buffers included */

/* Offloads a backend can carry (bits of net_backend.offloads). */
#define NET_OFFLOAD_CSUM	(1u << 0)	/* partial checksums, both ways */
#define NET_OFFLOAD_TSO4	(1u << 1)
#define NET_OFFLOAD_TSO6	(1u << 2)
#define NET_OFFLOAD_ECN		(1u << 3)
#define NET_OFFLOAD_UFO		(1u << 4)

struct net_backend_ops {
	const char *name;
	/*
	 * What the guest accepts (NET_OFFLOAD_* it negotiated as GUEST_*):
	 * the backend may hand it frames with partial checksums or GSO.
	 */
	int (*set_offloads)(struct net_backend *nb, uint32_t offloads, struct vk_err *err);
	/*
	 * Queue pair i is used by the guest or not (virtio-net MQ): a backend
	 * that spreads incoming frames over its queues stops sending any to
	 * an unused one. Optional.
	 */
	int (*set_queue_enabled)(struct net_backend *nb, unsigned int i, bool on,
				 struct vk_err *err);
	void (*close)(struct net_backend *nb);
};

struct net_backend {
	const struct net_backend_ops *ops;
	unsigned int nr_queues;		/* queue pairs */
	int fd[NET_MAX_QUEUES];		/* nonblocking, one frame per read/write */
	unsigned int hdr_len;		/* virtio-net header before each frame: 0 or 12 */
	uint32_t offloads;		/* NET_OFFLOAD_* the fds can carry (0 when hdr_len is 0) */
	unsigned int mtu;		/* the host side's MTU, 0 if it has none */
	char ifname[32];		/* the host interface, for messages; "" if none */
	bool link_down;			/* set_link off: kept across guest resets, as the cable */
	/* vhost-net, one per queue pair, when vhost= is on (NULL otherwise). */
	struct vhost_net *vhost[NET_MAX_QUEUES];
	uint64_t vhost_features;	/* what vhost-net offered */
	void *priv;
};

/*
 * Open the backend a --net option describes. Errors name the option and
 * the problem ("--net tap,bridge=br9: bridge br9 does not exist").
 */
int net_backend_open(const struct net_config *cfg, struct net_backend **out,
		     struct vk_err *err);
void net_backend_close(struct net_backend *nb);

/* Backends (vmm/net/). */
int net_tap_open(const struct net_config *cfg, struct net_backend **out, struct vk_err *err);
/* --net user: frames to and from the vmkit-slirp helper (include/vmkit/net-user.h). */
int net_user_open(const struct net_config *cfg, struct net_backend **out, struct vk_err *err);

/*
 * vhost-net (vmm/net/vhost.c): the kernel moves frames between a queue
 * pair's rings and its tap fd, woken by the queue's notify eventfd, and
 * signals used buffers on call_fd.
 */
struct vhost_net;
struct vhost_vring {
	unsigned int size;
	uint16_t last_avail;
	void *desc, *avail, *used;	/* host addresses of the rings */
	int kick_fd, call_fd;
};
bool vhost_net_available(void);
/* Open /dev/vhost-net for tap fd tap_fd; *features gets what it can do. */
int vhost_net_open(int tap_fd, struct vhost_net **out, uint64_t *features, struct vk_err *err);
/* Hand the pair's rings (0 = rx, 1 = tx) to the kernel with these features. */
int vhost_net_start(struct vhost_net *vh, struct vm *vm, uint64_t features,
		    const struct vhost_vring ring[2], struct vk_err *err);
/* Take them back; last_avail of each ring is written back. */
void vhost_net_stop(struct vhost_net *vh, struct vhost_vring ring[2]);
void vhost_net_close(struct vhost_net *vh);

/* MAC helpers (lib-free, used by the CLI): "52:54:00:12:34:56" <-> bytes. */
int net_parse_mac(const char *s, uint8_t mac[6]);
/* A locally administered 52:54:00 address: from name and index, or random if name is NULL. */
void net_default_mac(const char *name, unsigned int index, uint8_t mac[6]);

#endif
