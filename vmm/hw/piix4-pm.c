// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PIIX4's power management function at 00:01.3 (8086:7113), on the
 * i440FX machine under firmware, beside the PIIX3 at 00:01.0 (vmm/hw/pci.c):
 *
 * - PMBA (0x40) and PMREGMISC (0x80, bit 0 PMIOSE): with PMIOSE the 64-port
 *   PM block decodes at PMBA: the PM1 event and control registers
 *   (vmm/hw/pm.c), the PM timer at +8, zeros elsewhere.
 * - SMBus base and host configuration (0x90, 0xd2) hold what firmware
 *   writes; no SMBus controller decodes behind them.
 * - DEVACTB (0x58) reads with APMC_EN set and ignores writes: there is no
 *   SMM, and SeaBIOS takes the bit as "SMM already set up" and so skips its
 *   SMBASE relocation, whose SMI would never come: it waited for ever on
 *   port 0xb3 when the bit was clear (as on the ICH9, vmm/hw/ich9-lpc.c).
 *
 * OVMF needs it: on an i440FX its timer library reads the PM timer at
 * PMBA + 8 (with no function here it read port 6, 0xffffffff for ever, and
 * waited on its first delay without end). Unlike the real part the block
 * comes out of reset already enabled at PM1A_EVT_PORT, where the monitor's
 * FADT says: OVMF programs PMBA (to 0xb000) only when PMIOSE is clear, and
 * SeaBIOS, seeing our ACPI tables in fw_cfg, programs 0x600 anyway. A guest
 * that moves it is followed, as on hardware.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/pci.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define PIIX4_PM_DEVICE		0x7113
#define PIIX4_PM_SLOT		1
#define PIIX4_PM_FN		3
#define CLASS_BRIDGE_OTHER	0x068000
#define PIIX4_PMBA		0x40	/* bits 15:6 base, bit 0 I/O (hardwired) */
#define PIIX4_DEVACTB		0x58	/* device activity B: bit 25 APMC_EN */
#define PIIX4_APMC_EN		(1u << 25)
#define PIIX4_PMREGMISC		0x80
#define PIIX4_PMIOSE		0x01	/* PM I/O space enable */
#define PIIX4_SMBHSTBASE	0x90
#define PIIX4_SMBHSTCFG		0xd2
#define PIIX4_PM_SIZE		0x40

struct piix4_pm {
	struct vm *vm;
	struct pci_device dev;
	uint16_t pm_base;		/* where the PM block decodes, 0: nowhere */
	struct pm_timer tmr;
};

const struct vm_device_class piix4_pm_class;

/* PMBA+8 to +0x3f (PM1 at +0 is pm.c's): the timer, zeros elsewhere. */
static void pmio_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct piix4_pm *p = dev;
	uint32_t v = pm_timer_read(&p->tmr);

	memset(data, 0, len);
	if (off < 4)
		memcpy(data, (uint8_t *)&v + off, MIN((uint64_t)len, 4 - off));
}

static void pmio_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	/* General purpose and device registers: nothing behind them. */
}

static const struct io_ops pmio_ops = { .read = pmio_read, .write = pmio_write };

/* PMBA or PMREGMISC changed: move the PM block (PM1 in pm.c, the rest here). */
static void update_pm(struct piix4_pm *p)
{
	uint16_t base = 0;

	if (p->dev.cfg[PIIX4_PMREGMISC] & PIIX4_PMIOSE) {
		memcpy(&base, p->dev.cfg + PIIX4_PMBA, 2);
		base &= ~(PIIX4_PM_SIZE - 1);
	}
	pm_block_place(p->vm, &p->pm_base, base, PIIX4_PM_SIZE, &pmio_ops, p);
}

static void pm_config_write(struct pci_device *d, unsigned int off, unsigned int len)
{
	if ((off < PIIX4_PMBA + 2 && off + len > PIIX4_PMBA) ||
	    (off <= PIIX4_PMREGMISC && off + len > PIIX4_PMREGMISC))
		update_pm(d->opaque);
}

static const struct pci_device_ops pm_ops = { .config_write = pm_config_write };

