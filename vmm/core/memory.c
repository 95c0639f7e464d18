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

#include "vmkit/vm.h"

static int add_region(struct vm *vm, uint64_t gpa, uint8_t *hva, uint64_t size,
		      struct vk_err *err)
{
	struct kvm_userspace_memory_region kr;
	struct mem_region *r = &vm->mem[vm->nr_mem];

	kr = (struct kvm_userspace_memory_region){
		.slot = vm->nr_mem,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0)
		return vk_fail(err, -errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	*r = (struct mem_region){ gpa, size, hva };
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

int vm_memory_init(struct vm *vm, uint64_t bytes, struct vk_err *err)
{
	uint64_t low = MIN(bytes, MMIO_HOLE_START);
	int r;

	r = vm_ram_map(&vm->cfg->mem, bytes, &vm->ram, err);
	if (r)
		return r;
	vm->ram_size = bytes;
	r = add_low(vm, low, err);
	if (r)
		return r;
	vm->low_mem_top = low;
	if (bytes > low)
		return add_region(vm, MMIO_HOLE_END, vm->ram + low, bytes - low, err);
	return 0;
}

int vm_memory_slot_set(struct vm *vm, unsigned int slot, uint64_t gpa, void *hva,
		       uint64_t size, struct vk_err *err)
{
	struct kvm_userspace_memory_region kr = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (vm->vm_fd < 0)
		return vk_fail(err, -ENODEV, "memory slot %u: no KVM", slot);
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0)
		return vk_fail(err, -errno, "KVM_SET_USER_MEMORY_REGION (slot %u): %s", slot,
			       strerror(errno));
	return 0;
}

void vm_memory_free(struct vm *vm)
{
	vm_ram_unmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	vm->nr_mem = 0;
}

void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < vm->nr_mem; i++) {
		struct mem_region *r = &vm->mem[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}
