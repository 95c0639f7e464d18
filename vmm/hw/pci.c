// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PCI host bridge with configuration mechanism 1: the guest writes an
 * address to 0xCF8 and reads or writes the register through 0xCFC-0xCFF.
 * Bus 0 holds the host bridge in slot 0 and the registered devices after
 * it (function 0 only); everything else reads as all ones, which is how a
 * guest learns nothing is there. The DSDT's PCI0 describes this bus.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/hw.h"
#include "vmkit/pci.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define PCI_CONFIG_ADDR	0xcf8
#define PCI_CONFIG_DATA	0xcfc
#define CFG_ENABLE	0x80000000u

/* An Intel host bridge ID, as Firecracker and Cloud Hypervisor present. */
#define HOST_VENDOR	0x8086
#define HOST_DEVICE	0x0d57
#define CLASS_HOST_BRIDGE 0x060000
/*
 * Under firmware the bus is the PC that SeaBIOS and OVMF know (QEMU's
 * "pc"): an i440FX host bridge, whose PAM registers switch the shadow RAM
 * (vmm/arch/x86/firmware.c), and the PIIX3 PCI-to-ISA bridge at 00:01.0
 * with its PIRQ route registers, which firmware programs and reads back;
 * the PIIX4's PM function beside it at 00:01.3 is vmm/hw/piix4-pm.c.
 * The guest's interrupts still follow the _PRT (pci_intx_gsi).
 */
#define I440FX_DEVICE	0x1237
#define PIIX3_DEVICE	0x7000
#define CLASS_ISA_BRIDGE 0x060100
#define PIIX3_PIRQ	0x60		/* PIRQA-D route control, 0x60-0x63 */

/* Where BARs are first placed: the DSDT's PCI0 window (0xc0000000-0xfebfffff). */
#define BAR_WINDOW_START 0xc0000000ULL
#define BAR_WINDOW_END	0xfec00000ULL

struct pci_host {
	struct vm *vm;
	pthread_mutex_t lock;
	uint32_t addr;
	struct pci_device bridge;
	struct pci_device isa;		/* PIIX3, under firmware */
	struct pci_device *slots[PCI_MAX_SLOTS];	/* function 0 of each slot */
	struct pci_device *fns[PCI_MAX_SLOTS][7];	/* functions 1-7 (the PIIX4's PM) */
	uint64_t next_bar;	/* BAR allocator in the window */
	pthread_mutex_t irq_lock;	/* not lock: devices raise INTx under config writes */
	unsigned int gsi_users[PCI_INTX_GSIS];	/* devices holding each INTx GSI high */
};

/* The function at bus/slot/fn, or NULL: bus 0 only. */
static struct pci_device *lookup(struct pci_host *h, unsigned int bus, unsigned int slot,
				 unsigned int fn)
{
	if (bus != 0 || slot >= PCI_MAX_SLOTS || fn > 7)
		return NULL;
	return fn ? h->fns[slot][fn - 1] : h->slots[slot];
}

/* The device config cycles at h->addr go to, or NULL for an empty slot. */
static struct pci_device *addressed(struct pci_host *h)
{
	if (!(h->addr & CFG_ENABLE))
		return NULL;
	return lookup(h, (h->addr >> 16) & 0xff, (h->addr >> 11) & 0x1f, (h->addr >> 8) & 0x7);
}

static void data_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct pci_host *h = dev;
	struct pci_device *d;

	pthread_mutex_lock(&h->lock);
	d = addressed(h);
	if (d)
		pci_device_config_read(d, (h->addr & 0xfc) + off, data, len);
	else
		memset(data, 0xff, len);
	pthread_mutex_unlock(&h->lock);
}

static void data_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct pci_host *h = dev;
	struct pci_device *d;

	pthread_mutex_lock(&h->lock);
	d = addressed(h);
	if (d)
		pci_device_config_write(d, (h->addr & 0xfc) + off, data, len);
	pthread_mutex_unlock(&h->lock);
}

/*
 * The same config spaces by bus/slot/function, for PCIe ECAM (the Q35's
 * MMCONFIG window, vmm/hw/q35-mch.c). reg is 0-0xfff: the extended space
 * above 0xff of a present function reads as zeros (an empty extended
 * capability list) and ignores writes; absent functions read all ones.
 */
