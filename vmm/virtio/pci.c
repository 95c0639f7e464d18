// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-pci, modern only (virtio 1.2, 4.1): vendor capabilities point into
 * BAR 0 (common configuration, ISR, device configuration, notifications);
 * MSI-X has BAR 2. Queue notifications are ioeventfds served by the
 * device's loop (or MMIO writes on the writing vCPU's thread). Interrupts
 * are MSI-X messages while the driver has MSI-X enabled; otherwise INTA,
 * a level held high while the ISR has a bit set (4.1.4.5): reading the
 * ISR clears it and lowers the line.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmkit/evloop.h"
#include "vmkit/firmware.h"

#include "vmkit/pci.h"
#include "vmkit/savestate.h"
#include "vmkit/virtio.h"
#include "vmkit/vm.h"

#define VIRTIO_PCI_VENDOR	0x1af4
#define VIRTIO_PCI_DEVICE_BASE	0x1040	/* + device type: modern devices */

#define CAP_COMMON	1
#define CAP_NOTIFY	2
#define CAP_ISR		3
#define CAP_DEVICE	4
#define CAP_PCI_CFG	5
/* struct virtio_pci_cfg_cap: the cap, then the 4-byte window pci_cfg_data */
#define PCFG_BAR	4
#define PCFG_OFFSET	8
#define PCFG_LENGTH	12
#define PCFG_DATA	16

#define BAR_VIRTIO	0
#define BAR_MSIX	2
#define BAR_SIZE	0x4000
#define OFF_COMMON	0x0000
#define OFF_ISR		0x1000
#define OFF_DEVICE	0x2000
#define OFF_NOTIFY	0x3000
#define NOTIFY_MULT	4
#define COMMON_LEN	0x3c

/* struct virtio_pci_common_cfg offsets */
#define CC_DFSELECT	0
#define CC_DF		4
#define CC_GFSELECT	8
#define CC_GF		12
#define CC_MSIX		16
#define CC_NUMQ		18
#define CC_STATUS	20
#define CC_CFGGEN	21
#define CC_Q_SELECT	22
#define CC_Q_SIZE	24
#define CC_Q_MSIX	26
#define CC_Q_ENABLE	28
#define CC_Q_NOFF	30
#define CC_Q_DESC	32
#define CC_Q_AVAIL	40
#define CC_Q_USED	48

struct notify_fd {
	struct virtio_pci *p;
	unsigned int q;
	int fd;			/* eventfd KVM signals on the queue's notify write */
	uint64_t addr;		/* where it is bound, 0 = nowhere */
	bool polled;		/* the device wants the ring polled (its last poll_mode on) */
};

struct virtio_pci {
	struct pci_device pci;
	struct msix msix;
	struct virtio_dev *v;
	struct notify_fd nfd[VIRTIO_MAX_QUEUES];
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	pthread_mutex_t isr_lock;	/* the ISR and the INTx level follow each other */
	uint8_t isr;
	uint8_t pcfg;		/* offset of the PCI_CFG capability */
};

static struct virtq *selected(struct virtio_pci *p)
{
	return p->queue_select < p->v->nr_queues ? &p->v->vq[p->queue_select] : NULL;
}

/* With isr_lock: INTA is high while an ISR bit is set and MSI-X is off. */
static void intx_sync(struct virtio_pci *p)
{
	pci_device_set_intx(&p->pci, p->isr && !msix_enabled(&p->msix));
}

/* Read and clear the ISR (the driver read it, or reset the device). */
static uint8_t isr_take(struct virtio_pci *p)
{
	uint8_t v;

	pthread_mutex_lock(&p->isr_lock);
	v = p->isr;
	p->isr = 0;
	intx_sync(p);
	pthread_mutex_unlock(&p->isr_lock);
	return v;
}

/*
 * Interrupt the driver: the ISR bit (1 queue, 2 configuration) always,
 * then the MSI-X vector, or INTA when MSI-X is off. A vector of
 * NO_VECTOR with MSI-X on means no interrupt at all (4.1.5.1.2).
 */
static void signal_driver(struct virtio_pci *p, uint8_t bit, uint16_t vector)
{
	pthread_mutex_lock(&p->isr_lock);
	p->isr |= bit;
	intx_sync(p);
	pthread_mutex_unlock(&p->isr_lock);
	if (vector != MSIX_NO_VECTOR)
		msix_notify(&p->msix, vector);
}

