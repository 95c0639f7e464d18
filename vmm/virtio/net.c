// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-net (virtio 1.2, 5.1) on a network backend (vmm/net/).
 *
 * Queues: receiveq/transmitq per pair (2i, 2i+1), then the control queue
 * (2 * max pairs with MQ negotiated, else 2). Each pair has one backend fd
 * that carries one frame per read/write, served on the device event loop:
 *
 *  - receive: while the fd is readable and the guest has buffers, a frame
 *    is read whole into the pair's bounce buffer (with the backend's
 *    virtio-net header, or a blank one), then copied into as many
 *    receive buffers as it needs (num_buffers, with MRG_RXBUF) and all of
 *    them are made used at once. When the ring runs dry the frame waits,
 *    the fd is no longer watched, and the guest's next notification on
 *    the receive queue resumes both.
 *  - transmit: on notification, every chain is written to the fd with one
 *    writev (header included for a tap; skipped for a bare-frame backend).
 *    A backend that cannot take more (EAGAIN) keeps the chain on the ring
 *    until the fd is writable again.
 *
 * Offloads the guest negotiates (GUEST_CSUM, GUEST_TSO4/6...) are handed
 * to the backend, which then passes partial checksums and GSO frames
 * through; the device never looks inside a frame. Everything the guest
 * writes is hostile: a chain that breaks the rules is dropped (used with
 * length 0), or, when the ring itself is broken, the device asks for a
 * reset; the monitor goes on either way.
 */
#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmkit/config.h"
#include "vmkit/device.h"
#include "vmkit/evloop.h"
#include "vmkit/net.h"
#include "vmkit/virtio-net.h"
#include "vmkit/savestate.h"
#include "vmkit/virtio.h"
#include "vmkit/vm.h"

#define QUEUE_SIZE	256
#define FRAME_MAX	(65535 + 14 + 4)	/* a GSO frame: IP's limit, Ethernet and VLAN headers */
#define BOUNCE_SIZE	(NET_VNET_HDR_LEN + FRAME_MAX)
#define RX_BURST	256	/* frames per wake-up, so one queue cannot starve the loop */
#define TX_BURST	256

/* Feature bits (5.1.3) */
#define F_CSUM		0
#define F_GUEST_CSUM	1
#define F_MTU		3
#define F_MAC		5
#define F_GUEST_TSO4	7
#define F_GUEST_TSO6	8
#define F_GUEST_ECN	9
#define F_GUEST_UFO	10
#define F_HOST_TSO4	11
#define F_HOST_TSO6	12
#define F_HOST_ECN	13
#define F_HOST_UFO	14
#define F_MRG_RXBUF	15
#define F_STATUS	16
#define F_CTRL_VQ	17
#define F_CTRL_RX	18
#define F_MQ		22
#define F_CTRL_MAC_ADDR	23
#define BIT(b)		(1ULL << (b))

#define S_LINK_UP	1

/* Control queue (5.1.6.5) */
#define CTRL_RX			0
#define CTRL_MAC		1
#define CTRL_MAC_TABLE_SET	0
#define CTRL_MAC_ADDR_SET	1
#define CTRL_MQ			4
#define CTRL_MQ_VQ_PAIRS_SET	0
#define CTRL_OK			0
#define CTRL_ERR		1

