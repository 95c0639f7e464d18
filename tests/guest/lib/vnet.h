/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small polling virtio-net client on top of lib/virtio.c, for the test
 * guests (virtio_net.c checks the device, virtio_netbench.c measures it):
 * find the n'th modern virtio-net function, negotiate, set up up to
 * VNET_MAX_PAIRS queue pairs and the control queue, keep every receive
 * queue full of 2 KiB buffers, send frames and take received ones.
 *
 * Loads, stores and port I/O only: run it at CPL3 (cpl3_call).
 */
#ifndef VMKIT_GUEST_VNET_H
#define VMKIT_GUEST_VNET_H

#include "virtio.h"

#define VIRTIO_ID_NET			1

/* Feature bits (virtio 1.2, 5.1.3) */
#define VIRTIO_NET_F_CSUM		0
#define VIRTIO_NET_F_GUEST_CSUM		1
#define VIRTIO_NET_F_MTU		3
#define VIRTIO_NET_F_MAC		5
#define VIRTIO_NET_F_GUEST_TSO4		7
#define VIRTIO_NET_F_GUEST_TSO6		8
#define VIRTIO_NET_F_GUEST_ECN		9
#define VIRTIO_NET_F_GUEST_UFO		10
#define VIRTIO_NET_F_HOST_TSO4		11
#define VIRTIO_NET_F_HOST_TSO6		12
#define VIRTIO_NET_F_MRG_RXBUF		15
#define VIRTIO_NET_F_STATUS		16
#define VIRTIO_NET_F_CTRL_VQ		17
#define VIRTIO_NET_F_CTRL_RX		18
#define VIRTIO_NET_F_MQ			22
#define VIRTIO_NET_F_CTRL_MAC_ADDR	23

/* struct virtio_net_config (5.1.4) */
#define VNET_CFG_MAC			0
#define VNET_CFG_STATUS			6
#define VNET_CFG_MAX_PAIRS		8
#define VNET_CFG_MTU			10
#define VIRTIO_NET_S_LINK_UP		1

/* Control queue (5.1.6.5) */
#define VIRTIO_NET_CTRL_RX		0
#define VIRTIO_NET_CTRL_RX_PROMISC	0
#define VIRTIO_NET_CTRL_MAC		1
#define VIRTIO_NET_CTRL_MAC_ADDR_SET	1
#define VIRTIO_NET_CTRL_MQ		4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET	0
#define VIRTIO_NET_OK			0
#define VIRTIO_NET_ERR			1

/* struct virtio_net_hdr_v1 (5.1.6) */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM	1
#define VIRTIO_NET_HDR_GSO_NONE		0
#define VIRTIO_NET_HDR_GSO_TCPV4	1
struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

#define VNET_HDR_LEN		12
#define VNET_MAX_PAIRS		2
#define VNET_QSIZE		128	/* entries per queue we set up */
#define VNET_BUF		2048	/* receive buffer */
#define VNET_TXBUF		8192	/* transmit buffer: a GSO frame of a few segments fits */
#define VNET_BIG		(65536 + 64)	/* a frame gathered from mergeable buffers */

struct vnet {
	struct virtio_pci vp;
	struct virtq rx[VNET_MAX_PAIRS], tx[VNET_MAX_PAIRS], ctrl;
	unsigned pairs;			/* pairs set up */
	bool has_ctrl;
	uint8_t mac[6];
	uint16_t status, max_pairs, mtu;
	uint8_t *rx_of_head[VNET_MAX_PAIRS][VNET_QSIZE];	/* the buffer behind each head */
	uint64_t tx_frames[VNET_MAX_PAIRS], rx_frames[VNET_MAX_PAIRS];
};

extern char vnet_error[200];

/*
 * Find the index'th virtio-net function, negotiate `want` (VERSION_1 is
 * always asked for), set up min(pairs, what the device has) pairs (more
 * than one only with MQ), the control queue when CTRL_VQ was negotiated,
 * fill the receive queues and set DRIVER_OK.
 */
bool vnet_open(struct vnet *n, unsigned index, uint64_t want, unsigned pairs);

/* One control command; returns the device's ack (VIRTIO_NET_OK/ERR) or a VQ_ERR_*. */
int vnet_ctrl(struct vnet *n, uint8_t class, uint8_t cmd, const void *data, unsigned len);

/*
 * Send one frame (len bytes, no header) on pair q's transmit queue with a
 * zeroed header, or hdr if given; split puts the header in a descriptor
 * of its own. Completed sends are reaped first; waits for room. Kicks
 * unless batch is set (then the caller calls vnet_tx_kick).
 */
bool vnet_tx(struct vnet *n, unsigned q, const void *frame, uint32_t len,
	     const struct vnet_hdr *hdr, bool split, bool batch);
void vnet_tx_kick(struct vnet *n, unsigned q);
/* Wait until every frame sent on q is used. */
bool vnet_tx_flush(struct vnet *n, unsigned q);

/*
 * A received frame on pair q, if one is there: 1 with *frame and *len (header
 * stripped; valid until the next call, which gives the buffer back) and
 * *hdr, 0 if none, -1 on an error (vnet_error).
 */
int vnet_rx(struct vnet *n, unsigned q, const uint8_t **frame, uint32_t *len,
	    struct vnet_hdr *hdr);
/* Buffers given back since the last kick: tell the device. */
void vnet_rx_kick(struct vnet *n, unsigned q);

#endif
