// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The Q35's ICH9 LPC bridge at 00:1f.0 (include/vmkit/q35.h):
 *
 * - PIRQA-H route control (0x60-0x63, 0x68-0x6b), which SeaBIOS programs
 *   and reads back. As on QEMU's ICH9 the eight PIRQs reach IOAPIC inputs
 *   16-23 whatever they hold (the DSDT's _PRT names those GSIs); the
 *   registers only matter to a guest in 8259 mode, which is not modelled.
 * - PMBASE (0x40) and ACPI_CNTL (0x44): with ACPI_EN the 128-port ACPI PM
 *   block decodes at PMBASE: the PM1 event and control registers
 *   (vmm/hw/pm.c), the PM timer at +8, GPE0 at +0x20 (all clear) and
 *   SMI_EN at +0x30. Both firmwares put it at 0x600, where the FADT says.
 * - RCBA (0xf0) holds what firmware writes; the root complex register
 *   block behind it is not decoded (nothing here needs it).
 *
 * SMI_EN reads with APMC_EN set and ignores writes: there is no SMM, and
 * SeaBIOS takes the bit as "SMM already set up" and so skips its SMBASE
 * relocation, whose SMI would never come and whose wait would never end.
 * The ICH9 SMBus function (00:1f.3) is not there: neither SeaBIOS nor OVMF
 * needs it to boot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/pci.h"
#include "vmkit/q35.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define CLASS_ISA_BRIDGE	0x060100
#define LPC_REVISION		0x02
#define PIRQ_DISABLED		0x80

struct ich9_lpc {
	struct vm *vm;
	struct pci_device dev;
	uint16_t pm_base;		/* where the PM block decodes, 0: nowhere */
	struct pm_timer tmr;
};

const struct vm_device_class ich9_lpc_class;

/* PMBASE+8 to +0x7f (PM1 at +0 is pm.c's): the timer, SMI_EN, zeros elsewhere. */
static void pmio_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct ich9_lpc *l = dev;
	uint8_t regs[ICH9_PM_SIZE] = { 0 };
	uint32_t v;

	off += ICH9_PM_TMR;
	memset(data, 0, len);
	if (off >= ICH9_PM_SIZE)
		return;
	v = pm_timer_read(&l->tmr);
	memcpy(regs + ICH9_PM_TMR, &v, 4);
	regs[ICH9_PM_SMI_EN] = ICH9_SMI_EN_APMC_EN;
	memcpy(data, regs + off, MIN((uint64_t)len, ICH9_PM_SIZE - off));
}

static void pmio_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	/* GPE0 has no sources and SMI_EN no SMM behind it: nothing to keep. */
}

static const struct io_ops pmio_ops = { .read = pmio_read, .write = pmio_write };

/* PMBASE or ACPI_CNTL changed: move the PM block (PM1 in pm.c, the rest here). */
static void update_pm(struct ich9_lpc *l)
{
	uint16_t base = 0;

	if (l->dev.cfg[ICH9_ACPI_CNTL] & ICH9_ACPI_EN) {
		memcpy(&base, l->dev.cfg + ICH9_PMBASE, 2);
		base &= ~(ICH9_PM_SIZE - 1);
	}
	pm_block_place(l->vm, &l->pm_base, base, ICH9_PM_SIZE, &pmio_ops, l);
}

static void lpc_config_write(struct pci_device *d, unsigned int off, unsigned int len)
{
	if (off < ICH9_ACPI_CNTL + 1 && off + len > ICH9_PMBASE)
		update_pm(d->opaque);
}

static const struct pci_device_ops lpc_ops = { .config_write = lpc_config_write };

static void lpc_regs(struct ich9_lpc *l)
{
	struct pci_device *d = &l->dev;
	unsigned int i;

	pci_device_init(d, 0x8086, ICH9_LPC_DEVICE, CLASS_ISA_BRIDGE, LPC_REVISION, 0x1100);
	d->cfg[PCI_HEADER_TYPE] = 0x80;		/* multi-function, as the real part */
	d->wmask[PCI_INTERRUPT_LINE] = 0;
	d->ops = &lpc_ops;
	d->opaque = l;
	for (i = 0; i < 4; i++) {
		d->cfg[ICH9_PIRQA_ROUT + i] = d->cfg[ICH9_PIRQE_ROUT + i] = PIRQ_DISABLED;
		d->wmask[ICH9_PIRQA_ROUT + i] = d->wmask[ICH9_PIRQE_ROUT + i] = 0x8f;
	}
	d->cfg[ICH9_PMBASE] = 0x01;		/* bit 0: I/O space, hardwired */
	d->wmask[ICH9_PMBASE] = 0x80;		/* bits 15:7: the base */
	d->wmask[ICH9_PMBASE + 1] = 0xff;
	d->wmask[ICH9_ACPI_CNTL] = ICH9_ACPI_EN | 0x07;	/* and SCI_IRQ_SEL, kept at IRQ 9 */
	d->wmask[ICH9_RCBA] = 0x01;		/* bits 31:14 base, bit 0 enable */
	d->wmask[ICH9_RCBA + 1] = 0xc0;
	d->wmask[ICH9_RCBA + 2] = d->wmask[ICH9_RCBA + 3] = 0xff;
}

