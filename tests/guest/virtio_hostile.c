/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_hostile: feeds the first modern virtio-blk PCI function crafted,
 * rule-breaking rings and registers, one case at a time, to check that
 * the monitor survives and keeps serving.
 *
 * Each case starts from a full re-initialisation (reset, features, queue,
 * DRIVER_OK), then breaks one rule of virtio 1.2 2.7 / 4.1 and waits a
 * moment. It reports
 *
 *   VMKIT-INFO hostile_<case>=needs_reset|ioerr|unsupp|ok|returned|ignored|done
 *
 * needs_reset: the device set DEVICE_NEEDS_RESET (2.1.1, what QEMU does);
 * ioerr/unsupp/ok: it completed the request with that status; returned:
 * it gave the chain back with used len 0 and no status; ignored: no used
 * entry within the wait; done: a case with no request to classify.
 * Then the device is reset, set up again and must answer a GET_ID: a
 * monitor may stop serving a broken device, but not one the driver reset.
 *
 * PASS when every case came back (the guest can still print) and the
 * device worked after each reset. Runs at CPL3 like virtio_blk.
 */
#include "lib/rt.h"
#include "lib/pci.h"
#include "lib/virtio.h"

RT_TEST("virtio_hostile");

#define VIRTIO_ID_BLOCK			2
#define VIRTIO_BLK_T_IN			0
#define VIRTIO_BLK_T_OUT		1
#define VIRTIO_BLK_T_GET_ID		8
#define VIRTIO_BLK_S_OK			0
#define VIRTIO_BLK_S_IOERR		1
#define VIRTIO_BLK_S_UNSUPP		2

#define QSIZE		16
#define WAIT_US		300000u
/* Nothing is there in any sane guest: 1 TiB - 64 MiB. */
#define NOWHERE		0xfff0000000ull

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

static struct virtio_pci vp;
static struct virtq vq;
static struct pci_dev pci;

static struct {
	struct blk_req_hdr hdr;
	uint8_t status;
	uint8_t junk[16];
	char id[20];
} req __attribute__((aligned(64)));

static uint8_t buf[8192] __attribute__((section(".noinit.hostile"), aligned(4096)));
/* A second indirect table for the nested case. */
static struct virtq_desc table2[4] __attribute__((aligned(16)));

static unsigned ncases;

/* Reset and set everything up again, as a driver would after NEEDS_RESET. */
static bool reinit(const char *when)
{
	uint64_t want = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);

	if (!virtio_init(&vp, want) || !virtq_setup(&vq, &vp, 0, QSIZE) ||
	    !virtio_driver_ok(&vp))
		return rt_failf("set-up %s: %s", when, virtio_error);
	return true;
}

/* The device must answer an honest GET_ID (any status but a hang). */
static bool sanity(const char *after)
{
	struct virtq_buf b[3] = {
		{ (uintptr_t)&req.hdr, sizeof(req.hdr), false },
		{ (uintptr_t)req.id, sizeof(req.id), true },
		{ (uintptr_t)&req.status, 1, true },
	};
	uint32_t len;
	int r;

	req.hdr = (struct blk_req_hdr){ VIRTIO_BLK_T_GET_ID, 0, 0 };
	req.status = 0xff;
	r = virtq_submit(&vq, b, 3, false, &len, VIRTIO_TIMEOUT_US);
	if (r)
		return rt_failf("after %s, reset and set up again, GET_ID failed: %s", after,
			     virtio_error);
	if (req.status != VIRTIO_BLK_S_OK && req.status != VIRTIO_BLK_S_UNSUPP)
		return rt_failf("after %s, GET_ID status %#x", after, req.status);
	return true;
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vq.desc[i].addr = addr;
	vq.desc[i].len = len;
	vq.desc[i].flags = flags;
	vq.desc[i].next = next;
}

