// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the split virtqueue (vmm/virtio/queue.c), the code
 * every device trusts to check the guest's rings: descriptor loops,
 * indirect tables, chains of the maximum length, buffers out of RAM, ring
 * indices running ahead. Guest RAM is a 128 KiB heap buffer, so ASan
 * catches any access past it.
 *
 * Input: u8 log2 of the queue size, u8 flags (bit 0 EVENT_IDX, bit 1
 * INDIRECT_DESC, bit 2 unpop the first chain once), u16 desc, avail and used
 * ring addresses (in units of 16, 2 and 4 bytes), then guest RAM from 0.
 */
#include <stdlib.h>
#include <string.h>

#include "vmkit/virtq.h"

#define RAM_SIZE	(128u << 10)
#define MAX_POPS	256

static uint8_t *ram;
static size_t dirty;	/* bytes of RAM the last input wrote */

static void *map(void *opaque, uint64_t gpa, uint64_t len)
{
	if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return ram + gpa;
}

static uint16_t u16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

/* What a device does with a chain: read all it may read, fill all it may write. */
static uint32_t use(struct virtq_elem *e)
{
	static uint8_t buf[VIRTQ_MAX_SEGS * 64];
	size_t n;

	n = virtq_copy_from_out(e, 0, buf, sizeof(buf));
	if (n > e->out_len)
		abort();
	n = virtq_copy_to_in(e, 0, buf, e->in_len < sizeof(buf) ? e->in_len : sizeof(buf));
	if (n > e->in_len)
		abort();
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_elem e;
	struct virtq q = { .map = map };
	unsigned int i;
	bool unpop;

	if (size < 8)
		return 0;
	if (!ram)
		ram = calloc(1, RAM_SIZE);
	memset(ram, 0, dirty);
	dirty = size - 8 < RAM_SIZE ? size - 8 : RAM_SIZE;
	memcpy(ram, data + 8, dirty);
	q.size = 1u << (data[0] % 16);
	q.event_idx = data[1] & 1;
	q.indirect = data[1] & 2;
	unpop = data[1] & 4;
	q.desc_gpa = (uint64_t)u16(data + 2) * 16;
	q.avail_gpa = (uint64_t)u16(data + 4) * 2;
	q.used_gpa = (uint64_t)u16(data + 6) * 4;
	if (virtq_start(&q))
		return 0;
	for (i = 0; i < MAX_POPS; i++) {
		virtq_enable_notify(&q, i & 1);
		if (virtq_pop(&q, &e))
			break;
		if (e.n_out + e.n_in > VIRTQ_MAX_SEGS)
			abort();
		if (unpop) {
			unpop = false;
			virtq_unpop(&q);
			continue;
		}
		virtq_push(&q, &e, use(&e));
		virtq_should_notify(&q);
	}
	virtq_has_avail(&q);
	virtq_reset(&q);
	return 0;
}