void pci_host_config_read(struct vm *vm, unsigned int bus, unsigned int slot, unsigned int fn,
			  unsigned int reg, void *data, unsigned int len)
{
	struct pci_host *h = vm->pci;
	struct pci_device *d;

	memset(data, 0xff, len);
	if (!h || reg + len > PCI_EXT_CONFIG_SIZE)
		return;
	pthread_mutex_lock(&h->lock);
	d = lookup(h, bus, slot, fn);
	if (d && reg + len <= 256)
		pci_device_config_read(d, reg, data, len);
	else if (d)
		memset(data, 0, len);
	pthread_mutex_unlock(&h->lock);
}

void pci_host_config_write(struct vm *vm, unsigned int bus, unsigned int slot, unsigned int fn,
			   unsigned int reg, const void *data, unsigned int len)
{
	struct pci_host *h = vm->pci;
	struct pci_device *d;

	if (!h || reg + len > 256)
		return;
	pthread_mutex_lock(&h->lock);
	d = lookup(h, bus, slot, fn);
	if (d)
		pci_device_config_write(d, reg, data, len);
	pthread_mutex_unlock(&h->lock);
}

static void addr_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct pci_host *h = dev;

	memset(data, 0xff, len);
	if (off == 0 && len == 4) {
		pthread_mutex_lock(&h->lock);
		memcpy(data, &h->addr, 4);
		pthread_mutex_unlock(&h->lock);
	}
}

static void addr_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct pci_host *h = dev;

	/*
	 * Only 32-bit writes latch an address. A byte write to 0xCF9 is the
	 * chipset's Reset Control Register (the FADT's RESET_REG): bit 2
	 * starts the reset.
	 */
	if (off == RESET_PORT - PCI_CONFIG_ADDR && len == 1) {
		if (*(const uint8_t *)data & 0x04)
			vm_request_stop(h->vm, VM_STOP_RESET, "guest reset through port 0xcf9");
		return;
	}
	if (off != 0 || len != 4)
		return;
	pthread_mutex_lock(&h->lock);
	memcpy(&h->addr, data, 4);
	h->addr &= 0x80fffffcu;
	pthread_mutex_unlock(&h->lock);
}

static const struct io_ops addr_ops = { .read = addr_read, .write = addr_write };
static const struct io_ops data_ops = { .read = data_read, .write = data_write };

/* Give each BAR a size-aligned place in the window, in registration order. */
static int place_bars(struct pci_host *h, struct pci_device *d)
{
	unsigned int i;

	for (i = 0; i < PCI_NR_BARS; i++) {
		uint64_t size = d->bar[i].size, at;
		uint32_t lo;

		if (!size)
			continue;
		at = ALIGN_UP(h->next_bar, size);
		if (at + size > BAR_WINDOW_END)
			return -ENOSPC;
		h->next_bar = at + size;
		lo = (uint32_t)at | (d->cfg[PCI_BAR0 + 4 * i] & 0xf);
		memcpy(d->cfg + PCI_BAR0 + 4 * i, &lo, 4);
		if (!d->bar[i].mem32)
			memcpy(d->cfg + PCI_BAR0 + 4 * i + 4, &(uint32_t){ at >> 32 }, 4);
	}
	return 0;
}

void pci_host_set_gsi(struct vm *vm, unsigned int gsi, bool level)
{
	struct pci_host *h = vm->pci;
	unsigned int *n;

	if (!h || gsi - PCI_INTX_GSI_BASE >= PCI_INTX_GSIS)
		return;
	n = &h->gsi_users[gsi - PCI_INTX_GSI_BASE];
	pthread_mutex_lock(&h->irq_lock);
	if (level && !(*n)++)
		vm_set_irq(vm, gsi, true);
	else if (!level && *n && !--(*n))
		vm_set_irq(vm, gsi, false);
	pthread_mutex_unlock(&h->irq_lock);
}