static void hdr(uint32_t type, uint64_t sector)
{
	req.hdr = (struct blk_req_hdr){ type, 0, sector };
	req.status = 0xff;
}

#define R	0
#define W	VIRTQ_DESC_F_WRITE
#define N	VIRTQ_DESC_F_NEXT
#define I	VIRTQ_DESC_F_INDIRECT
#define HDR	((uintptr_t)&req.hdr)
#define STATUS	((uintptr_t)&req.status)

/* ---- the cases: each crafts a ring and publishes it, or pokes registers ---- */

/*
 * desc 0 -> 1 -> 0 -> ...: a chain without end (2.7.5.3.1). All
 * device-readable (a write request), so that the loop is the only fault.
 */
static void c_loop(void)
{
	hdr(VIRTIO_BLK_T_OUT, 0);
	desc(0, HDR, 16, R | N, 1);
	desc(1, (uintptr_t)buf, 512, R | N, 0);
	virtq_publish(&vq, 0, 1);
}

/* An honest GET_ID in descriptors 0-2. */
static void get_id_chain(void)
{
	hdr(VIRTIO_BLK_T_GET_ID, 0);
	desc(0, HDR, 16, R | N, 1);
	desc(1, (uintptr_t)req.id, 20, W | N, 2);
	desc(2, STATUS, 1, W, 0);
}

/* An honest request, but avail idx moved on by far more than the queue size. */
static void c_avail_idx(void)
{
	get_id_chain();
	virtq_publish(&vq, 0, 0x1000);
}

/* The device is to write 4 KiB where there is no RAM. */
static void c_addr(void)
{
	hdr(VIRTIO_BLK_T_IN, 0);
	desc(0, HDR, 16, R | N, 1);
	desc(1, NOWHERE, 4096, W | N, 2);
	desc(2, STATUS, 1, W, 0);
	virtq_publish(&vq, 0, 1);
}

/*
 * addr + len wraps past 2^64 to a small address. A device that lets the
 * address wrap writes the first page of RAM: the page is filled with a
 * marker first and checked afterwards (wrap_page0=).
 */
static uint8_t page0_save[4096] __attribute__((section(".noinit.hostile")));
/* Through a volatile so the compiler cannot see a null pointer. */
static uint8_t *volatile page0_ptr;

static void c_wrap(void)
{
	uint8_t *p0 = page0_ptr;

	memcpy(page0_save, p0, 4096);
	memset(p0, 0x5a, 4096);

	hdr(VIRTIO_BLK_T_IN, 0);
	desc(0, HDR, 16, R | N, 1);
	desc(1, 0xfffffffffffff000ull, 0x2000, W | N, 2);
	desc(2, STATUS, 1, W, 0);
	virtq_publish(&vq, 0, 1);
}

static void c_wrap_check(void)
{
	uint8_t *p0 = page0_ptr;
	unsigned changed = 0;

	for (unsigned i = 0; i < 4096; i++)
		changed += p0[i] != 0x5a;
	memcpy(p0, page0_save, 4096);
	rt_info("wrap_page0=%s", changed ? "written" : "intact");
	if (changed)
		rt_info("wrap_page0_bytes_changed=%u", changed);
}

static uint64_t ram_top(void)
{
	const struct hvm_memmap_entry *mm;
	unsigned n = rt_memmap(&mm);
	uint64_t top = 0;

	for (unsigned i = 0; i < n; i++)
		if (mm[i].type == E820_RAM && mm[i].addr + mm[i].size > top)
			top = mm[i].addr + mm[i].size;
	return top;
}

/*
 * A buffer that starts in RAM and ends beyond it. Device-readable (a
 * write to sector 0): the RAM below the top may hold firmware tables.
 */
static void c_straddle(void)
{
	uint64_t top = ram_top();

	rt_info("ram_top=%#lx", top);
	hdr(VIRTIO_BLK_T_OUT, 0);
	desc(0, HDR, 16, R | N, 1);
	desc(1, top - 512, 4096, R | N, 2);
	desc(2, STATUS, 1, W, 0);
	virtq_publish(&vq, 0, 1);
}

