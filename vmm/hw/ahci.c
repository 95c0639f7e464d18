// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * AHCI 1.3 on an ICH9 SATA function (PCI 8086:2922, class 01.06.01, ABAR
 * in BAR5): the HBA registers, six ports, their command lists and FIS
 * receive areas in guest RAM, PRDT scatter-gather, COMRESET, and the
 * interrupt (INTx, or MSI when the driver enables it). The commands
 * themselves are ahci-ata.c's.
 *
 * Everything in guest RAM is hostile: the command header, the command
 * table and every PRD entry are mapped with their lengths checked before
 * use, and a bad one fails that command (Host Bus Fatal Error on the port,
 * as hardware reports a bad address), never the monitor. Registers are
 * written by vCPUs and commands complete on the device loop: one lock.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>

#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/pci.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"
#include "ahci-int.h"

/* HBA registers */
#define HOST_CAP	0x00
#define HOST_GHC	0x04
#define HOST_IS		0x08
#define HOST_PI		0x0c
#define HOST_VS		0x10
#define PORT_BASE	0x100
#define PORT_SIZE	0x80
#define CAP_S64A	(1u << 31)
#define CAP_SAM		(1u << 18)
#define CAP_ISS_GEN3	(3u << 20)
#define GHC_HR		(1u << 0)
#define GHC_IE		(1u << 1)
#define GHC_AE		(1u << 31)

/* Port registers */
enum { P_CLB = 0x00, P_CLBU = 0x04, P_FB = 0x08, P_FBU = 0x0c, P_IS = 0x10, P_IE = 0x14,
       P_CMD = 0x18, P_TFD = 0x20, P_SIG = 0x24, P_SSTS = 0x28, P_SCTL = 0x2c, P_SERR = 0x30,
       P_SACT = 0x34, P_CI = 0x38, P_SNTF = 0x3c };
#define IS_DHRS		(1u << 0)
#define IS_PSS		(1u << 1)
#define IS_HBFS		(1u << 29)
#define IS_TFES		(1u << 30)
#define IS_MASK		0xfdc000ffu
#define CMD_ST		(1u << 0)
#define CMD_SUD		(1u << 1)
#define CMD_POD		(1u << 2)
#define CMD_CLO		(1u << 3)
#define CMD_FRE		(1u << 4)
#define CMD_FR		(1u << 14)
#define CMD_CR		(1u << 15)
#define SIG_ATA		0x00000101u
#define SIG_ATAPI	0xeb140101u
#define SSTS_UP		0x113u		/* device present, phy up, Gen1, active */

#define MAX_PRDT	1024		/* entries per command (Linux uses at most 168) */
#define MSI_CAP_LEN	14