struct net_cfg_space {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

struct net_pair {
	struct virtio_net *n;
	unsigned int index;
	int fd;
	pthread_mutex_t lock;		/* both rings of the pair and everything below */
	uint32_t events;		/* what the loop watches fd for */
	bool dead;			/* the backend closed: stop reading */
	bool tx_blocked;		/* the backend said EAGAIN: wait for EPOLLOUT */
	/* vhost: the kernel serves this pair's rings. */
	bool vhost_on;
	bool vhost_held;		/* stopped for a save, to start again at release */
	int call_fd[2];
	int kick_fd[2];
	int check_fd;			/* vhost on a tap: a 1 s timer to see it still exists */
	/* A received frame waiting for buffers: header + frame in bounce. */
	uint8_t *bounce;
	size_t frame_len;		/* 0: none */
	size_t copied;			/* bytes of it already in held chains */
	unsigned int nheld;
	uint16_t held_head[QUEUE_SIZE];
	uint32_t held_len[QUEUE_SIZE];
	uint8_t *num_buffers[2];	/* where the first chain's num_buffers bytes are */
	struct iovec txiov[VIRTQ_MAX_SEGS];
	struct virtq_elem elem;
};

struct virtio_net {
	struct virtio_dev vdev;
	const struct net_config *cfg;
	struct net_backend *nb;
	unsigned int index;		/* netN */
	unsigned int pairs;		/* max_virtqueue_pairs */
	unsigned int active;		/* pairs the driver uses */
	bool live;			/* DRIVER_OK and not reset since */
	pthread_mutex_t ctrl_lock;
	struct net_cfg_space config;
	struct net_pair *pair;
	struct virtq_elem ctrl_elem;
};

static struct virtio_net *to_net(struct virtio_dev *v)
{
	return v->priv;
}

static unsigned int ctrl_queue(struct virtio_net *n)
{
	return virtio_has_feature(&n->vdev, F_MQ) ? 2 * n->pairs : 2;
}

static unsigned int data_queues(struct virtio_net *n)
{
	return virtio_has_feature(&n->vdev, F_MQ) ? 2 * n->pairs : 2;
}

/* With p->lock: what the event loop watches the backend fd for. */
static void watch(struct net_pair *p)
{
	uint32_t ev = 0;

	/* Only for rings the driver enabled: an unread readable fd would spin the loop. */
	if (p->n->live && !p->dead && !p->vhost_on && p->index < p->n->active) {
		if (!p->frame_len && virtio_queue_ready(&p->n->vdev, 2 * p->index))
			ev |= EPOLLIN;
		if (p->tx_blocked && virtio_queue_ready(&p->n->vdev, 2 * p->index + 1))
			ev |= EPOLLOUT;
	}
	if (ev != p->events && !evloop_mod(p->n->vdev.loop, p->fd, ev))
		p->events = ev;
}

/* ---- receive ---- */

static void backend_gone(struct net_pair *p)
{
	if (!p->dead)
		vk_msg("net%u: backend %s %s is gone: the NIC no longer receives",
		       p->n->index, p->n->nb->ops->name, p->n->nb->ifname);
	p->dead = true;
}

/*
 * With vhost-net the kernel reads and writes the tap, and nothing wakes us
 * when the tap is deleted (its wake-up is keyed EPOLLIN, which we must not
 * watch: vhost drains the queue). So once a second the tap is asked
 * whether it is still attached (TUNGETIFF fails with EBADFD once deleted).
 */
static int on_vhost_check(void *opaque, int fd, uint32_t events)
{
	struct net_pair *p = opaque;
	uint64_t ticks;
	struct ifreq ifr;

	if (read(fd, &ticks, sizeof(ticks)) < 0)
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->vhost_on && !p->dead && ioctl(p->fd, TUNGETIFF, &ifr) < 0 && errno == EBADFD)
		backend_gone(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* One frame from the backend into bounce; 1 when there was one, 0 when none. */
static int read_frame(struct net_pair *p)
{
	size_t off = p->n->nb->hdr_len ? 0 : NET_VNET_HDR_LEN;
	ssize_t r;

	do
		r = read(p->fd, p->bounce + off, BOUNCE_SIZE - off);
	while (r < 0 && errno == EINTR);
	if (r == 0 || (r < 0 && (errno == EBADFD || errno == ECONNRESET || errno == EPIPE))) {
		/*
		 * A frame socket whose peer went away, or a tap that was deleted
		 * (a queue we detached is never read): never readable again, but
		 * epoll would report it for ever.
		 */
		backend_gone(p);
		return 0;
	}
	if (r < 0)
		return 0;	/* EAGAIN, or a frame the backend could not give (dropped) */
	if ((size_t)r + off < NET_VNET_HDR_LEN)
		return -1;	/* shorter than its header: nothing to deliver */
	if (off)
		memset(p->bounce, 0, NET_VNET_HDR_LEN);
	p->frame_len = off + r;
	p->copied = 0;
	p->nheld = 0;
	return 1;
}

/* Where bytes 10 and 11 (num_buffers) of the chain's writable part are. */
static void locate_num_buffers(struct net_pair *p, const struct virtq_elem *e)
{
	const struct iovec *iov = e->iov + e->n_out;
	size_t off = 10;
	unsigned int i, k = 0;

	for (i = 0; i < e->n_in && k < 2; i++) {
		while (k < 2 && off < iov[i].iov_len)
			p->num_buffers[k++] = (uint8_t *)iov[i].iov_base + off++;
		off -= MIN(off, iov[i].iov_len);
	}
}

/* The held chains become used together; num_buffers says how many. */
static void complete_frame(struct net_pair *p, struct virtq *q)
{
	unsigned int i;

	if (virtio_has_feature(&p->n->vdev, F_MRG_RXBUF)) {
		*p->num_buffers[0] = p->nheld;
		*p->num_buffers[1] = p->nheld >> 8;
	} else {
		*p->num_buffers[0] = 1;
		*p->num_buffers[1] = 0;
	}
	for (i = 0; i < p->nheld; i++)
		virtq_fill(q, p->held_head[i], p->held_len[i]);
	virtq_flush_used(q);
	p->frame_len = 0;
	p->nheld = 0;
}

/* Give back what was held of a frame that cannot be delivered (it is dropped). */
static void drop_frame(struct net_pair *p, struct virtq *q)
{
	unsigned int i;

	for (i = 0; i < p->nheld; i++)
		virtq_fill(q, p->held_head[i], 0);
	virtq_flush_used(q);
	p->frame_len = 0;
	p->nheld = 0;
}

/*
 * Copy the pending frame into receive buffers. Returns 1 when it is
 * delivered (or dropped), 0 when the ring ran dry first (the chains taken
 * so far stay held), -1 when the ring is broken.
 */
static int deliver(struct net_pair *p, struct virtq *q, bool *pushed)
{
	bool mrg = virtio_has_feature(&p->n->vdev, F_MRG_RXBUF);
	struct virtq_elem *e = &p->elem;
	size_t n;
	int r;

	while (p->copied < p->frame_len) {
		r = virtq_pop(q, e);
		if (r == -ENOENT)
			return 0;
		if (r)
			return -1;
		*pushed = true;
		/* Receive buffers are device-writable; the first holds the header. */
		if (e->n_out || (!p->nheld && e->in_len < NET_VNET_HDR_LEN) ||
		    (!mrg && e->in_len < p->frame_len)) {
			virtq_push(q, e, 0);
			if (!mrg)
				drop_frame(p, q);
			continue;
		}
		n = virtq_copy_to_in(e, 0, p->bounce + p->copied, p->frame_len - p->copied);
		if (!p->nheld)
			locate_num_buffers(p, e);
		p->held_head[p->nheld] = e->head;
		p->held_len[p->nheld++] = n;
		p->copied += n;
		if (p->copied < p->frame_len && p->nheld == ARRAY_SIZE(p->held_head)) {
			drop_frame(p, q);	/* more buffers than a ring holds: no sane frame */
			return 1;
		}
	}
	if (p->frame_len)
		complete_frame(p, q);
	return 1;
}

/* With p->lock: move frames from the backend to the guest until one side runs out. */
static void receive(struct net_pair *p)
{
	struct virtio_dev *v = &p->n->vdev;
	struct virtq *q = &v->vq[2 * p->index];
	bool pushed = false;
	unsigned int burst;
	int r;

	if (!p->n->live || p->vhost_on || p->dead || p->index >= p->n->active ||
	    !virtio_queue_ready(v, 2 * p->index))
		return;
	if (p->n->nb->link_down) {
		/* No cable: what arrives is lost, as on a NIC whose link is down. */
		for (burst = 0; burst < RX_BURST && !p->frame_len && read_frame(p) > 0; burst++)
			p->frame_len = 0;
		return;
	}
	virtq_enable_notify(q, false);
	for (burst = 0; burst < RX_BURST; burst++) {
		if (!p->frame_len && (r = read_frame(p)) <= 0) {
			if (r < 0)
				continue;
			break;
		}
		r = deliver(p, q, &pushed);
		if (r < 0) {
			virtio_needs_reset(v);
			break;
		}
		if (r == 0) {
			/* Dry: ask for a notification, then look once more (it may have raced). */
			virtq_enable_notify(q, true);
			if (!virtq_has_avail(q))
				break;
			virtq_enable_notify(q, false);
		}
	}
	watch(p);
	if (pushed)
		v->tops->notify_queue(v, 2 * p->index);
}

/* ---- transmit ---- */

/* One chain to the backend: 0 sent (or dropped), -EAGAIN to try again later. */
static int send_chain(struct net_pair *p, const struct virtq_elem *e)
{
	size_t skip = p->n->nb->hdr_len ? 0 : NET_VNET_HDR_LEN;
	unsigned int i, k = 0;
	ssize_t r;

	if (e->n_in || e->out_len < NET_VNET_HDR_LEN || e->out_len - NET_VNET_HDR_LEN > FRAME_MAX)
		return 0;	/* not a frame: dropped */
	for (i = 0; i < e->n_out; i++) {
		size_t l = e->iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p->txiov[k].iov_base = (uint8_t *)e->iov[i].iov_base + skip;
		p->txiov[k++].iov_len = l - skip;
		skip = 0;
	}
	do
		r = writev(p->fd, p->txiov, k);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
		return -EAGAIN;
	return 0;	/* sent, or refused by the backend (bad header): dropped either way */
}

/*
 * After a burst: come back once the loop has served everyone else (signal
 * fds, other queues), through the queue's own notify eventfd. A guest
 * that keeps its ring full must not keep the loop to itself. False when
 * there is no such fd (then the burst goes on).
 */
static bool tx_yield(struct net_pair *p)
{
	struct virtio_dev *v = &p->n->vdev;
	int fd = v->tops->kick_fd ? v->tops->kick_fd(v, 2 * p->index + 1, true) : -1;

	return fd >= 0 && eventfd_write(fd, 1) == 0;
}

static void transmit(struct net_pair *p)
{
	struct virtio_dev *v = &p->n->vdev;
	struct virtq *q = &v->vq[2 * p->index + 1];
	struct virtq_elem *e = &p->elem;
	unsigned int sent = 0;
	bool pushed = false;
	int r;

	if (!p->n->live || p->tx_blocked || p->dead || p->vhost_on ||
	    !virtio_queue_ready(v, 2 * p->index + 1))
		return;
	do {
		virtq_enable_notify(q, false);
		while ((r = virtq_pop(q, e)) == 0) {
			if (!p->n->nb->link_down && send_chain(p, e) == -EAGAIN) {
				virtq_unpop(q);
				p->tx_blocked = true;
				break;
			}
			virtq_push(q, e, 0);
			pushed = true;
			if (++sent == TX_BURST)
				break;
		}
		if (r != 0 && r != -ENOENT) {
			virtio_needs_reset(v);
			break;
		}
		if (p->tx_blocked || (sent == TX_BURST && tx_yield(p)))
			break;
		sent = 0;
		virtq_enable_notify(q, true);
	} while (virtq_has_avail(q));
	watch(p);
	if (pushed)
		v->tops->notify_queue(v, 2 * p->index + 1);
}

static int on_backend(void *opaque, int fd, uint32_t events)
{
	struct net_pair *p = opaque;

	pthread_mutex_lock(&p->lock);
	if (events & EPOLLOUT)
		p->tx_blocked = false;
	if (events & EPOLLOUT)
		transmit(p);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		receive(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* ---- control queue ---- */

static uint8_t ctrl_mq(struct virtio_net *n, const uint8_t *data, size_t len)
{
	struct vk_err err;
	uint16_t pairs;
	unsigned int i;

	if (len < 2 || !virtio_has_feature(&n->vdev, F_MQ))
		return CTRL_ERR;
	pairs = data[0] | data[1] << 8;
	if (pairs < 1 || pairs > n->pairs)
		return CTRL_ERR;
	n->active = pairs;
	for (i = 0; i < n->pairs; i++) {
		struct net_pair *p = &n->pair[i];

		/* Together: a detached tap queue reads EBADFD, which must not be seen as gone. */
		pthread_mutex_lock(&p->lock);
		if (n->nb->ops->set_queue_enabled)
			n->nb->ops->set_queue_enabled(n->nb, i, i < pairs, &err);
		watch(p);
		pthread_mutex_unlock(&p->lock);
		/* Frames may have waited on a queue that was just enabled. */
		if (i < pairs)
			on_backend(p, p->fd, EPOLLIN);
	}
	return CTRL_OK;
}

static uint8_t ctrl_command(struct virtio_net *n, uint8_t class, uint8_t cmd,
			    const uint8_t *data, size_t len)
{
	switch (class) {
	case CTRL_RX:
		/* Promiscuous, all-multi... : the backend delivers everything anyway. */
		return virtio_has_feature(&n->vdev, F_CTRL_RX) && cmd <= 5 && len >= 1 ?
		       CTRL_OK : CTRL_ERR;
	case CTRL_MAC:
		if (cmd == CTRL_MAC_TABLE_SET)
			return CTRL_OK;	/* no filtering */
		if (cmd == CTRL_MAC_ADDR_SET && len >= 6 &&
		    virtio_has_feature(&n->vdev, F_CTRL_MAC_ADDR)) {
			memcpy(n->config.mac, data, 6);
			return CTRL_OK;
		}
		return CTRL_ERR;
	case CTRL_MQ:
		return cmd == CTRL_MQ_VQ_PAIRS_SET ? ctrl_mq(n, data, len) : CTRL_ERR;
	}
	return CTRL_ERR;
}

static void ctrl_one(void *opaque, struct virtq_elem *e)
{
	struct virtio_net *n = opaque;
	uint8_t buf[64], ack = CTRL_ERR;
	size_t len = virtq_copy_from_out(e, 0, buf, sizeof(buf));

	if (!e->in_len) {
		virtq_push(&n->vdev.vq[ctrl_queue(n)], e, 0);
		return;
	}
	if (len >= 2)
		ack = ctrl_command(n, buf[0], buf[1], buf + 2, len - 2);
	virtq_copy_to_in(e, e->in_len - 1, &ack, 1);
	virtq_push(&n->vdev.vq[ctrl_queue(n)], e, 1);
}

static void control(struct virtio_net *n)
{
	struct virtio_dev *v = &n->vdev;
	unsigned int qi = ctrl_queue(n);

	pthread_mutex_lock(&n->ctrl_lock);
	if (virtq_drain(&v->vq[qi], &n->ctrl_elem, ctrl_one, n))
		virtio_needs_reset(v);
	v->tops->notify_queue(v, qi);
	pthread_mutex_unlock(&n->ctrl_lock);
}

/* ---- device ops ---- */

static void queue_notify(struct virtio_dev *v, unsigned int qi)
{
	struct virtio_net *n = to_net(v);
	struct net_pair *p;

	if (virtio_has_feature(v, F_CTRL_VQ) && qi == ctrl_queue(n)) {
		control(n);
		return;
	}
	if (qi >= data_queues(n))
		return;
	p = &n->pair[qi / 2];
	pthread_mutex_lock(&p->lock);
	if (p->vhost_on)
		eventfd_write(p->kick_fd[qi & 1], 1);	/* an MMIO notify: pass it on */
	else if (qi & 1)
		transmit(p);
	else
		receive(p);
	pthread_mutex_unlock(&p->lock);
}

static uint32_t negotiated_offloads(struct virtio_dev *v)
{
	uint32_t o = 0;

	if (virtio_has_feature(v, F_GUEST_CSUM))
		o |= NET_OFFLOAD_CSUM;
	if (virtio_has_feature(v, F_GUEST_TSO4))
		o |= NET_OFFLOAD_TSO4;
	if (virtio_has_feature(v, F_GUEST_TSO6))
		o |= NET_OFFLOAD_TSO6;
	if (virtio_has_feature(v, F_GUEST_ECN))
		o |= NET_OFFLOAD_ECN;
	if (virtio_has_feature(v, F_GUEST_UFO))
		o |= NET_OFFLOAD_UFO;
	return o;
}

static int call_relay(void *opaque, int fd, uint32_t events);

/* Hand pair i's rings to vhost-net (the pair's fd is not watched meanwhile). */
static int start_vhost(struct virtio_net *n, struct net_pair *p)
{
	struct virtio_dev *v = &n->vdev;
	struct vhost_vring ring[2];
	struct vk_err err;
	unsigned int k;
	/*
	 * vhost-net refuses any bit it does not know (EOPNOTSUPP): it gets the
	 * ring features only. Offloads stay with the tap (TUNSETOFFLOAD), the
	 * control queue and config space with us.
	 */
	uint64_t features = v->guest_features & n->nb->vhost_features;

	for (k = 0; k < 2; k++) {
		struct virtq *q = &v->vq[2 * p->index + k];

		p->kick_fd[k] = v->tops->kick_fd(v, 2 * p->index + k, false);
		ring[k] = (struct vhost_vring){ q->size, q->last_avail, q->desc, q->avail,
						q->used, p->kick_fd[k], p->call_fd[k] };
		if (p->kick_fd[k] < 0 || !q->desc)
			return -EINVAL;
	}
	if (vhost_net_start(n->nb->vhost[p->index], v->vm, features, ring, &err)) {
		vk_msg("virtio-net: %s", err.msg);
		return err.code;
	}
	p->vhost_on = true;
	return 0;
}

static void stop_vhost(struct virtio_net *n, struct net_pair *p)
{
	struct virtio_dev *v = &n->vdev;
	struct vhost_vring ring[2] = { 0 };
	unsigned int k;

	if (!p->vhost_on)
		return;
	vhost_net_stop(n->nb->vhost[p->index], ring);
	for (k = 0; k < 2; k++)
		v->tops->kick_fd(v, 2 * p->index + k, true);
	p->vhost_on = false;
}

/*
 * Whether pair p's rings belong with vhost-net now: not while the link is
 * down (we drop what the guest sends, as QEMU stops vhost then), nor while
 * held for a save.
 */
static bool vhost_wanted(struct virtio_net *n, struct net_pair *p)
{
	return n->nb->vhost[p->index] && !n->nb->link_down && !p->vhost_held;
}

static int activate(struct virtio_dev *v)
{
	struct virtio_net *n = to_net(v);
	struct vk_err err;
	unsigned int i;

	if (n->nb->ops->set_offloads &&
	    n->nb->ops->set_offloads(n->nb, negotiated_offloads(v), &err))
		vk_msg("virtio-net: %s", err.msg);
	n->active = 1;
	for (i = 0; i < n->pairs; i++)
		if (n->nb->ops->set_queue_enabled)
			n->nb->ops->set_queue_enabled(n->nb, i, i == 0, &err);
	n->live = true;
	for (i = 0; i < n->pairs; i++) {
		struct net_pair *p = &n->pair[i];

		pthread_mutex_lock(&p->lock);
		if (vhost_wanted(n, p) && virtio_queue_ready(v, 2 * i) &&
		    virtio_queue_ready(v, 2 * i + 1) && start_vhost(n, p)) {
			pthread_mutex_unlock(&p->lock);
			return -EIO;
		}
		watch(p);
		pthread_mutex_unlock(&p->lock);
	}
	return 0;
}

static void reset(struct virtio_dev *v)
{
	struct virtio_net *n = to_net(v);
	unsigned int i;

	n->live = false;
	for (i = 0; i < n->pairs; i++) {
		struct net_pair *p = &n->pair[i];

		pthread_mutex_lock(&p->lock);
		stop_vhost(n, p);
		p->frame_len = 0;
		p->nheld = 0;
		p->tx_blocked = false;
		watch(p);
		pthread_mutex_unlock(&p->lock);
	}
	memcpy(n->config.mac, n->cfg->mac, 6);
}

static void stop_vhost_read_back(struct virtio_net *n, struct net_pair *p);
static void restart_vhost(struct virtio_net *n, struct net_pair *p);

/*
 * The link went down: vhost-net would go on sending the guest's frames, so
 * the rings come back to us (positions read back), and what the guest has
 * queued is dropped; up: vhost-net takes them again.
 */
static void link_vhost(struct virtio_net *n, bool up)
{
	unsigned int i;

	for (i = 0; i < n->pairs; i++) {
		struct net_pair *p = &n->pair[i];

		pthread_mutex_lock(&p->lock);
		if (!up && p->vhost_on) {
			stop_vhost_read_back(n, p);
			transmit(p);
		} else if (up && n->live && !p->vhost_on && !p->dead && vhost_wanted(n, p) &&
			   virtio_queue_ready(&n->vdev, 2 * i) &&
			   virtio_queue_ready(&n->vdev, 2 * i + 1)) {
			restart_vhost(n, p);
		}
		watch(p);
		pthread_mutex_unlock(&p->lock);
	}
}

void virtio_net_set_link(struct virtio_net *n, bool up)
{
	struct virtio_dev *v = &n->vdev;
	bool notify;

	pthread_mutex_lock(&v->lock);
	n->nb->link_down = !up;
	notify = n->config.status != (up ? S_LINK_UP : 0);
	n->config.status = up ? S_LINK_UP : 0;
	notify &= !!(v->status & VIRTIO_STATUS_DRIVER_OK);
	if (notify && v->tops)
		v->tops->notify_config(v);
	pthread_mutex_unlock(&v->lock);
	link_vhost(n, up);
}

static void config_read(struct virtio_dev *v, unsigned int off, void *data, unsigned int len)
{
	struct virtio_net *n = to_net(v);

	memset(data, 0, len);
	if (off < sizeof(n->config))
		memcpy(data, (uint8_t *)&n->config + off, MIN(len, sizeof(n->config) - off));
}

static void dev_hold(struct virtio_dev *v, bool on);	/* save/restore, below */

static const struct virtio_dev_ops net_ops = {
	.name = "net",
	.type = VIRTIO_ID_NET,
	.pci_class = 0x020000,	/* Ethernet controller */
	.config_read = config_read,
	.activate = activate,
	.queue_notify = queue_notify,
	.reset = reset,
	.hold = dev_hold,
};

static int call_relay(void *opaque, int fd, uint32_t events)
{
	struct net_pair *p = opaque;
	struct virtio_dev *v = &p->n->vdev;
	eventfd_t cnt;
	unsigned int k;

	if (eventfd_read(fd, &cnt))
		return 0;
	for (k = 0; k < 2; k++)
		if (fd == p->call_fd[k])
			v->tops->interrupt(v, 2 * p->index + k);
	return 0;
}

/* ---- creation ---- */

static uint64_t device_features(struct virtio_net *n)
{
	uint32_t o = n->nb->offloads;
	uint64_t f = BIT(F_MAC) | BIT(F_STATUS) | BIT(F_MTU) | BIT(F_MRG_RXBUF) |
		     BIT(F_CTRL_VQ) | BIT(F_CTRL_RX) | BIT(F_CTRL_MAC_ADDR);

	if (n->pairs > 1)
		f |= BIT(F_MQ);
	if (o & NET_OFFLOAD_CSUM)
		f |= BIT(F_CSUM) | BIT(F_GUEST_CSUM);
	if ((o & NET_OFFLOAD_CSUM) && (o & NET_OFFLOAD_TSO4))
		f |= BIT(F_HOST_TSO4) | BIT(F_GUEST_TSO4);
	if ((o & NET_OFFLOAD_CSUM) && (o & NET_OFFLOAD_TSO6))
		f |= BIT(F_HOST_TSO6) | BIT(F_GUEST_TSO6);
	if ((o & NET_OFFLOAD_CSUM) && (o & NET_OFFLOAD_ECN) && (f & BIT(F_HOST_TSO4)))
		f |= BIT(F_HOST_ECN) | BIT(F_GUEST_ECN);
	if ((o & NET_OFFLOAD_CSUM) && (o & NET_OFFLOAD_UFO))
		f |= BIT(F_HOST_UFO) | BIT(F_GUEST_UFO);
	return f;
}

static int setup_pair(struct virtio_net *n, unsigned int i)
{
	struct net_pair *p = &n->pair[i];
	unsigned int k;
	int r;

	p->n = n;
	p->index = i;
	p->fd = n->nb->fd[i];
	p->call_fd[0] = p->call_fd[1] = p->check_fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	p->bounce = malloc(BOUNCE_SIZE);
	if (!p->bounce)
		return -ENOMEM;
	r = evloop_add(n->vdev.loop, p->fd, 0, on_backend, p);
	for (k = 0; !r && n->nb->vhost[i] && k < 2; k++) {
		p->call_fd[k] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = p->call_fd[k] < 0 ? -errno :
		    evloop_add(n->vdev.loop, p->call_fd[k], EPOLLIN, call_relay, p);
	}
	if (!r && n->nb->vhost[i]) {
		struct itimerspec every_second = { { 1, 0 }, { 1, 0 } };

		p->check_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		r = p->check_fd < 0 ? -errno :
		    timerfd_settime(p->check_fd, 0, &every_second, NULL) < 0 ? -errno :
		    evloop_add(n->vdev.loop, p->check_fd, EPOLLIN, on_vhost_check, p);
	}
	return r;
}

static void teardown_pair(struct virtio_net *n, struct net_pair *p)
{
	unsigned int k;

	if (!p->n)
		return;
	evloop_del(n->vdev.loop, p->fd);
	for (k = 0; k < 2; k++) {
		if (p->call_fd[k] < 0)
			continue;
		evloop_del(n->vdev.loop, p->call_fd[k]);
		close(p->call_fd[k]);
	}
	if (p->check_fd >= 0) {
		evloop_del(n->vdev.loop, p->check_fd);
		close(p->check_fd);
	}
	free(p->bounce);
}

int virtio_net_create(struct vm *vm, const struct net_config *cfg, struct virtio_net **out,
		      struct vk_err *err)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	uint64_t features;
	unsigned int i;
	int r = 0;

	if (!n)
		return vk_fail(err, -ENOMEM, "out of memory");
	n->cfg = cfg;
	n->nb = cfg->backend;
	if (cfg >= vm->cfg->nets && cfg < vm->cfg->nets + VM_MAX_NICS)
		n->index = cfg - vm->cfg->nets;
	n->pairs = n->nb->nr_queues;
	pthread_mutex_init(&n->ctrl_lock, NULL);
	memcpy(n->config.mac, cfg->mac, 6);
	n->config.status = n->nb->link_down ? 0 : S_LINK_UP;
	n->config.max_virtqueue_pairs = n->pairs;
	n->config.mtu = n->nb->mtu ? MIN(n->nb->mtu, 65535u) : 1500;
	features = device_features(n);
	virtio_dev_init(&n->vdev, vm, &net_ops, n, features, 2 * n->pairs + 1, QUEUE_SIZE);
	/* The ring features vhost-net does not do cannot be offered. */
	if (n->nb->vhost[0])
		n->vdev.host_features &= n->nb->vhost_features |
			~(BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) | BIT(F_MRG_RXBUF));
	n->pair = calloc(n->pairs, sizeof(*n->pair));
	if (!n->pair)
		r = vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; !r && i < n->pairs; i++)
		if ((r = setup_pair(n, i)))
			vk_fail(err, r, "--net %s: %s", cfg->spec, strerror(-r));
	if (!r)
		r = virtio_pci_create(&n->vdev, err);
	if (r) {
		virtio_net_destroy(n);
		return r;
	}
	*out = n;
	return 0;
}

void virtio_net_destroy(struct virtio_net *n)
{
	unsigned int i;

	if (!n)
		return;
	n->live = false;
	/* The kernel lets go of the rings while the transport's kick fds exist. */
	for (i = 0; n->pair && i < n->pairs; i++)
		if (n->pair[i].n)
			stop_vhost(n, &n->pair[i]);
	virtio_pci_destroy(&n->vdev);
	for (i = 0; n->pair && i < n->pairs; i++)
		teardown_pair(n, &n->pair[i]);
	free(n->pair);
	free(n);
}

/* One device per --net. */
static int net_class_create(struct vm *vm, struct vk_err *err)
{
	unsigned int i;
	int r = 0;

	for (i = 0; !r && i < vm->cfg->nr_nets; i++)
		r = virtio_net_create(vm, &vm->cfg->nets[i], &vm->nics[i], err);
	return r;
}

static void net_class_destroy(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < VM_MAX_NICS; i++) {
		virtio_net_destroy(vm->nics[i]);
		vm->nics[i] = NULL;
	}
}

