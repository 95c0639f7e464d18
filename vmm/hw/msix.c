// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * MSI-X for emulated PCI devices. Every vector starts masked; a vector
 * signalled while masked (or while the function is masked) sets its
 * pending bit and is delivered when unmasked. Delivery is KVM_SIGNAL_MSI
 * with the address and data the guest programmed.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmkit/pci.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

#define MSIX_CTRL		2	/* message control, in the capability */
#define MSIX_TABLE		4
#define MSIX_PBA		8
#define MSIX_CTRL_ENABLE	0x8000
#define MSIX_CTRL_MASKALL	0x4000
#define PBA_OFFSET		0x800
#define MSIX_BAR_SIZE		0x1000
#define ENTRY_CTRL_MASKED	1

static uint16_t ctrl(struct msix *m)
{
	uint16_t v;

	memcpy(&v, m->dev->cfg + m->cap + MSIX_CTRL, 2);
	return v;
}

bool msix_enabled(struct msix *m)
{
	return ctrl(m) & MSIX_CTRL_ENABLE;
}

static bool masked(struct msix *m, unsigned int v)
{
	return (ctrl(m) & MSIX_CTRL_MASKALL) || (m->table[v][3] & ENTRY_CTRL_MASKED);
}

static void deliver(struct msix *m, unsigned int v)
{
	struct kvm_msi msi = {
		.address_lo = m->table[v][0],
		.address_hi = m->table[v][1],
		.data = m->table[v][2],
	};

	ioctl(m->dev->vm->vm_fd, KVM_SIGNAL_MSI, &msi);
}

bool msix_notify(struct msix *m, unsigned int v)
{
	bool sent = false;

	if (v >= m->nr)
		return false;
	pthread_mutex_lock(&m->lock);
	if (!msix_enabled(m)) {
		/* no MSI-X: the device's INTx would be used; nothing to do here */
	} else if (masked(m, v)) {
		m->pba[v / 64] |= 1ULL << (v % 64);
	} else {
		deliver(m, v);
		sent = true;
	}
	pthread_mutex_unlock(&m->lock);
	return sent;
}

/* Deliver what became unmasked. Called with the lock held. */
static void flush_pending(struct msix *m)
{
	unsigned int v;

	if (!msix_enabled(m))
		return;
	for (v = 0; v < m->nr; v++) {
		if (!(m->pba[v / 64] & (1ULL << (v % 64))) || masked(m, v))
			continue;
		m->pba[v / 64] &= ~(1ULL << (v % 64));
		deliver(m, v);
	}
}

void msix_config_written(struct msix *m, unsigned int off, unsigned int len)
{
	unsigned int c = m->cap + MSIX_CTRL;

	if (off + len <= c || off >= c + 2)
		return;
	pthread_mutex_lock(&m->lock);
	flush_pending(m);
	pthread_mutex_unlock(&m->lock);
}

static void bar_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct msix *m = opaque;
	uint64_t v = 0;

	memset(data, 0, len);
	if ((len != 4 && len != 8) || (off & (len - 1)))
		return;		/* the spec allows only aligned dword and qword access */
	pthread_mutex_lock(&m->lock);
	if (off < m->nr * 16u)
		memcpy(&v, (uint8_t *)m->table + off, len);
	else if (off >= PBA_OFFSET && off - PBA_OFFSET < sizeof(m->pba))
		memcpy(&v, (uint8_t *)m->pba + (off - PBA_OFFSET), len);
	pthread_mutex_unlock(&m->lock);
	memcpy(data, &v, len);
}

static void bar_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct msix *m = opaque;

	if ((len != 4 && len != 8) || (off & (len - 1)) || off >= m->nr * 16u)
		return;		/* the PBA is read-only */
	pthread_mutex_lock(&m->lock);
	memcpy((uint8_t *)m->table + off, data, len);
	m->table[off / 16][3] &= ENTRY_CTRL_MASKED;	/* reserved control bits read 0 */
	flush_pending(m);
	pthread_mutex_unlock(&m->lock);
}

static const struct io_ops msix_bar_ops = { .read = bar_read, .write = bar_write };

int msix_init(struct msix *m, struct pci_device *d, unsigned int nr, unsigned int bar)
{
	uint32_t table = 0 | bar, pba = PBA_OFFSET | bar;
	uint16_t c = nr - 1;
	unsigned int v;
	int r;

	if (!nr || nr > MSIX_MAX_VECTORS)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->dev = d;
	m->nr = nr;
	pthread_mutex_init(&m->lock, NULL);
	for (v = 0; v < nr; v++)
		m->table[v][3] = ENTRY_CTRL_MASKED;
	r = pci_device_add_bar(d, bar, MSIX_BAR_SIZE, &msix_bar_ops, m);
	if (r)
		return r;
	m->cap = pci_device_add_cap(d, PCI_CAP_ID_MSIX, 12);
	if (!m->cap)
		return -ENOSPC;
	memcpy(d->cfg + m->cap + MSIX_CTRL, &c, 2);
	memcpy(d->cfg + m->cap + MSIX_TABLE, &table, 4);
	memcpy(d->cfg + m->cap + MSIX_PBA, &pba, 4);
	d->wmask[m->cap + MSIX_CTRL + 1] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
	return 0;
}

/* ---- save/restore ---- */

void msix_save(struct msix *m, struct ss_writer *w)
{
	pthread_mutex_lock(&m->lock);
	ss_put_bytes(w, "msix-table", m->table, m->nr * 16u);
	ss_put_bytes(w, "msix-pba", m->pba, sizeof(m->pba));
	pthread_mutex_unlock(&m->lock);
}

/*
 * The table as the guest left it (reserved control bits cleared again) and
 * the pending bits of vectors that exist; what is pending and now unmasked
 * (the function enabled by pci_device_load) is delivered.
 */
int msix_load(struct msix *m, const struct ss_section *s, struct vk_err *err)
{
	uint32_t table[MSIX_MAX_VECTORS][4];
	uint64_t pba[MSIX_MAX_VECTORS / 64];
	unsigned int v;
	int r = ss_get_bytes(s, "msix-table", table, m->nr * 16u, err);

	if (!r)
		r = ss_get_bytes(s, "msix-pba", pba, sizeof(pba), err);
	if (r)
		return r;
	pthread_mutex_lock(&m->lock);
	for (v = 0; v < m->nr; v++) {
		memcpy(m->table[v], table[v], 16);
		m->table[v][3] &= ENTRY_CTRL_MASKED;
	}
	memset(m->pba, 0, sizeof(m->pba));
	for (v = 0; v < m->nr; v++)
		m->pba[v / 64] |= pba[v / 64] & (1ULL << (v % 64));
	flush_pending(m);
	pthread_mutex_unlock(&m->lock);
	return 0;
}