static uint64_t common_read(struct virtio_pci *p, unsigned int off)
{
	struct virtio_dev *v = p->v;
	struct virtq *q = selected(p);

	switch (off) {
	case CC_DFSELECT: return p->dfselect;
	case CC_DF: return p->dfselect < 2 ? (uint32_t)(v->host_features >> (32 * p->dfselect)) : 0;
	case CC_GFSELECT: return p->gfselect;
	case CC_GF: return p->gfselect < 2 ? (uint32_t)(v->guest_features >> (32 * p->gfselect)) : 0;
	case CC_MSIX: return p->config_vector;
	case CC_NUMQ: return v->nr_queues;
	case CC_STATUS: return v->status;
	case CC_CFGGEN: return v->config_generation;
	case CC_Q_SELECT: return p->queue_select;
	case CC_Q_SIZE: return q ? q->size : 0;
	case CC_Q_MSIX: return q ? p->queue_vector[p->queue_select] : MSIX_NO_VECTOR;
	case CC_Q_ENABLE: return q ? v->vq_enabled[p->queue_select] : 0;
	case CC_Q_NOFF: return q ? p->queue_select : 0;
	case CC_Q_DESC: return q ? q->desc_gpa : 0;
	case CC_Q_AVAIL: return q ? q->avail_gpa : 0;
	case CC_Q_USED: return q ? q->used_gpa : 0;
	}
	return 0;
}

static void set_gf(struct virtio_pci *p, uint32_t val)
{
	struct virtio_dev *v = p->v;
	unsigned int shift = 32 * p->gfselect;

	if (p->gfselect > 1 || (v->status & VIRTIO_STATUS_FEATURES_OK))
		return;
	v->guest_features = (v->guest_features & ~(0xffffffffULL << shift)) |
			    ((uint64_t)val << shift);
}

/* Queue registers may change only before the queue is enabled and the driver is OK. */
static void queue_write(struct virtio_pci *p, unsigned int off, uint64_t val)
{
	struct virtq *q = selected(p);
	unsigned int i = p->queue_select;

	if (!q)
		return;
	if (off == CC_Q_MSIX) {
		p->queue_vector[i] = val < p->msix.nr ? val : MSIX_NO_VECTOR;
		return;
	}
	if (p->v->vq_enabled[i] || (p->v->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	switch (off) {
	case CC_Q_SIZE:
		if (val && val <= p->v->queue_max && !(val & (val - 1)))
			q->size = val;
		break;
	case CC_Q_ENABLE:
		if (val == 1 && (p->v->status & VIRTIO_STATUS_FEATURES_OK))
			virtio_enable_queue(p->v, i);
		break;
	case CC_Q_DESC: q->desc_gpa = val; break;
	case CC_Q_AVAIL: q->avail_gpa = val; break;
	case CC_Q_USED: q->used_gpa = val; break;
	}
}

static void common_write(struct virtio_pci *p, unsigned int off, uint64_t val)
{
	switch (off) {
	case CC_DFSELECT: p->dfselect = val; break;
	case CC_GFSELECT: p->gfselect = val; break;
	case CC_GF: set_gf(p, val); break;
	case CC_MSIX: p->config_vector = val < p->msix.nr ? val : MSIX_NO_VECTOR; break;
	case CC_STATUS:
		virtio_set_status(p->v, val);
		if (!val) {
			memset(p->queue_vector, 0xff, sizeof(p->queue_vector));
			p->config_vector = MSIX_NO_VECTOR;
			isr_take(p);
		}
		break;
	case CC_Q_SELECT: p->queue_select = val; break;
	case CC_Q_SIZE: case CC_Q_MSIX: case CC_Q_ENABLE:
		queue_write(p, off, val);
		break;
	case CC_Q_DESC: case CC_Q_AVAIL: case CC_Q_USED:
	case CC_Q_DESC + 4: case CC_Q_AVAIL + 4: case CC_Q_USED + 4: {
		/* 64-bit fields are written as two dwords */
		struct virtq *q = selected(p);
		unsigned int base = off & ~7u;
		uint64_t cur = q ? common_read(p, base) : 0;

		if (off & 4)
			cur = (cur & 0xffffffffULL) | (val << 32);
		else
			cur = (cur & ~0xffffffffULL) | (val & 0xffffffffULL);
		queue_write(p, base, cur);
		break;
	}
	}
}

static void bar_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct virtio_pci *p = opaque;
	uint64_t v = 0;

	pthread_mutex_lock(&p->v->lock);
	if (off < OFF_COMMON + COMMON_LEN) {
		v = common_read(p, off);
		if (off == CC_Q_DESC + 4 || off == CC_Q_AVAIL + 4 || off == CC_Q_USED + 4)
			v = common_read(p, off - 4) >> 32;
	} else if (off == OFF_ISR) {
		v = isr_take(p);	/* reading the ISR acknowledges it */
	} else if (off >= OFF_DEVICE && off < OFF_NOTIFY && p->v->ops->config_read) {
		p->v->ops->config_read(p->v, off - OFF_DEVICE, &v, len);
	}
	pthread_mutex_unlock(&p->v->lock);
	memcpy(data, &v, len);
}

static void bar_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct virtio_pci *p = opaque;
	uint64_t v = 0;

	memcpy(&v, data, len);
	if (off >= OFF_NOTIFY) {
		unsigned int q = (off - OFF_NOTIFY) / NOTIFY_MULT;

		/* Outside the lock: a device serializes its own queues. */
		if (virtio_queue_ready(p->v, q))
			p->v->ops->queue_notify(p->v, q);
		return;
	}
	pthread_mutex_lock(&p->v->lock);
	if (off < OFF_COMMON + COMMON_LEN)
		common_write(p, off, v);
	else if (off >= OFF_DEVICE && off < OFF_NOTIFY && p->v->ops->config_write)
		p->v->ops->config_write(p->v, off - OFF_DEVICE, data, len);
	pthread_mutex_unlock(&p->v->lock);
}