/* ---- save/restore ---- */

/*
 * vhost-net has the pair's ring positions: stop it to read them back
 * (the used index from the ring in RAM, the avail one from the kernel),
 * then start it again from there, so a VM that goes on running after the
 * save (a failed migration) loses nothing. Also the link going down: we
 * serve the rings meanwhile. With p->lock.
 */
static void stop_vhost_read_back(struct virtio_net *n, struct net_pair *p)
{
	struct vhost_vring ring[2] = { 0 };
	unsigned int k;

	vhost_net_stop(n->nb->vhost[p->index], ring);
	for (k = 0; k < 2; k++) {
		struct virtq *q = &n->vdev.vq[2 * p->index + k];
		uint16_t *used = q->map(q->map_opaque, q->used_gpa + 2, 2);

		q->last_avail = ring[k].last_avail;
		if (used)
			q->used_idx = __atomic_load_n(used, __ATOMIC_ACQUIRE);
		n->vdev.tops->kick_fd(&n->vdev, 2 * p->index + k, true);
	}
	p->vhost_on = false;
}

static void restart_vhost(struct virtio_net *n, struct net_pair *p)
{
	if (start_vhost(n, p))
		vk_msg("virtio-net: vhost did not start again after the save");
}

/*
 * Held: the backend is not watched (frames wait in the tap or slirp) and
 * vhost-net is stopped with its positions read back; released: both again.
 */