static int ich9_lpc_create(struct vm *vm, struct vk_err *err)
{
	struct ich9_lpc *l;
	int r;

	if (!vm_is_q35(vm->cfg))
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return vk_fail(err, -ENOMEM, "out of memory");
	l->vm = vm;
	pm_timer_start(&l->tmr);
	*vm_device_state(vm, &ich9_lpc_class) = l;
	lpc_regs(l);
	r = pci_register_device_at(vm, &l->dev, ICH9_LPC_SLOT, err);
	if (r)
		return r;
	/* Firmware enables the PM block itself; a kernel booted directly finds it at 0x600. */
	pm_set_base(vm, 0);
	if (vm->cfg->firmware == FIRMWARE_NONE) {
		l->dev.cfg[ICH9_PMBASE] |= PM1A_EVT_PORT & 0x80;
		l->dev.cfg[ICH9_PMBASE + 1] = PM1A_EVT_PORT >> 8;
		l->dev.cfg[ICH9_ACPI_CNTL] = ICH9_ACPI_EN;
	}
	update_pm(l);
	if (vm->cfg->firmware == FIRMWARE_NONE && l->pm_base != PM1A_EVT_PORT)
		return vk_fail(err, -EBUSY, "q35: the ACPI PM ports 0x%x-0x%x are taken",
			       PM1A_EVT_PORT, PM1A_EVT_PORT + ICH9_PM_SIZE - 1);
	return 0;
}

static void ich9_lpc_destroy(struct vm *vm)
{
	void **slot = vm_device_state(vm, &ich9_lpc_class);
	struct ich9_lpc *l = slot ? *slot : NULL;

	if (!l)
		return;
	if (l->pm_base)
		io_bus_unregister(&vm->pio, l->pm_base + ICH9_PM_TMR, l);
	if (l->dev.vm)
		pci_unregister_device(vm, &l->dev);
	pthread_mutex_destroy(&l->dev.intx_lock);
	free(l);
	*slot = NULL;
}

static struct ich9_lpc *get(struct vm *vm)
{
	void **slot = vm_device_state(vm, &ich9_lpc_class);

	return slot ? *slot : NULL;
}

/*
 * Version 1: the config space (PIRQ routes, PMBASE, ACPI_CNTL, RCBA) and
 * the PM timer's count, so that it runs on from there rather than jumping
 * back (a guest's clocksource must not go backwards).
 */
static void ich9_lpc_save(struct vm *vm, struct ss_writer *w)
{
	struct ich9_lpc *l = get(vm);

	if (!l)
		return;
	ss_begin(w, "ich9-lpc", 0, 1);
	pci_device_save(&l->dev, w);
	ss_put_u64(w, "pm-timer", pm_timer_read(&l->tmr));
	ss_end(w);
}

static int ich9_lpc_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct ich9_lpc *l = get(vm);
	const struct ss_section *s;
	uint64_t tmr;
	int ret;

	if (!l)
		return ss_find(r, "ich9-lpc", 0) ?
		       vk_fail(err, -EINVAL, "state: saved from a q35 VM, this one is not") : 0;
	s = ss_need(r, "ich9-lpc", 0, err);
	if (!s)
		return err->code;
	if (ss_section_version(s) != 1)
		return vk_fail(err, -EINVAL, "state of ich9-lpc: version %u not known",
			       ss_section_version(s));
	ret = ss_get_u64(s, "pm-timer", &tmr, err);
	if (!ret && tmr > 0xffffff)
		ret = vk_fail(err, -EINVAL, "state of ich9-lpc: PM timer out of range");
	if (!ret)
		ret = pci_device_load(&l->dev, s, err);
	if (ret)
		return ret;
	pm_timer_set(&l->tmr, tmr);
	update_pm(l);		/* the PM block decodes at the loaded PMBASE again */
	return 0;
}

const struct vm_device_class ich9_lpc_class = {
	.name = "ich9-lpc", .create = ich9_lpc_create, .destroy = ich9_lpc_destroy,
	.save = ich9_lpc_save, .load = ich9_lpc_load,
};
