/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI devices on the host bridge's bus 0: a type-0 config space with the
 * semantics a guest relies on (read-only IDs, writable masks, BAR sizing
 * and moving, the command register's decode enable, capability lists),
 * and MSI-X. A device fills a struct pci_device and registers it; the host
 * bridge (vmm/hw/pci.c) routes config cycles to it.
 */
#ifndef VMKIT_PCI_H
#define VMKIT_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmkit/bus.h"
#include "vmkit/util.h"

struct vm;
struct pci_device;

#define PCI_MAX_SLOTS		32
#define PCI_NR_BARS		6

/* Config space offsets and bits */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_CLASS_REVISION	0x08
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYSTEM_VENDOR_ID	0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_COMMAND_IO		0x1
#define PCI_COMMAND_MEMORY	0x2
#define PCI_COMMAND_MASTER	0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT	0x08
#define PCI_STATUS_CAP_LIST	0x10
#define PCI_CAP_ID_MSIX		0x11
#define PCI_CAP_ID_VNDR		0x09

struct pci_bar {
	uint64_t size;			/* power of two; 0 = BAR not implemented */
	const struct io_ops *ops;	/* offsets are relative to the BAR */
	void *opaque;
	uint64_t mapped_at;		/* where it is on the MMIO bus, 0 = nowhere */
	bool mem32;			/* a 32-bit BAR (one register), e.g. AHCI's ABAR in BAR5 */
};

struct pci_device_ops {
	/* After the guest wrote config bytes [off, off+len) (already stored). */
	void (*config_write)(struct pci_device *d, unsigned int off, unsigned int len);
	/* Before the guest reads config bytes [off, off+len): a chance to fill them. */
	void (*config_read)(struct pci_device *d, unsigned int off, unsigned int len);
	/* BAR bar now decodes at addr (0: nowhere); e.g. to move ioeventfds along. */
	void (*bar_mapped)(struct pci_device *d, unsigned int bar, uint64_t addr);
};

struct pci_device {
	uint8_t cfg[256];
	uint8_t wmask[256];		/* bits the guest may change */
	struct pci_bar bar[PCI_NR_BARS];	/* 64-bit BARs use i and i+1 */
	const struct pci_device_ops *ops;
	void *opaque;
	struct vm *vm;
	unsigned int slot, fn;
	uint8_t last_cap;		/* offset of the last capability added, 0 if none */
	uint8_t cap_end;		/* next free byte for a capability */
	/* INTx: what the device asks for, and whether it reaches the bridge (intx_lock). */
	pthread_mutex_t intx_lock;
	bool intx_level, intx_asserted;
	unsigned int gsi;		/* the IOAPIC input its pin is wired to */
};

void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_id);
/* A 64-bit, non-prefetchable memory BAR at index bar (uses bar and bar+1). */
int pci_device_add_bar(struct pci_device *d, unsigned int bar, uint64_t size,
		       const struct io_ops *ops, void *opaque);
/* A 32-bit memory BAR at index bar (one register: BAR5 can hold no 64-bit BAR). */
int pci_device_add_bar32(struct pci_device *d, unsigned int bar, uint32_t size,
			 const struct io_ops *ops, void *opaque);
/* Append a capability of len bytes (id and next pointer filled); returns its offset or 0. */
uint8_t pci_device_add_cap(struct pci_device *d, uint8_t id, unsigned int len);

/*
 * Give the function interrupt pin INTA (before registering it). Its GSI is
 * then fixed by the slot (pci_intx_gsi) and shown in Interrupt Line.
 */
void pci_device_use_intx(struct pci_device *d);
/*
 * Set the level of the device's INTx line, from any thread. It reaches
 * the IOAPIC unless the command register's Interrupt Disable is set;
 * the status register's Interrupt Status shows it either way.
 */
void pci_device_set_intx(struct pci_device *d, bool level);

/*
 * Legacy interrupt wiring of bus 0: pin (0 = INTA .. 3 = INTD) of the
 * function in slot goes to IOAPIC input 16 + (slot + pin) % 8, the usual
 * swizzle spread over the 8 inputs above the ISA ones. The DSDT's _PRT
 * says the same to the guest.
 */
