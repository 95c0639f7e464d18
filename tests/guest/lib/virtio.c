/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Polling virtio 1.x driver: modern virtio-pci transport, split virtqueues. */
#include "virtio.h"

char virtio_error[160];

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rt_vsnprintf(virtio_error, sizeof(virtio_error), fmt, ap);
	va_end(ap);
	return false;
}

/* rt.h has no 16-bit MMIO read; named so they cannot clash with one added later. */
static inline uint16_t vio_read16(uint64_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t vio_read32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mb(void) { __asm__ volatile("mfence" ::: "memory"); }

/* ---- time ---- */

static uint64_t tsc_per_us;

uint64_t virtio_now_us(void)
{
	if (!tsc_per_us) {
		/* 20 ms on PIT channel 2; a host without a PIT gets a 2 GHz guess. */
		uint64_t t0 = rdtsc();

		if (pit_delay_us(20000))
			tsc_per_us = (rdtsc() - t0) / 20000;
		if (!tsc_per_us)
			tsc_per_us = 2000;
	}
	return rdtsc() / tsc_per_us;
}

/* ---- transport ---- */

static const char *const cap_names[6] = { "?", "common", "notify", "isr", "device", "pci_cfg" };

bool virtio_pci_probe(struct virtio_pci *vp, const struct pci_dev *pci)
{
	struct pci_dev d = *pci;
	uint8_t cap = 0;

	memset(vp, 0, sizeof(*vp));
	virtio_error[0] = '\0';
	if (!pci_enable(&d))
		return fail("pci: %s", pci_error);
	vp->pci = d;
	vp->msix = pci_find_cap(&d, PCI_CAP_ID_MSIX, 0) != 0;

	/* 4.1.4: use the first capability of each type that we can use. */
	while ((cap = pci_find_cap(&d, PCI_CAP_ID_VNDR, cap))) {
		uint8_t len = pci_read8(&d, cap + 2);
		uint8_t type = pci_read8(&d, cap + 3);
		uint8_t bar = pci_read8(&d, cap + 4);
		uint32_t off = pci_read32(&d, cap + 8);
		uint32_t length = pci_read32(&d, cap + 12);
		struct virtio_cap_info *ci;

		if (len < 16 || type < 1 || type > 5 || vp->caps[type].present)
			continue;
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG && len < 20)
			continue;
		/* Reserved BAR numbers must be ignored; I/O BARs we do not support. */
		if (type != VIRTIO_PCI_CAP_PCI_CFG &&
		    (bar >= PCI_NR_BARS || !d.bar_size[bar] ||
		     (uint64_t)off + length > d.bar_size[bar]))
			continue;
		ci = &vp->caps[type];
		ci->present = true;
		ci->cap = cap;
		ci->bar = bar;
		ci->offset = off;
		ci->length = length;
		if (type == VIRTIO_PCI_CAP_PCI_CFG)
			continue;
		uint64_t a = d.bar_addr[bar] + off;
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			vp->common = a;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			vp->notify = a;
			vp->notify_mult = pci_read32(&d, cap + 16);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			vp->isr = a;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			vp->device = a;
			break;
		}
	}
	for (unsigned t = VIRTIO_PCI_CAP_COMMON_CFG; t <= VIRTIO_PCI_CAP_ISR_CFG; t++)
		if (!vp->caps[t].present)
			return fail("no usable %s capability", cap_names[t]);
	if (vp->caps[VIRTIO_PCI_CAP_COMMON_CFG].length < 0x38)
		return fail("common config is %u bytes, want at least 0x38",
			    vp->caps[VIRTIO_PCI_CAP_COMMON_CFG].length);
	return true;
}

uint8_t virtio_get_status(struct virtio_pci *vp)
{
	return mmio_read8(vp->common + VIRTIO_COMMON_STATUS);
}

void virtio_set_status(struct virtio_pci *vp, uint8_t status)
{
	mmio_write8(vp->common + VIRTIO_COMMON_STATUS, status);
}