/* A 4 GiB buffer from a valid address: most of it past the end of RAM. */
static void c_huge_len(void)
{
	hdr(VIRTIO_BLK_T_IN, 0);
	desc(0, HDR, 16, R | N, 1);
	desc(1, (uintptr_t)buf, 0xffffffffu, W | N, 2);
	desc(2, STATUS, 1, W, 0);
	virtq_publish(&vq, 0, 1);
}

/* A device-readable descriptor after a device-writable one (2.7.4.2). */
static void c_order(void)
{
	hdr(VIRTIO_BLK_T_IN, 0);
	desc(0, HDR, 16, R | N, 1);
	desc(1, (uintptr_t)buf, 512, W | N, 2);
	desc(2, (uintptr_t)req.junk, 16, R | N, 3);
	desc(3, STATUS, 1, W, 0);
	virtq_publish(&vq, 0, 1);
}

/* The avail ring names descriptor QSIZE: one past the table. */
static void c_head_oob(void)
{
	hdr(VIRTIO_BLK_T_GET_ID, 0);
	virtq_publish(&vq, vq.size, 1);
}

/* A next field one past the table. */
static void c_next_oob(void)
{
	hdr(VIRTIO_BLK_T_IN, 0);
	desc(0, HDR, 16, R | N, vq.size);
	virtq_publish(&vq, 0, 1);
}

/* Only the header: nowhere to put data or status. */
static void c_no_writable(void)
{
	hdr(VIRTIO_BLK_T_IN, 0);
	desc(0, HDR, 16, R, 0);
	virtq_publish(&vq, 0, 1);
}

/* A header of 8 bytes where the device needs 16. */
static void c_short_header(void)
{
	hdr(VIRTIO_BLK_T_IN, 0);
	desc(0, HDR, 8, R | N, 1);
	desc(1, STATUS, 1, W, 0);
	virtq_publish(&vq, 0, 1);
}

/* Indirect tables (2.7.5.3): only when the device offered them. */
static void itable(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vq.indirect[i].addr = addr;
	vq.indirect[i].len = len;
	vq.indirect[i].flags = flags;
	vq.indirect[i].next = next;
}

static void honest_itable(void)
{
	hdr(VIRTIO_BLK_T_GET_ID, 0);
	itable(0, HDR, 16, R | N, 1);
	itable(1, (uintptr_t)req.id, 20, W | N, 2);
	itable(2, STATUS, 1, W, 0);
}

/* Table length not a multiple of 16. */
static void c_indirect_len(void)
{
	honest_itable();
	desc(0, (uintptr_t)vq.indirect, 40, I, 0);
	virtq_publish(&vq, 0, 1);
}

/* An empty table. */
static void c_indirect_empty(void)
{
	honest_itable();
	desc(0, (uintptr_t)vq.indirect, 0, I, 0);
	virtq_publish(&vq, 0, 1);
}

/* An indirect descriptor inside an indirect table. */
static void c_indirect_nested(void)
{
	hdr(VIRTIO_BLK_T_GET_ID, 0);
	table2[0] = (struct virtq_desc){ HDR, 16, R | N, 1 };
	table2[1] = (struct virtq_desc){ (uintptr_t)req.id, 20, W | N, 2 };
	table2[2] = (struct virtq_desc){ STATUS, 1, W, 0 };
	itable(0, (uintptr_t)table2, 3 * sizeof(struct virtq_desc), I, 0);
	desc(0, (uintptr_t)vq.indirect, 16, I, 0);
	virtq_publish(&vq, 0, 1);
}

/* INDIRECT and NEXT together (2.7.5.3.1: MUST NOT). */
static void c_indirect_next(void)
{
	honest_itable();
	desc(0, (uintptr_t)vq.indirect, 3 * 16, I | N, 1);
	desc(1, STATUS, 1, W, 0);
	virtq_publish(&vq, 0, 1);
}