static void dev_hold(struct virtio_dev *v, bool on)
{
	struct virtio_net *n = to_net(v);
	unsigned int i;

	pthread_mutex_lock(&n->ctrl_lock);
	pthread_mutex_unlock(&n->ctrl_lock);
	for (i = 0; i < n->pairs; i++) {
		struct net_pair *p = &n->pair[i];

		pthread_mutex_lock(&p->lock);
		if (on && p->vhost_on) {
			stop_vhost_read_back(n, p);
			p->vhost_held = true;
		} else if (!on && p->vhost_held) {
			p->vhost_held = false;
			if (vhost_wanted(n, p))
				restart_vhost(n, p);
		}
		watch(p);
		pthread_mutex_unlock(&p->lock);
	}
}

/*
 * Version 1: the virtio state with each pair's held receive buffers given
 * back (a frame half delivered into them is dropped, as a frame lost on
 * the wire), the MAC the driver set, the link, and the pairs in use. The
 * control queue's receive modes and MAC tables are accepted but not kept
 * (the backend delivers everything), so there is nothing more to save.
 */
static void net_save_one(struct virtio_net *n, struct ss_writer *w)
{
	uint16_t rewind[VIRTIO_MAX_QUEUES] = { 0 };
	unsigned int i;

	for (i = 0; i < n->pairs; i++) {
		struct net_pair *p = &n->pair[i];

		pthread_mutex_lock(&p->lock);
		if (p->vhost_on) {	/* saved without a hold (tests): stop, read, go on */
			stop_vhost_read_back(n, p);
			restart_vhost(n, p);
		}
		rewind[2 * i] = p->nheld;
		pthread_mutex_unlock(&p->lock);
	}
	ss_begin(w, "virtio-net", n->index, 1);
	virtio_dev_save(&n->vdev, w, rewind);
	pthread_mutex_lock(&n->vdev.lock);
	ss_put_bytes(w, "mac", n->config.mac, 6);
	ss_put_u64(w, "link-up", n->config.status == S_LINK_UP);
	ss_put_u64(w, "active-pairs", n->active);
	pthread_mutex_unlock(&n->vdev.lock);
	ss_end(w);
}

