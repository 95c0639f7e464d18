/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-net client for the test guests: see vnet.h. */
#include "vnet.h"

char vnet_error[200];

/* Buffers: not in .bss, which the runtime clears at CPL0 (slow on PVM hosts). */
#define NOINIT(s) __attribute__((section(".noinit.vnet" s), aligned(4096)))
static uint8_t rx_mem[VNET_MAX_PAIRS][VNET_QSIZE][VNET_BUF] NOINIT("rx");
static uint8_t tx_mem[VNET_MAX_PAIRS][VNET_QSIZE][VNET_TXBUF] NOINIT("tx");
static uint8_t big[VNET_BIG] NOINIT("big");
static struct {
	uint8_t cmd[2 + 64];
	uint8_t ack;
} ctrl_buf __attribute__((aligned(64)));

/* Buffers of the frame handed out last, given back on the next vnet_rx. */
static uint8_t *recycle[VNET_MAX_PAIRS][VNET_QSIZE];
static unsigned nrecycle[VNET_MAX_PAIRS];
static unsigned tx_next[VNET_MAX_PAIRS];

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rt_vsnprintf(vnet_error, sizeof(vnet_error), fmt, ap);
	va_end(ap);
	return false;
}

static bool rx_give(struct vnet *n, unsigned q, uint8_t *buf)
{
	struct virtq_buf b = { (uintptr_t)buf, VNET_BUF, true };
	int head = virtq_add(&n->rx[q], &b, 1, false);

	if (head < 0)
		return fail("rx%u: %s", q, virtio_error);
	n->rx_of_head[q][head] = buf;
	return true;
}

static bool setup_queues(struct vnet *n, unsigned pairs)
{
	struct virtio_pci *vp = &n->vp;

	for (unsigned i = 0; i < pairs; i++) {
		if (!virtq_setup(&n->rx[i], vp, 2 * i, VNET_QSIZE) ||
		    !virtq_setup(&n->tx[i], vp, 2 * i + 1, VNET_QSIZE))
			return fail("pair %u: %s", i, virtio_error);
		for (unsigned k = 0; k < n->rx[i].size; k++)
			if (!rx_give(n, i, rx_mem[i][k]))
				return false;
		nrecycle[i] = 0;
		tx_next[i] = 0;
		n->tx_frames[i] = n->rx_frames[i] = 0;
	}
	n->has_ctrl = virtio_has(vp, VIRTIO_NET_F_CTRL_VQ);
	if (n->has_ctrl) {
		unsigned qi = virtio_has(vp, VIRTIO_NET_F_MQ) ? 2 * n->max_pairs : 2;

		if (!virtq_setup(&n->ctrl, vp, qi, 16))
			return fail("control queue %u: %s", qi, virtio_error);
	}
	return true;
}

bool vnet_open(struct vnet *n, unsigned index, uint64_t want, unsigned pairs)
{
	struct virtio_pci *vp = &n->vp;
	struct pci_dev pci;

	vnet_error[0] = '\0';
	if (!pci_present())
		return fail("no PCI configuration mechanism #1");
	if (!pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_NET), index, &pci))
		return fail("no virtio-net function #%u (%04x:%04x) on bus 0", index,
			    VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_NET));
	if (!virtio_pci_probe(vp, &pci))
		return fail("probe: %s", virtio_error);
	if (!vp->caps[VIRTIO_PCI_CAP_DEVICE_CFG].present ||
	    vp->caps[VIRTIO_PCI_CAP_DEVICE_CFG].length < 12)
		return fail("no usable device config capability");
	if (!virtio_init(vp, want))
		return fail("init: %s", virtio_error);
	for (unsigned i = 0; i < 6; i++)
		n->mac[i] = virtio_has(vp, VIRTIO_NET_F_MAC) ?
			    virtio_cfg_read8(vp, VNET_CFG_MAC + i) : 0;
	n->status = virtio_has(vp, VIRTIO_NET_F_STATUS) ?
		    virtio_cfg_read16(vp, VNET_CFG_STATUS) : VIRTIO_NET_S_LINK_UP;
	n->max_pairs = virtio_has(vp, VIRTIO_NET_F_MQ) ?
		       virtio_cfg_read16(vp, VNET_CFG_MAX_PAIRS) : 1;
	n->mtu = virtio_has(vp, VIRTIO_NET_F_MTU) ? virtio_cfg_read16(vp, VNET_CFG_MTU) : 0;
	if (!n->max_pairs)
		return fail("max_virtqueue_pairs is 0");
	n->pairs = pairs < n->max_pairs ? pairs : n->max_pairs;
	if (n->pairs > VNET_MAX_PAIRS)
		n->pairs = VNET_MAX_PAIRS;
	if (!setup_queues(n, n->pairs))
		return false;
	if (!virtio_driver_ok(vp))
		return fail("%s", virtio_error);
	for (unsigned i = 0; i < n->pairs; i++)
		virtq_kick(&n->rx[i]);
	return true;
}

int vnet_ctrl(struct vnet *n, uint8_t class, uint8_t cmd, const void *data, unsigned len)
{
	struct virtq_buf b[2];
	uint32_t used;
	int r;

	if (!n->has_ctrl || len > sizeof(ctrl_buf.cmd) - 2) {
		fail("no control queue, or a command of %u bytes", len);
		return VQ_ERR_TOO_LONG;
	}
	ctrl_buf.cmd[0] = class;
	ctrl_buf.cmd[1] = cmd;
	memcpy(ctrl_buf.cmd + 2, data, len);
	ctrl_buf.ack = 0xff;
	b[0] = (struct virtq_buf){ (uintptr_t)ctrl_buf.cmd, 2 + len, false };
	b[1] = (struct virtq_buf){ (uintptr_t)&ctrl_buf.ack, 1, true };
	r = virtq_submit(&n->ctrl, b, 2, false, &used, VIRTIO_TIMEOUT_US);
	if (r) {
		fail("control: %s", virtio_error);
		return r;
	}
	return *(volatile uint8_t *)&ctrl_buf.ack;
}