static const struct io_ops virtio_bar_ops = { .read = bar_read, .write = bar_write };

static void notify_queue(struct virtio_dev *v, unsigned int q)
{
	struct virtio_pci *p = v->transport;

	if (!virtq_should_notify(&v->vq[q]))
		return;
	signal_driver(p, 1, p->queue_vector[q]);
}

static void notify_config(struct virtio_dev *v)
{
	struct virtio_pci *p = v->transport;

	v->config_generation++;
	signal_driver(p, 2, p->config_vector);
}

static void interrupt(struct virtio_dev *v, unsigned int q)
{
	struct virtio_pci *p = v->transport;

	signal_driver(p, 1, q < v->nr_queues ? p->queue_vector[q] : MSIX_NO_VECTOR);
}

static int kick_fd(struct virtio_dev *v, unsigned int q, bool serve)
{
	struct virtio_pci *p = v->transport;

	if (!p || q >= v->nr_queues || p->nfd[q].fd < 0 || !v->loop)
		return -1;
	evloop_mod(v->loop, p->nfd[q].fd, serve ? EPOLLIN : 0);
	return p->nfd[q].fd;
}

/* Version 1 of the device's section carries these: config space, MSI-X, the selectors, vectors, ISR. */
static void transport_save(struct virtio_dev *v, struct ss_writer *w)
{
	struct virtio_pci *p = v->transport;

	pci_device_save(&p->pci, w);
	msix_save(&p->msix, w);
	pthread_mutex_lock(&v->lock);
	ss_put_u64(w, "dfselect", p->dfselect);
	ss_put_u64(w, "gfselect", p->gfselect);
	ss_put_u64(w, "queue-select", p->queue_select);
	ss_put_u64(w, "config-vector", p->config_vector);
	ss_put_bytes(w, "queue-vectors", p->queue_vector, v->nr_queues * sizeof(uint16_t));
	pthread_mutex_unlock(&v->lock);
	pthread_mutex_lock(&p->isr_lock);
	ss_put_u64(w, "isr", p->isr);
	pthread_mutex_unlock(&p->isr_lock);
}

static bool vector_ok(struct virtio_pci *p, uint64_t vec)
{
	return vec == MSIX_NO_VECTOR || vec < p->msix.nr;
}