/* The table itself where there is no RAM. */
static void c_indirect_addr(void)
{
	hdr(VIRTIO_BLK_T_GET_ID, 0);
	desc(0, NOWHERE, 3 * 16, I, 0);
	virtq_publish(&vq, 0, 1);
}

/* A loop inside the table: 0 -> 1 -> 0, all device-readable. */
static void c_indirect_loop(void)
{
	hdr(VIRTIO_BLK_T_OUT, 0);
	itable(0, HDR, 16, R | N, 1);
	itable(1, (uintptr_t)buf, 512, R | N, 0);
	desc(0, (uintptr_t)vq.indirect, 2 * 16, I, 0);
	virtq_publish(&vq, 0, 1);
}

/* A next field past the end of the table. */
static void c_indirect_next_oob(void)
{
	honest_itable();
	itable(2, STATUS, 1, W | N, 3);
	desc(0, (uintptr_t)vq.indirect, 3 * 16, I, 0);
	virtq_publish(&vq, 0, 1);
}

/* ---- cases on registers rather than rings ---- */

/* Notifications for queues that do not exist (the notify register takes any index). */
static void c_notify_bad_queue(void)
{
	hdr(VIRTIO_BLK_T_GET_ID, 0);
	mmio_write16(vq.notify_addr, 7);
	mmio_write16(vq.notify_addr, 0xffff);
	mmio_write16(vq.notify_addr, vp.num_queues);
}

/* Queue 0 notified after FEATURES_OK, before it was set up (addresses still 0). */
static void c_notify_early(void)
{
	uint64_t c = vp.common;

	if (!virtio_init(&vp, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))) {
		rt_info("notify_early_init=%s", virtio_error);
		return;
	}
	mmio_write16(c + VIRTIO_COMMON_Q_SELECT, 0);
	uint16_t noff = *(volatile uint16_t *)(c + VIRTIO_COMMON_Q_NOFF);
	mmio_write16(vp.notify + (uint64_t)noff * vp.notify_mult, 0);
	/* And DRIVER_OK with the queue never enabled. */
	virtio_set_status(&vp, virtio_get_status(&vp) | VIRTIO_STATUS_DRIVER_OK);
	mmio_write16(vp.notify + (uint64_t)noff * vp.notify_mult, 0);
}

/* Descriptor table where there is no RAM; avail and used rings are fine. */
static void c_ring_addr(void)
{
	uint64_t c = vp.common;

	if (!virtio_init(&vp, 0)) {
		rt_info("ring_addr_init=%s", virtio_error);
		return;
	}
	mmio_write16(c + VIRTIO_COMMON_Q_SELECT, 0);
	mmio_write16(c + VIRTIO_COMMON_Q_SIZE, QSIZE);
	mmio_write32(c + VIRTIO_COMMON_Q_DESCLO, (uint32_t)NOWHERE);
	mmio_write32(c + VIRTIO_COMMON_Q_DESCHI, (uint32_t)(NOWHERE >> 32));
	mmio_write32(c + VIRTIO_COMMON_Q_AVAILLO, (uint32_t)(uintptr_t)vq.avail);
	mmio_write32(c + VIRTIO_COMMON_Q_AVAILHI, 0);
	mmio_write32(c + VIRTIO_COMMON_Q_USEDLO, (uint32_t)(uintptr_t)vq.used);
	mmio_write32(c + VIRTIO_COMMON_Q_USEDHI, 0);
	memset((void *)vq.avail, 0, 4096);
	memset((void *)vq.used, 0, 4096);
	vq.avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	mmio_write16(c + VIRTIO_COMMON_Q_ENABLE, 1);
	virtio_set_status(&vp, virtio_get_status(&vp) | VIRTIO_STATUS_DRIVER_OK);
	vq.used_idx = 0;
	vq.avail_idx = 0;
	virtq_publish(&vq, 0, 1);
}