bool virtio_reset(struct virtio_pci *vp)
{
	uint64_t deadline;
	uint8_t s;

	virtio_set_status(vp, 0);
	/* The reset is done when the device reads 0; it may take its time. */
	deadline = virtio_now_us() + 1000000;
	while ((s = virtio_get_status(vp)) != 0) {
		if (virtio_now_us() > deadline)
			return fail("device status %#x one second after reset", s);
		cpu_relax();
	}
	return true;
}

bool virtio_init(struct virtio_pci *vp, uint64_t wanted)
{
	uint64_t c = vp->common;
	uint8_t s;

	virtio_error[0] = '\0';
	if (!virtio_reset(vp))
		return false;
	virtio_set_status(vp, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(vp, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);

	mmio_write32(c + VIRTIO_COMMON_DFSELECT, 0);
	uint32_t lo = vio_read32(c + VIRTIO_COMMON_DF);
	mmio_write32(c + VIRTIO_COMMON_DFSELECT, 1);
	uint32_t hi = vio_read32(c + VIRTIO_COMMON_DF);
	vp->offered = (uint64_t)hi << 32 | lo;
	if (!(vp->offered & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		return fail("device features %#lx lack VERSION_1", vp->offered);
	vp->features = vp->offered & (wanted | VIRTIO_BIT(VIRTIO_F_VERSION_1));

	mmio_write32(c + VIRTIO_COMMON_GFSELECT, 0);
	mmio_write32(c + VIRTIO_COMMON_GF, (uint32_t)vp->features);
	mmio_write32(c + VIRTIO_COMMON_GFSELECT, 1);
	mmio_write32(c + VIRTIO_COMMON_GF, (uint32_t)(vp->features >> 32));

	virtio_set_status(vp, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK);
	s = virtio_get_status(vp);
	if (!(s & VIRTIO_STATUS_FEATURES_OK))
		return fail("device cleared FEATURES_OK (status %#x) for features %#lx", s,
			    vp->features);

	/* No interrupts: config changes get no vector either. */
	mmio_write16(c + VIRTIO_COMMON_MSIX, VIRTIO_MSI_NO_VECTOR);
	vp->num_queues = vio_read16(c + VIRTIO_COMMON_NUMQ);
	return true;
}

bool virtio_driver_ok(struct virtio_pci *vp)
{
	uint8_t s = virtio_get_status(vp);

	virtio_set_status(vp, s | VIRTIO_STATUS_DRIVER_OK);
	s = virtio_get_status(vp);
	if (s & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED) ||
	    !(s & VIRTIO_STATUS_DRIVER_OK))
		return fail("status %#x after DRIVER_OK", s);
	return true;
}

uint8_t virtio_config_generation(struct virtio_pci *vp)
{
	return mmio_read8(vp->common + VIRTIO_COMMON_CFGGENERATION);
}

uint8_t virtio_cfg_read8(struct virtio_pci *vp, unsigned off)
{
	return mmio_read8(vp->device + off);
}

uint16_t virtio_cfg_read16(struct virtio_pci *vp, unsigned off)
{
	return vio_read16(vp->device + off);
}

uint32_t virtio_cfg_read32(struct virtio_pci *vp, unsigned off)
{
	return vio_read32(vp->device + off);
}

uint64_t virtio_cfg_read64(struct virtio_pci *vp, unsigned off)
{
	uint32_t lo, hi;
	uint8_t gen;

	/* A 64-bit field is two accesses: a change between them shows as a new generation. */
	for (unsigned tries = 0; tries < 100; tries++) {
		gen = virtio_config_generation(vp);
		lo = vio_read32(vp->device + off);
		hi = vio_read32(vp->device + off + 4);
		if (virtio_config_generation(vp) == gen)
			break;
	}
	return (uint64_t)hi << 32 | lo;
}

/* ---- split virtqueues ---- */

/*
 * Four pages per queue: descriptors (16 * 256), avail ring, used ring and
 * an indirect table. Not in .bss: the runtime clears .bss at CPL0, where
 * every instruction counts on PVM hosts; virtq_setup() clears what it uses.
 */
#define VQ_PAGES 4
static uint8_t vq_mem[VIRTQ_MAX_QUEUES][VQ_PAGES][4096]
	__attribute__((section(".noinit.virtq"), aligned(4096)));
static unsigned vq_mem_used;

static volatile uint16_t *used_event(struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static volatile uint16_t *avail_event(struct virtq *vq)
{
	return (volatile uint16_t *)&vq->used->ring[vq->size];
}

bool virtq_setup(struct virtq *vq, struct virtio_pci *vp, unsigned index, unsigned want_size)
{
	uint64_t c = vp->common;
	uint16_t max, size;

	virtio_error[0] = '\0';
	if (index >= vp->num_queues)
		return fail("queue %u: device has %u queues", index, vp->num_queues);
	/* A virtq that was set up before (device reset since) keeps its memory. */
	if (!vq->desc) {
		if (vq_mem_used >= sizeof(vq_mem) / sizeof(vq_mem[0]))
			return fail("out of virtqueue memory");
		uint8_t (*m)[4096] = vq_mem[vq_mem_used++];

		vq->desc = (volatile struct virtq_desc *)m[0];
		vq->avail = (volatile struct virtq_avail *)m[1];
		vq->used = (volatile struct virtq_used *)m[2];
		vq->indirect = (volatile struct virtq_desc *)m[3];
	}
	memset((void *)vq->desc, 0, VQ_PAGES * 4096);

	mmio_write16(c + VIRTIO_COMMON_Q_SELECT, index);
	max = vio_read16(c + VIRTIO_COMMON_Q_SIZE);
	if (!max)
		return fail("queue %u: size 0 (not available)", index);
	if (vio_read16(c + VIRTIO_COMMON_Q_ENABLE))
		return fail("queue %u: enabled before we set it up", index);
	size = max;
	if (size > want_size)
		size = want_size;
	if (size > VIRTQ_MAX_SIZE)
		size = VIRTQ_MAX_SIZE;
	/* Split queue sizes are powers of two (2.7). */
	while (size & (size - 1))
		size &= size - 1;

	vq->vp = vp;
	vq->index = index;
	vq->size = size;
	vq->max_size = max;
	vq->avail_idx = vq->kicked_idx = vq->used_idx = 0;
	vq->free_head = 0;
	vq->free_tail = size - 1;
	vq->num_free = size;
	for (unsigned i = 0; i < size; i++) {
		vq->next[i] = (i + 1) % size;
		vq->chain_len[i] = 0;
	}
	vq->indirect_busy = false;
	vq->event_idx = virtio_has(vp, VIRTIO_F_EVENT_IDX);
	vq->requests = vq->notifies = vq->notifies_skipped = 0;
	/*
	 * No interrupts please. With EVENT_IDX the flag is not ours to use
	 * (2.7.7): used_event half the index space ahead says the same.
	 */
	vq->avail->flags = vq->event_idx ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
	*used_event(vq) = 0x8000;

	mmio_write16(c + VIRTIO_COMMON_Q_SIZE, size);
	mmio_write16(c + VIRTIO_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
	uint64_t da = (uintptr_t)vq->desc, aa = (uintptr_t)vq->avail, ua = (uintptr_t)vq->used;
	mmio_write32(c + VIRTIO_COMMON_Q_DESCLO, (uint32_t)da);
	mmio_write32(c + VIRTIO_COMMON_Q_DESCHI, (uint32_t)(da >> 32));
	mmio_write32(c + VIRTIO_COMMON_Q_AVAILLO, (uint32_t)aa);
	mmio_write32(c + VIRTIO_COMMON_Q_AVAILHI, (uint32_t)(aa >> 32));
	mmio_write32(c + VIRTIO_COMMON_Q_USEDLO, (uint32_t)ua);
	mmio_write32(c + VIRTIO_COMMON_Q_USEDHI, (uint32_t)(ua >> 32));

	vq->notify_off = vio_read16(c + VIRTIO_COMMON_Q_NOFF);
	uint64_t noff = (uint64_t)vq->notify_off * vp->notify_mult;
	if (noff + 2 > vp->caps[VIRTIO_PCI_CAP_NOTIFY_CFG].length)
		return fail("queue %u: notify offset %u * %u is outside the %u-byte notify region",
			    index, vq->notify_off, vp->notify_mult,
			    vp->caps[VIRTIO_PCI_CAP_NOTIFY_CFG].length);
	vq->notify_addr = vp->notify + noff;

	mmio_write16(c + VIRTIO_COMMON_Q_ENABLE, 1);
	if (vio_read16(c + VIRTIO_COMMON_Q_SIZE) != size)
		return fail("queue %u: size reads %u after writing %u", index,
			    vio_read16(c + VIRTIO_COMMON_Q_SIZE), size);
	if (vio_read16(c + VIRTIO_COMMON_Q_ENABLE) != 1)
		return fail("queue %u: queue_enable does not read 1", index);
	return true;
}

void virtq_notify(struct virtq *vq)
{
	/* Without NOTIFICATION_DATA the driver writes the 16-bit queue index (4.1.5.2). */
	mmio_write16(vq->notify_addr, vq->index);
	vq->notifies++;
}

/* 2.7.10: did the device ask to be told about avail idx moving from old to new? */
static bool need_notify(struct virtq *vq, uint16_t old, uint16_t new)
{
	/* Our avail idx store must be visible before we read the device's wishes. */
	mb();
	if (vq->event_idx) {
		uint16_t ev = *avail_event(vq);

		return (uint16_t)(new - ev - 1) < (uint16_t)(new - old);
	}
	return !(vq->used->flags & VIRTQ_USED_F_NO_NOTIFY);
}

static void publish(struct virtq *vq, uint16_t head, uint16_t step)
{
	vq->avail->ring[vq->avail_idx % vq->size] = head;
	/* Ring entry before idx; x86 keeps stores in order, the compiler must too. */
	barrier();
	vq->avail_idx += step;
	vq->avail->idx = vq->avail_idx;
	vq->requests++;
}

void virtq_publish(struct virtq *vq, uint16_t head, uint16_t idx_step)
{
	publish(vq, head, idx_step);
	mb();
	virtq_notify(vq);
	vq->kicked_idx = vq->avail_idx;
	vq->last_notify_skipped = false;
}

void virtq_kick(struct virtq *vq)
{
	if (vq->kicked_idx == vq->avail_idx)
		return;
	if (need_notify(vq, vq->kicked_idx, vq->avail_idx)) {
		virtq_notify(vq);
		vq->last_notify_skipped = false;
	} else {
		vq->notifies_skipped++;
		vq->last_notify_skipped = true;
	}
	vq->kicked_idx = vq->avail_idx;
}

int virtq_wait_used(struct virtq *vq, uint64_t timeout_us, uint32_t *id, uint32_t *len)
{
	uint64_t deadline = virtio_now_us() + timeout_us;

	while (vq->used->idx == vq->used_idx) {
		if (virtio_now_us() > deadline) {
			uint8_t s = virtio_get_status(vq->vp);

			if (s & VIRTIO_STATUS_NEEDS_RESET) {
				fail("queue %u: DEVICE_NEEDS_RESET (status %#x), no used entry",
				     vq->index, s);
				return VQ_ERR_NEEDS_RESET;
			}
			fail("queue %u: no used entry in %lu ms (avail idx %u, used idx %u%s)",
			     vq->index, timeout_us / 1000, vq->avail_idx, vq->used->idx,
			     vq->last_notify_skipped ? ", device had suppressed the notification" : "");
			return VQ_ERR_TIMEOUT;
		}
		cpu_relax();
	}
	/* Loads are not reordered with loads on x86: the entry is valid now. */
	barrier();
	volatile struct virtq_used_elem *e = &vq->used->ring[vq->used_idx % vq->size];
	*id = e->id;
	*len = e->len;
	vq->used_idx++;
	if (vq->event_idx)
		*used_event(vq) = vq->used_idx + 0x8000;
	return VQ_OK;
}

int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, bool indirect)
{
	uint32_t writable = 0;
	uint16_t head = vq->free_head, d;
	unsigned ndesc = indirect ? 1 : n;

	/* 2.7.5.3.1: no chain longer than the queue, indirect or not. */
	if (!n || n > vq->size) {
		fail("chain of %u descriptors on a queue of %u", n, vq->size);
		return VQ_ERR_TOO_LONG;
	}
	if (ndesc > vq->num_free || (indirect && vq->indirect_busy)) {
		fail("chain of %u descriptors%s: %u free%s", n, indirect ? " (indirect)" : "",
		     vq->num_free, indirect && vq->indirect_busy ? ", indirect table in use" : "");
		return VQ_ERR_TOO_LONG;
	}
	for (unsigned i = 0; i < n; i++)
		if (bufs[i].write)
			writable += bufs[i].len;

	if (indirect) {
		for (unsigned i = 0; i < n; i++) {
			vq->indirect[i].addr = bufs[i].addr;
			vq->indirect[i].len = bufs[i].len;
			vq->indirect[i].flags = (bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
						(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
			vq->indirect[i].next = i + 1 < n ? i + 1 : 0;
		}
		vq->desc[head].addr = (uintptr_t)vq->indirect;
		vq->desc[head].len = n * sizeof(struct virtq_desc);
		vq->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
		vq->desc[head].next = 0;
		vq->indirect_busy = true;
	} else {
		d = head;
		for (unsigned i = 0; i < n; i++) {
			vq->desc[d].addr = bufs[i].addr;
			vq->desc[d].len = bufs[i].len;
			vq->desc[d].flags = (bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
			vq->desc[d].next = i + 1 < n ? vq->next[d] : 0;
			d = vq->next[d];
		}
	}
	/* Off the free list: the first ndesc entries from its head. */
	d = head;
	for (unsigned i = 0; i < ndesc; i++)
		d = vq->next[d];
	vq->free_head = d;
	vq->num_free -= ndesc;
	vq->chain_len[head] = ndesc;
	vq->chain_writable[head] = writable;
	vq->chain_indirect[head] = indirect;

	publish(vq, head, 1);
	return head;
}

int virtq_get(struct virtq *vq, uint64_t timeout_us, uint32_t *id, uint32_t *len)
{
	int r = virtq_wait_used(vq, timeout_us, id, len);
	uint16_t head, d;

	if (r)
		return r;
	if (*id >= vq->size || !vq->chain_len[*id]) {
		fail("queue %u: used id %u is not the head of a chain in flight", vq->index, *id);
		return VQ_ERR_BAD_USED;
	}
	head = *id;
	if (*len > vq->chain_writable[head]) {
		fail("queue %u: used len %u, but only %u bytes were device-writable", vq->index,
		     *len, vq->chain_writable[head]);
		return VQ_ERR_BAD_USED;
	}
	/* Back on the tail of the free list, in chain order. */
	d = head;
	for (unsigned i = 1; i < vq->chain_len[head]; i++)
		d = vq->next[d];
	if (vq->num_free)
		vq->next[vq->free_tail] = head;
	else
		vq->free_head = head;
	vq->free_tail = d;
	vq->num_free += vq->chain_len[head];
	vq->chain_len[head] = 0;
	if (vq->chain_indirect[head])
		vq->indirect_busy = false;
	return VQ_OK;
}

int virtq_submit(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, bool indirect,
		 uint32_t *used_len, uint64_t timeout_us)
{
	uint32_t id;
	int head, r;

	head = virtq_add(vq, bufs, n, indirect);
	if (head < 0)
		return head;
	virtq_kick(vq);
	r = virtq_get(vq, timeout_us, &id, used_len);
	if (r)
		return r;
	if (id != (uint32_t)head) {
		fail("queue %u: used id %u, we submitted head %d", vq->index, id, head);
		return VQ_ERR_BAD_USED;
	}
	return VQ_OK;
}