static void net_hold(struct vm *vm, bool on)
{
	unsigned int i;

	for (i = 0; i < VM_MAX_NICS; i++)
		if (vm->nics[i])
			virtio_dev_hold(&vm->nics[i]->vdev, on);
}

static void net_save(struct vm *vm, struct ss_writer *w)
{
	unsigned int i;

	for (i = 0; i < vm->cfg->nr_nets; i++)
		if (vm->nics[i])
			net_save_one(vm->nics[i], w);
}

bool virtio_net_uses_vhost(const struct virtio_net *n)
{
	return n->nb->vhost[0] != NULL;
}

/*
 * After a restore or a migration the NIC is somewhere else (another tap,
 * another host): tell the switches, as QEMU's self-announce does, with a
 * broadcast RARP from the guest's MAC (RFC 903), so that frames for the
 * guest stop going to the port it left. QEMU repeats it 5 times; once is
 * enough on a host bridge, which learns from the first frame.
 */
static void announce(struct virtio_net *n)
{
	uint8_t f[NET_VNET_HDR_LEN + 60] = { 0 }, *e = f + NET_VNET_HDR_LEN;
	static const uint8_t arp[8] = { 0, 1, 8, 0, 6, 4, 0, 3 };	/* Ethernet/IPv4, reverse request */
	size_t skip = n->nb->hdr_len ? 0 : NET_VNET_HDR_LEN;
	struct iovec iov = { f + skip, sizeof(f) - skip };
	ssize_t r;

	if (n->nb->link_down || n->nb->fd[0] < 0)
		return;
	memset(e, 0xff, 6);
	memcpy(e + 6, n->config.mac, 6);
	e[12] = 0x80;
	e[13] = 0x35;
	memcpy(e + 14, arp, 8);
	memcpy(e + 22, n->config.mac, 6);	/* sender hardware address */
	memcpy(e + 32, n->config.mac, 6);	/* target hardware address */
	do
		r = writev(n->nb->fd[0], &iov, 1);	/* writev: the devices thread's allow-list has it */
	while (r < 0 && errno == EINTR);
	if (r < 0)	/* the guest's own traffic will teach the switches, later */
		vk_msg("net%u: announcing the MAC after the restore: %s", n->index, strerror(errno));
}