static void pm_regs(struct piix4_pm *p)
{
	struct pci_device *d = &p->dev;
	uint32_t pmba = PM1A_EVT_PORT | 1;

	pci_device_init(d, 0x8086, PIIX4_PM_DEVICE, CLASS_BRIDGE_OTHER, 0x03, 0x1100);
	d->ops = &pm_ops;
	d->opaque = p;
	d->wmask[PCI_COMMAND] = 0;
	d->wmask[PCI_COMMAND + 1] = 0;
	d->cfg[PCI_INTERRUPT_LINE] = SCI_IRQ;	/* the SCI, hardwired; firmware writes 9 */
	memcpy(d->cfg + PIIX4_PMBA, &pmba, 4);
	d->wmask[PIIX4_PMBA] = 0xc0;		/* bits 15:6 */
	d->wmask[PIIX4_PMBA + 1] = 0xff;
	memcpy(d->cfg + PIIX4_DEVACTB, &(uint32_t){ PIIX4_APMC_EN }, 4);
	d->cfg[PIIX4_PMREGMISC] = PIIX4_PMIOSE;
	d->wmask[PIIX4_PMREGMISC] = PIIX4_PMIOSE;
	memset(d->wmask + PIIX4_SMBHSTBASE, 0xff, 4);
	d->wmask[PIIX4_SMBHSTBASE] = 0xf0;	/* bit 0: I/O, hardwired */
	d->cfg[PIIX4_SMBHSTBASE] = 0x01;
	d->wmask[PIIX4_SMBHSTCFG] = 0x0f;
}

static int piix4_pm_create(struct vm *vm, struct vk_err *err)
{
	struct piix4_pm *p;
	int r;

	if (vm->cfg->machine != MACHINE_PC || vm->cfg->firmware == FIRMWARE_NONE)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return vk_fail(err, -ENOMEM, "out of memory");
	p->vm = vm;
	pm_timer_start(&p->tmr);
	*vm_device_state(vm, &piix4_pm_class) = p;
	pm_regs(p);
	r = pci_register_function(vm, &p->dev, PIIX4_PM_SLOT, PIIX4_PM_FN, err);
	if (r)
		return r;
	pm_set_base(vm, 0);
	update_pm(p);
	if (p->pm_base != PM1A_EVT_PORT)
		return vk_fail(err, -EBUSY, "piix4: the ACPI PM ports 0x%x-0x%x are taken",
			       PM1A_EVT_PORT, PM1A_EVT_PORT + PIIX4_PM_SIZE - 1);
	return 0;
}

static struct piix4_pm *get(struct vm *vm)
{
	void **slot = vm_device_state(vm, &piix4_pm_class);

	return slot ? *slot : NULL;
}

static void piix4_pm_destroy(struct vm *vm)
{
	struct piix4_pm *p = get(vm);

	if (!p)
		return;
	if (p->pm_base)
		io_bus_unregister(&vm->pio, p->pm_base + PM_TMR_OFFSET, p);
	if (p->dev.vm)
		pci_unregister_device(vm, &p->dev);
	pthread_mutex_destroy(&p->dev.intx_lock);
	free(p);
	*vm_device_state(vm, &piix4_pm_class) = NULL;
}

/* Version 1: the config space (PMBA, PMREGMISC, SMBus) and the PM timer's count. */
static void piix4_pm_save(struct vm *vm, struct ss_writer *w)
{
	struct piix4_pm *p = get(vm);

	if (!p)
		return;
	ss_begin(w, "piix4-pm", 0, 1);
	pci_device_save(&p->dev, w);
	ss_put_u64(w, "pm-timer", pm_timer_read(&p->tmr));
	ss_end(w);
}

static int piix4_pm_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct piix4_pm *p = get(vm);
	const struct ss_section *s;
	uint64_t tmr;
	int ret;

	if (!p)
		return ss_find(r, "piix4-pm", 0) ?
		       vk_fail(err, -EINVAL, "state: saved from a VM with firmware on the pc "
			       "machine, this one is not") : 0;
	/* Saved by a vmkit before this function existed: PM1 was fixed at 0x600, as now. */
	s = ss_find(r, "piix4-pm", 0);
	if (!s)
		return 0;
	if (ss_section_version(s) != 1)
		return vk_fail(err, -EINVAL, "state of piix4-pm: version %u not known",
			       ss_section_version(s));
	ret = ss_get_u64(s, "pm-timer", &tmr, err);
	if (!ret && tmr > 0xffffff)
		ret = vk_fail(err, -EINVAL, "state of piix4-pm: PM timer out of range");
	if (!ret)
		ret = pci_device_load(&p->dev, s, err);
	if (ret)
		return ret;
	pm_timer_set(&p->tmr, tmr);
	update_pm(p);		/* the PM block decodes at the loaded PMBA again */
	return 0;
}

const struct vm_device_class piix4_pm_class = {
	.name = "piix4-pm", .create = piix4_pm_create, .destroy = piix4_pm_destroy,
	.save = piix4_pm_save, .load = piix4_pm_load,
};