static int load_regs(struct virtio_pci *p, const struct ss_section *s, struct vk_err *err)
{
	static const char *const names[] = { "dfselect", "gfselect", "queue-select",
					     "config-vector", "isr" };
	uint16_t qv[VIRTIO_MAX_QUEUES];
	unsigned int i, n = p->v->nr_queues;
	uint64_t x[5];
	int r = 0;

	for (i = 0; i < 5 && !r; i++)
		r = ss_get_u64(s, names[i], &x[i], err);
	if (!r)
		r = ss_get_bytes(s, "queue-vectors", qv, n * sizeof(uint16_t), err);
	if (r)
		return r;
	for (i = 0; i < n && vector_ok(p, qv[i]); i++)
		;
	if (x[0] > UINT32_MAX || x[1] > UINT32_MAX || x[2] > 0xffff || !vector_ok(p, x[3]) ||
	    x[4] > 3 || i < n)
		return vk_fail(err, -EINVAL, "state of virtio-%s: a transport register out of range",
			       p->v->ops->name);
	p->dfselect = x[0], p->gfselect = x[1], p->queue_select = x[2], p->config_vector = x[3];
	memcpy(p->queue_vector, qv, n * sizeof(uint16_t));
	pthread_mutex_lock(&p->isr_lock);
	p->isr = x[4];
	intx_sync(p);
	pthread_mutex_unlock(&p->isr_lock);
	return 0;
}

static int transport_load(struct virtio_dev *v, const struct ss_section *s, struct vk_err *err)
{
	struct virtio_pci *p = v->transport;
	int r = pci_device_load(&p->pci, s, err);

	if (!r)
		r = msix_load(&p->msix, s, err);
	if (!r) {
		pthread_mutex_lock(&v->lock);
		r = load_regs(p, s, err);
		pthread_mutex_unlock(&v->lock);
	}
	return r;
}

static const struct virtio_transport_ops virtio_pci_tops = {
	.notify_queue = notify_queue,
	.notify_config = notify_config,
	.interrupt = interrupt,
	.kick_fd = kick_fd,
	.save = transport_save,
	.load = transport_load,
};

static void bar_read(void *opaque, uint64_t off, void *data, unsigned int len);
static void bar_write(void *opaque, uint64_t off, const void *data, unsigned int len);

/*
 * VIRTIO_PCI_CAP_PCI_CFG (4.1.4.9): the driver picks BAR, offset and length
 * in the capability, then reads or writes pci_cfg_data to reach the BAR
 * through config space. Only BAR 0 and widths 1, 2, 4 mean anything.
 */
static bool pcfg_window(struct virtio_pci *p, uint32_t *off, uint32_t *len)
{
	const uint8_t *c = p->pci.cfg + p->pcfg;

	memcpy(off, c + PCFG_OFFSET, 4);
	memcpy(len, c + PCFG_LENGTH, 4);
	return c[PCFG_BAR] == BAR_VIRTIO && (*len == 1 || *len == 2 || *len == 4) &&
	       *off < BAR_SIZE && !(*off & (*len - 1));
}

static bool touches_data(struct virtio_pci *p, unsigned int off, unsigned int len)
{
	unsigned int data = p->pcfg + PCFG_DATA;

	return off < data + 4 && off + len > data;
}

static void pci_config_read(struct pci_device *d, unsigned int off, unsigned int len)
{
	struct virtio_pci *p = d->opaque;
	uint32_t boff, blen, v = 0;

	if (!touches_data(p, off, len))
		return;
	if (pcfg_window(p, &boff, &blen))
		bar_read(p, boff, &v, blen);
	memcpy(d->cfg + p->pcfg + PCFG_DATA, &v, 4);
}

static void pci_config_written(struct pci_device *d, unsigned int off, unsigned int len)
{
	struct virtio_pci *p = d->opaque;
	uint32_t boff, blen;

	msix_config_written(&p->msix, off, len);
	/* MSI-X switched on takes the interrupt off INTA, switched off puts it back. */
	pthread_mutex_lock(&p->isr_lock);
	intx_sync(p);
	pthread_mutex_unlock(&p->isr_lock);
	if (touches_data(p, off, len) && pcfg_window(p, &boff, &blen))
		bar_write(p, boff, d->cfg + p->pcfg + PCFG_DATA, blen);
}

