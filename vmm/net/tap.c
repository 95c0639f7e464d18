// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tap backend: /dev/net/tun in TAP mode with a virtio-net header in front
 * of every frame (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), so checksum and GSO
 * offloads pass between the guest and the host stack untouched. queues=N
 * opens N queues of one IFF_MULTI_QUEUE tap. The tap is created (or an
 * existing one attached), brought up and, with bridge=, enslaved to the
 * bridge: the classic bridged network of seed 000/002.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/sockios.h>

#include "vmkit/config.h"
#include "vmkit/net.h"

#define DEFAULT_NAME	"vmkit-tap%d"

struct tap {
	bool attached[NET_MAX_QUEUES];
};

static bool exists(const char *ifname, const char *sysfs_leaf)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, sysfs_leaf);
	return access(path, F_OK) == 0;
}

/* Why TUNSETIFF refused name: the one line the user sees. */
static int explain_setiff(const struct net_config *cfg, const char *name, int e,
			  struct vk_err *err)
{
	const char *spec = cfg->spec;

	if (e == EPERM || e == EACCES)
		return vk_fail(err, -e, "--net %s: cannot create tap %s: permission denied (needs CAP_NET_ADMIN, or a tap owned by this user)",
			       spec, name);
	if (e == EBUSY)
		return vk_fail(err, -e, "--net %s: tap %s is in use by another process", spec, name);
	if (e == EINVAL && if_nametoindex(name) && !exists(name, "tun_flags"))
		return vk_fail(err, -e, "--net %s: the name %s is in use by a device that is not a tap",
			       spec, name);
	if (e == EINVAL && if_nametoindex(name))
		return vk_fail(err, -e, "--net %s: %s is a tun/tap device with other flags (a tun, or multi_queue %s)",
			       spec, name, cfg->queues > 1 ? "off" : "on");
	return vk_fail(err, -e, "--net %s: cannot create tap %s: %s", spec, name, strerror(e));
}

/* One queue of the tap; name is "" for the default, and gets the actual name. */
static int open_queue(const struct net_config *cfg, char name[IFNAMSIZ], struct vk_err *err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd, hdr = NET_VNET_HDR_LEN;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EPERM))
		return vk_fail(err, -errno, "--net %s: cannot open /dev/net/tun: permission denied (needs CAP_NET_ADMIN, or access to /dev/net/tun)",
			       cfg->spec);
	if (fd < 0)
		return vk_fail(err, -errno, "--net %s: /dev/net/tun: %s", cfg->spec,
			       strerror(errno));
	if (cfg->queues > 1)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name[0] ? name : DEFAULT_NAME);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		close(fd);
		return explain_setiff(cfg, name[0] ? name : DEFAULT_NAME, e, err);
	}
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	name[IFNAMSIZ - 1] = '\0';
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int e = errno;

		close(fd);
		return vk_fail(err, -e, "--net %s: %s: TUNSETVNETHDRSZ: %s", cfg->spec, name,
			       strerror(e));
	}
	return fd;
}

static int ifreq_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (s < 0)
		return -errno;
	r = ioctl(s, req, ifr) < 0 ? -errno : 0;
	close(s);
	return r;
}

static int set_mtu_and_up(const struct net_config *cfg, const char *name, unsigned int *mtu,
			  struct vk_err *err)
{
	struct ifreq ifr = { 0 };
	int r;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (cfg->mtu) {
		ifr.ifr_mtu = cfg->mtu;
		r = ifreq_ioctl(SIOCSIFMTU, &ifr);
		if (r)
			return vk_fail(err, r, "--net %s: mtu=%u: tap %s refuses it (%s)", cfg->spec,
				       cfg->mtu, name, strerror(-r));
	}
	r = ifreq_ioctl(SIOCGIFMTU, &ifr);
	*mtu = r ? 1500 : (unsigned int)ifr.ifr_mtu;
	r = ifreq_ioctl(SIOCGIFFLAGS, &ifr);
	if (!r && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		r = ifreq_ioctl(SIOCSIFFLAGS, &ifr);
	}
	if (r)
		return vk_fail(err, r, "--net %s: cannot bring tap %s up: %s", cfg->spec, name,
			       strerror(-r));
	return 0;
}

