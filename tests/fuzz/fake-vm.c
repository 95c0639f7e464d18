// SPDX-License-Identifier: GPL-2.0-or-later
/* The VM without KVM that device fuzz targets run on: see fake-vm.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmkit/evloop.h"
#include "vmkit/firmware.h"
#include "fake-vm.h"

static struct fake_vm fake;

/* RAM with a guard page before and after it. */
static uint8_t *map_ram(void)
{
	size_t page = sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, FAKE_RAM_SIZE + 2 * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("fake-vm: mmap");
		abort();
	}
	mprotect(p, page, PROT_NONE);
	mprotect(p + page + FAKE_RAM_SIZE, page, PROT_NONE);
	return p + page;
}

struct fake_vm *fake_vm(void)
{
	if (fake.ram)
		return &fake;
	fake.ram = map_ram();
	fake.cfg.cpus = 1;
	fake.cfg.mem_bytes = FAKE_RAM_SIZE;
	fake.vm.cfg = &fake.cfg;
	fake.vm.ram = fake.ram;
	fake.vm.ram_size = FAKE_RAM_SIZE;
	fake.vm.mem[0] = (struct mem_region){ 0, FAKE_RAM_SIZE, fake.ram };
	fake.vm.nr_mem = 1;
	fake.vm.low_mem_top = FAKE_RAM_SIZE;
	fake.vm.kvm_fd = fake.vm.vm_fd = -1;
	if (evloop_new(&fake.vm.loop))
		abort();
	return &fake;
}

/* vmm/core/memory.c's RAM backing, which vm_gpa_to_hva's file also holds. */
int vm_ram_map(const struct mem_backing *mb, uint64_t size, uint8_t **hva, struct vk_err *err)
{
	return vk_fail(err, -ENOSYS, "fake VM");
}

void vm_ram_unmap(uint8_t *hva, uint64_t size)
{
}

/* ---- the transport: as vmm/virtio/pci.c, minus PCI ---- */

static void notify_queue(struct virtio_dev *v, unsigned int q)
{
	if (virtq_should_notify(&v->vq[q]))	/* pci.c asks the ring the same way */
		fake.queue_irqs++;
}

static void notify_config(struct virtio_dev *v)
{
	v->config_generation++;
	fake.config_irqs++;
}

static void interrupt(struct virtio_dev *v, unsigned int q)
{
	fake.queue_irqs++;
}

static int kick_fd(struct virtio_dev *v, unsigned int q, bool serve)
{
	return -1;
}

static const struct virtio_transport_ops fake_tops = {
	.notify_queue = notify_queue,
	.notify_config = notify_config,
	.interrupt = interrupt,
	.kick_fd = kick_fd,
};

int virtio_pci_create(struct virtio_dev *v, struct vk_err *err)
{
	v->tops = &fake_tops;
	v->transport = &fake;
	fake.dev = v;
	return 0;
}

void virtio_pci_destroy(struct virtio_dev *v)
{
	if (fake.dev == v)
		fake.dev = NULL;
}

/*
 * ---- firmware: the fake VM boots none ----
 * Devices register boot paths and the host bridge its PAM registers only
 * under firmware (vmm/hw/fw-boot.c, vmm/arch/x86/firmware.c): without one
 * the registry takes nothing and no PAM register exists, as here.
 */
int fw_boot_add(struct vm *vm, enum fw_boot_kind kind, const char *name, const char *path)
{
	return 0;
}

int fw_boot_add_numbered(struct vm *vm, enum fw_boot_kind kind, const char *prefix,
			 const char *path)
{
	return 0;
}

void pam_init_regs(struct pci_device *d, unsigned int first)
{
}

void pam_config_written(struct pci_device *d, unsigned int first, unsigned int off,
			unsigned int len)
{
}

/* pci.c's load re-applies the i440FX's PAM: no shadow RAM in these fake VMs. */
void pam_update(struct vm *vm, const uint8_t regs[PAM_NR_REGS])
{
}
