/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A polling virtio 1.x driver over the modern virtio-pci transport (virtio
 * 1.2, 4.1) with split virtqueues (2.7), for the test guests.
 *
 * No interrupts: MSI-X vectors stay at NO_VECTOR, the driver asks the
 * device not to interrupt (avail flags, or used_event far away with
 * EVENT_IDX), and completions are found by polling the used ring with a
 * time limit. Several chains may be in flight (virtq_add, virtq_kick,
 * virtq_get); virtq_submit does one chain from start to end.
 *
 * Like lib/pci.c this is loads, stores and port I/O only, so it runs at
 * CPL3 (cpl3_call), which is where the test guests run it: on PVM hosts
 * CPL0 code is emulated and far too slow for polling loops.
 */
#ifndef VMKIT_GUEST_VIRTIO_H
#define VMKIT_GUEST_VIRTIO_H

#include "pci.h"

#define VIRTIO_PCI_VENDOR		0x1af4
#define VIRTIO_PCI_DEVICE_MODERN(id)	(0x1040 + (id))

/* Device status (2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE	0x01
#define VIRTIO_STATUS_DRIVER		0x02
#define VIRTIO_STATUS_DRIVER_OK		0x04
#define VIRTIO_STATUS_FEATURES_OK	0x08
#define VIRTIO_STATUS_NEEDS_RESET	0x40
#define VIRTIO_STATUS_FAILED		0x80

/* Reserved feature bits (6) */
#define VIRTIO_F_INDIRECT_DESC		28
#define VIRTIO_F_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_F_ACCESS_PLATFORM	33
#define VIRTIO_F_RING_PACKED		34
#define VIRTIO_F_IN_ORDER		35
#define VIRTIO_F_NOTIFICATION_DATA	38
#define VIRTIO_F_RING_RESET		40
#define VIRTIO_BIT(b)			(1ull << (b))

/* virtio_pci_cap.cfg_type (4.1.4) */
#define VIRTIO_PCI_CAP_COMMON_CFG	1
#define VIRTIO_PCI_CAP_NOTIFY_CFG	2
#define VIRTIO_PCI_CAP_ISR_CFG		3
#define VIRTIO_PCI_CAP_DEVICE_CFG	4
#define VIRTIO_PCI_CAP_PCI_CFG		5

/* struct virtio_pci_common_cfg (4.1.4.3) */
#define VIRTIO_COMMON_DFSELECT		0x00
#define VIRTIO_COMMON_DF		0x04
#define VIRTIO_COMMON_GFSELECT		0x08
#define VIRTIO_COMMON_GF		0x0c
#define VIRTIO_COMMON_MSIX		0x10
#define VIRTIO_COMMON_NUMQ		0x12
#define VIRTIO_COMMON_STATUS		0x14
#define VIRTIO_COMMON_CFGGENERATION	0x15
#define VIRTIO_COMMON_Q_SELECT		0x16
#define VIRTIO_COMMON_Q_SIZE		0x18
#define VIRTIO_COMMON_Q_MSIX		0x1a
#define VIRTIO_COMMON_Q_ENABLE		0x1c
#define VIRTIO_COMMON_Q_NOFF		0x1e
#define VIRTIO_COMMON_Q_DESCLO		0x20
#define VIRTIO_COMMON_Q_DESCHI		0x24
#define VIRTIO_COMMON_Q_AVAILLO		0x28
#define VIRTIO_COMMON_Q_AVAILHI		0x2c
#define VIRTIO_COMMON_Q_USEDLO		0x30
#define VIRTIO_COMMON_Q_USEDHI		0x34

#define VIRTIO_MSI_NO_VECTOR		0xffff

/* Split virtqueue layout (2.7) */
#define VIRTQ_DESC_F_NEXT		1
#define VIRTQ_DESC_F_WRITE		2
#define VIRTQ_DESC_F_INDIRECT		4
#define VIRTQ_AVAIL_F_NO_INTERRUPT	1
#define VIRTQ_USED_F_NO_NOTIFY		1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* [size], then used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];	/* [size], then avail_event */
};

/* The largest queue we set up; the rings of each queue fit in 4 KiB pages. */
#define VIRTQ_MAX_SIZE		256
/* Queues that can be set up, all devices together (each struct virtq keeps its memory). */
#define VIRTQ_MAX_QUEUES	8

struct virtio_cap_info {
	bool present;
	uint8_t cap;		/* config space offset of the capability */
	uint8_t bar;
	uint32_t offset, length;
};

struct virtio_pci {
	struct pci_dev pci;
	struct virtio_cap_info caps[6];	/* by cfg_type, first of each kind */
	uint64_t common, notify, isr, device;	/* mapped addresses; device 0 if none */
	uint32_t notify_mult;		/* notify_off_multiplier */
	uint64_t offered;		/* device features */
	uint64_t features;		/* negotiated */
	uint16_t num_queues;
	bool msix;			/* the function has an MSI-X capability */
};