struct ahci {
	struct pci_device pci;
	struct vm *vm;
	pthread_mutex_t lock;
	uint32_t ghc;
	struct ahci_port ports[AHCI_PORTS];
	unsigned int disk[AHCI_PORTS];
	unsigned int ndisks;
	uint8_t msi;			/* the MSI capability's offset */
	bool dying;
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t host_is(const struct ahci *a)
{
	uint32_t is = 0;
	unsigned int i;

	for (i = 0; i < AHCI_PORTS; i++)
		if (a->ports[i].is & a->ports[i].ie)
			is |= 1u << i;
	return is;
}

static bool msi_on(const struct ahci *a)
{
	return a->pci.cfg[a->msi + 2] & 1;
}

static void msi_send(struct ahci *a)
{
	const uint8_t *c = a->pci.cfg + a->msi;
	struct kvm_msi msi = { .address_lo = rd32(c + 4), .address_hi = rd32(c + 8),
			       .data = c[12] | c[13] << 8 };

	if (a->vm->vm_fd >= 0)
		ioctl(a->vm->vm_fd, KVM_SIGNAL_MSI, &msi);
}

/*
 * With the lock. The line follows the ports' enabled status bits; with MSI
 * every new event while one is pending sends a message (an edge the
 * driver's handler may have read past), as the driver clears what it saw.
 */
static void update_irq(struct ahci *a, bool event)
{
	bool level = (a->ghc & GHC_IE) && host_is(a);

	if (msi_on(a)) {
		pci_device_set_intx(&a->pci, false);
		if (level && event)
			msi_send(a);
	} else {
		pci_device_set_intx(&a->pci, level);
	}
}

/* The FIS receive area's bytes [off, off+len), or NULL (FIS receive off, or not RAM). */
static uint8_t *fis_area(struct ahci_port *p, unsigned int off, unsigned int len)
{
	uint64_t fb = (uint64_t)p->fbu << 32 | p->fb;

	if (!(p->cmd & CMD_FRE) || p->a->dying)
		return NULL;
	return vm_gpa_to_hva(p->a->vm, fb + off, len);
}

/* A D2H register FIS with status, error, LBA and count. */
static void post_d2h(struct ahci_port *p, uint8_t status, uint8_t error, uint64_t lba,
		     uint16_t count)
{
	uint8_t *f = fis_area(p, 0x40, 20);
	unsigned int i;

	if (f) {
		memset(f, 0, 20);
		f[0] = 0x34;
		f[1] = 0x40;		/* interrupt */
		f[2] = status;
		f[3] = error;
		for (i = 0; i < 6; i++)
			f[i < 3 ? 4 + i : 5 + i] = lba >> (8 * i);
		f[12] = count;
		f[13] = count >> 8;
	}
	p->tfd = (uint32_t)error << 8 | status;
	p->is |= IS_DHRS;
	if (status & ATA_ERR)
		p->is |= IS_TFES;
}

static void post_pio_setup(struct ahci_port *p, uint8_t status, uint8_t error, size_t len)
{
	uint8_t *f = fis_area(p, 0x20, 20);

	if (f) {
		memset(f, 0, 20);
		f[0] = 0x5f;
		f[1] = 0x60;		/* interrupt, device to host */
		f[2] = status;
		f[3] = error;
		f[15] = status;		/* E_Status */
		f[16] = len;
		f[17] = len >> 8;
	}
	p->is |= IS_PSS;
}

/* The device's signature after a reset: what SeaBIOS and libata classify it by. */
static void post_signature(struct ahci_port *p)
{
	uint64_t lba = p->atapi ? 0xeb1401 : 0x000001;

	post_d2h(p, ATA_DRDY | ATA_DSC, 0x01, lba, 1);
}

/* With the lock: the end of a command, its status to the guest unless the port was reset. */
static void slot_finish(struct ahci_port *p, struct ahci_cmd *c)
{
	struct ahci *a = p->a;
	uint32_t bit = 1u << c->slot;

	if (c->gen == p->gen && !a->dying) {
		if (c->hdr)
			wr32(c->hdr + 4, c->len);	/* PRDBC */
		if (c->pio)
			post_pio_setup(p, c->status, c->error, c->len);
		if (c->atapi_sig)
			post_d2h(p, c->status, c->error, 0xeb1401, 1);
		else
			post_d2h(p, c->status, c->error, c->lba, c->count);
		p->ci &= ~bit;
	}
	p->running &= ~bit;
	if (p->cmds[c->slot] == c)
		p->cmds[c->slot] = NULL;
	free(c->r);
	free(c->param);
	free(c);
	if (!a->dying)
		update_irq(a, true);
}

void ahci_cmd_done(struct scsi_req *r)
{
	struct ahci_cmd *c = r->opaque;
	struct ahci_port *p = c->port;
	struct ahci *a = p->a;

	pthread_mutex_lock(&a->lock);
	ata_result(p, c);
	slot_finish(p, c);
	pthread_mutex_unlock(&a->lock);
}

/* A command the HBA cannot fetch: Host Bus Fatal Error, the port stops (AHCI 6.1.2). */
static void fatal(struct ahci_port *p, unsigned int slot)
{
	p->is |= IS_HBFS;
	p->tfd = ATA_ERR | ATA_DRDY | (uint32_t)ATA_ABRT << 8;
	p->ci &= ~(1u << slot);
	update_irq(p->a, true);
}

/* Map the PRDT's entries into c->iov; false if one is not in RAM or breaks the rules. */
static bool map_prdt(struct ahci *a, struct ahci_cmd *c, const uint8_t *prdt, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		const uint8_t *e = prdt + 16 * i;
		uint64_t dba = ((uint64_t)rd32(e + 4) << 32 | rd32(e)) & ~1ULL;
		uint32_t dbc = (rd32(e + 12) & 0x3fffff) + 1;
		void *hva = vm_gpa_to_hva(a->vm, dba, dbc);

		if (!hva)
			return false;
		c->iov[i] = (struct iovec){ hva, dbc };
	}
	c->niov = n;
	return true;
}

