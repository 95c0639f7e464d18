// SPDX-License-Identifier: GPL-2.0-or-later
/* Split virtqueue on crafted rings: good chains, and every way a guest can lie. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/virtq.h"

#define MEM_SIZE	(1 << 20)
#define QSIZE		8
#define DESC		0x1000
#define AVAIL		0x2000
#define USED		0x3000
#define BUF		0x10000

static uint8_t mem[MEM_SIZE];
static struct virtq q;

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static void *map(void *opaque, uint64_t gpa, uint64_t len)
{
	if (gpa > MEM_SIZE || len > MEM_SIZE - gpa)
		return NULL;
	return mem + gpa;
}

static struct desc *desc_at(uint64_t table, unsigned int i)
{
	return (struct desc *)(mem + table) + i;
}

static void set_desc(uint64_t table, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	*desc_at(table, i) = (struct desc){ addr, len, flags, next };
}

static uint16_t *avail_idx(void) { return (uint16_t *)(mem + AVAIL + 2); }
static uint16_t *avail_ring(unsigned int i) { return (uint16_t *)(mem + AVAIL + 4) + i; }
static uint16_t *used_idx(void) { return (uint16_t *)(mem + USED + 2); }
static uint32_t *used_ring(unsigned int i) { return (uint32_t *)(mem + USED + 4) + 2 * i; }

static void offer(uint16_t head)
{
	*avail_ring(*avail_idx() % QSIZE) = head;
	(*avail_idx())++;
}

static int setup(void **state)
{
	memset(mem, 0, sizeof(mem));
	memset(&q, 0, sizeof(q));
	q.size = QSIZE;
	q.desc_gpa = DESC;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	q.indirect = true;
	q.map = map;
	assert_int_equal(virtq_start(&q), 0);
	return 0;
}

static void test_good_chain(void **state)
{
	struct virtq_elem e;
	char out[16] = "request header!", in[4];

	memcpy(mem + BUF, out, sizeof(out));
	set_desc(DESC, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(DESC, 5, BUF + 0x100, 32, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, BUF + 0x200, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(3);
	assert_int_equal(virtq_pop(&q, &e), 0);
	assert_int_equal(e.head, 3);
	assert_int_equal(e.n_out, 1);
	assert_int_equal(e.n_in, 2);
	assert_int_equal(e.out_len, 16);
	assert_int_equal(e.in_len, 40);
	assert_int_equal(virtq_copy_from_out(&e, 0, in, 4), 4);
	assert_memory_equal(in, "requ", 4);
	/* A copy across the two in buffers lands in both. */
	assert_int_equal(virtq_copy_to_in(&e, 30, "abcd", 4), 4);
	assert_memory_equal(mem + BUF + 0x100 + 30, "ab", 2);
	assert_memory_equal(mem + BUF + 0x200, "cd", 2);
	/* Copies never run past the buffers. */
	assert_int_equal(virtq_copy_to_in(&e, 38, "abcd", 4), 2);
	virtq_push(&q, &e, 40);
	assert_int_equal(*used_idx(), 1);
	assert_int_equal(used_ring(0)[0], 3);
	assert_int_equal(used_ring(0)[1], 40);
	assert_int_equal(virtq_pop(&q, &e), -ENOENT);
}

static void test_wraps_indices(void **state)
{
	struct virtq_elem e;
	unsigned int i;

	set_desc(DESC, 0, BUF, 8, 0, 0);
	*avail_idx() = 0xfffe;	/* the driver may start anywhere; we follow it */
	q.last_avail = q.used_idx = 0xfffe;
	for (i = 0; i < 5; i++) {
		offer(0);
		assert_int_equal(virtq_pop(&q, &e), 0);
		virtq_push(&q, &e, 0);
	}
	assert_int_equal(*used_idx(), 3);
}

static void expect_broken(int err)
{
	struct virtq_elem e;

	assert_int_equal(virtq_pop(&q, &e), err);
	assert_true(q.broken);
	assert_int_equal(virtq_pop(&q, &e), -EIO);
	assert_int_equal(*used_idx(), 0);	/* nothing returned for a bad chain */
}

