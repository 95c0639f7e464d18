// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhost-net (linux/vhost.h): the kernel's vhost worker moves frames between
 * one queue pair's rings in guest memory and a tap fd, so the monitor's
 * event loop is out of the data path. The monitor still owns the device:
 * it negotiates features, answers the control queue, and hands the rings
 * over (memory table, ring addresses, the queue's notify eventfd as the
 * kick, an eventfd as the call) once the driver is OK; it takes them back
 * on reset, reading where the kernel stopped.
 *
 * One /dev/vhost-net fd per queue pair, as vhost-net serves exactly two
 * rings: 0 receive, 1 transmit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vhost.h>

#include "vmkit/net.h"
#include "vmkit/vm.h"

#define VHOST_DEV	"/dev/vhost-net"

struct vhost_net {
	int fd;
	int tap_fd;
	bool started;
};

bool vhost_net_available(void)
{
	return access(VHOST_DEV, R_OK | W_OK) == 0;
}

int vhost_net_open(int tap_fd, struct vhost_net **out, uint64_t *features, struct vk_err *err)
{
	struct vhost_net *vh = calloc(1, sizeof(*vh));
	int e;

	if (!vh)
		return vk_fail(err, -ENOMEM, "out of memory");
	vh->tap_fd = tap_fd;
	vh->fd = open(VHOST_DEV, O_RDWR | O_CLOEXEC);
	if (vh->fd < 0) {
		e = errno;
		free(vh);
		return vk_fail(err, -e, "%s: %s", VHOST_DEV, strerror(e));
	}
	/* The owner is this process: the worker thread takes its mm. */
	if (ioctl(vh->fd, VHOST_SET_OWNER) < 0 || ioctl(vh->fd, VHOST_GET_FEATURES, features) < 0) {
		e = errno;
		close(vh->fd);
		free(vh);
		return vk_fail(err, -e, "%s: %s", VHOST_DEV, strerror(e));
	}
	*out = vh;
	return 0;
}

/* Guest RAM as the kernel sees it: our slots, 4 KiB aligned (they are 2 MiB aligned). */
static int set_mem_table(struct vhost_net *vh, struct vm *vm)
{
	struct vhost_memory *m;
	unsigned int i;
	int r = 0;

	m = calloc(1, sizeof(*m) + vm->nr_mem * sizeof(m->regions[0]));
	if (!m)
		return -ENOMEM;
	m->nregions = vm->nr_mem;
	for (i = 0; i < vm->nr_mem; i++)
		m->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = vm->mem[i].gpa,
			.memory_size = vm->mem[i].size,
			.userspace_addr = (uintptr_t)vm->mem[i].hva,
		};
	if (ioctl(vh->fd, VHOST_SET_MEM_TABLE, m) < 0)
		r = -errno;
	free(m);
	return r;
}

static int set_vring(struct vhost_net *vh, unsigned int i, const struct vhost_vring *ring)
{
	struct vhost_vring_state num = { .index = i, .num = ring->size };
	struct vhost_vring_state base = { .index = i, .num = ring->last_avail };
	struct vhost_vring_addr addr = {
		.index = i,
		.desc_user_addr = (uintptr_t)ring->desc,
		.avail_user_addr = (uintptr_t)ring->avail,
		.used_user_addr = (uintptr_t)ring->used,
	};
	struct vhost_vring_file kick = { .index = i, .fd = ring->kick_fd };
	struct vhost_vring_file call = { .index = i, .fd = ring->call_fd };
	struct vhost_vring_file backend = { .index = i, .fd = vh->tap_fd };

	if (ioctl(vh->fd, VHOST_SET_VRING_NUM, &num) < 0 ||
	    ioctl(vh->fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(vh->fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
	    ioctl(vh->fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
	    ioctl(vh->fd, VHOST_SET_VRING_CALL, &call) < 0 ||
	    ioctl(vh->fd, VHOST_NET_SET_BACKEND, &backend) < 0)
		return -errno;
	return 0;
}

int vhost_net_start(struct vhost_net *vh, struct vm *vm, uint64_t features,
		    const struct vhost_vring ring[2], struct vk_err *err)
{
	unsigned int i;
	int r;

	if (ioctl(vh->fd, VHOST_SET_FEATURES, &features) < 0)
		return vk_fail(err, -errno, "vhost-net: VHOST_SET_FEATURES %#llx: %s",
			       (unsigned long long)features, strerror(errno));
	r = set_mem_table(vh, vm);
	if (r)
		return vk_fail(err, r, "vhost-net: VHOST_SET_MEM_TABLE: %s", strerror(-r));
	for (i = 0; i < 2; i++) {
		r = set_vring(vh, i, &ring[i]);
		if (r) {
			struct vhost_vring_file none = { .index = 0, .fd = -1 };

			ioctl(vh->fd, VHOST_NET_SET_BACKEND, &none);
			return vk_fail(err, r, "vhost-net: ring %u: %s", i, strerror(-r));
		}
	}
	vh->started = true;
	return 0;
}

void vhost_net_stop(struct vhost_net *vh, struct vhost_vring ring[2])
{
	unsigned int i;

	if (!vh->started)
		return;
	for (i = 0; i < 2; i++) {
		struct vhost_vring_file none = { .index = i, .fd = -1 };
		struct vhost_vring_state base = { .index = i };

		/* Unbinding the backend flushes the worker; then the base is final. */
		ioctl(vh->fd, VHOST_NET_SET_BACKEND, &none);
		if (ioctl(vh->fd, VHOST_GET_VRING_BASE, &base) == 0)
			ring[i].last_avail = base.num;
	}
	vh->started = false;
}

void vhost_net_close(struct vhost_net *vh)
{
	if (!vh)
		return;
	close(vh->fd);
	free(vh);
}