static void start_slot(struct ahci_port *p, unsigned int slot)
{
	struct ahci *a = p->a;
	uint64_t clb = (uint64_t)p->clbu << 32 | p->clb, ctba;
	uint8_t *hdr = vm_gpa_to_hva(a->vm, clb + 32 * slot, 32), *tbl, fis[64], acmd[16];
	uint32_t dw0, prdtl;
	struct ahci_cmd *c;

	if (!hdr)
		return fatal(p, slot);
	dw0 = rd32(hdr);
	prdtl = dw0 >> 16;
	ctba = ((uint64_t)rd32(hdr + 12) << 32 | rd32(hdr + 8)) & ~0x7fULL;
	tbl = prdtl <= MAX_PRDT ? vm_gpa_to_hva(a->vm, ctba, 0x80 + 16 * prdtl) : NULL;
	if (!tbl || (dw0 & 0x1f) < 5)	/* no table, or a FIS shorter than an H2D register FIS */
		return fatal(p, slot);
	/* Copies: the guest may change the table while the command runs. */
	memcpy(fis, tbl, sizeof(fis));
	memcpy(acmd, tbl + 0x40, sizeof(acmd));
	c = calloc(1, sizeof(*c) + prdtl * sizeof(struct iovec));
	if (!c)
		return fatal(p, slot);
	*c = (struct ahci_cmd){ .port = p, .slot = slot, .gen = p->gen, .hdr = hdr,
				.iov = (struct iovec *)(c + 1) };
	if (!map_prdt(a, c, tbl + 0x80, prdtl)) {
		free(c);
		return fatal(p, slot);
	}
	p->cmds[slot] = c;
	p->running |= 1u << slot;
	p->tfd = ATA_BSY | ATA_DRDY;
	if (ata_start(p, c, fis, acmd, dw0 & (1u << 6)) != -EINPROGRESS)
		slot_finish(p, c);
}

/* Start every issued command not yet started, if the port runs. */
static void process_ci(struct ahci_port *p)
{
	uint32_t todo;
	unsigned int slot;

	if (!(p->cmd & CMD_ST) || !p->lun)
		return;
	todo = p->ci & ~p->running;
	for (slot = 0; todo; slot++, todo >>= 1)
		if (todo & 1)
			start_slot(p, slot);
}

/* ---- reset ---- */

static void port_power_on(struct ahci_port *p)
{
	p->gen++;			/* what is in flight ends without a word to the guest */
	p->is = p->ie = p->serr = p->sact = p->ci = 0;
	p->cmd = CMD_SUD | CMD_POD;
	p->sctl = 0;
	if (p->lun) {
		p->ssts = SSTS_UP;
		p->sig = p->atapi ? SIG_ATAPI : SIG_ATA;
		p->tfd = ATA_DRDY | ATA_DSC;
	} else {
		p->ssts = 0;
		p->sig = 0xffffffff;
		p->tfd = 0x7f;
	}
}

static void hba_reset(struct ahci *a)
{
	unsigned int i;

	a->ghc = 0;
	for (i = 0; i < AHCI_PORTS; i++) {
		port_power_on(&a->ports[i]);
		if (a->ports[i].lun)
			scsi_lun_reset(a->ports[i].lun);
	}
	update_irq(a, false);
}

/* PxSCTL.DET: 1 holds COMRESET, 0 ends it: the link comes up and the device signs on. */
static void write_sctl(struct ahci_port *p, uint32_t val)
{
	uint32_t old = p->sctl & 0xf;

	p->sctl = val;
	if ((val & 0xf) == 1) {
		p->gen++;
		p->ssts = 0;
		p->tfd = ATA_BSY | 0x7f;
		p->ci = p->sact = 0;
	} else if (old == 1 && !(val & 0xf) && p->lun) {
		p->ssts = SSTS_UP;
		p->serr |= 1u << 26;	/* DIAG.X: the device's presence changed */
		post_signature(p);
		if (p->lun)
			scsi_lun_reset(p->lun);
		update_irq(p->a, true);
	}
}