struct virtq {
	struct virtio_pci *vp;
	uint16_t index;
	uint16_t size;
	uint16_t max_size;		/* what the device offered */
	uint16_t notify_off;
	volatile struct virtq_desc *desc;
	volatile struct virtq_avail *avail;
	volatile struct virtq_used *used;
	/* One indirect table per queue (VIRTQ_MAX_SIZE entries): one user at a time. */
	volatile struct virtq_desc *indirect;
	bool indirect_busy;
	uint64_t notify_addr;
	uint16_t avail_idx;		/* next idx we publish */
	uint16_t kicked_idx;		/* avail idx at the last virtq_kick() */
	uint16_t used_idx;		/* next used entry we expect */
	/*
	 * Free descriptors, first in first out, so that successive chains move
	 * round the table and its end is crossed often. Our own copy of the
	 * links: the device may scribble on the table, not on this.
	 */
	uint16_t free_head, free_tail, num_free;
	uint16_t next[VIRTQ_MAX_SIZE];
	/* Per head of a chain in flight: its length (0 = not in flight), writable bytes. */
	uint16_t chain_len[VIRTQ_MAX_SIZE];
	uint32_t chain_writable[VIRTQ_MAX_SIZE];
	bool chain_indirect[VIRTQ_MAX_SIZE];
	bool event_idx;
	bool last_notify_skipped;	/* the device said it needs no notification */
	uint64_t requests, notifies, notifies_skipped;
};

/* A buffer of a request: guest-physical address, length, device-writable? */
struct virtq_buf {
	uint64_t addr;
	uint32_t len;
	bool write;
};

/* Results of virtq_submit() and virtq_wait_used() */
enum {
	VQ_OK = 0,
	VQ_ERR_TIMEOUT = -1,		/* no used entry within the time limit */
	VQ_ERR_NEEDS_RESET = -2,	/* ... and the device set DEVICE_NEEDS_RESET */
	VQ_ERR_TOO_LONG = -3,		/* chain does not fit the queue/free descriptors */
	VQ_ERR_BAD_USED = -4,		/* used entry with the wrong id or an impossible len */
};

/* Why the last call returned false or an error (one line, no newline). */
extern char virtio_error[160];

/* Default time limit for one request, in microseconds. */
#define VIRTIO_TIMEOUT_US	5000000u

/* Microseconds since some point (rdtsc, calibrated once against the PIT). */
uint64_t virtio_now_us(void);

/*
 * Enable the PCI function (BARs, memory decode, bus master), find its
 * virtio capabilities and map the structures. No device register is touched.
 */
bool virtio_pci_probe(struct virtio_pci *vp, const struct pci_dev *pci);

uint8_t virtio_get_status(struct virtio_pci *vp);
void virtio_set_status(struct virtio_pci *vp, uint8_t status);

/* Write 0 to device_status and wait until it reads back 0 (4.1.4.3.2). */
bool virtio_reset(struct virtio_pci *vp);

/*
 * Reset, ACKNOWLEDGE, DRIVER, read the 64 device feature bits, write back
 * offered & wanted (VERSION_1 must be offered; it is always wanted), set
 * FEATURES_OK and check it stuck. Leaves queues and DRIVER_OK to the caller.
 */
bool virtio_init(struct virtio_pci *vp, uint64_t wanted);

static inline bool virtio_has(const struct virtio_pci *vp, unsigned bit)
{
	return vp->features & VIRTIO_BIT(bit);
}

/*
 * Set up queue `index`: size min(device maximum, want_size), rings in
 * this library's static memory, vectors NO_VECTOR, queue_enable = 1.
 */
bool virtq_setup(struct virtq *vq, struct virtio_pci *vp, unsigned index, unsigned want_size);

/* Set DRIVER_OK and check the device did not answer with NEEDS_RESET/FAILED. */
bool virtio_driver_ok(struct virtio_pci *vp);

/* Device-specific configuration (4.1.4.6), natural-width reads. */
uint8_t virtio_cfg_read8(struct virtio_pci *vp, unsigned off);
uint16_t virtio_cfg_read16(struct virtio_pci *vp, unsigned off);
uint32_t virtio_cfg_read32(struct virtio_pci *vp, unsigned off);
/* Two 32-bit halves, repeated until config_generation is stable (2.4.1). */
uint64_t virtio_cfg_read64(struct virtio_pci *vp, unsigned off);
uint8_t virtio_config_generation(struct virtio_pci *vp);

/*
 * Put bufs[0..n) on the queue as one chain (device-readable ones first, as
 * the caller ordered them), through the queue's indirect table if
 * `indirect`, and make it available (no notification yet). Returns the
 * head, or VQ_ERR_TOO_LONG if the chain is longer than the queue, does not
 * fit the free descriptors, or needs the indirect table while it is in use.
 */
int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, bool indirect);

/* Notify the device of the chains added since the last kick, unless it said not to. */
void virtq_kick(struct virtq *vq);

/*
 * The next used entry, checked against what we have in flight (its id is
 * the head of a chain we added, its len no more than that chain's
 * device-writable bytes), whose descriptors are then free again.
 * Returns VQ_OK or a VQ_ERR_*.
 */
int virtq_get(struct virtq *vq, uint64_t timeout_us, uint32_t *id, uint32_t *len);

/* virtq_add + virtq_kick + virtq_get for one chain: *used_len gets the used len. */
int virtq_submit(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, bool indirect,
		 uint32_t *used_len, uint64_t timeout_us);

/*
 * Raw primitives for crafted (hostile) rings: the caller writes vq->desc /
 * vq->indirect as it likes, then virtq_publish() puts `head` in the next
 * avail slot as given, moves avail idx on by idx_step (1 for an honest
 * driver) and notifies unconditionally. Afterwards only a fresh
 * virtq_setup() makes the queue fit for virtq_add() again.
 */
void virtq_publish(struct virtq *vq, uint16_t head, uint16_t idx_step);
/* The next used entry as the device wrote it; VQ_OK, VQ_ERR_TIMEOUT or VQ_ERR_NEEDS_RESET. */
int virtq_wait_used(struct virtq *vq, uint64_t timeout_us, uint32_t *id, uint32_t *len);
/* Write the queue's notify register. */
void virtq_notify(struct virtq *vq);

#endif