static void test_loop(void **state)
{
	set_desc(DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(0);
	expect_broken(-ELOOP);
}

static void test_self_loop(void **state)
{
	set_desc(DESC, 2, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	offer(2);
	expect_broken(-ELOOP);
}

static void test_index_past_ring(void **state)
{
	set_desc(DESC, 0, BUF, 8, 0, 0);
	offer(0);
	*avail_idx() = QSIZE + 1;
	expect_broken(-EINVAL);
}

static void test_head_out_of_range(void **state)
{
	offer(QSIZE);
	expect_broken(-EINVAL);
}

static void test_next_out_of_range(void **state)
{
	set_desc(DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 200);
	offer(0);
	expect_broken(-EINVAL);
}

static void test_buffer_outside_memory(void **state)
{
	set_desc(DESC, 0, MEM_SIZE - 4, 8, 0, 0);
	offer(0);
	expect_broken(-EFAULT);
}

static void test_buffer_wraps_address_space(void **state)
{
	set_desc(DESC, 0, UINT64_MAX - 2, 16, 0, 0);
	offer(0);
	expect_broken(-EFAULT);
}

static void test_readable_after_writable(void **state)
{
	set_desc(DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, BUF, 8, 0, 0);
	offer(0);
	expect_broken(-EINVAL);
}

static void test_indirect(void **state)
{
	uint64_t table = 0x4000;
	struct virtq_elem e;

	set_desc(table, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	set_desc(table, 2, BUF + 0x100, 64, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(table, 1, BUF + 0x200, 1, VIRTQ_DESC_F_WRITE, 0);
	set_desc(DESC, 4, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(4);
	assert_int_equal(virtq_pop(&q, &e), 0);
	assert_int_equal(e.head, 4);
	assert_int_equal(e.n_out, 1);
	assert_int_equal(e.n_in, 2);
	assert_int_equal(e.in_len, 65);
}

static void test_indirect_not_negotiated(void **state)
{
	q.indirect = false;
	set_desc(0x4000, 0, BUF, 16, 0, 0);
	set_desc(DESC, 0, 0x4000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_broken(-EINVAL);
}

static void test_indirect_nested(void **state)
{
	set_desc(0x4000, 0, 0x5000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(DESC, 0, 0x4000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_broken(-EINVAL);
}

static void test_indirect_with_next(void **state)
{
	set_desc(0x4000, 0, BUF, 16, 0, 0);
	set_desc(DESC, 0, 0x4000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	offer(0);
	expect_broken(-EINVAL);
}

static void test_indirect_bad_length(void **state)
{
	set_desc(DESC, 0, 0x4000, 24, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_broken(-EINVAL);
}

static void test_indirect_loop(void **state)
{
	set_desc(0x4000, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(0x4000, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	set_desc(DESC, 0, 0x4000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_broken(-ELOOP);
}

static void test_indirect_outside_memory(void **state)
{
	set_desc(DESC, 0, MEM_SIZE - 16, 64, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_broken(-EFAULT);
}

static void test_too_many_segments(void **state)
{
	/* A direct chain one longer than a request may be, in a big queue. */
	unsigned int i, n = VIRTQ_MAX_SEGS + 1;
	struct virtq_elem e;
	struct virtq big = q;

	big.size = 2048;
	big.desc_gpa = 0x40000;
	big.avail_gpa = 0x50000;
	big.used_gpa = 0x60000;
	assert_int_equal(virtq_start(&big), 0);
	for (i = 0; i < n; i++)
		set_desc(0x40000, i, BUF, 1, i + 1 < n ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	*(uint16_t *)(mem + 0x50000 + 4) = 0;
	*(uint16_t *)(mem + 0x50000 + 2) = 1;
	assert_int_equal(virtq_pop(&big, &e), -E2BIG);
	assert_true(big.broken);
	/* The longest allowed, through an indirect table, is fine. */
	for (i = 0; i < VIRTQ_MAX_SEGS; i++)
		set_desc(0x20000, i, BUF, 1, i + 1 < VIRTQ_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	set_desc(DESC, 0, 0x20000, VIRTQ_MAX_SEGS * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &e), 0);
	assert_int_equal(e.n_out, VIRTQ_MAX_SEGS);
}

static void test_notify_flags(void **state)
{
	struct virtq_elem e;

	set_desc(DESC, 0, BUF, 8, 0, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &e), 0);
	virtq_push(&q, &e, 0);
	assert_true(virtq_should_notify(&q));
	*(uint16_t *)(mem + AVAIL) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_should_notify(&q));
	virtq_enable_notify(&q, false);
	assert_int_equal(*(uint16_t *)(mem + USED), VIRTQ_USED_F_NO_NOTIFY);
	virtq_enable_notify(&q, true);
	assert_int_equal(*(uint16_t *)(mem + USED), 0);
}

static void test_event_idx(void **state)
{
	uint16_t *used_event = avail_ring(QSIZE);
	uint16_t *avail_event = (uint16_t *)used_ring(QSIZE);
	struct virtq_elem e;
	unsigned int i;

	q.event_idx = true;
	set_desc(DESC, 0, BUF, 8, 0, 0);
	*used_event = 2;	/* interrupt once the used index passes 2 */
	for (i = 0; i < 3; i++) {
		offer(0);
		assert_int_equal(virtq_pop(&q, &e), 0);
		/* Popping leaves avail_event behind: no notifications while draining... */
		assert_int_equal(*avail_event, i);
		virtq_enable_notify(&q, true);	/* ...until the device asks again */
		assert_int_equal(*avail_event, i + 1);
		assert_false(virtq_has_avail(&q));
		virtq_push(&q, &e, 0);
		assert_int_equal(virtq_should_notify(&q), i == 2);
	}
}

/* The driver's side of event idx (virtio 2.7.10): notify when the new index passes avail_event. */
static bool driver_notifies(uint16_t old, uint16_t new, uint16_t event)
{
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/* While the device loop polls, the driver is asked not to notify, however many it adds. */
static void test_poll_mode(void **state)
{
	uint16_t *avail_event = (uint16_t *)used_ring(QSIZE);
	struct virtq_elem e;
	unsigned int i;

	set_desc(DESC, 0, BUF, 8, 0, 0);
	/* Without event idx: the flag, kept across a drain's enable. */
	virtq_set_poll(&q, true);
	assert_int_equal(*(uint16_t *)(mem + USED), VIRTQ_USED_F_NO_NOTIFY);
	virtq_enable_notify(&q, true);
	assert_int_equal(*(uint16_t *)(mem + USED), VIRTQ_USED_F_NO_NOTIFY);
	virtq_set_poll(&q, false);
	assert_int_equal(*(uint16_t *)(mem + USED), 0);

	q.event_idx = true;
	virtq_set_poll(&q, true);
	for (i = 0; i < 40; i++) {
		uint16_t old = *avail_idx();

		offer(0);
		assert_false(driver_notifies(old, *avail_idx(), *avail_event));
		assert_int_equal(virtq_pop(&q, &e), 0);
		virtq_enable_notify(&q, true);		/* a drain's end: still polled */
		virtq_push(&q, &e, 0);
	}
	/* The loop is about to block: the next request notifies again. */
	virtq_set_poll(&q, false);
	assert_int_equal(*avail_event, *avail_idx());
	offer(0);
	assert_true(driver_notifies(*avail_idx() - 1, *avail_idx(), *avail_event));
}

static void test_start_checks(void **state)
{
	struct virtq b = q;

	b.size = 6;
	assert_int_equal(virtq_start(&b), -EINVAL);
	b = q;
	b.desc_gpa = DESC + 8;
	assert_int_equal(virtq_start(&b), -EINVAL);
	b = q;
	b.used_gpa = MEM_SIZE - 8;
	assert_int_equal(virtq_start(&b), -EFAULT);
	b = q;
	b.size = 0;
	assert_int_equal(virtq_start(&b), -EINVAL);
}

/* A frame over mergeable buffers: the driver sees all its used entries at once. */
static void test_fill_then_flush(void **state)
{
	struct virtq_elem e;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		set_desc(DESC, i, BUF + 0x100 * i, 64, VIRTQ_DESC_F_WRITE, 0);
		offer(i);
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(virtq_pop(&q, &e), 0);
		virtq_fill(&q, e.head, 10 + i);
		assert_int_equal(*used_idx(), 0);
	}
	virtq_flush_used(&q);
	assert_int_equal(*used_idx(), 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(used_ring(i)[0], i);
		assert_int_equal(used_ring(i)[1], 10 + i);
	}
}

/* A chain the backend could not take yet goes back and comes out again. */
static void test_unpop(void **state)
{
	struct virtq_elem e;

	set_desc(DESC, 2, BUF, 16, 0, 0);
	set_desc(DESC, 4, BUF, 16, 0, 0);
	offer(2);
	offer(4);
	assert_int_equal(virtq_pop(&q, &e), 0);
	assert_int_equal(e.head, 2);
	virtq_unpop(&q);
	assert_true(virtq_has_avail(&q));
	assert_int_equal(virtq_pop(&q, &e), 0);
	assert_int_equal(e.head, 2);
	assert_int_equal(virtq_pop(&q, &e), 0);
	assert_int_equal(e.head, 4);
	assert_int_equal(virtq_pop(&q, &e), -ENOENT);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
	const struct CMUnitTest tests[] = {
		T(test_good_chain), T(test_wraps_indices), T(test_loop), T(test_self_loop),
		T(test_index_past_ring), T(test_head_out_of_range), T(test_next_out_of_range),
		T(test_buffer_outside_memory), T(test_buffer_wraps_address_space),
		T(test_readable_after_writable), T(test_indirect), T(test_indirect_not_negotiated),
		T(test_indirect_nested), T(test_indirect_with_next), T(test_indirect_bad_length),
		T(test_indirect_loop), T(test_indirect_outside_memory), T(test_too_many_segments),
		T(test_notify_flags), T(test_event_idx), T(test_poll_mode), T(test_start_checks),
		T(test_fill_then_flush), T(test_unpop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