static void write_cmd(struct ahci_port *p, uint32_t val)
{
	uint32_t old = p->cmd, keep = CMD_ST | CMD_SUD | CMD_POD | CMD_FRE | (0xfu << 28);

	p->cmd = (old & ~keep) | (val & keep);
	if (val & CMD_CLO)
		p->tfd &= ~(ATA_BSY | ATA_DRQ);
	p->cmd = (p->cmd & ~(CMD_FR | CMD_CR)) | (p->cmd & CMD_FRE ? CMD_FR : 0) |
		 (p->cmd & CMD_ST ? CMD_CR : 0);
	if ((old & CMD_ST) && !(p->cmd & CMD_ST)) {
		p->ci = p->sact = 0;	/* the HBA drops what was issued (AHCI 3.3.7) */
		p->gen++;
	}
	if (!(old & CMD_ST) && (p->cmd & CMD_ST))
		process_ci(p);
}

/* ---- registers ---- */

static uint32_t port_read(struct ahci_port *p, unsigned int off)
{
	switch (off) {
	case P_CLB: return p->clb;
	case P_CLBU: return p->clbu;
	case P_FB: return p->fb;
	case P_FBU: return p->fbu;
	case P_IS: return p->is;
	case P_IE: return p->ie;
	case P_CMD: return p->cmd;
	case P_TFD: return p->tfd;
	case P_SIG: return p->sig;
	case P_SSTS: return p->ssts;
	case P_SCTL: return p->sctl;
	case P_SERR: return p->serr;
	case P_SACT: return p->sact;
	case P_CI: return p->ci;
	}
	return 0;
}

static void port_write(struct ahci_port *p, unsigned int off, uint32_t val)
{
	switch (off) {
	case P_CLB: p->clb = val & ~0x3ffu; break;
	case P_CLBU: p->clbu = val; break;
	case P_FB: p->fb = val & ~0xffu; break;
	case P_FBU: p->fbu = val; break;
	case P_IS: p->is &= ~val; update_irq(p->a, false); break;
	case P_IE: p->ie = val & IS_MASK; update_irq(p->a, true); break;
	case P_CMD: write_cmd(p, val); break;
	case P_SCTL: write_sctl(p, val); break;
	case P_SERR: p->serr &= ~val; break;
	case P_SACT:
		if (p->cmd & CMD_ST)
			p->sact |= val;
		break;
	case P_CI:
		if (p->cmd & CMD_ST) {
			p->ci |= val;
			process_ci(p);
		}
		break;
	}
}

static uint32_t reg_read(struct ahci *a, unsigned int off)
{
	switch (off) {
	case HOST_CAP:
		return CAP_S64A | CAP_SAM | CAP_ISS_GEN3 | (31u << 8) | (AHCI_PORTS - 1);
	case HOST_GHC: return a->ghc | GHC_AE;
	case HOST_IS: return host_is(a);
	case HOST_PI: return (1u << AHCI_PORTS) - 1;
	case HOST_VS: return 0x00010300;	/* AHCI 1.3 */
	}
	if (off >= PORT_BASE && off < PORT_BASE + AHCI_PORTS * PORT_SIZE)
		return port_read(&a->ports[(off - PORT_BASE) / PORT_SIZE], off % PORT_SIZE);
	return 0;
}

static void reg_write(struct ahci *a, unsigned int off, uint32_t val)
{
	if (off == HOST_GHC) {
		if (val & GHC_HR)
			hba_reset(a);
		else
			a->ghc = val & GHC_IE;
		update_irq(a, true);
	} else if (off >= PORT_BASE && off < PORT_BASE + AHCI_PORTS * PORT_SIZE) {
		port_write(&a->ports[(off - PORT_BASE) / PORT_SIZE], off % PORT_SIZE, val);
	}
	/* IS is the ports' status seen together: cleared through PxIS. */
}

static void abar_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct ahci *a = opaque;
	uint32_t v;

	pthread_mutex_lock(&a->lock);
	v = reg_read(a, off & ~3u) >> (8 * (off & 3));
	pthread_mutex_unlock(&a->lock);
	memset(data, 0, len);
	memcpy(data, &v, MIN(len, 4u));
}

static void abar_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct ahci *a = opaque;
	uint32_t v = 0;

	if (len != 4 || (off & 3))
		return;		/* the registers are dwords; drivers write them so */
	memcpy(&v, data, 4);
	pthread_mutex_lock(&a->lock);
	reg_write(a, off, v);
	pthread_mutex_unlock(&a->lock);
}

static const struct io_ops abar_ops = { .read = abar_read, .write = abar_write };

/* ---- the controller ---- */

