/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueues (virtio 1.x, section 2.7), shared by every virtio device.
 *
 * Everything the guest wrote is hostile: ring indices, descriptor chains
 * (loops, lengths, nesting), buffer addresses. virtq_pop() checks all of it
 * before a device sees a buffer; a chain that breaks the rules is refused
 * with an error and the queue is marked broken, so the device can set
 * DEVICE_NEEDS_RESET. Nothing is read or written outside guest RAM.
 */
#ifndef VMKIT_VIRTQ_H
#define VMKIT_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VIRTQ_MAX_SIZE		32768
#define VIRTQ_MAX_SEGS		1024	/* buffers in one chain, direct or indirect */

#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	1

/* How the queue reaches guest memory: a host pointer for [gpa, gpa+len), or NULL. */
typedef void *(*virtq_map_fn)(void *opaque, uint64_t gpa, uint64_t len);
/*
 * Optional: the device wrote [gpa, gpa+len) through a pointer map gave
 * earlier (the used ring), so that live migration sends it again.
 */
typedef void (*virtq_written_fn)(void *opaque, uint64_t gpa, uint64_t len);

struct virtq {
	/* Set by the transport from what the driver wrote. */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx;		/* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;		/* VIRTIO_F_INDIRECT_DESC negotiated */
	virtq_map_fn map;
	virtq_written_fn written;	/* NULL: nobody asks */
	void *map_opaque;

	/* Device-side state. */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t last_avail;	/* next avail entry to take */
	uint16_t used_idx;	/* next used entry to fill */
	uint16_t signalled_used;	/* used_idx at the last interrupt (event idx) */
	bool broken;
	/* The device's loop polls the avail ring: notifications stay off (virtq_set_poll). */
	bool poll_mode;
};

/* One request: its chain split into device-readable (out) then device-writable (in) buffers. */
struct virtq_elem {
	uint16_t head;
	unsigned int n_out, n_in;
	size_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_SEGS];	/* out buffers first, then in buffers */
};

/* Map the three rings once the driver has set the queue up; -EINVAL if they are not in RAM. */
int virtq_start(struct virtq *q);
/*
 * The device polls (on): the driver is asked not to notify until it stops
 * (off: notifications on again; look at the ring once more after).
 */
void virtq_set_poll(struct virtq *q, bool on);
void virtq_reset(struct virtq *q);

/*
 * Take the next available chain. Returns 0 with *e filled, -ENOENT when the
 * ring is empty, or a negative errno for a chain that breaks the rules
 * (-ELOOP loop, -E2BIG too long, -EFAULT buffer outside RAM, -EINVAL bad
 * index or layout); the queue is then broken and returns -EIO from then on.
 */
int virtq_pop(struct virtq *q, struct virtq_elem *e);
/* Return a chain with len bytes written into its in buffers. */
void virtq_push(struct virtq *q, const struct virtq_elem *e, uint32_t len);
/* The same by head index, for a device that keeps a request longer than its elem. */
void virtq_push_head(struct virtq *q, uint16_t head, uint32_t len);
/*
 * Several used entries that the driver must see together (a frame spread
 * over mergeable receive buffers): fill each, then flush once.
 */
void virtq_fill(struct virtq *q, uint16_t head, uint32_t len);
void virtq_flush_used(struct virtq *q);
/* Give back the chain popped last (not pushed): the next pop returns it again. */
void virtq_unpop(struct virtq *q);
/* After pushes: whether the driver wants an interrupt now. */
bool virtq_should_notify(struct virtq *q);
/*
 * Ask (or not) to be notified of new buffers: VIRTQ_USED_F_NO_NOTIFY, or
 * with event idx the avail_event the driver compares against (left behind
 * while disabled, so the driver does not notify). Every notification is an
 * exit on the notifying vCPU, so a device drains a queue with them off:
 *	do { disable; pop all; enable; } while (virtq_has_avail(q));
 */
void virtq_enable_notify(struct virtq *q, bool enable);
/* Whether the driver has made buffers available that were not popped yet. */
bool virtq_has_avail(struct virtq *q);

/*
 * Hand every available chain to fn, in the pattern above; notifications
 * are on again when it returns. Returns 0, or the error of a chain that
 * broke the rules (the queue is then broken: set NEEDS_RESET).
 */
typedef void (*virtq_elem_fn)(void *opaque, struct virtq_elem *e);
int virtq_drain(struct virtq *q, struct virtq_elem *e, virtq_elem_fn fn, void *opaque);

/* Copy helpers over an element's iovecs (they never run past the buffers). */
size_t virtq_copy_from_out(const struct virtq_elem *e, size_t off, void *dst, size_t len);
size_t virtq_copy_to_in(const struct virtq_elem *e, size_t off, const void *src, size_t len);

#endif
