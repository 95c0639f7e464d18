/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI for the test guests: configuration mechanism #1 (0xCF8/0xCFC) on bus 0,
 * device lookup, memory BARs (sized, and placed by us when no firmware did),
 * decode/bus-master enable and the capability list.
 *
 * Everything here is port I/O and plain loads/stores, so it runs at CPL3
 * (cpl3_call) as well as at CPL0.
 */
#ifndef VMKIT_GUEST_PCI_H
#define VMKIT_GUEST_PCI_H

#include "rt.h"

#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION		0x08
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYS_VENDOR	0x2c
#define PCI_SUBSYS_ID		0x2e
#define PCI_CAP_PTR		0x34

#define PCI_COMMAND_IO		0x1
#define PCI_COMMAND_MEMORY	0x2
#define PCI_COMMAND_MASTER	0x4
#define PCI_STATUS_CAP_LIST	0x10

#define PCI_CAP_ID_VNDR		0x09
#define PCI_CAP_ID_MSIX		0x11

#define PCI_NR_BARS		6

/* Where we place BARs nobody assigned (vmkit's and QEMU's PCI window). */
#define PCI_WINDOW_START	0xc0000000ull
#define PCI_WINDOW_END		0xfec00000ull	/* IOAPIC above */

struct pci_dev {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
	/* Memory BARs after pci_enable(): address and size; 0/0 for I/O or absent. */
	uint64_t bar_addr[PCI_NR_BARS];
	uint64_t bar_size[PCI_NR_BARS];
	bool bar_64[PCI_NR_BARS];
	bool bar_moved[PCI_NR_BARS];	/* we (re)assigned it */
};

uint32_t pci_read32(const struct pci_dev *d, unsigned off);
uint16_t pci_read16(const struct pci_dev *d, unsigned off);
uint8_t pci_read8(const struct pci_dev *d, unsigned off);
void pci_write32(const struct pci_dev *d, unsigned off, uint32_t v);
void pci_write16(const struct pci_dev *d, unsigned off, uint16_t v);
void pci_write8(const struct pci_dev *d, unsigned off, uint8_t v);

/* Does 0xCF8 latch (is there a mechanism #1 host bridge at all)? */
bool pci_present(void);

/*
 * The index'th function on bus 0 with this vendor and device ID (in slot,
 * function order), filled into *d with only the IDs and address set.
 */
bool pci_find(uint16_t vendor, uint16_t device, unsigned index, struct pci_dev *d);

/*
 * Size the memory BARs; any that reads 0, or lies where our identity map
 * does not reach (>= 4 GiB), gets an address from PCI_WINDOW_START that
 * no other bus-0 BAR uses. Then turn on memory decode and bus mastering.
 * Returns false (and says why in pci_error) if a BAR cannot be placed.
 */
bool pci_enable(struct pci_dev *d);

/*
 * Offset of the first capability with this ID after the one at `after`
 * (0 = from the head of the list), or 0. The walk is bounded, so a looping
 * list cannot hang us.
 */
uint8_t pci_find_cap(const struct pci_dev *d, uint8_t id, uint8_t after);

extern char pci_error[128];

#endif
