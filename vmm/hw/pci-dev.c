// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Type-0 PCI config space semantics for emulated devices: writable masks,
 * BAR sizing (a write of all ones reads back the size mask), BARs appearing
 * on the MMIO bus only while memory decode is on, and capability lists.
 */
#include <errno.h>
#include <string.h>

#include "vmkit/pci.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

#define BAR_MEM64	0x4	/* memory BAR, 64-bit, not prefetchable */

static void put(uint8_t *p, uint32_t v, unsigned int len)
{
	memcpy(p, &v, len);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_id)
{
	memset(d, 0, sizeof(*d));
	put(d->cfg + PCI_VENDOR_ID, vendor, 2);
	put(d->cfg + PCI_DEVICE_ID, device, 2);
	put(d->cfg + PCI_CLASS_REVISION, (class_code << 8) | revision, 4);
	put(d->cfg + PCI_SUBSYSTEM_VENDOR_ID, vendor, 2);
	put(d->cfg + PCI_SUBSYSTEM_ID, subsys_id, 2);
	/*
	 * I/O decode is writable on every device, as on QEMU's: UEFI's PCI bus
	 * driver learns what a device supports by which command bits stick,
	 * and a driver that enables I/O, memory and bus mastering together
	 * (OVMF's VGA and ISA bus drivers) fails on a device whose I/O bit
	 * does not, and with it the firmware's consoles.
	 */
	put(d->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
	    PCI_COMMAND_INTX_DISABLE, 2);
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cap_end = 0x40;
	pthread_mutex_init(&d->intx_lock, NULL);
}

void pci_device_use_intx(struct pci_device *d)
{
	d->cfg[PCI_INTERRUPT_PIN] = 1;
}

/* With intx_lock: pass the device's level on, unless Interrupt Disable holds it back. */
static void intx_sync(struct pci_device *d)
{
	uint16_t cmd;
	bool out;

	memcpy(&cmd, d->cfg + PCI_COMMAND, 2);
	out = d->intx_level && !(cmd & PCI_COMMAND_INTX_DISABLE) && d->vm;
	if (out == d->intx_asserted)
		return;
	d->intx_asserted = out;
	pci_host_set_gsi(d->vm, d->gsi, out);
}

void pci_device_set_intx(struct pci_device *d, bool level)
{
	if (!d->cfg[PCI_INTERRUPT_PIN])
		return;
	pthread_mutex_lock(&d->intx_lock);
	if (level != d->intx_level) {
		d->intx_level = level;
		if (level)
			d->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
		else
			d->cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
		intx_sync(d);
	}
	pthread_mutex_unlock(&d->intx_lock);
}

int pci_device_add_bar(struct pci_device *d, unsigned int bar, uint64_t size,
		       const struct io_ops *ops, void *opaque)
{
	unsigned int off = PCI_BAR0 + 4 * bar;

	if (bar + 1 >= PCI_NR_BARS || size < 16 || (size & (size - 1)) || d->bar[bar].size)
		return -EINVAL;
	d->bar[bar] = (struct pci_bar){ .size = size, .ops = ops, .opaque = opaque };
	put(d->cfg + off, BAR_MEM64, 4);
	put(d->wmask + off, (uint32_t)~(size - 1) & ~0xfu, 4);
	put(d->wmask + off + 4, (uint32_t)(~(size - 1) >> 32), 4);
	return 0;
}

int pci_device_add_bar32(struct pci_device *d, unsigned int bar, uint32_t size,
			 const struct io_ops *ops, void *opaque)
{
	unsigned int off = PCI_BAR0 + 4 * bar;

	if (bar >= PCI_NR_BARS || size < 16 || (size & (size - 1)) || d->bar[bar].size)
		return -EINVAL;
	d->bar[bar] = (struct pci_bar){ .size = size, .ops = ops, .opaque = opaque, .mem32 = true };
	put(d->cfg + off, 0, 4);	/* memory, 32-bit, not prefetchable */
	put(d->wmask + off, ~(size - 1) & ~0xfu, 4);
	return 0;
}

uint8_t pci_device_add_cap(struct pci_device *d, uint8_t id, unsigned int len)
{
	uint8_t off = ALIGN_UP(d->cap_end, 4);

	if (len < 2 || off + len > 256)
		return 0;
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	if (d->last_cap)
		d->cfg[d->last_cap + 1] = off;
	else
		d->cfg[PCI_CAPABILITY_LIST] = off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->last_cap = off;
	d->cap_end = off + len;
	return off;
}

static uint64_t bar_addr(const struct pci_device *d, unsigned int bar)
{
	unsigned int off = PCI_BAR0 + 4 * bar;

	if (d->bar[bar].mem32)
		return get32(d->cfg + off) & ~0xfu;
	return ((uint64_t)get32(d->cfg + off + 4) << 32) | (get32(d->cfg + off) & ~0xfu);
}

/*
 * Put each BAR where its register says, if memory decode is on and the
 * address is sane; a BAR being sized (all ones) or at 0 is not mapped.
 */