static bool tx_reap(struct vnet *n, unsigned q, uint64_t timeout_us)
{
	struct virtq *vq = &n->tx[q];
	uint32_t id, len;

	while (vq->used->idx != vq->used_idx || (timeout_us && vq->num_free < 2)) {
		if (virtq_get(vq, timeout_us ? timeout_us : 1, &id, &len))
			return fail("tx%u: %s", q, virtio_error);
	}
	return true;
}

bool vnet_tx(struct vnet *n, unsigned q, const void *frame, uint32_t len,
	     const struct vnet_hdr *hdr, bool split, bool batch)
{
	struct virtq *vq = &n->tx[q];
	uint8_t *buf = tx_mem[q][tx_next[q]++ % vq->size];
	struct virtq_buf b[2];

	if (len + 64 > VNET_TXBUF)
		return fail("a frame of %u bytes", len);
	if (!tx_reap(n, q, 0))
		return false;
	/* Room for two descriptors, with each slot's previous frame done. */
	if (vq->num_free < 2 && !tx_reap(n, q, VIRTIO_TIMEOUT_US))
		return false;
	if (hdr)
		memcpy(buf, hdr, VNET_HDR_LEN);
	else
		memset(buf, 0, VNET_HDR_LEN);
	memcpy(buf + (split ? 64 : VNET_HDR_LEN), frame, len);
	if (split) {
		b[0] = (struct virtq_buf){ (uintptr_t)buf, VNET_HDR_LEN, false };
		b[1] = (struct virtq_buf){ (uintptr_t)buf + 64, len, false };
	} else {
		b[0] = (struct virtq_buf){ (uintptr_t)buf, VNET_HDR_LEN + len, false };
	}
	if (virtq_add(vq, b, split ? 2 : 1, false) < 0)
		return fail("tx%u: %s", q, virtio_error);
	n->tx_frames[q]++;
	if (!batch)
		virtq_kick(vq);
	return true;
}

void vnet_tx_kick(struct vnet *n, unsigned q)
{
	virtq_kick(&n->tx[q]);
}

bool vnet_tx_flush(struct vnet *n, unsigned q)
{
	struct virtq *vq = &n->tx[q];
	uint32_t id, len;

	virtq_kick(vq);
	while (vq->num_free < vq->size)
		if (virtq_get(vq, VIRTIO_TIMEOUT_US, &id, &len))
			return fail("tx%u flush: %s", q, virtio_error);
	return true;
}

/* The next used receive buffer: its memory and length. */
static int rx_take(struct vnet *n, unsigned q, uint64_t timeout_us, uint8_t **buf, uint32_t *len)
{
	struct virtq *vq = &n->rx[q];
	uint32_t id;

	if (virtq_get(vq, timeout_us, &id, len))
		return fail("rx%u: %s", q, virtio_error), -1;
	*buf = n->rx_of_head[q][id];
	n->rx_of_head[q][id] = NULL;
	if (!*buf)
		return fail("rx%u: used id %u has no buffer", q, id), -1;
	recycle[q][nrecycle[q]++] = *buf;
	return 0;
}

int vnet_rx(struct vnet *n, unsigned q, const uint8_t **frame, uint32_t *len,
	    struct vnet_hdr *hdr)
{
	struct virtq *vq = &n->rx[q];
	uint8_t *buf;
	uint32_t l, total;
	unsigned nb;

	for (unsigned i = 0; i < nrecycle[q]; i++)
		if (!rx_give(n, q, recycle[q][i]))
			return -1;
	nrecycle[q] = 0;
	if (vq->used->idx == vq->used_idx) {
		virtq_kick(vq);		/* the buffers given back, if the device asks */
		return 0;
	}
	if (rx_take(n, q, 1, &buf, &l))
		return -1;
	if (l < VNET_HDR_LEN)
		return fail("rx%u: used len %u, shorter than the header", q, l), -1;
	memcpy(hdr, buf, VNET_HDR_LEN);
	nb = virtio_has(&n->vp, VIRTIO_NET_F_MRG_RXBUF) ? hdr->num_buffers : 1;
	if (nb == 0)
		return fail("rx%u: num_buffers 0", q), -1;
	n->rx_frames[q]++;
	if (nb == 1) {
		*frame = buf + VNET_HDR_LEN;
		*len = l - VNET_HDR_LEN;
		return 1;
	}
	/* Mergeable buffers: the device made them all used at once. */
	total = l - VNET_HDR_LEN;
	memcpy(big, buf + VNET_HDR_LEN, total);
	for (unsigned k = 1; k < nb; k++) {
		if (vq->used->idx == vq->used_idx)
			return fail("rx%u: buffer %u of %u not used with the first", q, k + 1, nb), -1;
		if (rx_take(n, q, 1, &buf, &l))
			return -1;
		if (total + l > sizeof(big))
			return fail("rx%u: a frame of more than %u bytes", q, total + l), -1;
		memcpy(big + total, buf, l);
		total += l;
	}
	*frame = big;
	*len = total;
	return 1;
}

void vnet_rx_kick(struct vnet *n, unsigned q)
{
	for (unsigned i = 0; i < nrecycle[q]; i++)
		rx_give(n, q, recycle[q][i]);
	nrecycle[q] = 0;
	virtq_kick(&n->rx[q]);
}