/*
 * Accesses of the wrong width and place: every byte, and 8-byte reads, of
 * the common and device config and the ISR; queue_select beyond the
 * queues (whose queue_size must then read 0, 4.1.4.3.2); writes to
 * read-only fields.
 */
static void c_mmio_sweep(void)
{
	uint64_t c = vp.common;
	uint32_t clen = vp.caps[VIRTIO_PCI_CAP_COMMON_CFG].length;
	uint32_t dlen = vp.caps[VIRTIO_PCI_CAP_DEVICE_CFG].length;
	volatile uint64_t sink = 0;

	for (uint32_t o = 0; o < clen && o < 0x100; o++)
		sink += mmio_read8(c + o);
	for (uint32_t o = 0; o + 8 <= clen && o < 0x100; o += 8)
		sink += *(volatile uint64_t *)(c + o);
	for (uint32_t o = 0; vp.device && o < dlen && o < 0x100; o++)
		sink += mmio_read8(vp.device + o);
	for (uint32_t o = 0; vp.device && o + 8 <= dlen && o < 0x100; o += 8)
		sink += *(volatile uint64_t *)(vp.device + o);
	sink += mmio_read8(vp.isr);
	/* Unaligned 16/32-bit reads of common config. */
	sink += *(volatile uint16_t *)(c + 1) + *(volatile uint32_t *)(c + 2);
	/* Read-only fields: device_feature, num_queues, queue_notify_off. */
	mmio_write32(c + VIRTIO_COMMON_DF, 0xffffffffu);
	mmio_write16(c + VIRTIO_COMMON_NUMQ, 0xffff);
	mmio_write16(c + VIRTIO_COMMON_Q_NOFF, 0xffff);
	/* 8-bit writes into the middle of 32-bit fields. */
	mmio_write8(c + VIRTIO_COMMON_GF + 3, 0xff);
	mmio_write8(c + VIRTIO_COMMON_DFSELECT + 1, 0xff);
	/* Writes to the device config (read-only for virtio-blk apart from writeback). */
	for (uint32_t o = 0; vp.device && o < dlen && o < 0x40; o += 4)
		mmio_write32(vp.device + o, 0xffffffffu);
	mmio_write8(vp.isr, 0xff);
	mmio_write16(c + VIRTIO_COMMON_Q_SELECT, 0xffff);
	rt_info("queue_size_of_0xffff=%u", *(volatile uint16_t *)(c + VIRTIO_COMMON_Q_SIZE));
	mmio_write16(c + VIRTIO_COMMON_Q_SELECT, vp.num_queues);
	rt_info("queue_size_of_num_queues=%u",
		*(volatile uint16_t *)(c + VIRTIO_COMMON_Q_SIZE));
	/* Writes to a queue that does not exist must go nowhere. */
	mmio_write16(c + VIRTIO_COMMON_Q_SIZE, 0xffff);
	mmio_write16(c + VIRTIO_COMMON_Q_ENABLE, 1);
	mmio_write16(c + VIRTIO_COMMON_Q_SELECT, 0);
	(void)sink;
}

/*
 * Device reset with requests in flight: eight reads of 8 KiB published and
 * notified, then status 0 at once. The device must not complete them into
 * the ring the driver set up next (the framework's set-up and GET_ID
 * after each case check that).
 */
static void c_reset_inflight(void)
{
	for (unsigned i = 0; i < 8; i++) {
		hdr(VIRTIO_BLK_T_IN, i * 16);
		desc(3 * i, HDR, 16, R | N, 3 * i + 1);
		desc(3 * i + 1, (uintptr_t)buf, 8192, W | N, 3 * i + 2);
		desc(3 * i + 2, STATUS, 1, W, 0);
		vq.avail->ring[(vq.avail_idx + i) % vq.size] = 3 * i;
	}
	vq.avail_idx += 8;
	__atomic_store_n(&vq.avail->idx, vq.avail_idx, __ATOMIC_RELEASE);
	virtq_notify(&vq);
	virtio_set_status(&vp, 0);
}