static void pci_setup(struct ahci *a)
{
	struct pci_device *d = &a->pci;
	uint8_t m;

	pci_device_init(d, 0x8086, 0x2922, 0x010601, 0x02, 0x1100);
	pci_device_use_intx(d);
	pci_device_add_bar32(d, 5, AHCI_ABAR_SIZE, &abar_ops, a);
	/* MSI, one vector, 64-bit addresses. */
	m = a->msi = pci_device_add_cap(d, 0x05, MSI_CAP_LEN);
	d->cfg[m + 2] = 0x80;
	d->wmask[m + 2] = 0x01;
	memset(d->wmask + m + 4, 0xff, 8);
	d->wmask[m + 4] = 0xfc;
	memset(d->wmask + m + 12, 0xff, 2);
}

static int add_port(struct ahci *a, unsigned int i, struct vk_err *err)
{
	const struct disk_config *cfg = &a->vm->cfg->disks[a->disk[i]];
	struct ahci_port *p = &a->ports[i];
	struct scsi_lun_params params = { .loop = a->vm->loop, .max_inflight = 32,
					  .max_sectors = 0xffff, .interface = 2 };

	p->atapi = cfg->cdrom;
	p->discard_ignore = cfg->discard_ignore;
	if (cfg->serial[0])
		snprintf(p->serial, sizeof(p->serial), "%s", cfg->serial);
	else
		snprintf(p->serial, sizeof(p->serial), "VMKIT-SATA-%u", i);
	return scsi_lun_create(cfg, &params, &p->lun, err);
}

/*
 * Under firmware each port's disk or CD-ROM is bootable by QEMU's path for
 * the ICH9 AHCI, /pci@i0cf8/pci8086,2922@SLOT/drive@PORT/disk@0 (OVMF
 * translates exactly that to Sata(PORT,0xFFFF,0); SeaBIOS matches it with
 * its own pattern), under its id (sata0..., or ide2 for Proxmox's
 * installer CD-ROM).
 */
static int boot_paths(struct ahci *a, struct vk_err *err)
{
	char path[FW_BOOT_PATH_MAX];
	unsigned int i;
	int r = 0;

	for (i = 0; !r && i < a->ndisks; i++) {
		const struct disk_config *d = &a->vm->cfg->disks[a->disk[i]];
		enum fw_boot_kind kind = d->cdrom ? FW_BOOT_CDROM : FW_BOOT_DISK;

		snprintf(path, sizeof(path), "/pci@i0cf8/pci8086,2922@%x/drive@%x/disk@0",
			 a->pci.slot, i);
		r = d->id ? fw_boot_add(a->vm, kind, d->id, path) :
			    fw_boot_add_numbered(a->vm, kind, "sata", path);
	}
	return r ? vk_fail(err, r, "boot order: too many bootable devices") : 0;
}

int ahci_create(struct vm *vm, const unsigned int *idx, unsigned int n, struct ahci **out,
		struct vk_err *err)
{
	struct ahci *a;
	unsigned int i;
	int r = 0;

	if (n > AHCI_PORTS)
		return vk_fail(err, -EINVAL, "--disk: at most %u SATA devices (one AHCI controller)",
			       AHCI_PORTS);
	a = calloc(1, sizeof(*a));
	if (!a)
		return vk_fail(err, -ENOMEM, "out of memory");
	a->vm = vm;
	a->ndisks = n;
	memcpy(a->disk, idx, n * sizeof(*idx));
	pthread_mutex_init(&a->lock, NULL);
	for (i = 0; i < AHCI_PORTS; i++) {
		a->ports[i].a = a;
		a->ports[i].idx = i;
	}
	for (i = 0; !r && i < n; i++)
		r = add_port(a, i, err);
	pci_setup(a);
	if (!r)
		r = pci_register_device(vm, &a->pci, err);
	if (!r)
		r = boot_paths(a, err);
	if (r) {
		ahci_destroy(a);
		return r;
	}
	hba_reset(a);
	*out = a;
	return 0;
}

void ahci_destroy(struct ahci *a)
{
	unsigned int i;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->dying = true;
	pthread_mutex_unlock(&a->lock);
	/* What the LUNs have in flight completes here (slot_finish only frees it). */
	for (i = 0; i < AHCI_PORTS; i++)
		scsi_lun_destroy(a->ports[i].lun);
	if (a->pci.vm)
		pci_unregister_device(a->vm, &a->pci);
	free(a);
}

