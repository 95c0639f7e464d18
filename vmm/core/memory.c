// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest RAM: one mapping (backed as ram.c sets it up) cut into KVM memory
 * slots. RAM above 3 GiB is placed above 4 GiB so the hole below 4 GiB is
 * free for PCI MMIO, the IOAPIC and the local APICs.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "vmkit/q35.h"
#include "vmkit/vm-dirty.h"
#include "vmkit/vm.h"

/* KVM's flags for a slot: read-only, or logging writes while a migration tracks RAM. */
static uint32_t slot_flags(struct vm *vm, const struct vm_slot *s)
{
	if (s->readonly)
		return KVM_MEM_READONLY;
	if (atomic_load(&vm->dirty) && s->hva >= vm->ram && s->hva < vm->ram + vm->ram_size)
		return KVM_MEM_LOG_DIRTY_PAGES;
	return 0;
}

/* Under slot_lock: make slot what s says and record it. */
static int set_slot(struct vm *vm, unsigned int slot, const struct vm_slot *s)
{
	struct kvm_userspace_memory_region kr = {
		.slot = slot, .guest_phys_addr = s->gpa, .memory_size = s->size,
		.userspace_addr = (uintptr_t)s->hva, .flags = slot_flags(vm, s),
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0)
		return -errno;
	vm->slots[slot] = *s;
	return 0;
}

static int add_region(struct vm *vm, uint64_t gpa, uint8_t *hva, uint64_t size,
		      struct vk_err *err)
{
	struct vm_slot s = { gpa, size, hva, false };
	int r;

	pthread_mutex_lock(&vm->slot_lock);
	r = set_slot(vm, vm->nr_mem, &s);
	pthread_mutex_unlock(&vm->slot_lock);
	if (r)
		return vk_fail(err, r, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-r));
	vm->mem[vm->nr_mem] = (struct mem_region){ gpa, size, hva };
	vm->nr_mem++;
	return 0;
}

/*
 * With a VGA, its memory window 0xa0000-0xbffff is a hole in the low
 * slot, so that guest accesses exit to the adapter (vmm/display/vga-mem.c);
 * the RAM behind it is unused (e820 never offered it).
 */
#define VGA_HOLE_START	0xa0000
#define VGA_HOLE_END	0xc0000

static int add_low(struct vm *vm, uint64_t low, struct vk_err *err)
{
	int r;

	if (vm->cfg->vga == VGA_NONE || low <= VGA_HOLE_END)
		return add_region(vm, 0, vm->ram, low, err);
	r = add_region(vm, 0, vm->ram, VGA_HOLE_START, err);
	if (!r)
		r = add_region(vm, VGA_HOLE_END, vm->ram + VGA_HOLE_END, low - VGA_HOLE_END, err);
	return r;
}

int vm_set_memslot(struct vm *vm, unsigned int slot, uint64_t gpa, uint64_t size, void *hva,
		   bool readonly, struct vk_err *err)
{
	struct kvm_userspace_memory_region kr = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = 0,
		.userspace_addr = (uintptr_t)hva,
	};
	struct vm_slot s = { gpa, size, hva, readonly };
	struct vm_dirty *d;
	int r = 0;

	if (vm->vm_fd < 0)
		return 0;	/* a VM without KVM (device tests): the MMIO bus serves all */
	pthread_mutex_lock(&vm->slot_lock);
	/* Deleting a slot drops KVM's log of it: while migrating, all its RAM counts as written. */
	d = atomic_load(&vm->dirty);
	if (d && vm->slots[slot].size && vm->slots[slot].hva >= vm->ram &&
	    vm->slots[slot].hva < vm->ram + vm->ram_size)
		vm_dirty_mark_ram(d, vm->slots[slot].hva - vm->ram, vm->slots[slot].size);
	/* A slot's flags cannot change in place: delete it, then make it anew. */
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0 && errno != EINVAL)
		r = -errno;
	else
		vm->slots[slot] = (struct vm_slot){ 0 };
	if (!r && size)
		r = set_slot(vm, slot, &s);
	pthread_mutex_unlock(&vm->slot_lock);
	if (r)
		return vk_fail(err, r, "KVM_SET_USER_MEMORY_REGION at 0x%llx: %s",
			       (unsigned long long)gpa, strerror(-r));
	return 0;
}

int vm_memslots_relog(struct vm *vm, struct vk_err *err)
{
	unsigned int i;
	int r = 0;

	pthread_mutex_lock(&vm->slot_lock);
	for (i = 0; !r && i < VM_MAX_SLOTS; i++)
		if (vm->slots[i].size && !vm->slots[i].readonly)
			r = set_slot(vm, i, &vm->slots[i]);
	pthread_mutex_unlock(&vm->slot_lock);
	if (r)
		return vk_fail(err, r, "KVM_SET_USER_MEMORY_REGION (dirty logging, slot %u): %s",
			       i - 1, strerror(-r));
	return 0;
}

/*
 * Under firmware the legacy area 0xa0000-0xfffff is not plain RAM: the
 * VGA window stays MMIO and 0xc0000-0xfffff is the shadow RAM the PAM
 * registers switch (vmm/arch/x86/pam.c). Guest RAM is still one mapping
 * and vm->mem[0] still spans it (for vm_gpa_to_hva); only KVM's view is
 * cut: slot 0 below 0xa0000, VM_SLOT_LOW_HIGH from 1 MiB on.
 */
static int add_low_firmware(struct vm *vm, uint64_t low, struct vk_err *err)
{
	int r = vm_set_memslot(vm, 0, 0, LEGACY_VGA_START, vm->ram, false, err);

	if (!r && low > HIGH_MEM_START)
		r = vm_set_memslot(vm, VM_SLOT_LOW_HIGH, HIGH_MEM_START, low - HIGH_MEM_START,
				   vm->ram + HIGH_MEM_START, false, err);
	if (r)
		return r;
	vm->mem[0] = (struct mem_region){ 0, low, vm->ram };
	vm->nr_mem = 1;
	return 0;
}

int vm_memory_init(struct vm *vm, uint64_t bytes, struct vk_err *err)
{
	uint64_t low = MIN(bytes, MMIO_HOLE_START);
	int r;

	/* The q35's RAM below 4 GiB ends where its ECAM window starts (include/vmkit/q35.h). */
	if (vm_is_q35(vm->cfg))
		low = MIN(bytes, Q35_ECAM_BASE);
	r = vm_ram_map(&vm->cfg->mem, bytes, &vm->ram, err);
	if (r)
		return r;
	vm->ram_size = bytes;
	if (vm->cfg->firmware != FIRMWARE_NONE)
		r = add_low_firmware(vm, low, err);
	else
		r = add_low(vm, low, err);
	if (r)
		return r;
	vm->low_mem_top = low;
	if (bytes > low)
		return add_region(vm, MMIO_HOLE_END, vm->ram + low, bytes - low, err);
	return 0;
}

void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (atomic_load_explicit(&vm->dirty, memory_order_relaxed))
		(void)vm_gpa_to_hva(vm, gpa, len);
}

void vm_memory_free(struct vm *vm)
{
	vm_dirty_free(vm);
	vm_ram_unmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	vm->nr_mem = 0;
}

void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	struct vm_dirty *d = atomic_load_explicit(&vm->dirty, memory_order_relaxed);
	unsigned int i;

	for (i = 0; i < vm->nr_mem; i++) {
		struct mem_region *r = &vm->mem[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa)) {
			if (d)
				vm_dirty_mark_ram(d, r->hva + (gpa - r->gpa) - vm->ram, len);
			return r->hva + (gpa - r->gpa);
		}
	}
	return NULL;
}