/* Put d in slot (free, checked by the caller): BARs placed, INTx wired. */
static int attach(struct pci_host *h, struct pci_device *d, unsigned int slot,
		  struct vk_err *err)
{
	if (place_bars(h, d))
		return vk_fail(err, -ENOSPC, "pci: the MMIO window is full");
	d->slot = slot;
	if (d->cfg[PCI_INTERRUPT_PIN]) {
		d->gsi = pci_intx_gsi(slot, d->cfg[PCI_INTERRUPT_PIN] - 1);
		d->cfg[PCI_INTERRUPT_LINE] = d->gsi;
	}
	d->vm = h->vm;
	pthread_mutex_lock(&h->lock);
	h->slots[slot] = d;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int pci_register_device(struct vm *vm, struct pci_device *d, struct vk_err *err)
{
	struct pci_host *h = vm->pci;
	unsigned int slot;

	for (slot = 1; slot < PCI_MAX_SLOTS && h->slots[slot]; slot++)
		;
	if (slot == PCI_MAX_SLOTS)
		return vk_fail(err, -ENOSPC, "pci: no free slot on bus 0 (at most %u devices)",
			       PCI_MAX_SLOTS - 1);
	return attach(h, d, slot, err);
}

int pci_register_device_at(struct vm *vm, struct pci_device *d, unsigned int slot,
			   struct vk_err *err)
{
	struct pci_host *h = vm->pci;