struct pci_device *ahci_pci(struct ahci *a)
{
	return &a->pci;
}

struct scsi_lun *ahci_port_lun(struct ahci *a, unsigned int port)
{
	return port < AHCI_PORTS ? a->ports[port].lun : NULL;
}

/* ---- the device class: one controller for the config's SATA disks ---- */

extern const struct vm_device_class ahci_class;

static int ahci_class_create(struct vm *vm, struct vk_err *err)
{
	unsigned int idx[VM_MAX_DISKS], n = 0, i;

	for (i = 0; i < vm->cfg->nr_disks; i++)
		if (vm->cfg->disks[i].bus == DISK_BUS_SATA)
			idx[n++] = i;
	if (!n)
		return 0;
	return ahci_create(vm, idx, n, (struct ahci **)vm_device_state(vm, &ahci_class), err);
}

static void ahci_class_destroy(struct vm *vm)
{
	void **slot = vm_device_state(vm, &ahci_class);

	if (slot) {
		ahci_destroy(*slot);
		*slot = NULL;
	}
}

struct scsi_lun *ahci_lun(struct vm *vm, unsigned int disk)
{
	void **slot = vm_device_state(vm, &ahci_class);
	struct ahci *a = slot ? *slot : NULL;
	unsigned int i;

	for (i = 0; a && i < a->ndisks; i++)
		if (a->disk[i] == disk)
			return a->ports[i].lun;
	return NULL;
}

/* ---- save/restore ---- */

#define SAVE_DRAIN_SECS	30
#define CMD_VALID	(CMD_ST | CMD_SUD | CMD_POD | CMD_FRE | CMD_FR | CMD_CR | (0xfu << 28))

static const char *const port_fields[] = { "clb", "clbu", "fb", "fbu", "is", "ie", "cmd", "tfd",
					   "sig", "ssts", "sctl", "serr", "sact", "ci" };
#define NR_PORT_FIELDS	ARRAY_SIZE(port_fields)

static void port_regs(struct ahci_port *p, uint32_t **v)
{
	uint32_t *const r[NR_PORT_FIELDS] = { &p->clb, &p->clbu, &p->fb, &p->fbu, &p->is, &p->ie,
					      &p->cmd, &p->tfd, &p->sig, &p->ssts, &p->sctl,
					      &p->serr, &p->sact, &p->ci };

	memcpy(v, r, sizeof(r));
}

/*
 * The commands the LUNs have complete (on the device loop) into the guest's
 * command headers and FIS area: wait for them, as virtio-blk does, so that
 * what is saved has no command half done. The vCPUs are paused: no new one.
 */
static bool drain(struct ahci *a)
{
	struct timespec tick = { 0, 1000 * 1000 };
	unsigned int i, n;
	uint32_t busy = 0;

	for (n = 0; n < SAVE_DRAIN_SECS * 1000; n++) {
		pthread_mutex_lock(&a->lock);
		for (i = 0, busy = 0; i < AHCI_PORTS; i++)
			busy |= a->ports[i].running;
		pthread_mutex_unlock(&a->lock);
		if (!busy)
			break;
		nanosleep(&tick, NULL);
	}
	return !busy;
}

static void put_port(struct ahci_port *p, struct ss_writer *w)
{
	char name[SS_NAME_MAX + 1];
	uint32_t *v[NR_PORT_FIELDS];
	unsigned int k;

	port_regs(p, v);
	for (k = 0; k < NR_PORT_FIELDS; k++) {
		snprintf(name, sizeof(name), "p%u-%s", p->idx, port_fields[k]);
		ss_put_u64(w, name, *v[k]);
	}
}

/*
 * Version 1: the PCI config (with MSI), GHC, every port's registers
 * (pN-clb ... pN-ci), and for each port with a device its LUN's state
 * (pN-..., vmm/scsi/scsi-state.c), the ATAPI CD-ROM's tray and medium
 * among it. Nothing is in flight: ATAPI and ATA commands are translated
 * per command, and the drain finished them.
 */
