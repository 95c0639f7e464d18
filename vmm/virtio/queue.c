// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Split virtqueue access with validation of everything the guest wrote.
 * See include/vmkit/virtq.h. Descriptors are copied out of guest memory
 * before they are checked, so the guest cannot change one between the
 * check and the use.
 */
#include <errno.h>
#include <string.h>

#include "vmkit/virtq.h"

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* then used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];	/* then avail_event */
};

#define LOAD(p) __atomic_load_n(p, __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_RELAXED)

int virtq_start(struct virtq *q)
{
	uint64_t n = q->size;

	if (!n || n > VIRTQ_MAX_SIZE || (n & (n - 1)) || !q->map)
		return -EINVAL;
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return -EINVAL;
	q->desc = q->map(q->map_opaque, q->desc_gpa, 16 * n);
	q->avail = q->map(q->map_opaque, q->avail_gpa, 6 + 2 * n);
	q->used = q->map(q->map_opaque, q->used_gpa, 6 + 8 * n);
	if (!q->desc || !q->avail || !q->used) {
		q->desc = NULL;
		q->avail = NULL;
		q->used = NULL;
		return -EFAULT;
	}
	q->last_avail = q->used_idx = q->signalled_used = 0;
	q->broken = false;
	return 0;
}

void virtq_reset(struct virtq *q)
{
	virtq_map_fn map = q->map;
	virtq_written_fn written = q->written;
	void *opaque = q->map_opaque;

	memset(q, 0, sizeof(*q));
	q->map = map;
	q->written = written;
	q->map_opaque = opaque;
}

static int broken(struct virtq *q, int err)
{
	q->broken = true;
	return err;
}

static int add_buffer(struct virtq *q, struct virtq_elem *e, const struct virtq_desc *d)
{
	void *p;

	if (e->n_out + e->n_in >= VIRTQ_MAX_SEGS)
		return -E2BIG;
	p = q->map(q->map_opaque, d->addr, d->len);
	if (!p)
		return -EFAULT;
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		e->in_len += d->len;
		e->n_in++;
	} else {
		if (e->n_in)	/* device-readable after device-writable */
			return -EINVAL;
		e->out_len += d->len;
		e->n_out++;
	}
	e->iov[e->n_out + e->n_in - 1] = (struct iovec){ p, d->len };
	return 0;
}

/* Switch the walk to an indirect table: one level, never chained. */
static int enter_indirect(struct virtq *q, const struct virtq_desc *d,
			  const struct virtq_desc **table, unsigned int *max)
{
	if (!q->indirect || (d->flags & VIRTQ_DESC_F_NEXT))
		return -EINVAL;
	if (!d->len || d->len % sizeof(*d) || d->len / sizeof(*d) > VIRTQ_MAX_SEGS)
		return -EINVAL;
	*table = q->map(q->map_opaque, d->addr, d->len);
	if (!*table)
		return -EFAULT;
	*max = d->len / sizeof(*d);
	return 0;
}

static int walk_chain(struct virtq *q, uint16_t head, struct virtq_elem *e)
{
	const struct virtq_desc *table = q->desc;
	unsigned int max = q->size, idx = head, count = 0;
	bool indirect = false;
	struct virtq_desc d;
	int r;

	e->head = head;
	e->n_out = e->n_in = 0;
	e->out_len = e->in_len = 0;
	for (;;) {
		if (count++ >= max)
			return -ELOOP;	/* longer than its table: it loops */
		memcpy(&d, &table[idx], sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (indirect)
				return -EINVAL;
			r = enter_indirect(q, &d, &table, &max);
			if (r)
				return r;
			indirect = true;
			idx = count = 0;
			continue;
		}
		r = add_buffer(q, e, &d);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
		if (idx >= max)
			return -EINVAL;
	}
}

