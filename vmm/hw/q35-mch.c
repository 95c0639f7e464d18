// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The Q35's host bridge, the MCH (include/vmkit/q35.h), in slot 0 of the
 * bus vmm/hw/pci.c serves. What firmware and guests use of it:
 *
 * - PCIEXBAR (0x60, 64-bit) places the PCIe ECAM window: bit 0 enables it,
 *   bits 2:1 size it for 256, 128 or 64 buses, the base is aligned to the
 *   size. Its accesses reach the same config spaces as CF8/CFC. SeaBIOS
 *   puts it at 0xb0000000, OVMF at 0xe0000000, and the MCFG table (and
 *   _CBA) the firmware loads are patched to follow (x86_acpi_move_ecam).
 * - PAM0-6 (0x90-0x96) switch the shadow RAM, with the i440FX's code.
 * - SMRAM (0x9d) stays closed: there is no SMM, the bits only read back,
 *   and D_LCK locks them as on the real part.
 * - TOLUD (0xb0) says where RAM below 4 GiB ends.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/fw-cfg.h"
#include "vmkit/pci.h"
#include "vmkit/q35.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define CLASS_HOST_BRIDGE	0x060000
#define SMRAM_D_LCK		0x10
#define SMRAM_RESET		0x02	/* C_BASE_SEG: compatible SMRAM at 0xa0000 */
#define ESMRAMC_RESET		0x38

struct q35_mch {
	struct vm *vm;
	struct pci_device dev;
	uint64_t ecam_base, ecam_size;	/* where the window is registered, 0: nowhere */
};

const struct vm_device_class q35_mch_class;

static struct q35_mch *get(struct vm *vm)
{
	void **slot = vm_device_state(vm, &q35_mch_class);

	return slot ? *slot : NULL;
}

void q35_ecam_window(struct vm *vm, uint64_t *base, uint64_t *size)
{
	struct q35_mch *m = get(vm);

	*base = m ? m->ecam_base : 0;
	*size = m ? m->ecam_size : 0;
}

/* Bus, device, function and register from the offset in the window (PCIe 7.2.2). */
static void ecam_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct q35_mch *m = dev;

	if (len == 8) {		/* two dword cycles, as the chipset splits them */
		ecam_read(dev, off, data, 4);
		ecam_read(dev, off + 4, (uint8_t *)data + 4, 4);
		return;
	}
	pci_host_config_read(m->vm, off >> 20, (off >> 15) & 0x1f, (off >> 12) & 0x7,
			     off & 0xfff, data, len);
}

static void ecam_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct q35_mch *m = dev;

	if (len == 8) {
		ecam_write(dev, off, data, 4);
		ecam_write(dev, off + 4, (const uint8_t *)data + 4, 4);
		return;
	}
	pci_host_config_write(m->vm, off >> 20, (off >> 15) & 0x1f, (off >> 12) & 0x7,
			      off & 0xfff, data, len);
}

static const struct io_ops ecam_ops = { .read = ecam_read, .write = ecam_write };

/*
 * PCIEXBAR changed: move the window. A base that overlaps something else
 * on the MMIO bus leaves ECAM off (the guest's mistake, not the monitor's).
 */
static void update_ecam(struct q35_mch *m)
{
	struct vm *vm = m->vm;
	uint64_t bar, size, base;

	memcpy(&bar, m->dev.cfg + Q35_PCIEXBAR, 8);
	/* Length 0: 256 buses, 1: 128, 2: 64 (3 is reserved: taken as 64). */
	size = Q35_ECAM_SIZE >> MIN((bar >> 1) & 3, 2u);
	base = bar & 0xffffffff0ULL & ~(size - 1);
	if (!(bar & Q35_PCIEXBAR_EN))
		base = 0;
	if (base == m->ecam_base && (!base || size == m->ecam_size))
		return;
	if (m->ecam_base)
		io_bus_unregister(&vm->mmio, m->ecam_base, m);
	m->ecam_base = m->ecam_size = 0;
	if (base && !io_bus_register(&vm->mmio, base, size, &ecam_ops, m)) {
		m->ecam_base = base;
		m->ecam_size = size;
	}
	if (m->ecam_base && fw_cfg_present(vm))
		x86_acpi_move_ecam(vm, m->ecam_base, m->ecam_size);
}

static void mch_config_write(struct pci_device *d, unsigned int off, unsigned int len)
{
	struct q35_mch *m = d->opaque;

	if (off < Q35_PCIEXBAR + 8 && off + len > Q35_PCIEXBAR)
		update_ecam(m);
	pam_config_written(d, PAM_Q35_FIRST, off, len);
	if (d->cfg[Q35_SMRAM] & SMRAM_D_LCK)
		d->wmask[Q35_SMRAM] = 0;
}

