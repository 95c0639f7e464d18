/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host bridges over rtnetlink: create, delete, attach and detach ports.
 * Attaching moves the port's IPv4 addresses and default route to the bridge,
 * as the br0 script users write by hand does, so the host stays reachable.
 * Errors name the bridge or interface and carry the kernel's reason.
 */
#ifndef VMKIT_BRIDGE_H
#define VMKIT_BRIDGE_H

#include "vmkit/netlink.h"

/* Create bridge name, bring it up, and give it addr when not NULL. */
int vk_bridge_create(const char *name, const struct vk_nl_addr *addr, struct vk_err *err);
/*
 * The same for a bridge that may exist already (then it is taken as it is,
 * refused when not a bridge), with an MTU when mtu is not 0. Returns 1 when
 * it made the bridge, 0 when it existed; a bridge it made is removed again
 * when a later step fails.
 */
int vk_bridge_ensure(const char *name, const struct vk_nl_addr *addr, unsigned int mtu,
		     struct vk_err *err);
/* Set an interface's MTU. */
int vk_link_set_mtu(const char *iface, unsigned int mtu, struct vk_err *err);
/* Remove one address from an interface; not there is not an error. */
int vk_link_addr_del(const char *iface, const struct vk_nl_addr *addr, struct vk_err *err);
/* Delete bridge name (refused when name is not a bridge). */
int vk_bridge_delete(const char *name, struct vk_err *err);
/* Enslave iface to bridge, bring both up, move iface's IPv4 addresses and default routes. */
int vk_bridge_attach(const char *bridge, const char *iface, struct vk_err *err);
/* Release iface from bridge (addresses stay on the bridge). */
int vk_bridge_detach(const char *bridge, const char *iface, struct vk_err *err);
/*
 * Undo an attach: release iface and move the bridge's IPv4 addresses (all
 * but keep, the bridge's own, when not NULL) and default routes back to it.
 * -ENOTCONN when iface is not a port of bridge.
 */
int vk_bridge_detach_restore(const char *bridge, const char *iface, const struct vk_nl_addr *keep,
			     struct vk_err *err);

#endif