int virtq_pop(struct virtq *q, struct virtq_elem *e)
{
	uint16_t avail_idx, head;
	int r;

	if (q->broken || !q->avail)
		return -EIO;
	avail_idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	if (avail_idx == q->last_avail)
		return -ENOENT;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return broken(q, -EINVAL);	/* the index ran past the ring */
	head = LOAD(&q->avail->ring[q->last_avail & (q->size - 1)]);
	if (head >= q->size)
		return broken(q, -EINVAL);
	r = walk_chain(q, head, e);
	if (r)
		return broken(q, r);
	q->last_avail++;
	return 0;
}

int virtq_drain(struct virtq *q, struct virtq_elem *e, virtq_elem_fn fn, void *opaque)
{
	int r;

	do {
		virtq_enable_notify(q, false);
		while ((r = virtq_pop(q, e)) == 0)
			fn(opaque, e);
		if (r != -ENOENT)
			return r;
		virtq_enable_notify(q, true);
	} while (virtq_has_avail(q));
	return 0;
}

bool virtq_has_avail(struct virtq *q)
{
	if (q->broken || !q->avail)
		return false;
	return __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE) != q->last_avail;
}

void virtq_push(struct virtq *q, const struct virtq_elem *e, uint32_t len)
{
	virtq_push_head(q, e->head, len);
}

void virtq_push_head(struct virtq *q, uint16_t head, uint32_t len)
{
	virtq_fill(q, head, len);
	virtq_flush_used(q);
}

void virtq_fill(struct virtq *q, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *u = &q->used->ring[q->used_idx & (q->size - 1)];

	STORE(&u->id, head);
	STORE(&u->len, len);
	q->used_idx++;
}

/* The used ring with avail_event after it: what the device writes of the rings. */
static void used_written(struct virtq *q)
{
	if (q->written)
		q->written(q->map_opaque, q->used_gpa, 6 + 8 * (uint64_t)q->size + 2);
}

void virtq_flush_used(struct virtq *q)
{
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
	used_written(q);
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t used_event, old = q->signalled_used, new = q->used_idx;

	/* The used index must be visible before we read what the driver asked for. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(LOAD(&q->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	used_event = LOAD(&q->avail->ring[q->size]);
	q->signalled_used = new;
	return (uint16_t)(new - used_event - 1) < (uint16_t)(new - old);
}

void virtq_enable_notify(struct virtq *q, bool enable)
{
	if (q->poll_mode) {
		/*
		 * Polled: with event idx, avail_event half the index space
		 * ahead of what we took (the driver notifies only on passing
		 * it), kept ahead as we go; else the NO_NOTIFY flag.
		 */
		if (q->event_idx)
			STORE((uint16_t *)&q->used->ring[q->size], (uint16_t)(q->last_avail + 0x8000));
		else
			STORE(&q->used->flags, VIRTQ_USED_F_NO_NOTIFY);
	} else if (q->event_idx) {
		if (enable)
			STORE((uint16_t *)&q->used->ring[q->size], q->last_avail);
	} else {
		STORE(&q->used->flags, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	used_written(q);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void virtq_set_poll(struct virtq *q, bool on)
{
	if (q->poll_mode == on)
		return;
	q->poll_mode = on;
	if (q->used)
		virtq_enable_notify(q, !on);
}

static size_t copy_iov(const struct iovec *iov, unsigned int n, size_t off, void *buf,
		       size_t len, bool to_iov)
{
	size_t done = 0, chunk;
	unsigned int i;

	for (i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((char *)iov[i].iov_base + off, (char *)buf + done, chunk);
		else
			memcpy((char *)buf + done, (char *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t virtq_copy_from_out(const struct virtq_elem *e, size_t off, void *dst, size_t len)
{
	return copy_iov(e->iov, e->n_out, off, dst, len, false);
}

size_t virtq_copy_to_in(const struct virtq_elem *e, size_t off, const void *src, size_t len)
{
	return copy_iov(e->iov + e->n_out, e->n_in, off, (void *)src, len, true);
}
