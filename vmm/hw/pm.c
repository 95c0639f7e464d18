// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ACPI fixed hardware as the FADT describes it: the PM1a event block
 * (status, enable) and control block, where the guest's poweroff writes
 * SLP_TYP=5 with SLP_EN. (The reset register at 0xCF9 shares its dword with
 * the PCI address port, so vmm/hw/pci.c serves it.) SCI_EN reads as
 * set: there is no SMI to switch the machine into ACPI mode, it always is.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define PM1_CNT_SCI_EN	0x0001
#define PM1_CNT_SLP_EN	0x2000
#define PM1_SLP_TYP(v)	(((v) >> 10) & 7)
#define PM1_PWRBTN	0x0100	/* PWRBTN_STS / PWRBTN_EN */

struct pm {
	struct vm *vm;
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	uint16_t base;		/* where the block decodes, 0: nowhere (ICH9 PMBASE) */
};

static void pm_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct pm *p = dev;
	uint8_t regs[6];

	pthread_mutex_lock(&p->lock);
	memcpy(regs + 0, &p->sts, 2);
	memcpy(regs + 2, &p->en, 2);
	memcpy(regs + 4, &p->cnt, 2);
	pthread_mutex_unlock(&p->lock);
	memset(data, 0, len);
	if (off < sizeof(regs))
		memcpy(data, regs + off, MIN(len, sizeof(regs) - off));
}

/* The SCI line follows (status & enable); called with the lock held. */
static void update_sci(struct pm *p)
{
	vm_set_irq(p->vm, SCI_IRQ, (p->sts & p->en) != 0);
}

static void pm_cnt_write(struct pm *p, uint16_t v)
{
	p->cnt = (v & ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN;
	if (!(v & PM1_CNT_SLP_EN))
		return;
	if (PM1_SLP_TYP(v) == S5_SLP_TYP)
		vm_request_stop(p->vm, VM_STOP_POWEROFF, "guest powered off");
	/* Other sleep states (S1-S4) are not offered by the DSDT: ignored. */
}

static void pm_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct pm *p = dev;
	uint8_t regs[6];
	uint16_t v;

	pthread_mutex_lock(&p->lock);
	memcpy(regs + 0, &p->sts, 2);
	memcpy(regs + 2, &p->en, 2);
	memcpy(regs + 4, &p->cnt, 2);
	if (off < sizeof(regs))
		memcpy(regs + off, data, MIN(len, sizeof(regs) - off));
	if (off < 2) {
		memcpy(&v, regs, 2);
		p->sts &= ~v;		/* status bits are write-one-to-clear */
	}
	if (off < 4 && off + len > 2)
		memcpy(&p->en, regs + 2, 2);
	if (off + len > 4) {
		memcpy(&v, regs + 4, 2);
		pm_cnt_write(p, v);
	}
	update_sci(p);
	pthread_mutex_unlock(&p->lock);
}

static const struct io_ops pm_ops = { .read = pm_read, .write = pm_write };

int pm_create(struct vm *vm, struct vk_err *err)
{
	struct pm *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return vk_fail(err, -ENOMEM, "out of memory");
	p->vm = vm;
	p->cnt = PM1_CNT_SCI_EN;
	pthread_mutex_init(&p->lock, NULL);
	r = io_bus_register(&vm->pio, PM1A_EVT_PORT, 6, &pm_ops, p);
	if (r) {
		free(p);
		return vk_fail(err, r, "acpi pm: cannot claim its ports");
	}
	p->base = PM1A_EVT_PORT;
	vm->pm = p;
	return 0;
}

/*
 * The Q35's ICH9 places the block where its PMBASE register says, once
 * ACPI_CNTL enables it (vmm/hw/ich9-lpc.c); the i440FX machine leaves it
 * at PM1A_EVT_PORT. Called with the PCI host's lock held, from config writes.
 */
int pm_set_base(struct vm *vm, uint16_t port)
{
	struct pm *p = vm->pm;
	int r = 0;

	if (!p || p->base == port)
		return 0;
	if (p->base)
		io_bus_unregister(&vm->pio, p->base, p);
	p->base = 0;
	if (port && !(r = io_bus_register(&vm->pio, port, 6, &pm_ops, p)))
		p->base = port;
	return r;
}

/*
 * A chipset's PM block (the ICH9's at PMBASE, the PIIX4's at PMBA): PM1 at
 * +0 (here), the rest from the timer at +8 on the caller's ops. Moves it
 * from *at to base; base 0, or a range another device holds, leaves it
 * decoding nowhere.
 */
void pm_block_place(struct vm *vm, uint16_t *at, uint16_t base, unsigned int size,
		    const struct io_ops *ops, void *opaque)
{
	if (base == *at)
		return;
	if (*at)
		io_bus_unregister(&vm->pio, *at + PM_TMR_OFFSET, opaque);
	*at = 0;
	if (!base || pm_set_base(vm, base) ||
	    io_bus_register(&vm->pio, base + PM_TMR_OFFSET, size - PM_TMR_OFFSET, ops, opaque)) {
		pm_set_base(vm, 0);
		return;
	}
	*at = base;
}

void pm_power_button(struct vm *vm)
{
	struct pm *p = vm->pm;

	pthread_mutex_lock(&p->lock);
	p->sts |= PM1_PWRBTN;
	update_sci(p);
	pthread_mutex_unlock(&p->lock);
}

void pm_destroy(struct vm *vm)
{
	struct pm *p = vm->pm;

	if (!p)
		return;
	if (p->base)
		io_bus_unregister(&vm->pio, p->base, p);
	pthread_mutex_destroy(&p->lock);
	free(p);
	vm->pm = NULL;
}

/* Version 1: PM1 status, enable and control as the guest sees them. */
static void pm_save(struct vm *vm, struct ss_writer *w)
{
	struct pm *p = vm->pm;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	ss_begin(w, "pm", 0, 1);
	ss_put_u64(w, "sts", p->sts);
	ss_put_u64(w, "en", p->en);
	ss_put_u64(w, "cnt", p->cnt);
	ss_end(w);
	pthread_mutex_unlock(&p->lock);
}

static int pm_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	const struct ss_section *s = ss_need(r, "pm", 0, err);
	struct pm *p = vm->pm;
	uint64_t sts, en, cnt;
	int ret;

	if (!s)
		return err->code;
	ret = ss_get_u64(s, "sts", &sts, err);
	if (!ret)
		ret = ss_get_u64(s, "en", &en, err);
	if (!ret)
		ret = ss_get_u64(s, "cnt", &cnt, err);
	if (!ret && (sts > 0xffff || en > 0xffff || cnt > 0xffff || (cnt & PM1_CNT_SLP_EN)))
		ret = vk_fail(err, -EINVAL, "state of pm: a register out of range");
	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	p->sts = sts;
	p->en = en;
	p->cnt = cnt | PM1_CNT_SCI_EN;
	update_sci(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

const struct vm_device_class pm_class = {
	.name = "pm", .create = pm_create, .destroy = pm_destroy,
	.save = pm_save, .load = pm_load,
};
