/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which pages of guest RAM changed, for live migration (issue 15): KVM's
 * dirty log for what the vCPUs wrote (KVM_MEM_LOG_DIRTY_PAGES on every
 * writable RAM slot), and a bitmap of our own for what device threads
 * wrote, which KVM cannot see (vm_gpa_to_hva and vm_mark_dirty set it).
 *
 * Bitmaps here have one bit per 4 KiB page of vm->ram (the one mapping,
 * not guest-physical addresses), in 64-bit words.
 */
#ifndef VMKIT_VM_DIRTY_H
#define VMKIT_VM_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;
struct vm_dirty;

#define VM_DIRTY_PAGE	4096u
/* Words of a bitmap over n_pages pages. */
#define VM_DIRTY_WORDS(n_pages)	(((n_pages) + 63) / 64)

/* Start logging: from here on every write to RAM is found by the next collect. */
int vm_dirty_start(struct vm *vm, struct vk_err *err);
/*
 * OR into out (VM_DIRTY_WORDS(ram pages) words) the pages written since
 * the start or the last collect, and forget them. final: the vCPUs are
 * paused and the devices held; also every page a device was given since
 * the start (a device may have filled a buffer after the collect that
 * found it mapped: an I/O completing late).
 */
int vm_dirty_collect(struct vm *vm, uint64_t *out, bool final, struct vk_err *err);
/* Stop logging (also after a failed start); the VM runs as before. */
void vm_dirty_stop(struct vm *vm);

/*
 * Pages of RAM that were never touched read as zero, and reading them
 * would fault each one in: /proc/self/pagemap tells them apart (neither
 * present nor swapped) without touching. Opened once, before the monitor
 * drops its privileges and leaves /proc behind (cli/run.c).
 */
void vm_ram_pagemap_open(void);
/*
 * Whether page p of vm->ram (its index in the one mapping) was never
 * touched; w is a window the caller keeps (zeroed at first) so that
 * pagemap is read 4096 pages at a time. False when it cannot tell.
 */
struct vm_ram_window {
	uint64_t first, n;
	uint64_t ent[4096];
};
bool vm_ram_untouched(struct vm *vm, uint64_t p, struct vm_ram_window *w);

/* Whether a 4 KiB page of RAM holds only zeros. */
bool vm_page_is_zero(const uint8_t *p);

/* memory.c's side: note device access to RAM at offset off; free at the VM's end. */
void vm_dirty_mark_ram(struct vm_dirty *d, uint64_t off, uint64_t len);
void vm_dirty_free(struct vm *vm);

#endif