static void update_mappings(struct pci_device *d)
{
	bool decode = d->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY;
	unsigned int i;

	for (i = 0; i < PCI_NR_BARS; i++) {
		struct pci_bar *b = &d->bar[i];
		uint64_t want = decode ? bar_addr(d, i) : 0;

		if (!b->size)
			continue;
		if (want && (want + b->size < want || want + b->size > (1ULL << 48) ||
			     want == (~(b->size - 1) & ~0xfULL)))
			want = 0;
		if (want == b->mapped_at)
			continue;
		if (b->mapped_at)
			io_bus_unregister(&d->vm->mmio, b->mapped_at, b->opaque);
		b->mapped_at = 0;
		/* A BAR placed over another range stays unmapped, as on a real bus conflict. */
		if (want && !io_bus_register(&d->vm->mmio, want, b->size, b->ops, b->opaque))
			b->mapped_at = want;
		if (d->ops && d->ops->bar_mapped)
			d->ops->bar_mapped(d, i, b->mapped_at);
	}
}

void pci_device_config_read(struct pci_device *d, unsigned int off, void *data, unsigned int len)
{
	if (off + len > 256) {
		memset(data, 0xff, len);
		return;
	}
	if (d->ops && d->ops->config_read)
		d->ops->config_read(d, off, len);
	memcpy(data, d->cfg + off, len);
}

void pci_device_config_write(struct pci_device *d, unsigned int off, const void *data,
			     unsigned int len)
{
	const uint8_t *v = data;
	unsigned int i;

	if (off + len > 256)
		return;
	pthread_mutex_lock(&d->intx_lock);	/* the status byte's Interrupt Status bit */
	for (i = 0; i < len; i++)
		d->cfg[off + i] = (d->cfg[off + i] & ~d->wmask[off + i]) | (v[i] & d->wmask[off + i]);
	if (off <= PCI_COMMAND + 1 && off + len > PCI_COMMAND + 1)
		intx_sync(d);		/* Interrupt Disable may have changed */
	pthread_mutex_unlock(&d->intx_lock);
	if (off < PCI_BAR0 + 4 * PCI_NR_BARS && off + len > PCI_COMMAND)
		update_mappings(d);
	if (d->ops && d->ops->config_write)
		d->ops->config_write(d, off, len);
}

void pci_device_unmap(struct pci_device *d)
{
	unsigned int i;

	pci_device_set_intx(d, false);

	for (i = 0; i < PCI_NR_BARS; i++) {
		if (!d->bar[i].mapped_at)
			continue;
		io_bus_unregister(&d->vm->mmio, d->bar[i].mapped_at, d->bar[i].opaque);
		d->bar[i].mapped_at = 0;
		if (d->ops && d->ops->bar_mapped)
			d->ops->bar_mapped(d, i, 0);
	}
}

/* ---- save/restore ---- */

void pci_device_save(struct pci_device *d, struct ss_writer *w)
{
	uint8_t cfg[256];

	pthread_mutex_lock(&d->intx_lock);
	memcpy(cfg, d->cfg, sizeof(cfg));
	pthread_mutex_unlock(&d->intx_lock);
	ss_put_bytes(w, "pci-config", cfg, sizeof(cfg));
}

static bool is_bar_or_command(unsigned int i)
{
	return (i >= PCI_COMMAND && i < PCI_COMMAND + 2) ||
	       (i >= PCI_BAR0 && i < PCI_BAR0 + 4 * PCI_NR_BARS);
}

int pci_device_load(struct pci_device *d, const struct ss_section *s, struct vk_err *err)
{
	uint8_t cfg[256];
	unsigned int i;
	int r = ss_get_bytes(s, "pci-config", cfg, sizeof(cfg), err);

	if (r)
		return r;
	/* Vendor, device, class: the saved function must be this one. */
	if (memcmp(cfg, d->cfg, 4) || memcmp(cfg + PCI_CLASS_REVISION, d->cfg + PCI_CLASS_REVISION, 4))
		return vk_fail(err, -EINVAL, "state: PCI slot %u holds another device "
			       "(%02x%02x:%02x%02x saved)", d->slot, cfg[1], cfg[0], cfg[3], cfg[2]);
	/* Plain registers first, straight in: a guest write would run side effects twice. */
	pthread_mutex_lock(&d->intx_lock);
	for (i = 0; i < sizeof(cfg); i++)
		if (!is_bar_or_command(i))
			d->cfg[i] = (d->cfg[i] & ~d->wmask[i]) | (cfg[i] & d->wmask[i]);
	pthread_mutex_unlock(&d->intx_lock);
	/* BARs, then decode on, as the guest wrote them: the mappings follow. */
	for (i = 0; i < PCI_NR_BARS; i++)
		pci_device_config_write(d, PCI_BAR0 + 4 * i, cfg + PCI_BAR0 + 4 * i, 4);
	pci_device_config_write(d, PCI_COMMAND, cfg + PCI_COMMAND, 2);
	return 0;
}