/* The MSI-X table: BIR and offset from the capability (PCI 3.0 6.8.2). */
static volatile uint32_t *msix_table(unsigned *n)
{
	uint8_t cap = pci_find_cap(&vp.pci, PCI_CAP_ID_MSIX, 0);
	uint32_t t;

	if (!cap)
		return 0;
	*n = (pci_read16(&vp.pci, cap + 2) & 0x7ff) + 1;
	t = pci_read32(&vp.pci, cap + 4);
	return (volatile uint32_t *)(vp.pci.bar_addr[t & 7] + (t & ~7u));
}

/*
 * MSI-X programmed with garbage: every entry an address outside the
 * interrupt window (0xfee00000) and all-ones data, unmasked, MSI-X
 * enabled, queue 0 and config changes on vector 0; then an honest
 * request, whose completion interrupt goes nowhere. The monitor must not
 * die of it (KVM refuses such a message); entries masked again after.
 */
/* MSI-X Enable (message control bit 15) on or off. */
static void msix_enable(bool on)
{
	uint8_t cap = pci_find_cap(&vp.pci, PCI_CAP_ID_MSIX, 0);
	uint16_t ctl = pci_read16(&vp.pci, cap + 2);

	pci_write16(&vp.pci, cap + 2, on ? ctl | 0x8000 : ctl & ~0x8000);
}

static void c_msix_garbage(void)
{
	unsigned n = 0;
	volatile uint32_t *t = msix_table(&n);

	if (!t)
		return;
	for (unsigned i = 0; i < n; i++) {
		t[4 * i + 0] = 0xdead0000u + 16 * i;	/* not 0xfeexxxxx */
		t[4 * i + 1] = 0xffffffffu;		/* above 4 GiB too */
		t[4 * i + 2] = 0xffffffffu;
		t[4 * i + 3] = 0;			/* unmasked */
	}
	msix_enable(true);
	mmio_write16(vp.common + VIRTIO_COMMON_MSIX, 0);
	mmio_write16(vp.common + VIRTIO_COMMON_Q_SELECT, 0);
	mmio_write16(vp.common + VIRTIO_COMMON_Q_MSIX, 0);
	get_id_chain();
	virtq_publish(&vq, 0, 1);
}

static void c_msix_garbage_check(void)
{
	unsigned n = 0;
	volatile uint32_t *t = msix_table(&n);

	if (!t)
		return;
	for (unsigned i = 0; i < n; i++)
		t[4 * i + 3] = 1;			/* masked, as at reset */
	msix_enable(false);
	/* A table entry written with 8-byte and odd-sized accesses too. */
	*(volatile uint64_t *)&t[0] = 0xfee00000ull;
	*(volatile uint8_t *)&t[2] = 0x41;
	rt_info("msix_vectors=%u", n);
}

/*
 * The BAR that holds the virtio registers placed over guest RAM, over the
 * IOAPIC and LAPIC, past the physical address width, with memory decode
 * on; a register written through each place; then put back. RAM at the
 * place must read what the guest wrote there (RAM wins over a BAR, as
 * KVM's memory slots do); the monitor must keep serving.
 */
static uint64_t bar_place(unsigned bar, uint64_t addr)
{
	unsigned off = PCI_BAR0 + 4 * bar;
	uint64_t old = pci_read32(&vp.pci, off) & ~0xfull;

	if (vp.pci.bar_64[bar])
		old |= (uint64_t)pci_read32(&vp.pci, off + 4) << 32;
	pci_write32(&vp.pci, off, (uint32_t)addr | (pci_read32(&vp.pci, off) & 0xf));
	if (vp.pci.bar_64[bar])
		pci_write32(&vp.pci, off + 4, (uint32_t)(addr >> 32));
	return old;
}

