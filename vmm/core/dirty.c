// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Dirty-page tracking for live migration: see include/vmkit/vm-dirty.h.
 * KVM logs what the vCPUs write, slot by slot, each slot's bitmap counting
 * from the slot's start; we fold those into one bitmap over vm->ram.
 * Device threads write RAM behind KVM's back (a disk read landing in a
 * guest buffer, a used ring), so vm_gpa_to_hva marks what it hands out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmkit/vm-dirty.h"
#include "vmkit/vm.h"

struct vm_dirty {
	uint64_t pages, words;
	_Atomic uint64_t *dev;	/* device writes since the last collect */
	uint64_t *ever;		/* device writes since the start */
	uint64_t *slot_bits;	/* one slot's KVM_GET_DIRTY_LOG */
};

void vm_dirty_mark_ram(struct vm_dirty *d, uint64_t off, uint64_t len)
{
	uint64_t p, last;

	if (!len || off >= d->pages * VM_DIRTY_PAGE)
		return;
	last = MIN(off + len - 1, d->pages * VM_DIRTY_PAGE - 1) / VM_DIRTY_PAGE;
	for (p = off / VM_DIRTY_PAGE; p <= last; p++) {
		uint64_t bit = 1ull << (p % 64);

		/* Most marks repeat (the same rings, the same buffers): read before the locked OR. */
		if (!(atomic_load_explicit(&d->dev[p / 64], memory_order_relaxed) & bit))
			atomic_fetch_or_explicit(&d->dev[p / 64], bit, memory_order_relaxed);
	}
}

static int alloc_dirty(struct vm *vm, struct vk_err *err)
{
	struct vm_dirty *d = vm->dirty_mem;

	if (d) {
		memset(d->dev, 0, d->words * 8);
		memset(d->ever, 0, d->words * 8);
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return vk_fail(err, -ENOMEM, "out of memory");
	d->pages = vm->ram_size / VM_DIRTY_PAGE;
	d->words = VM_DIRTY_WORDS(d->pages);
	d->dev = calloc(d->words, 8);
	d->ever = calloc(d->words, 8);
	d->slot_bits = calloc(d->words + 1, 8);	/* a slot is never larger than RAM */
	vm->dirty_mem = d;
	if (!d->dev || !d->ever || !d->slot_bits)
		return vk_fail(err, -ENOMEM, "out of memory");
	return 0;
}

int vm_dirty_start(struct vm *vm, struct vk_err *err)
{
	int r;

	if (vm->vm_fd < 0)
		return vk_fail(err, -ENOTSUP, "no KVM: nothing logs the guest's writes");
	if (atomic_load(&vm->dirty))
		return vk_fail(err, -EBUSY, "dirty pages are tracked already");
	r = alloc_dirty(vm, err);
	if (r)
		return r;
	atomic_store(&vm->dirty, vm->dirty_mem);
	r = vm_memslots_relog(vm, err);
	if (r)
		vm_dirty_stop(vm);
	return r;
}

/* The slot's log, a bit per page from the slot's start, into out at the slot's place in RAM. */
static int collect_slot(struct vm *vm, unsigned int slot, const struct vm_slot *s, uint64_t *out)
{
	struct vm_dirty *d = vm->dirty_mem;
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = d->slot_bits };
	uint64_t base = (uint64_t)(s->hva - vm->ram) / VM_DIRTY_PAGE;
	uint64_t n = s->size / VM_DIRTY_PAGE, w;

	memset(d->slot_bits, 0, VM_DIRTY_WORDS(n) * 8);
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return -errno;
	for (w = 0; w < VM_DIRTY_WORDS(n); w++) {
		uint64_t bits = d->slot_bits[w];

		if (base % 64 == 0) {
			out[base / 64 + w] |= bits;
			continue;
		}
		while (bits) {
			uint64_t p = base + w * 64 + __builtin_ctzll(bits);

			out[p / 64] |= 1ull << (p % 64);
			bits &= bits - 1;
		}
	}
	return 0;
}

int vm_dirty_collect(struct vm *vm, uint64_t *out, bool final, struct vk_err *err)
{
	struct vm_dirty *d = vm->dirty_mem;
	unsigned int i;
	uint64_t w;
	int r = 0;

	if (!d || !atomic_load(&vm->dirty))
		return vk_fail(err, -EINVAL, "dirty pages are not tracked");
	pthread_mutex_lock(&vm->slot_lock);
	for (i = 0; !r && i < VM_MAX_SLOTS; i++) {
		const struct vm_slot *s = &vm->slots[i];

		if (s->size && !s->readonly && s->hva >= vm->ram &&
		    s->hva < vm->ram + vm->ram_size)
			r = collect_slot(vm, i, s, out);
	}
	pthread_mutex_unlock(&vm->slot_lock);
	if (r)
		return vk_fail(err, r, "KVM_GET_DIRTY_LOG (slot %u): %s", i - 1, strerror(-r));
	for (w = 0; w < d->words; w++) {
		uint64_t bits = atomic_exchange_explicit(&d->dev[w], 0, memory_order_relaxed);

		d->ever[w] |= bits;
		out[w] |= final ? d->ever[w] : bits;
	}
	return 0;
}

void vm_dirty_stop(struct vm *vm)
{
	struct vk_err err = { 0 };

	if (!atomic_exchange(&vm->dirty, NULL))
		return;
	/* Logging off again; a failure only leaves KVM logging, which costs and harms nothing. */
	(void)vm_memslots_relog(vm, &err);
}

void vm_dirty_free(struct vm *vm)
{
	struct vm_dirty *d = vm->dirty_mem;

	atomic_store(&vm->dirty, NULL);
	if (!d)
		return;
	free(d->dev);
	free(d->ever);
	free(d->slot_bits);
	free(d);
	vm->dirty_mem = NULL;
}

/* ---- pages never touched ---- */

static int pagemap_fd = -1;

void vm_ram_pagemap_open(void)
{
	if (pagemap_fd < 0)
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

#define PM_PRESENT	(1ull << 63)
#define PM_SWAPPED	(1ull << 62)

bool vm_ram_untouched(struct vm *vm, uint64_t p, struct vm_ram_window *w)
{
	uint64_t va_page, n;
	ssize_t got;

	/*
	 * Only where an absent page cannot hold data: anonymous RAM (a swapped
	 * page says so) and hugetlb pages (never evicted). A mem-path file on
	 * an ordinary file system keeps pages the page cache dropped.
	 */
	if (pagemap_fd < 0 || vm->cfg->mem.mem_path || p >= vm->ram_size / VM_DIRTY_PAGE)
		return false;
	if (p < w->first || p >= w->first + w->n) {
		n = MIN((uint64_t)ARRAY_SIZE(w->ent), vm->ram_size / VM_DIRTY_PAGE - p);
		va_page = (uintptr_t)(vm->ram + p * VM_DIRTY_PAGE) / VM_DIRTY_PAGE;
		got = pread(pagemap_fd, w->ent, n * 8, va_page * 8);
		w->first = p;
		w->n = got > 0 ? (uint64_t)got / 8 : 0;
		if (!w->n)
			return false;
	}
	return !(w->ent[p - w->first] & (PM_PRESENT | PM_SWAPPED));
}

bool vm_page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	unsigned int i;

	for (i = 0; i < VM_DIRTY_PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}