	if (!h || slot >= PCI_MAX_SLOTS || h->slots[slot])
		return vk_fail(err, -EBUSY, "pci: slot %u is taken", slot);
	return attach(h, d, slot, err);
}

/*
 * Function fn (1-7) of slot, beside a multi-function device's function 0
 * (which firmware and Linux read before they look at the others). No BARs
 * or INTx: the PIIX4's PM function is all this is for.
 */
int pci_register_function(struct vm *vm, struct pci_device *d, unsigned int slot,
			  unsigned int fn, struct vk_err *err)
{
	struct pci_host *h = vm->pci;

	if (!h || slot >= PCI_MAX_SLOTS || fn < 1 || fn > 7 || h->fns[slot][fn - 1])
		return vk_fail(err, -EBUSY, "pci: function %02x.%u is taken", slot, fn);
	if (!h->slots[slot] || !(h->slots[slot]->cfg[PCI_HEADER_TYPE] & 0x80))
		return vk_fail(err, -EINVAL, "pci: slot %u holds no multi-function device", slot);
	d->slot = slot;
	d->fn = fn;
	d->vm = vm;
	pthread_mutex_lock(&h->lock);
	h->fns[slot][fn - 1] = d;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void pci_unregister_device(struct vm *vm, struct pci_device *d)
{
	struct pci_host *h = vm->pci;
	struct pci_device **at;

	pci_device_unmap(d);
	if (!h || d->slot >= PCI_MAX_SLOTS || d->fn > 7)
		return;
	at = d->fn ? &h->fns[d->slot][d->fn - 1] : &h->slots[d->slot];
	if (*at == d) {
		pthread_mutex_lock(&h->lock);
		*at = NULL;
		pthread_mutex_unlock(&h->lock);
	}
}

static void i440fx_config_write(struct pci_device *d, unsigned int off, unsigned int len)
{
	pam_config_written(d, PAM_REG_FIRST, off, len);
}

static const struct pci_device_ops i440fx_ops = { .config_write = i440fx_config_write };

/* The firmware's PC: i440FX IDs and PAM on the host bridge, the PIIX3 in slot 1. */
static void add_pc_chipset(struct pci_host *h)
{
	unsigned int i;

	memcpy(h->bridge.cfg + PCI_DEVICE_ID, &(uint16_t){ I440FX_DEVICE }, 2);
	h->bridge.cfg[PCI_CLASS_REVISION] = 0x02;
	h->bridge.ops = &i440fx_ops;
	pam_init_regs(&h->bridge, PAM_REG_FIRST);
	pci_device_init(&h->isa, HOST_VENDOR, PIIX3_DEVICE, CLASS_ISA_BRIDGE, 0, 0);
	h->isa.cfg[PCI_HEADER_TYPE] = 0x80;	/* multi-function, as the real part */
	/*
	 * I/O, memory and bus master stay writable (QEMU's PIIX3 too): OVMF's
	 * ISA bus driver enables them before it makes the serial port and the
	 * PS/2 keyboard, its consoles; a bridge where they do not stick has none.
	 */
	h->isa.wmask[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	h->isa.wmask[PCI_COMMAND + 1] = 0;
	for (i = 0; i < 4; i++) {
		h->isa.cfg[PIIX3_PIRQ + i] = 0x80;	/* routing disabled */
		h->isa.wmask[PIIX3_PIRQ + i] = 0x8f;
	}
	h->isa.vm = h->vm;
	h->isa.slot = 1;
	h->slots[1] = &h->isa;
}

int pci_create(struct vm *vm, struct vk_err *err)
{
	struct pci_host *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return vk_fail(err, -ENOMEM, "out of memory");
	h->vm = vm;
	h->next_bar = BAR_WINDOW_START;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->irq_lock, NULL);
	pci_device_init(&h->bridge, HOST_VENDOR, HOST_DEVICE, CLASS_HOST_BRIDGE, 0, 0);
	h->bridge.wmask[PCI_COMMAND] = 0;	/* nothing to enable on the bridge */
	h->bridge.vm = vm;
	/* On a q35 the MCH takes slot 0 (vmm/hw/q35-mch.c). */
	if (vm->cfg->machine == MACHINE_PC)
		h->slots[0] = &h->bridge;
	if (vm->cfg->machine == MACHINE_PC && vm->cfg->firmware != FIRMWARE_NONE)
		add_pc_chipset(h);
	r = io_bus_register(&vm->pio, PCI_CONFIG_ADDR, 4, &addr_ops, h);
	if (!r)
		r = io_bus_register(&vm->pio, PCI_CONFIG_DATA, 4, &data_ops, h);
	if (r) {
		free(h);
		return vk_fail(err, r, "pci: cannot claim ports 0xcf8-0xcff");
	}
	vm->pci = h;
	return 0;
}

void pci_destroy(struct vm *vm)
{
	struct pci_host *h = vm->pci;

	if (!h)
		return;
	/* Devices unregistered themselves before (teardown runs in reverse). */
	pthread_mutex_destroy(&h->lock);
	free(h);
	vm->pci = NULL;
}

/*
 * Version 1: the config address latch and the bridge's config space, with
 * the PIIX3's under firmware. The i440FX's PAM registers are in the
 * bridge's: the shadow RAM's modes follow them again (pam_update).
 */
static void pci_save(struct vm *vm, struct ss_writer *w)
{
	struct pci_host *h = vm->pci;

	if (!h)
		return;
	ss_begin(w, "pci-host", 0, 1);
	pthread_mutex_lock(&h->lock);
	ss_put_u64(w, "addr", h->addr);
	pthread_mutex_unlock(&h->lock);
	pci_device_save(&h->bridge, w);
	ss_end(w);
	if (h->slots[1] != &h->isa)
		return;
	ss_begin(w, "pci-isa", 0, 1);
	pci_device_save(&h->isa, w);
	ss_end(w);
}

static int pci_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct pci_host *h = vm->pci;
	const struct ss_section *s = ss_need(r, "pci-host", 0, err);
	bool isa = h->slots[1] == &h->isa;
	uint64_t addr;
	int ret;

	if (!s)
		return err->code;
	if (isa != !!ss_find(r, "pci-isa", 0))
		return vk_fail(err, -EINVAL, "state: saved %s firmware, this VM %s",
			       isa ? "without" : "with", isa ? "boots firmware" : "boots a kernel");
	ret = ss_get_u64(s, "addr", &addr, err);
	if (!ret && addr > UINT32_MAX)
		ret = vk_fail(err, -EINVAL, "state of pci-host: address latch out of range");
	if (!ret)
		ret = pci_device_load(&h->bridge, s, err);
	if (!ret && isa)
		ret = pci_device_load(&h->isa, ss_find(r, "pci-isa", 0), err);
	if (ret)
		return ret;
	pthread_mutex_lock(&h->lock);
	h->addr = addr;
	pthread_mutex_unlock(&h->lock);
	if (isa)
		pam_update(vm, h->bridge.cfg + PAM_REG_FIRST);
	return 0;
}

const struct vm_device_class pci_host_class = {
	.name = "pci-host", .create = pci_create, .destroy = pci_destroy,
	.save = pci_save, .load = pci_load,
};
