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

int vm_set_memslot(struct vm *vm, unsigned int slot, uint64_t gpa, uint64_t size, void *hva,
		   bool readonly, struct vk_err *err)
{
	struct kvm_userspace_memory_region kr = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = 0,
		.userspace_addr = (uintptr_t)hva,
	};

	if (vm->vm_fd < 0)
		return 0;	/* a VM without KVM (device tests): the MMIO bus serves all */
	/* A slot's flags cannot change in place: delete it, then make it anew. */
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0 && errno != EINVAL)
		return vk_fail(err, -errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	if (!size)
		return 0;
	kr.memory_size = size;
	kr.flags = readonly ? KVM_MEM_READONLY : 0;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0)
		return vk_fail(err, -errno, "KVM_SET_USER_MEMORY_REGION at 0x%llx: %s",
			       (unsigned long long)gpa, strerror(errno));
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
