/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-net: a NIC on a network backend (vmkit/net.h). */
#ifndef VMKIT_VIRTIO_NET_H
#define VMKIT_VIRTIO_NET_H

#include <stdbool.h>

#include "vmkit/util.h"

struct vm;
struct net_config;
struct virtio_net;

/* The device for cfg, on cfg->backend (opened by the caller, who keeps it). */
int virtio_net_create(struct vm *vm, const struct net_config *cfg, struct virtio_net **out,
		      struct vk_err *err);
void virtio_net_destroy(struct virtio_net *n);
/*
 * Plug or unplug the cable (QMP set_link): the config's link status
 * changes, the driver gets a configuration interrupt, and while the link
 * is down frames are dropped both ways.
 */
void virtio_net_set_link(struct virtio_net *n, bool up);
/* Whether the kernel (vhost-net) moves its frames: it writes guest RAM nobody logs. */
bool virtio_net_uses_vhost(const struct virtio_net *n);

#endif
