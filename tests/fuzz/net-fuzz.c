// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for virtio-net (vmm/virtio/net.c), the control queue
 * included, on the fake VM: a driver's script. The backend has two queue
 * pairs, each a SOCK_SEQPACKET pair standing in for a tap queue (one frame
 * per read or write, with the 12-byte virtio-net header); the script's
 * action sends frames from the host side or pulls the cable, and what the
 * guest transmits is read back and dropped when the script settles.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmkit/net.h"
#include "vmkit/virtio-net.h"
#include "fake-vm.h"

#define PAIRS	2

static struct net_backend backend;
static int peer[PAIRS];
static struct virtio_net *dev;

static int set_offloads(struct net_backend *nb, uint32_t offloads, struct vk_err *err)
{
	return 0;
}

static int set_queue_enabled(struct net_backend *nb, unsigned int i, bool on,
			     struct vk_err *err)
{
	return i < PAIRS ? 0 : -1;
}

static const struct net_backend_ops fake_ops = {
	.name = "fuzz",
	.set_offloads = set_offloads,
	.set_queue_enabled = set_queue_enabled,
};

/* vmm/net/vhost.c: never reached (no vhost here), but net.c links against it. */
int vhost_net_start(struct vhost_net *vh, struct vm *vm, uint64_t features,
		    const struct vhost_vring ring[2], struct vk_err *err)
{
	abort();
}

void vhost_net_stop(struct vhost_net *vh, struct vhost_vring ring[2])
{
	abort();
}

/* Empty a socket of the frames in it. */
static void drain(int fd)
{
	static uint8_t buf[70000];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void settle(struct virtio_dev *v)
{
	unsigned int i;

	for (i = 0; i < PAIRS; i++)
		drain(peer[i]);
}

/*
 * Action: u8 op. Bit 7 clear: a frame on pair op & 1, u16 length (header
 * included, at least 1), the bytes (zero-filled past the input). Bit 7 set:
 * the cable, plugged when bit 0 is set.
 */
static size_t action(struct virtio_dev *v, const uint8_t *data, size_t size)
{
	static uint8_t frame[65550];
	size_t len, have;

	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		virtio_net_set_link(dev, data[0] & 1);
		return 1;
	}
	if (size < 3)
		return size;
	len = (data[1] | data[2] << 8) % sizeof(frame);
	len = len ? len : 1;	/* an empty read is the tap gone */
	have = len < size - 3 ? len : size - 3;
	memset(frame, 0, len);
	memcpy(frame, data + 3, have);
	send(peer[data[0] & 1], frame, len, MSG_DONTWAIT);
	return 3 + have;
}

static const struct fake_dev_hooks hooks = { .action = action, .settle = settle };

static void create(void)
{
	struct fake_vm *f = fake_vm();
	struct net_config *cfg = &f->cfg.nets[0];
	struct vk_err err = { 0 };
	int sv[2];
	unsigned int i;

	backend.ops = &fake_ops;
	backend.nr_queues = PAIRS;
	backend.hdr_len = NET_VNET_HDR_LEN;
	backend.offloads = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 |
			   NET_OFFLOAD_ECN | NET_OFFLOAD_UFO;
	backend.mtu = 1500;
	strcpy(backend.ifname, "fuzz0");
	for (i = 0; i < PAIRS; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
			abort();
		backend.fd[i] = sv[0];
		peer[i] = sv[1];
	}
	*cfg = (struct net_config){ .spec = "fuzz", .mac = { 0x52, 0x54, 0, 1, 2, 3 },
				    .queues = PAIRS, .backend = &backend };
	f->cfg.nr_nets = 1;
	if (virtio_net_create(&f->vm, cfg, &dev, &err))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int i;

	if (!dev)
		create();
	virtio_net_set_link(dev, true);
	fake_driver_run(fake_vm()->dev, &hooks, data, size);
	/* Frames the guest did not take do not carry over to the next input. */
	for (i = 0; i < PAIRS; i++)
		drain(backend.fd[i]);
	settle(NULL);
	return 0;
}
