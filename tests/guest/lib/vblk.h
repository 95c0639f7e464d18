/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small virtio-blk client on top of lib/virtio.c for guests that want a
 * disk to read and write, not to check the device (virtio_blk.c does
 * that): find the n'th modern virtio-blk function, negotiate, set up its
 * one request queue, and build requests with many in flight at once.
 *
 * Like lib/virtio.c it is loads, stores and port I/O only: run it at CPL3
 * (cpl3_call). Request headers and status bytes live in struct vblk_req,
 * which the caller owns (one per request in flight).
 */
#ifndef VMKIT_GUEST_VBLK_H
#define VMKIT_GUEST_VBLK_H

#include "virtio.h"

#define VIRTIO_ID_BLOCK			2

/* Feature bits (virtio 1.2, 5.2.3) */
#define VIRTIO_BLK_F_SIZE_MAX		1
#define VIRTIO_BLK_F_SEG_MAX		2
#define VIRTIO_BLK_F_RO			5
#define VIRTIO_BLK_F_BLK_SIZE		6
#define VIRTIO_BLK_F_FLUSH		9
#define VIRTIO_BLK_F_CONFIG_WCE		11

/* Request types and status (5.2.6) */
#define VIRTIO_BLK_T_IN			0
#define VIRTIO_BLK_T_OUT		1
#define VIRTIO_BLK_T_FLUSH		4
#define VIRTIO_BLK_S_OK			0
#define VIRTIO_BLK_S_IOERR		1
#define VIRTIO_BLK_S_UNSUPP		2

#define VBLK_SECTOR			512u

struct vblk_req {
	struct {
		uint32_t type;
		uint32_t reserved;
		uint64_t sector;
	} hdr;
	volatile uint8_t status;
	uint8_t pad[7];
	/* Filled by vblk_add: what the request was, for the caller. */
	uint32_t len;
	int head;
};

struct vblk {
	struct virtio_pci vp;
	struct virtq vq;
	uint64_t capacity;		/* sectors */
	uint32_t blk_size;		/* bytes */
	uint32_t size_max;		/* bytes per data descriptor; 0: no limit */
	uint32_t seg_max;		/* data descriptors per request */
	bool ro;
	bool flush;			/* VIRTIO_BLK_F_FLUSH negotiated */
	bool wce;			/* CONFIG_WCE negotiated: writeback reads the cache mode */
	uint8_t writeback;		/* config writeback byte (only with wce) */
	struct vblk_req *inflight[VIRTQ_MAX_SIZE];	/* by chain head */
};

extern char vblk_error[200];

/*
 * Find the index'th virtio-blk function (1af4:1042) on bus 0, negotiate
 * VERSION_1, SIZE_MAX, SEG_MAX, RO, BLK_SIZE, FLUSH, CONFIG_WCE and
 * `extra` features, set up queue 0 with at most qsize entries and set
 * DRIVER_OK. False with vblk_error set on failure.
 */
bool vblk_open(struct vblk *d, unsigned index, uint64_t extra, unsigned qsize);

/*
 * Put one request on the queue (not kicked): the header, the data
 * [buf, buf+len) cut at size_max, and the status byte. Returns the chain's
 * head (also in r->head) or a VQ_ERR_* (vblk_error set). For
 * VIRTIO_BLK_T_FLUSH pass buf NULL, len 0.
 */
int vblk_add(struct vblk *d, struct vblk_req *r, uint32_t type, uint64_t sector, void *buf,
	     uint32_t len);

static inline void vblk_kick(struct vblk *d)
{
	virtq_kick(&d->vq);
}

/*
 * The next completion, as the request it belongs to (*out). Returns VQ_OK,
 * a VQ_ERR_* (no request), or 1 when the request completed with a status
 * other than OK or a used length that does not cover what the device had
 * to write (vblk_error says which; *out is set).
 */
int vblk_get(struct vblk *d, uint64_t timeout_us, struct vblk_req **out);

/* One request from start to end: VQ_OK or an error, as vblk_get. */
int vblk_sync(struct vblk *d, struct vblk_req *r, uint32_t type, uint64_t sector, void *buf,
	      uint32_t len);

/* Is a completion waiting (without blocking)? */
static inline bool vblk_pending(struct vblk *d)
{
	return d->vq.used->idx != d->vq.used_idx;
}

/*
 * The command line's value for key (e.g. "seed=" -> pointer after '='),
 * or whether a bare word is present (returns a pointer to the end of it);
 * NULL when absent.
 */
const char *vblk_cmdline_arg(const struct hvm_start_info *si, const char *key);
/* Decimal or 0x-hex number at p (stops at the first other character). */
uint64_t vblk_parse_u64(const char *p);

#endif