/* Enslave the tap to the bridge (SIOCBRADDIF), unless it already is. */
static int attach_bridge(const struct net_config *cfg, const char *name, struct vk_err *err)
{
	char path[96], link[128];
	struct ifreq ifr = { 0 };
	ssize_t n;
	int r;

	if (!if_nametoindex(cfg->bridge))
		return vk_fail(err, -ENODEV, "--net %s: bridge %s does not exist", cfg->spec,
			       cfg->bridge);
	snprintf(path, sizeof(path), "/sys/class/net/%s/master", name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		if (!strcmp(strrchr(link, '/') ? strrchr(link, '/') + 1 : link, cfg->bridge))
			return 0;
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", cfg->bridge);
	ifr.ifr_ifindex = if_nametoindex(name);
	/*
	 * The kernel says whether it is a bridge: sysfs may be another network
	 * namespace's (nsenter --net keeps the caller's /sys).
	 */
	r = ifreq_ioctl(SIOCBRADDIF, &ifr);
	if (r == -EOPNOTSUPP || r == -EINVAL)
		return vk_fail(err, -EINVAL, "--net %s: %s is not a bridge", cfg->spec,
			       cfg->bridge);
	if (r)
		return vk_fail(err, r, "--net %s: cannot add tap %s to bridge %s: %s", cfg->spec,
			       name, cfg->bridge, strerror(-r));
	return 0;
}

static unsigned int tun_flags(uint32_t offloads)
{
	unsigned int f = 0;

	if (!(offloads & NET_OFFLOAD_CSUM))
		return 0;	/* the kernel takes no GSO without checksum offload */
	f |= TUN_F_CSUM;
	if (offloads & NET_OFFLOAD_TSO4)
		f |= TUN_F_TSO4;
	if (offloads & NET_OFFLOAD_TSO6)
		f |= TUN_F_TSO6;
	if ((offloads & NET_OFFLOAD_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	if (offloads & NET_OFFLOAD_UFO)
		f |= TUN_F_UFO;
	return f;
}

static int tap_set_offloads(struct net_backend *nb, uint32_t offloads, struct vk_err *err)
{
	if (ioctl(nb->fd[0], TUNSETOFFLOAD, tun_flags(offloads & nb->offloads)) < 0)
		return vk_fail(err, -errno, "tap %s: TUNSETOFFLOAD: %s", nb->ifname,
			       strerror(errno));
	return 0;
}

/* Which offloads this kernel's tap takes: the flags TUNSETOFFLOAD accepts. */
static uint32_t probe_offloads(int fd)
{
	uint32_t base = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN;
	uint32_t got = 0;

	if (ioctl(fd, TUNSETOFFLOAD, tun_flags(base)) == 0)
		got = base;
	if (got && ioctl(fd, TUNSETOFFLOAD, tun_flags(base | NET_OFFLOAD_UFO)) == 0)
		got |= NET_OFFLOAD_UFO;
	ioctl(fd, TUNSETOFFLOAD, 0);
	return got;
}

static int tap_set_queue_enabled(struct net_backend *nb, unsigned int i, bool on,
				 struct vk_err *err)
{
	struct tap *t = nb->priv;
	struct ifreq ifr = { .ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE };

	if (nb->nr_queues < 2 || i >= nb->nr_queues || t->attached[i] == on)
		return 0;
	if (ioctl(nb->fd[i], TUNSETQUEUE, &ifr) < 0)
		return vk_fail(err, -errno, "tap %s: queue %u: TUNSETQUEUE: %s", nb->ifname, i,
			       strerror(errno));
	t->attached[i] = on;
	return 0;
}

static void tap_close(struct net_backend *nb)
{
	unsigned int i;

	for (i = 0; i < nb->nr_queues; i++) {
		if (nb->vhost[i])
			vhost_net_close(nb->vhost[i]);
		if (nb->fd[i] >= 0)
			close(nb->fd[i]);
	}
	free(nb->priv);
	free(nb);
}

static const struct net_backend_ops tap_ops = {
	.name = "tap",
	.set_offloads = tap_set_offloads,
	.set_queue_enabled = tap_set_queue_enabled,
	.close = tap_close,
};

static int open_vhost(const struct net_config *cfg, struct net_backend *nb, struct vk_err *err)
{
	uint64_t features;
	unsigned int i;
	int r;

	if (cfg->vhost == 0 || (cfg->vhost < 0 && !vhost_net_available()))
		return 0;
	if (!vhost_net_available())
		return vk_fail(err, -ENODEV, "--net %s: vhost=on, but this host has no /dev/vhost-net (modprobe vhost_net, or vhost=off)",
			       cfg->spec);
	for (i = 0; i < nb->nr_queues; i++) {
		r = vhost_net_open(nb->fd[i], &nb->vhost[i], &features, err);
		if (r) {
			char why[sizeof(err->msg)];

			snprintf(why, sizeof(why), "%s", err->msg);
			return vk_fail(err, r, "--net %s: %s", cfg->spec, why);
		}
		nb->vhost_features = features;
	}
	return 0;
}

int net_tap_open(const struct net_config *cfg, struct net_backend **out, struct vk_err *err)
{
	struct net_backend *nb = calloc(1, sizeof(*nb));
	char name[IFNAMSIZ];
	unsigned int i;
	int r = 0;

	if (!nb || !(nb->priv = calloc(1, sizeof(struct tap)))) {
		free(nb);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	nb->ops = &tap_ops;
	nb->hdr_len = NET_VNET_HDR_LEN;
	for (i = 0; i < NET_MAX_QUEUES; i++)
		nb->fd[i] = -1;
	snprintf(name, sizeof(name), "%s", cfg->ifname);
	/* Refuse a non-tap before TUNSETIFF, whose EINVAL says less. */
	if (name[0] && if_nametoindex(name) && !exists(name, "tun_flags"))
		r = explain_setiff(cfg, name, EINVAL, err);
	for (i = 0; !r && i < cfg->queues; i++) {
		r = open_queue(cfg, name, err);
		if (r >= 0) {
			nb->fd[i] = r;
			nb->nr_queues++;
			((struct tap *)nb->priv)->attached[i] = true;
			r = 0;
		}
	}
	if (!r) {
		snprintf(nb->ifname, sizeof(nb->ifname), "%s", name);
		nb->offloads = probe_offloads(nb->fd[0]);
		r = set_mtu_and_up(cfg, name, &nb->mtu, err);
	}
	if (!r && cfg->bridge)
		r = attach_bridge(cfg, name, err);
	if (!r)
		r = open_vhost(cfg, nb, err);
	if (r) {
		tap_close(nb);
		return r;
	}
	*out = nb;
	return 0;
}