/* Any access size: drivers write 16 bits (the spec), some tests 32. */
static int ioeventfd(struct virtio_pci *p, struct notify_fd *n, uint64_t addr, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr, .len = 0, .fd = n->fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return ioctl(p->v->vm->vm_fd, KVM_IOEVENTFD, &io);
}

/* The notify region moved with BAR 0: move each queue's ioeventfd along. */
static void bar_mapped(struct pci_device *d, unsigned int bar, uint64_t addr)
{
	struct virtio_pci *p = d->opaque;
	unsigned int q;

	if (bar != BAR_VIRTIO)
		return;
	for (q = 0; q < p->v->nr_queues; q++) {
		struct notify_fd *n = &p->nfd[q];

		if (n->fd < 0)
			continue;
		if (n->addr)
			ioeventfd(p, n, n->addr, false);
		n->addr = 0;
		/* Without it, notifications still arrive as MMIO exits (bar_write). */
		if (addr && !ioeventfd(p, n, addr + OFF_NOTIFY + NOTIFY_MULT * q, true))
			n->addr = addr + OFF_NOTIFY + NOTIFY_MULT * q;
	}
}

static int on_notify(void *opaque, int fd, uint32_t events)
{
	struct notify_fd *n = opaque;
	eventfd_t cnt;

	if (eventfd_read(fd, &cnt) == 0 && virtio_queue_ready(n->p->v, n->q))
		n->p->v->ops->queue_notify(n->p->v, n->q);
	return 0;
}

/* The loop's poll function: what the driver added, taken without its notification. */
static bool poll_queue(void *opaque)
{
	struct notify_fd *n = opaque;
	struct virtio_dev *v = n->p->v;

	/* Only a queue its device wants polled (virtio-scsi's request queues, not events). */
	if (!n->polled || !virtio_queue_ready(v, n->q) || !virtq_has_avail(&v->vq[n->q]))
		return false;
	v->ops->queue_notify(v, n->q);
	return true;
}

static void poll_queue_mode(void *opaque, bool on)
{
	struct notify_fd *n = opaque;
	bool polled = n->p->v->ops->queue_poll_mode(n->p->v, n->q, on);

	/* Off keeps the answer: the loop looks at the ring once more after it. */
	if (on)
		n->polled = polled;
}

static int setup_notify_fds(struct virtio_pci *p)
{
	unsigned int q;
	int r;

	for (q = 0; q < VIRTIO_MAX_QUEUES; q++)
		p->nfd[q] = (struct notify_fd){ p, q, -1, 0, false };
	if (!p->v->loop)
		return 0;
	for (q = 0; q < p->v->nr_queues; q++) {
		p->nfd[q].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->nfd[q].fd < 0)
			return -errno;
		r = evloop_add(p->v->loop, p->nfd[q].fd, EPOLLIN, on_notify, &p->nfd[q]);
		if (!r && p->v->ops->queue_poll_mode)
			r = evloop_set_poll(p->v->loop, p->nfd[q].fd, poll_queue, poll_queue_mode);
		if (r)
			return r;
	}
	return 0;
}

static void close_notify_fds(struct virtio_pci *p)
{
	unsigned int q;

	for (q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (p->nfd[q].fd < 0)
			continue;
		if (p->v->loop)
			evloop_del(p->v->loop, p->nfd[q].fd);
		close(p->nfd[q].fd);
		p->nfd[q].fd = -1;
	}
}

static const struct pci_device_ops virtio_pci_dev_ops = {
	.config_read = pci_config_read,
	.config_write = pci_config_written,
	.bar_mapped = bar_mapped,
};

static void add_vcap(struct pci_device *d, uint8_t type, uint32_t off, uint32_t len)
{
	uint8_t size = type == CAP_NOTIFY || type == CAP_PCI_CFG ? 20 : 16;
	uint8_t c = pci_device_add_cap(d, PCI_CAP_ID_VNDR, size);

	d->cfg[c + 2] = size;
	d->cfg[c + 3] = type;
	d->cfg[c + 4] = BAR_VIRTIO;
	memcpy(d->cfg + c + 8, &off, 4);
	memcpy(d->cfg + c + 12, &len, 4);
	if (type == CAP_NOTIFY)
		memcpy(d->cfg + c + 16, &(uint32_t){ NOTIFY_MULT }, 4);
	if (type == CAP_PCI_CFG) {
		struct virtio_pci *p = d->opaque;

		p->pcfg = c;
		memset(d->wmask + c + PCFG_BAR, 0xff, 1);
		memset(d->wmask + c + PCFG_OFFSET, 0xff, 12);	/* offset, length, data */
	}
}

