// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Starting and stopping a network: its bridge, MTU, address and uplink made
 * real with lib/net's bridge requests (what `vmkit net bridge-create` and
 * `bridge-attach` do), and the outcome recorded in the definition.
 */
#include <errno.h>
#include <net/if.h>
#include <string.h>

#include "vmkit/bridge.h"
#include "vmkit/mgmt.h"

/* The uplink: the network's MTU first (a smaller port would drop big frames), then attached. */
static int attach_uplink(const struct network_def *n, struct vk_err *err)
{
	int r = 0;

	if (n->mtu)
		r = vk_link_set_mtu(n->uplink, n->mtu, err);
	if (!r)
		r = vk_bridge_attach(n->bridge, n->uplink, err);
	/* Started before (the bridge was kept): the uplink is where it should be. */
	return r == -EEXIST ? 0 : r;
}

int network_start(struct network_def *n, struct vk_err *err)
{
	struct vk_nl_addr addr;
	int made, r;

	if (n->address[0] && vk_nl_parse_cidr(n->address, &addr) < 0)
		return vk_fail(err, -EINVAL, "address: '%s' is not an address with a prefix length",
			       n->address);
	made = vk_bridge_ensure(n->bridge, n->address[0] ? &addr : NULL, n->mtu, err);
	if (made < 0)
		return made;
	if (n->uplink[0]) {
		r = attach_uplink(n, err);
		if (r < 0) {
			if (made)
				vk_bridge_delete(n->bridge, &(struct vk_err){ 0 });
			return r;
		}
	}
	n->active = true;
	n->made_bridge = made > 0;
	r = network_save(n, err);
	if (r && made)
		vk_bridge_delete(n->bridge, &(struct vk_err){ 0 });
	return r;
}

int network_stop(struct network_def *n, struct vk_err *err)
{
	struct vk_nl_addr own;
	int r = 0;

	/*
	 * The uplink gets back what start moved to the bridge (its IPv4
	 * addresses and default route), so the host stays reachable through
	 * it; the network's own address goes with the bridge.
	 */
	if (n->uplink[0] && if_nametoindex(n->uplink) && if_nametoindex(n->bridge)) {
		r = vk_bridge_detach_restore(n->bridge, n->uplink,
					     n->address[0] && !vk_nl_parse_cidr(n->address, &own) ?
					     &own : NULL, err);
		/* Not a port of the bridge (any more): nothing to give back. */
		if (r == -ENOTCONN)
			r = 0;
		if (r < 0)
			return r;
	}
	/*
	 * A bridge that was there before start (a host's vmbr0, which may carry
	 * the host's own connection) stays: only the network's address leaves it.
	 */
	if (if_nametoindex(n->bridge) && n->made_bridge)
		r = vk_bridge_delete(n->bridge, err);
	else if (if_nametoindex(n->bridge) && n->address[0] && !vk_nl_parse_cidr(n->address, &own))
		r = vk_link_addr_del(n->bridge, &own, err);
	if (r < 0)
		return r;
	n->active = false;
	n->made_bridge = false;
	return network_save(n, err);
}
