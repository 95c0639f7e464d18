// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The --net user backend: one queue pair whose fd is the monitor's end of
 * the vmkit-slirp helper's frame socket. Frames cross it bare (hdr_len 0,
 * no offloads): the device adds and strips the virtio-net header itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/config.h"
#include "vmkit/net.h"
#include "vmkit/net-user.h"

struct user {
	pid_t pid;
};

static void user_close(struct net_backend *nb)
{
	struct user *u = nb->priv;

	net_user_stop(nb->fd[0], u->pid);
	free(u);
	free(nb);
}

static const struct net_backend_ops user_ops = {
	.name = "user",
	.close = user_close,
};

int net_user_open(const struct net_config *cfg, struct net_backend **out, struct vk_err *err)
{
	struct net_backend *nb = calloc(1, sizeof(*nb));
	struct user *u = calloc(1, sizeof(*u));
	struct net_user_opts o;
	char why[sizeof(err->msg)];
	unsigned int i;
	int r;

	if (!nb || !u) {
		free(nb);
		free(u);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < NET_MAX_QUEUES; i++)
		nb->fd[i] = -1;
	r = net_user_start(cfg->user_opts ? cfg->user_opts : "", !cfg->user_sandbox_off, &nb->fd[0], &u->pid, err);
	if (r < 0) {
		snprintf(why, sizeof(why), "%s", err->msg);
		free(nb);
		free(u);
		return vk_fail(err, r, "--net %s: %s", cfg->spec, why);
	}
	/* Checked by net_user_start already: only the network's name for messages. */
	net_user_parse(cfg->user_opts ? cfg->user_opts : "", &o, err);
	snprintf(nb->ifname, sizeof(nb->ifname), "%s/%u", inet_ntoa(o.net), o.prefix);
	nb->ops = &user_ops;
	nb->priv = u;
	nb->nr_queues = 1;
	nb->hdr_len = 0;
	nb->mtu = o.mtu;	/* offered to the guest (VIRTIO_NET_F_MTU) */
	*out = nb;
	return 0;
}
