// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the AHCI controller (vmm/hw/ahci.c, ahci-ata.c) and
 * the SCSI LUNs behind it, on the fake VM's RAM with the real PCI host
 * bridge and MMIO bus: the input is a hostile driver's script of ABAR
 * register writes and reads, RAM pokes (command lists, command tables,
 * PRDTs, FISes), PCI config writes (moving the BAR, MSI), media changes
 * and settles of the fake backend (fake-blk.h). Port 0 is a disk, port 1
 * an ATAPI CD-ROM.
 *
 *   0 WRITE u16 off, u32 value	1 READ u16 off
 *   2 POKE u16 gpa, u8 n, n bytes	3 SETTLE
 *   4 CONFIG u8 off, u8 len code, u32 value
 *   5 MEDIA u8: 1 eject (bit 3 force), 2 change, 3 LUN reset (bits 1-2)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/ahci.h"
#include "vmkit/device.h"
#include "vmkit/pci.h"
#include "vmkit/scsi.h"
#include "fake-blk.h"
#include "fake-vm.h"

int pci_create(struct vm *vm, struct vk_err *err);

/* vmm/core/vm.c's, without KVM: the line goes nowhere. */
void vm_set_irq(struct vm *vm, unsigned int gsi, bool level)
{
}

/* The bridge's reset port asks for this; the script never reaches port I/O. */
bool vm_request_stop(struct vm *vm, enum vm_stop why, const char *fmt, ...)
{
	abort();
}

/* vmm/core/devices.c's slots (that file names every device class): one will do. */
void **vm_device_state(struct vm *vm, const struct vm_device_class *cls)
{
	static void *slot;

	return &slot;
}

struct script {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct script *s, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < n && s->left; i++, s->left--)
		v |= (uint64_t)*s->p++ << (8 * i);
	return v;
}

static struct ahci *hba;

static uint64_t abar(void)
{
	return ahci_pci(hba)->bar[5].mapped_at;
}

static void mmio(struct script *s, bool write)
{
	uint64_t off = take(s, 2) % AHCI_ABAR_SIZE, base = abar();
	uint32_t v = write ? take(s, 4) : 0;

	if (!base)
		return;
	if (write)
		io_bus_write(&fake_vm()->vm.mmio, base + (off & ~3u), &v, 4);
	else
		io_bus_read(&fake_vm()->vm.mmio, base + off, &v, 4 - (off & 3));
}

static void poke(struct script *s)
{
	uint16_t gpa = take(s, 2);
	size_t n = take(s, 1);

	n = MIN(n, s->left);
	if (gpa + n > FAKE_RAM_SIZE)
		n = FAKE_RAM_SIZE - gpa;
	memcpy(fake_vm()->ram + gpa, s->p, n);
	s->p += n;
	s->left -= n;
}

static void config(struct script *s)
{
	static const unsigned int sizes[] = { 1, 2, 4, 4 };
	unsigned int off = take(s, 1), len = sizes[take(s, 1) % 4];
	uint32_t v = take(s, 4);

	pci_device_config_write(ahci_pci(hba), off & ~(len - 1), &v, len);
}

static void media(struct script *s)
{
	struct scsi_lun *cd = ahci_port_lun(hba, 1);
	uint8_t a = take(s, 1);
	struct vk_err err;

	switch (a >> 1 & 3) {
	case 1: scsi_lun_eject(cd, a & 8, &err); break;
	case 2: scsi_lun_change(cd, "fuzz2.iso", "qcow2", &err); break;
	case 3: scsi_lun_reset(cd); break;
	}
}

static void setup(void)
{
	static const unsigned int idx[] = { 0, 1 };
	struct fake_vm *f = fake_vm();
	struct vk_err err = { 0 };
	uint32_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	f->cfg.disks[0] = (struct disk_config){ .path = "fuzz.img", .cache = CACHE_WRITEBACK,
						.serial = "fuzz", .bus = DISK_BUS_SATA };
	/* qcow2: opening it skips the ISO check (a file read); the fake serves it alike. */
	f->cfg.disks[1] = (struct disk_config){ .path = "fuzz.iso", .cache = CACHE_NONE,
						.format = "qcow2", .cdrom = true,
						.readonly = true, .bus = DISK_BUS_SATA };
	f->cfg.nr_disks = 2;
	io_bus_init(&f->vm.pio);
	io_bus_init(&f->vm.mmio);
	if (pci_create(&f->vm, &err) || ahci_create(&f->vm, idx, 2, &hba, &err))
		abort();
	pci_device_config_write(ahci_pci(hba), PCI_COMMAND, &cmd, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script s = { data, size };
	uint32_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, hr = 1;

	if (!hba)
		setup();
	memset(fake_vm()->ram, 0, FAKE_RAM_SIZE);
	fake_blk_direct = take(&s, 1) & 1;
	while (s.left) {
		switch (take(&s, 1) % 6) {
		case 0: mmio(&s, true); break;
		case 1: mmio(&s, false); break;
		case 2: poke(&s); break;
		case 3: fake_blk_settle(); break;
		case 4: config(&s); break;
		case 5: media(&s); break;
		}
	}
	fake_blk_settle();
	/* The next input starts from a reset HBA at a known place. */
	pci_device_config_write(ahci_pci(hba), PCI_COMMAND, &cmd, 2);
	if (abar())
		io_bus_write(&fake_vm()->vm.mmio, abar() + 4, &hr, 4);
	fake_blk_settle();
	return 0;
}