/* RAM of the guest's own, for the BAR to land on (a BAR is size-aligned). */
static uint8_t bar_ram[64 << 10] __attribute__((section(".noinit.hostile"), aligned(65536)));

static void c_bar_abuse(void)
{
	unsigned bar = vp.caps[VIRTIO_PCI_CAP_COMMON_CFG].bar;
	uint64_t size = vp.pci.bar_size[bar], home = vp.pci.bar_addr[bar];
	uint32_t off = vp.caps[VIRTIO_PCI_CAP_COMMON_CFG].offset;
	uint64_t ram = (uintptr_t)bar_ram;
	static const uint64_t places[] = { 0xfec00000ull, 0xfee00000ull, 0, 1ull << 52,
					   0xfffffffffff00000ull };
	unsigned ram_ok;

	if (!size || !home || size > sizeof(bar_ram))
		return;
	memset(bar_ram, 0x5a, size);
	bar_place(bar, ram);
	mmio_write8(ram + off + VIRTIO_COMMON_STATUS, 0);	/* a reset, if it reached the device */
	ram_ok = mmio_read8(ram + off + VIRTIO_COMMON_STATUS) == 0 &&
		 mmio_read8(ram + off + VIRTIO_COMMON_STATUS + 1) == 0x5a;
	for (unsigned i = 0; i < sizeof(places) / sizeof(places[0]); i++)
		bar_place(bar, places[i]);
	/* Two BARs at one place: both of this function's at the other's address. */
	for (unsigned b = 0; b < PCI_NR_BARS; b++)
		if (b != bar && vp.pci.bar_size[b])
			bar_place(b, home);
	for (unsigned b = 0; b < PCI_NR_BARS; b++)
		if (vp.pci.bar_size[b])
			bar_place(b, vp.pci.bar_addr[b]);
	rt_info("bar_over_ram=%s", ram_ok ? "ram" : "device");
}

struct hostile_case {
	const char *name;
	void (*run)(void);
	bool needs_indirect;
	bool request;		/* published a request whose outcome we classify */
	void (*check)(void);	/* after the outcome is known */
};

static const struct hostile_case cases[] = {
	{ .name = "loop", .run = c_loop, .request = true },
	{ .name = "avail_idx", .run = c_avail_idx, .request = true },
	{ .name = "addr", .run = c_addr, .request = true },
	{ .name = "order", .run = c_order, .request = true },
	{ .name = "wrap", .run = c_wrap, .request = true, .check = c_wrap_check },
	{ .name = "straddle", .run = c_straddle, .request = true },
	{ .name = "huge_len", .run = c_huge_len, .request = true },
	{ .name = "head_oob", .run = c_head_oob, .request = true },
	{ .name = "next_oob", .run = c_next_oob, .request = true },
	{ .name = "no_writable", .run = c_no_writable, .request = true },
	{ .name = "short_header", .run = c_short_header, .request = true },
	{ .name = "indirect_len", .run = c_indirect_len, .needs_indirect = true, .request = true },
	{ .name = "indirect_empty", .run = c_indirect_empty, .needs_indirect = true, .request = true },
	{ .name = "indirect_nested", .run = c_indirect_nested, .needs_indirect = true, .request = true },
	{ .name = "indirect_next", .run = c_indirect_next, .needs_indirect = true, .request = true },
	{ .name = "indirect_addr", .run = c_indirect_addr, .needs_indirect = true, .request = true },
	{ .name = "indirect_loop", .run = c_indirect_loop, .needs_indirect = true, .request = true },
	{ .name = "indirect_next_oob", .run = c_indirect_next_oob, .needs_indirect = true, .request = true },
	{ .name = "notify_bad_queue", .run = c_notify_bad_queue },
	{ .name = "notify_early", .run = c_notify_early },
	{ .name = "ring_addr", .run = c_ring_addr, .request = true },
	{ .name = "mmio_sweep", .run = c_mmio_sweep },
	{ .name = "reset_inflight", .run = c_reset_inflight },
	{ .name = "msix_garbage", .run = c_msix_garbage, .request = true,
	  .check = c_msix_garbage_check },
	{ .name = "bar_abuse", .run = c_bar_abuse },
};