/*
 * Under firmware, disks and NICs are bootable, under virtio0... (the
 * --disk order, Proxmox's virtioN) or net0... (issue 12), by QEMU's paths
 * for them: OVMF translates "scsi@SLOT/disk@0,0" (virtio-blk) and a
 * generic "NAME@SLOT" into PCI device paths, and SeaBIOS matches both with
 * its own "*@SLOT" pattern. (A '*' in the file itself is not a name OVMF
 * parses: it then ignores the whole file.)
 */
static int boot_register(struct virtio_dev *v, unsigned int slot, struct vk_err *err)
{
	char path[FW_BOOT_PATH_MAX];
	int r = 0;

	if (v->ops->boot_paths)
		return v->ops->boot_paths(v, slot, err);
	if (v->ops->type != VIRTIO_ID_BLOCK && v->ops->type != VIRTIO_ID_NET)
		return 0;
	fw_boot_pci_path(path, sizeof(path), v->ops->type == VIRTIO_ID_BLOCK ? "scsi" : "ethernet",
			 slot, 0);
	if (v->ops->type == VIRTIO_ID_BLOCK)
		r = fw_boot_add_numbered(v->vm, FW_BOOT_DISK, "virtio",
					 strcat(path, "/disk@0,0"));
	else
		r = fw_boot_add_numbered(v->vm, FW_BOOT_NET, "net", strcat(path, "/ethernet-phy@0"));
	return r ? vk_fail(err, r, "boot order: too many bootable devices") : 0;
}

int virtio_pci_create(struct virtio_dev *v, struct vk_err *err)
{
	struct virtio_pci *p = calloc(1, sizeof(*p));
	struct pci_device *d;
	int r;

	if (!p)
		return vk_fail(err, -ENOMEM, "out of memory");
	p->v = v;
	pthread_mutex_init(&p->isr_lock, NULL);
	r = setup_notify_fds(p);
	if (r) {
		close_notify_fds(p);
		free(p);
		return vk_fail(err, r, "virtio-%s: cannot set up notifications: %s", v->ops->name,
			       strerror(-r));
	}
	d = &p->pci;
	pci_device_init(d, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + v->ops->type,
			v->ops->pci_class, 1, 0x40 + v->ops->type);
	d->ops = &virtio_pci_dev_ops;
	d->opaque = p;
	pci_device_use_intx(d);
	memset(p->queue_vector, 0xff, sizeof(p->queue_vector));
	p->config_vector = MSIX_NO_VECTOR;
	r = pci_device_add_bar(d, BAR_VIRTIO, BAR_SIZE, &virtio_bar_ops, p);
	if (!r)
		r = msix_init(&p->msix, d, v->nr_queues + 1, BAR_MSIX);
	if (r) {
		close_notify_fds(p);
		free(p);
		return vk_fail(err, r, "virtio-%s: cannot set up its PCI function", v->ops->name);
	}
	add_vcap(d, CAP_COMMON, OFF_COMMON, COMMON_LEN);
	add_vcap(d, CAP_NOTIFY, OFF_NOTIFY, NOTIFY_MULT * v->nr_queues);
	add_vcap(d, CAP_ISR, OFF_ISR, 4);
	add_vcap(d, CAP_DEVICE, OFF_DEVICE, 0x1000);
	add_vcap(d, CAP_PCI_CFG, 0, 0);
	v->transport = p;
	v->tops = &virtio_pci_tops;
	r = pci_register_device(v->vm, d, err);
	if (!r)
		r = boot_register(v, d->slot, err);
	if (r) {
		pci_unregister_device(v->vm, d);
		close_notify_fds(p);
		free(p);
		v->transport = NULL;
	}
	return r;
}

void virtio_pci_destroy(struct virtio_dev *v)
{
	struct virtio_pci *p = v->transport;

	if (!p)
		return;
	pci_unregister_device(v->vm, &p->pci);
	close_notify_fds(p);
	free(p);
	v->transport = NULL;
}