static const struct pci_device_ops mch_ops = { .config_write = mch_config_write };

static void mch_regs(struct q35_mch *m)
{
	struct pci_device *d = &m->dev;
	uint16_t tolud = (uint16_t)((m->vm->low_mem_top >> 20) << 4);
	unsigned int i;

	pci_device_init(d, 0x8086, Q35_MCH_DEVICE, CLASS_HOST_BRIDGE, 0, 0x1100);
	d->wmask[PCI_COMMAND] = 0;	/* nothing to enable on the bridge */
	d->wmask[PCI_COMMAND + 1] = 0;
	d->wmask[PCI_INTERRUPT_LINE] = 0;
	d->ops = &mch_ops;
	d->opaque = m;
	/* PCIEXBAR: bits 35:26 base, 2:1 length, 0 enable. */
	d->wmask[Q35_PCIEXBAR] = 0x07;
	d->wmask[Q35_PCIEXBAR + 3] = 0xfc;
	d->wmask[Q35_PCIEXBAR + 4] = 0x0f;
	for (i = 1; i < 3; i++)
		d->wmask[Q35_PCIEXBAR + i] = 0;
	pam_init_regs(d, PAM_Q35_FIRST);
	d->cfg[Q35_SMRAM] = SMRAM_RESET;
	d->wmask[Q35_SMRAM] = 0x78;	/* D_OPEN, D_CLS, D_LCK, G_SMRAME */
	d->cfg[Q35_ESMRAMC] = ESMRAMC_RESET;
	memcpy(d->cfg + Q35_TOLUD, &tolud, 2);
}

static int q35_mch_create(struct vm *vm, struct vk_err *err)
{
	struct q35_mch *m;
	uint64_t bar = Q35_ECAM_BASE | Q35_PCIEXBAR_EN;
	int r;

	if (!vm_is_q35(vm->cfg))
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return vk_fail(err, -ENOMEM, "out of memory");
	m->vm = vm;
	*vm_device_state(vm, &q35_mch_class) = m;
	mch_regs(m);
	r = pci_register_device_at(vm, &m->dev, 0, err);
	if (r)
		return r;
	/* Firmware finds the chipset as after reset; a kernel booted directly, as SeaBIOS leaves it. */
	if (vm->cfg->firmware == FIRMWARE_NONE) {
		memcpy(m->dev.cfg + Q35_PCIEXBAR, &bar, 8);
		update_ecam(m);
		if (!m->ecam_base)
			return vk_fail(err, -EBUSY, "q35: the ECAM window 0x%llx is taken",
				       Q35_ECAM_BASE);
	}
	return 0;
}

static void q35_mch_destroy(struct vm *vm)
{
	void **slot = vm_device_state(vm, &q35_mch_class);
	struct q35_mch *m = slot ? *slot : NULL;

	if (!m)
		return;
	if (m->ecam_base)
		io_bus_unregister(&vm->mmio, m->ecam_base, m);
	if (m->dev.vm)
		pci_unregister_device(vm, &m->dev);
	pthread_mutex_destroy(&m->dev.intx_lock);
	free(m);
	*slot = NULL;
}

/*
 * Version 1: the MCH's config space (pci_device_save). PCIEXBAR, PAM and
 * SMRAM are registers of it; their effects (the ECAM window, the shadow
 * RAM's modes, SMRAM's lock) are applied again from the loaded values.
 */
static void q35_mch_save(struct vm *vm, struct ss_writer *w)
{
	struct q35_mch *m = get(vm);

	if (!m)
		return;
	ss_begin(w, "q35-mch", 0, 1);
	pci_device_save(&m->dev, w);
	ss_end(w);
}

static int q35_mch_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct q35_mch *m = get(vm);
	const struct ss_section *s;
	int ret;

	if (!m)
		return ss_find(r, "q35-mch", 0) ?
		       vk_fail(err, -EINVAL, "state: saved from a q35 VM, this one is not") : 0;
	s = ss_need(r, "q35-mch", 0, err);
	if (!s)
		return err->code;
	if (ss_section_version(s) != 1)
		return vk_fail(err, -EINVAL, "state of q35-mch: version %u not known",
			       ss_section_version(s));
	/* Each byte goes through the reset value's write mask: nothing reserved comes in. */
	ret = pci_device_load(&m->dev, s, err);
	if (ret)
		return ret;
	update_ecam(m);
	pam_update(vm, m->dev.cfg + PAM_Q35_FIRST);
	if (m->dev.cfg[Q35_SMRAM] & SMRAM_D_LCK)
		m->dev.wmask[Q35_SMRAM] = 0;
	return 0;
}

const struct vm_device_class q35_mch_class = {
	.name = "q35-mch", .create = q35_mch_create, .destroy = q35_mch_destroy,
	.save = q35_mch_save, .load = q35_mch_load,
};
