// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PCI host bridge with configuration mechanism 1: the guest writes an
 * address to 0xCF8 and reads or writes the register through 0xCFC-0xCFF.
 * Bus 0 holds only the host bridge itself for now; every other function
 * reads as all ones, which is how a guest learns nothing is there.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vmkit/hw.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define PCI_CONFIG_ADDR	0xcf8
#define PCI_CONFIG_DATA	0xcfc
#define CFG_ENABLE	0x80000000u

/* An Intel host bridge ID, as Firecracker and Cloud Hypervisor present. */
#define HOST_VENDOR	0x8086
#define HOST_DEVICE	0x0d57
#define CLASS_HOST_BRIDGE 0x060000

struct pci_host {
	struct vm *vm;
	pthread_mutex_t lock;
	uint32_t addr;
	uint8_t bridge_cfg[256];
};

static void put_le(uint8_t *p, uint32_t v, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		p[i] = v >> (8 * i);
}

static void init_bridge(struct pci_host *h)
{
	uint8_t *c = h->bridge_cfg;

	put_le(c + 0x00, HOST_VENDOR, 2);
	put_le(c + 0x02, HOST_DEVICE, 2);
	put_le(c + 0x08, CLASS_HOST_BRIDGE << 8, 4);	/* revision 0 */
	c[0x0e] = 0;					/* header type 0, single function */
}

/* The config-space bytes addressed by h->addr, or NULL for an empty slot. */
static uint8_t *config_space(struct pci_host *h)
{
	unsigned int bus = (h->addr >> 16) & 0xff;
	unsigned int devfn = (h->addr >> 8) & 0xff;

	if (!(h->addr & CFG_ENABLE) || bus != 0 || devfn != 0)
		return NULL;
	return h->bridge_cfg;
}

static void data_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct pci_host *h = dev;
	uint8_t *cfg;
	unsigned int reg;

	pthread_mutex_lock(&h->lock);
	cfg = config_space(h);
	reg = (h->addr & 0xfc) + off;
	if (cfg && reg + len <= 256)
		memcpy(data, cfg + reg, len);
	else
		memset(data, 0xff, len);
	pthread_mutex_unlock(&h->lock);
}

static void data_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	/* The bridge's header is read-only here: it has no BARs or commands to set. */
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

int pci_create(struct vm *vm, struct vk_err *err)
{
	struct pci_host *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return vk_fail(err, -ENOMEM, "out of memory");
	h->vm = vm;
	pthread_mutex_init(&h->lock, NULL);
	init_bridge(h);
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
	pthread_mutex_destroy(&h->lock);
	free(h);
	vm->pci = NULL;
}
