// SPDX-License-Identifier: GPL-2.0-or-later
/* Opening the backend a --net option names, and the MAC addresses NICs get. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "vmkit/config.h"
#include "vmkit/net.h"

typedef int (*net_open_fn)(const struct net_config *cfg, struct net_backend **out,
			   struct vk_err *err);

static const net_open_fn openers[] = {
	[NET_TAP] = net_tap_open,
	[NET_USER] = net_user_open,
};

int net_backend_open(const struct net_config *cfg, struct net_backend **out,
		     struct vk_err *err)
{
	if ((unsigned int)cfg->kind >= ARRAY_SIZE(openers) || !openers[cfg->kind])
		return vk_fail(err, -EINVAL, "--net %s: no such backend", cfg->spec);
	return openers[cfg->kind](cfg, out, err);
}

void net_backend_close(struct net_backend *nb)
{
	if (nb)
		nb->ops->close(nb);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Six two-digit hex bytes separated by ':' (or '-'); not multicast, not all zeros. */
int net_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];
	unsigned int i;

	for (i = 0; i < 6; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		m[i] = hi << 4 | lo;
		s += 2;
		if (i < 5 && *s != ':' && *s != '-')
			return -EINVAL;
		if (i < 5)
			s++;
	}
	if (*s || (m[0] & 1) || !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return -EINVAL;
	memcpy(mac, m, 6);
	return 0;
}

/*
 * QEMU's 52:54:00 prefix (locally administered, unicast). A named VM gets
 * the same address on every start (FNV-1a of name and NIC index), so its
 * DHCP lease and the bridge's forwarding entries survive a restart.
 */
void net_default_mac(const char *name, unsigned int index, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t rnd[3] = { 0 };

	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	if (name) {
		for (; *name; name++)
			h = (h ^ (uint8_t)*name) * 0x100000001b3ULL;
		h = (h ^ index) * 0x100000001b3ULL;
		h ^= h >> 29;
		mac[3] = h >> 16;
		mac[4] = h >> 8;
		mac[5] = h;
		return;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		uint64_t t = vk_now_ns() ^ ((uint64_t)getpid() << 20) ^ index;

		rnd[0] = t >> 16;
		rnd[1] = t >> 8;
		rnd[2] = t;
	}
	memcpy(mac + 3, rnd, 3);
}
