// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A hostile virtio driver whose every move is the fuzz input (fake-vm.h).
 * The input is a script:
 *
 *   u32 device feature bits the driver accepts (of those offered), u8 ring
 *   features (bit 0 EVENT_IDX, bit 1 INDIRECT_DESC), u8 mask of queues to
 *   enable, u8 log2 of their size; then commands, each an opcode byte:
 *
 *   0 DESC  q, i, u32 addr (below FAKE_DATA: an offset into the data area;
 *           else as given, so also past RAM), u32 len, u8 flags, u8 next
 *   1 AVAIL q, u16 head: put head in the avail ring and publish it
 *   2 KICK  q: the notification, served as pci.c serves it
 *   3 POKE  u16 gpa, u8 n, n bytes: raw RAM (indirect tables, used_event...)
 *   4 CFG_READ u8 off, u8 len / 5 CFG_WRITE u8 off, u8 len, len bytes
 *   6 ACTION: the device target's own (its input, frames, targets...)
 *   7 RESET and set up again, as a driver that starts over
 *   8 RESET as the VM stops (a device then waits for nothing: what its
 *     backend still has completes later, after the driver set up again)
 *
 * Rings are where fake-vm.h puts them; the driver still cannot write past
 * RAM itself, but its descriptors and indices may point anywhere.
 */
#include <stdatomic.h>
#include <string.h>

#include "fake-vm.h"

struct script {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct script *s, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < n && s->left; i++, s->left--)
		v |= (uint64_t)*s->p++ << (8 * i);
	return v;
}

struct setup {
	uint64_t features;
	uint8_t queues, log2_size;
};

/* What virtio-pci's common configuration writes do at start-up, in order. */
static void driver_start(struct virtio_dev *v, const struct setup *st)
{
	unsigned int q, size;

	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	v->guest_features = st->features & v->host_features;
	virtio_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			     VIRTIO_STATUS_FEATURES_OK);
	size = 1u << (st->log2_size % 9);
	for (q = 0; q < v->nr_queues && q < FAKE_MAX_QUEUES; q++) {
		if (!(st->queues & (1u << q)))
			continue;
		if (size <= v->queue_max)
			v->vq[q].size = size;
		v->vq[q].desc_gpa = FAKE_QUEUE(q);
		v->vq[q].avail_gpa = FAKE_QUEUE(q) + 0x400;
		v->vq[q].used_gpa = FAKE_QUEUE(q) + 0x800;
		if (v->status & VIRTIO_STATUS_FEATURES_OK)
			virtio_enable_queue(v, q);
	}
	virtio_set_status(v, v->status | VIRTIO_STATUS_DRIVER_OK);
}

static uint8_t *ram(uint64_t gpa)
{
	return fake_vm()->ram + gpa;
}

static void put_desc(struct virtio_dev *v, struct script *s)
{
	unsigned int q = take(s, 1) % FAKE_MAX_QUEUES, i = take(s, 1);
	uint64_t addr = take(s, 4);
	uint32_t len = take(s, 4);
	uint16_t flags = take(s, 1), next = take(s, 1);
	uint16_t size = q < v->nr_queues && v->vq[q].size ? v->vq[q].size : 1;
	uint8_t *d;

	if (size > 64)
		size = 64;	/* the ring area holds 64 descriptors */
	d = ram(FAKE_QUEUE(q) + 16 * (i % size));
	if (addr < FAKE_DATA)
		addr += FAKE_DATA;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void put_avail(struct virtio_dev *v, struct script *s)
{
	unsigned int q = take(s, 1) % FAKE_MAX_QUEUES;
	uint16_t head = take(s, 2), idx, size = q < v->nr_queues ? v->vq[q].size : 0;
	uint8_t *a = ram(FAKE_QUEUE(q) + 0x400);

	if (!size || size > 256)
		return;	/* the avail ring's area holds 256 entries */
	memcpy(&idx, a + 2, 2);
	memcpy(a + 4 + 2 * (idx % size), &head, 2);
	idx++;
	memcpy(a + 2, &idx, 2);
}

static void kick(struct virtio_dev *v, const struct fake_dev_hooks *h, struct script *s)
{
	unsigned int q = take(s, 1);

	if (virtio_queue_ready(v, q))	/* pci.c's notify handler asks the same */
		v->ops->queue_notify(v, q);
	if (h->settle)
		h->settle(v);
}

static void poke(struct script *s)
{
	uint16_t gpa = take(s, 2);
	size_t n = take(s, 1);

	n = n < s->left ? n : s->left;
	if (gpa + n > FAKE_RAM_SIZE)
		n = FAKE_RAM_SIZE - gpa;
	memcpy(ram(gpa), s->p, n);
	s->p += n;
	s->left -= n;
}

/* Device-specific configuration: the transport passes any offset and 1, 2, 4 or 8 bytes. */
static void config(struct virtio_dev *v, struct script *s, bool write)
{
	static const unsigned int sizes[] = { 1, 2, 4, 8 };
	unsigned int off = take(s, 1), len = sizes[take(s, 1) % 4];
	uint8_t buf[8] = { 0 };

	if (write) {
		memcpy(buf, s->p, len < s->left ? len : s->left);
		take(s, len);
		if (v->ops->config_write)
			v->ops->config_write(v, off, buf, len);
	} else if (v->ops->config_read) {
		v->ops->config_read(v, off, buf, len);
	}
}

void fake_driver_run(struct virtio_dev *v, const struct fake_dev_hooks *h,
		     const uint8_t *data, size_t size)
{
	struct script s = { data, size };
	struct setup st;
	size_t used;

	memset(fake_vm()->ram, 0, FAKE_RAM_SIZE);
	st.features = take(&s, 4);
	st.features |= (take(&s, 1) & 3ull) << VIRTIO_F_INDIRECT_DESC;
	st.features |= 1ull << VIRTIO_F_VERSION_1;
	st.queues = take(&s, 1);
	st.log2_size = take(&s, 1);
	driver_start(v, &st);
	while (s.left) {
		switch (take(&s, 1) % 9) {
		case 0: put_desc(v, &s); break;
		case 1: put_avail(v, &s); break;
		case 2: kick(v, h, &s); break;
		case 3: poke(&s); break;
		case 4: config(v, &s, false); break;
		case 5: config(v, &s, true); break;
		case 6:
			used = h->action ? h->action(v, s.p, s.left) : 0;
			s.p += used;
			s.left -= used;
			break;
		case 7:
			if (h->settle)
				h->settle(v);
			virtio_set_status(v, 0);
			driver_start(v, &st);
			break;
		case 8:
			atomic_store(&fake_vm()->vm.stop, VM_STOP_RESET);
			virtio_set_status(v, 0);
			atomic_store(&fake_vm()->vm.stop, VM_RUNNING);
			driver_start(v, &st);
			break;
		}
	}
	if (h->settle)
		h->settle(v);
	virtio_set_status(v, 0);
}