#define PCI_INTX_GSI_BASE	16
#define PCI_INTX_GSIS		8
static inline unsigned int pci_intx_gsi(unsigned int slot, unsigned int pin)
{
	return PCI_INTX_GSI_BASE + (slot + pin) % PCI_INTX_GSIS;
}
/* The bridge's side: GSIs are shared, a line is high while any device holds it. */
void pci_host_set_gsi(struct vm *vm, unsigned int gsi, bool level);

/*
 * Put the device on bus 0: it gets the first free slot and its BARs get
 * addresses in the MMIO window (the guest may move them). Decode stays off
 * until the guest's driver enables it, as after a firmware's enumeration.
 */
int pci_register_device(struct vm *vm, struct pci_device *d, struct vk_err *err);
/* The same in a given slot (chipset functions: the Q35's MCH at 0, LPC at 0x1f). */
int pci_register_device_at(struct vm *vm, struct pci_device *d, unsigned int slot,
			   struct vk_err *err);
/* Function 1-7 of a slot whose function 0 is multi-function (no BARs, no INTx). */
int pci_register_function(struct vm *vm, struct pci_device *d, unsigned int slot,
			  unsigned int fn, struct vk_err *err);
/* Take it off the bus and its BARs off the MMIO bus. */
void pci_unregister_device(struct vm *vm, struct pci_device *d);

/* Config space access through the host bridge (vmm/hw/pci.c uses these). */
void pci_device_config_read(struct pci_device *d, unsigned int off, void *data, unsigned int len);
void pci_device_config_write(struct pci_device *d, unsigned int off, const void *data,
			     unsigned int len);
/*
 * Config cycles by bus/slot/function and register 0-0xfff, as PCIe ECAM
 * addresses them (vmm/hw/q35-mch.c); the same spaces CF8/CFC reach.
 */
#define PCI_EXT_CONFIG_SIZE	4096
void pci_host_config_read(struct vm *vm, unsigned int bus, unsigned int slot, unsigned int fn,
			  unsigned int reg, void *data, unsigned int len);
void pci_host_config_write(struct vm *vm, unsigned int bus, unsigned int slot, unsigned int fn,
			   unsigned int reg, const void *data, unsigned int len);
/* Drop all BAR mappings (VM teardown). */
void pci_device_unmap(struct pci_device *d);

/*
 * Save/restore (issue 15): the function's config space as a field of the
 * caller's open section, and back into a function just registered for the
 * same config. Loading keeps the read-only bytes (a different device is an
 * error), takes the writable ones, and moves BARs and decode through the
 * guest's own write path, so MMIO mappings and ioeventfds follow.
 */
struct ss_writer;
struct ss_section;
void pci_device_save(struct pci_device *d, struct ss_writer *w);
int pci_device_load(struct pci_device *d, const struct ss_section *s, struct vk_err *err);

#endif

/*
 * MSI-X (PCI 3.0, 6.8.2): a capability plus a vector table and pending-bit
 * array in a BAR of their own. Interrupts go to KVM as MSI messages.
 */
#define MSIX_MAX_VECTORS	128
#define MSIX_NO_VECTOR		0xffff

struct msix {
	struct pci_device *dev;
	pthread_mutex_t lock;
	unsigned int nr;
	uint8_t cap;
	uint32_t table[MSIX_MAX_VECTORS][4];	/* addr lo, addr hi, data, control */
	uint64_t pba[MSIX_MAX_VECTORS / 64];
};

/* Add the capability and its table BAR (index bar, 64-bit) to d. */
int msix_init(struct msix *m, struct pci_device *d, unsigned int nr_vectors, unsigned int bar);
/* Signal vector from any thread; held pending while masked. Returns false if not delivered. */
bool msix_notify(struct msix *m, unsigned int vector);
bool msix_enabled(struct msix *m);
/* The device's config_write hook must call this: enable and mask bits may have changed. */
void msix_config_written(struct msix *m, unsigned int off, unsigned int len);
/* The vector table and PBA as fields of the open section / back (after pci_device_load). */
void msix_save(struct msix *m, struct ss_writer *w);
int msix_load(struct msix *m, const struct ss_section *s, struct vk_err *err);