static const char *classify(bool request)
{
	uint64_t now = virtio_now_us(), end = now + WAIT_US, next_status = now;
	uint32_t id, len;
	bool used = false;
	uint8_t s = 0;

	/*
	 * Wait for a used entry or DEVICE_NEEDS_RESET (the status register
	 * only every millisecond: each read is an exit).
	 */
	while (now < end) {
		if (request && vq.used->idx != vq.used_idx) {
			used = virtq_wait_used(&vq, 0, &id, &len) == VQ_OK;
			break;
		}
		if (now >= next_status) {
			s = virtio_get_status(&vp);
			if (s & VIRTIO_STATUS_NEEDS_RESET)
				return "needs_reset";
			next_status = now + 1000;
		}
		cpu_relax();
		now = virtio_now_us();
	}
	if (!request)
		return "done";
	if (!used)
		return "ignored";
	/* Give an asynchronous device time to trip over the rest (more avail entries). */
	end = virtio_now_us() + WAIT_US / 10;
	while (virtio_now_us() < end)
		cpu_relax();
	s = virtio_get_status(&vp);
	if (s & VIRTIO_STATUS_NEEDS_RESET)
		return "needs_reset";
	rt_info("used_id=%u used_len=%u status=%#x", id, len, req.status);
	/* Given back with nothing written: no status to look at. */
	if (len == 0 && req.status == 0xff)
		return "returned";
	switch (req.status) {
	case VIRTIO_BLK_S_OK: return "ok";
	case VIRTIO_BLK_S_IOERR: return "ioerr";
	case VIRTIO_BLK_S_UNSUPP: return "unsupp";
	}
	return "used_bad_status";
}

static uint64_t run(void *arg)
{
	char key[48];

	(void)arg;
	if (!pci_present())
		return rt_failf("no PCI configuration mechanism #1");
	if (!pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_BLOCK), 0, &pci))
		return rt_failf("no virtio-blk device (%04x:%04x) on bus 0", VIRTIO_PCI_VENDOR,
			     VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_BLOCK));
	rt_info("pci=%02x:%02x.%u", pci.bus, pci.dev, pci.fn);
	if (!virtio_pci_probe(&vp, &pci))
		return rt_failf("probe: %s", virtio_error);
	if (!reinit("at start") || !sanity("start"))
		return false;
	rt_info("features=%#lx", vp.features);
	bool indirect = virtio_has(&vp, VIRTIO_F_INDIRECT_DESC);

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hostile_case *hc = &cases[i];

		if (hc->needs_indirect && !indirect) {
			rt_info("hostile_%s=skipped", hc->name);
			continue;
		}
		rt_info("step=%s", hc->name);
		rt_snprintf(key, sizeof(key), "before %s", hc->name);
		if (!reinit(key))
			return false;
		hc->run();
		rt_snprintf(key, sizeof(key), "hostile_%s", hc->name);
		/* Printing at all is the first check: the guest is still running. */
		rt_info("%s=%s", key, classify(hc->request));
		if (hc->check)
			hc->check();
		ncases++;
		rt_snprintf(key, sizeof(key), "after %s", hc->name);
		if (!reinit(key) || !sanity(hc->name))
			return false;
	}
	rt_info("hostile_cases=%u", ncases);
	if (!virtio_reset(&vp))
		return rt_failf("final reset: %s", virtio_error);
	return true;
}

void guest_main(struct hvm_start_info *si)
{
	if (!cpl3_call(run, si))
		rt_fail("%s", rt_why);
	rt_pass();
}