static void ahci_save(struct vm *vm, struct ss_writer *w)
{
	struct ahci *a = *vm_device_state(vm, &ahci_class);
	char prefix[16];	/* "t" or "p" and a 32-bit index */
	unsigned int i;

	if (!a)
		return;
	if (!drain(a)) {
		ss_fail(w, -EBUSY, "ahci: commands still in flight after 30 s");
		return;
	}
	ss_begin(w, "ahci", 0, 1);
	pci_device_save(&a->pci, w);
	pthread_mutex_lock(&a->lock);
	ss_put_u64(w, "ghc", a->ghc);
	for (i = 0; i < AHCI_PORTS; i++)
		put_port(&a->ports[i], w);
	pthread_mutex_unlock(&a->lock);
	for (i = 0; i < AHCI_PORTS; i++) {
		snprintf(prefix, sizeof(prefix), "p%u", i);
		if (a->ports[i].lun)
			scsi_lun_save(a->ports[i].lun, w, prefix);
	}
	ss_end(w);
}

/* Port i's registers into v, each within what a guest could have made of it. */
static int get_port(const struct ss_section *s, const struct ahci_port *p, uint64_t *v,
		    struct vk_err *err)
{
	char name[SS_NAME_MAX + 1];
	unsigned int k;
	int r = 0;

	for (k = 0; k < NR_PORT_FIELDS && !r; k++) {
		snprintf(name, sizeof(name), "p%u-%s", p->idx, port_fields[k]);
		r = ss_get_u64(s, name, &v[k], err);
		if (!r && v[k] > UINT32_MAX)
			r = -EINVAL;
	}
	if (r == -EINVAL || (!r && ((v[0] & 0x3ff) || (v[2] & 0xff) || (v[4] & ~IS_MASK) ||
				    (v[5] & ~IS_MASK) || (v[6] & ~CMD_VALID) || v[7] > 0xffff ||
				    (v[9] != 0 && v[9] != SSTS_UP) || (!p->lun && v[9]))))
		return vk_fail(err, -EINVAL, "state of ahci: port %u registers out of range",
			       p->idx);
	return r;
}

static int load_ports(struct ahci *a, const struct ss_section *s, struct vk_err *err)
{
	uint64_t v[AHCI_PORTS][NR_PORT_FIELDS];
	uint32_t *reg[NR_PORT_FIELDS];
	char prefix[16];	/* "t" or "p" and a 32-bit index */
	unsigned int i, k;
	int r = 0;

	for (i = 0; i < AHCI_PORTS && !r; i++)
		r = get_port(s, &a->ports[i], v[i], err);
	for (i = 0; i < AHCI_PORTS && !r; i++) {
		snprintf(prefix, sizeof(prefix), "p%u", i);
		if (a->ports[i].lun)
			r = scsi_lun_load(a->ports[i].lun, s, prefix, err);
	}
	if (r)
		return r;
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < AHCI_PORTS; i++) {
		port_regs(&a->ports[i], reg);
		for (k = 0; k < NR_PORT_FIELDS; k++)
			*reg[k] = v[i][k];
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int ahci_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct ahci *a = *vm_device_state(vm, &ahci_class);
	const struct ss_section *s;
	uint64_t ghc;
	int ret;

	if (!a != !ss_find(r, "ahci", 0))
		return vk_fail(err, -EINVAL, "state: saved %s SATA disks, this VM %s",
			       a ? "without" : "with", a ? "has some" : "has none");
	if (!a)
		return 0;
	s = ss_need(r, "ahci", 0, err);
	if (!s)
		return err->code;
	if (ss_section_version(s) != 1)
		return vk_fail(err, -EINVAL, "state of ahci: version %u not known",
			       ss_section_version(s));
	ret = ss_get_u64(s, "ghc", &ghc, err);
	if (!ret && (ghc & ~(uint64_t)GHC_IE))
		ret = vk_fail(err, -EINVAL, "state of ahci: GHC out of range");
	if (!ret)
		ret = load_ports(a, s, err);
	if (!ret)
		ret = pci_device_load(&a->pci, s, err);
	if (ret)
		return ret;
	pthread_mutex_lock(&a->lock);
	a->ghc = ghc;
	update_irq(a, false);	/* the line as the loaded status says; no new event */
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* A register access or a completion being handled finishes first. */
static void ahci_hold(struct vm *vm, bool on)
{
	struct ahci *a = *vm_device_state(vm, &ahci_class);

	if (!a || !on)
		return;
	pthread_mutex_lock(&a->lock);
	pthread_mutex_unlock(&a->lock);
}

const struct vm_device_class ahci_class = {
	.name = "ahci", .create = ahci_class_create, .destroy = ahci_class_destroy,
	.save = ahci_save, .load = ahci_load, .hold = ahci_hold,
};