static int net_load_one(struct virtio_net *n, const struct ss_section *s, struct vk_err *err)
{
	uint64_t link, active;
	uint8_t mac[6], le[2];
	int r = ss_get_bytes(s, "mac", mac, 6, err);

	if (!r)
		r = ss_get_u64(s, "link-up", &link, err);
	if (!r)
		r = ss_get_u64(s, "active-pairs", &active, err);
	if (!r && (link > 1 || active > n->pairs))
		r = vk_fail(err, -EINVAL, "state of virtio-net %u: a value out of range", n->index);
	if (!r)
		r = virtio_dev_load(&n->vdev, s, err);
	if (r)
		return r;
	pthread_mutex_lock(&n->vdev.lock);
	memcpy(n->config.mac, mac, 6);
	pthread_mutex_unlock(&n->vdev.lock);
	virtio_net_set_link(n, link);
	le[0] = active & 0xff;
	le[1] = active >> 8;
	if (active > 1 && n->live)
		ctrl_mq(n, le, 2);	/* the pairs the driver turned on, as it did */
	virtio_dev_kick_queues(&n->vdev);
	announce(n);
	return 0;
}

static int net_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	unsigned int i, n = ss_count(r, "virtio-net");
	const struct ss_section *s;
	int ret = 0;

	if (n != vm->cfg->nr_nets)
		return vk_fail(err, -EINVAL, "state: saved with %u NIC(s), this VM has %u", n,
			       vm->cfg->nr_nets);
	for (i = 0; i < n && !ret; i++) {
		s = ss_need(r, "virtio-net", i, err);
		ret = s ? net_load_one(vm->nics[i], s, err) : err->code;
	}
	return ret;
}

const struct vm_device_class virtio_net_class = {
	.name = "virtio-net", .create = net_class_create, .destroy = net_class_destroy,
	.save = net_save, .load = net_load, .hold = net_hold,
};
