/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_blk: drives every modern virtio-blk PCI function (1af4:1042) on
 * bus 0 with the polling driver in lib/virtio.c and checks the device
 * against virtio 1.2 section 5.2:
 *
 *   - config: capacity, blk_size, seg_max/size_max, discard/write-zeroes limits
 *   - GET_ID (the serial), FLUSH when offered
 *   - 64 KiB at the first, middle and last sectors: read what is there
 *     (sum_<sector>= is the FNV-1a 64 of it, for the host to compare), write
 *     a pattern, read it back; with VIRTIO_BLK_F_RO the write must fail
 *     with IOERR and change nothing
 *   - reads and writes at or across the end: IOERR
 *   - requests framed differently (header split, status in the data
 *     descriptor, header and data in one: any layout is allowed since
 *     VERSION_1); a failure here is reported after the remaining steps
 *   - WRITE_ZEROES reads back zeros, DISCARD completes (when offered)
 *   - reads and writes in flight at once, completed in any order (batch_rw)
 *   - the avail ring wraps (3 * queue size requests), and the 16-bit ring
 *     indices wrap (65,536 + GET_IDs, many in flight at once)
 *
 * The pattern is a 64-bit word per 8 bytes, at 512-byte sector s, byte
 * offset o in the sector, for the i'th device found:
 *   low 32 bits: s (truncated), high 32 bits: 0x564d0000 | i << 12 | o
 *
 * Output per device, after "VMKIT-INFO disk=<i>": capacity, features,
 * serial, sum_<sector>, write_zeroes=<sector>+<n>, discard=<sector>+<n>,
 * readonly=1, ... The command line may hold "no-indirect", "no-event-idx",
 * "no-idx-wrap", "no-any-layout", "qsize=<n>" and "pci-reassign" (clear
 * the BARs first, as if no firmware had assigned them, so that lib/pci.c
 * places them).
 *
 * All of it runs at CPL3 (see lib/virtio.h): failures are collected as a
 * message and reported at CPL0.
 */
#include "lib/rt.h"
#include "lib/pci.h"
#include "lib/virtio.h"

RT_TEST("virtio_blk");

#define VIRTIO_ID_BLOCK			2

/* Feature bits (5.2.3) */
#define VIRTIO_BLK_F_SIZE_MAX		1
#define VIRTIO_BLK_F_SEG_MAX		2
#define VIRTIO_BLK_F_GEOMETRY		4
#define VIRTIO_BLK_F_RO			5
#define VIRTIO_BLK_F_BLK_SIZE		6
#define VIRTIO_BLK_F_FLUSH		9
#define VIRTIO_BLK_F_TOPOLOGY		10
#define VIRTIO_BLK_F_CONFIG_WCE		11
#define VIRTIO_BLK_F_MQ			12
#define VIRTIO_BLK_F_DISCARD		13
#define VIRTIO_BLK_F_WRITE_ZEROES	14

/* struct virtio_blk_config (5.2.4) */
#define BLK_CFG_CAPACITY		0
#define BLK_CFG_SIZE_MAX		8
#define BLK_CFG_SEG_MAX			12
#define BLK_CFG_BLK_SIZE		20
#define BLK_CFG_MAX_DISCARD_SECTORS	36
#define BLK_CFG_MAX_DISCARD_SEG		40
#define BLK_CFG_DISCARD_ALIGN		44
#define BLK_CFG_MAX_WZ_SECTORS		48
#define BLK_CFG_MAX_WZ_SEG		52

/* Request types and status (5.2.6) */
#define VIRTIO_BLK_T_IN			0
#define VIRTIO_BLK_T_OUT		1
#define VIRTIO_BLK_T_FLUSH		4
#define VIRTIO_BLK_T_GET_ID		8
#define VIRTIO_BLK_T_DISCARD		11
#define VIRTIO_BLK_T_WRITE_ZEROES	13
#define VIRTIO_BLK_S_OK			0
#define VIRTIO_BLK_S_IOERR		1
#define VIRTIO_BLK_S_UNSUPP		2
#define VIRTIO_BLK_ID_BYTES		20

#define SECTOR			512u
#define REGION_BYTES		65536u
#define REGION_SECTORS		(REGION_BYTES / SECTOR)
#define MAX_DISKS		4
#define SEG_BYTES		4096u
#define IDX_WRAP_REQUESTS	65536u

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_dwz {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct disk {
	unsigned index;
	struct virtio_pci vp;
	struct virtq vq;
	uint64_t capacity;
	uint32_t blk_sectors;		/* logical block in sectors (blk_size / 512) */
	uint32_t seg_bytes;		/* bytes per data descriptor */
	unsigned max_segs;		/* data descriptors per request */
	bool ro;
	char serial[VIRTIO_BLK_ID_BYTES + 1];
};

static struct disk disks[MAX_DISKS];

/* The request header, the discard/write-zeroes range and the status byte. */
static struct {
	struct blk_req_hdr hdr;
	struct blk_dwz dwz;
	uint8_t status;
	char id[VIRTIO_BLK_ID_BYTES];
} req __attribute__((aligned(64)));

static struct virtq_buf bufs[VIRTQ_MAX_SIZE];

/* Data buffers: not in .bss, which the runtime would clear at CPL0. */
#define NOINIT __attribute__((section(".noinit.blk"), aligned(4096)))
static uint8_t wbuf[REGION_BYTES] NOINIT;	/* what we write / expect */
static uint8_t rbuf[REGION_BYTES + SECTOR] NOINIT;	/* what we read */
static uint8_t first_data[REGION_BYTES] NOINIT;	/* the first region as it should be now */

/* Options from the command line */
static bool opt_indirect = true, opt_event_idx = true, opt_idx_wrap = true, opt_reassign;
static bool opt_any_layout = true;
static unsigned opt_qsize = 64;

/* A failure that lets the remaining steps run; reported at the end. */
static char deferred[200];

static void step(const char *name)
{
	rt_info("step=%s", name);
}

/* ---- command line ---- */

static bool word_is(const char *p, const char *w, const char **val)
{
	size_t n = strlen(w);

	if (memcmp(p, w, n))
		return false;
	if (w[n - 1] == '=') {
		*val = p + n;
		return true;
	}
	return p[n] == ' ' || p[n] == '\0';
}

static void parse_cmdline(const struct hvm_start_info *si)
{
	const char *p, *v;

	if (!si || si->magic != HVM_START_MAGIC || !si->cmdline_paddr)
		return;
	for (p = (const char *)(uintptr_t)si->cmdline_paddr; *p; p++) {
		if (p != (const char *)(uintptr_t)si->cmdline_paddr && p[-1] != ' ')
			continue;
		if (word_is(p, "no-indirect", &v))
			opt_indirect = false;
		else if (word_is(p, "no-event-idx", &v))
			opt_event_idx = false;
		else if (word_is(p, "no-idx-wrap", &v))
			opt_idx_wrap = false;
		else if (word_is(p, "pci-reassign", &v))
			opt_reassign = true;
		else if (word_is(p, "no-any-layout", &v))
			opt_any_layout = false;
		else if (word_is(p, "qsize=", &v)) {
			opt_qsize = 0;
			while (*v >= '0' && *v <= '9')
				opt_qsize = opt_qsize * 10 + (*v++ - '0');
		}
	}
}

/* ---- data ---- */

static void fill_pattern(uint8_t *buf, uint64_t sector, unsigned nsect, unsigned disk)
{
	uint64_t *w = (uint64_t *)buf;

	for (unsigned s = 0; s < nsect; s++)
		for (unsigned off = 0; off < SECTOR; off += 8)
			*w++ = (uint32_t)(sector + s) |
			       (uint64_t)(0x564d0000u | disk << 12 | off) << 32;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Compare; on a difference say where (as a disk sector and offset). */
static bool same(const uint8_t *got, const uint8_t *want, size_t n, uint64_t sector,
		 const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			return rt_failf("%s: sector %lu offset %lu reads %#x, want %#x", what,
				     sector + i / SECTOR, i % SECTOR, got[i], want[i]);
	return true;
}

/* ---- requests ---- */

static const char *vq_errname(int r)
{
	switch (r) {
	case VQ_ERR_TIMEOUT: return "timeout";
	case VQ_ERR_NEEDS_RESET: return "needs_reset";
	case VQ_ERR_TOO_LONG: return "too_long";
	case VQ_ERR_BAD_USED: return "bad_used";
	}
	return "?";
}

/*
 * Submit bufs[0..n) on dk's queue. Returns the status byte at *status
 * (for a success, the used len must cover all device-writable bytes), or
 * -1 with rt_why[] set.
 */
static int submit(struct disk *dk, unsigned n, bool indirect, uint32_t want_len,
		  volatile uint8_t *status)
{
	uint32_t len = 0;
	int r;

	*status = 0xff;
	r = virtq_submit(&dk->vq, bufs, n, indirect, &len, VIRTIO_TIMEOUT_US);
	if (r) {
		rt_failf("request type %u sector %lu: %s: %s", req.hdr.type, req.hdr.sector,
		      vq_errname(r), virtio_error);
		return -1;
	}
	/*
	 * 2.7.8: len is what the device wrote, counted from the first
	 * device-writable byte, so a completed request covers data and
	 * status. After an error no data was written: QEMU still counts all
	 * of it, vmkit the status byte alone; either is taken (and shown).
	 */
	if (*status != VIRTIO_BLK_S_OK) {
		rt_info("used_len_on_error=%u", len);
		return *status;
	}
	if (len != want_len) {
		rt_failf("request type %u sector %lu: used len %u, want %u", req.hdr.type,
		      req.hdr.sector, len, want_len);
		return -1;
	}
	return *status;
}

/*
 * A request with header, data split into seg_bytes descriptors (device-
 * writable when the device fills it) and status byte.
 */
static int blk_request(struct disk *dk, uint32_t type, uint64_t sector, void *data,
		       uint32_t len, bool dev_writes, bool indirect)
{
	unsigned n = 0;

	req.hdr.type = type;
	req.hdr.reserved = 0;
	req.hdr.sector = sector;
	bufs[n++] = (struct virtq_buf){ (uintptr_t)&req.hdr, sizeof(req.hdr), false };
	for (uint32_t off = 0; off < len; off += dk->seg_bytes) {
		uint32_t l = len - off < dk->seg_bytes ? len - off : dk->seg_bytes;

		bufs[n++] = (struct virtq_buf){ (uintptr_t)data + off, l, dev_writes };
	}
	bufs[n++] = (struct virtq_buf){ (uintptr_t)&req.status, 1, true };
	return submit(dk, n, indirect && virtio_has(&dk->vp, VIRTIO_F_INDIRECT_DESC),
		      (dev_writes ? len : 0) + 1, &req.status);
}

/* Read or write len bytes from sector on, in as many requests as the limits ask. */
static int blk_rw(struct disk *dk, uint32_t type, uint64_t sector, uint8_t *buf, uint32_t len)
{
	uint32_t chunk = dk->max_segs * dk->seg_bytes;

	while (len) {
		uint32_t l = len < chunk ? len : chunk;
		/* Reads through the indirect table (when negotiated), writes direct. */
		int st = blk_request(dk, type, sector, buf, l, type == VIRTIO_BLK_T_IN,
				     type == VIRTIO_BLK_T_IN && opt_indirect);

		if (st != VIRTIO_BLK_S_OK)
			return st;
		sector += l / SECTOR;
		buf += l;
		len -= l;
	}
	return VIRTIO_BLK_S_OK;
}

static bool expect_status(int st, int want, const char *what)
{
	if (st < 0)
		return false;
	if (st != want)
		return rt_failf("%s: status %d, want %d", what, st, want);
	return true;
}

/* ---- set-up ---- */

/* As after reset with no firmware: memory BARs 0, decode and bus master off. */
static void clear_bars(const struct pci_dev *pci)
{
	uint16_t cmd = pci_read16(pci, PCI_COMMAND);

	pci_write16(pci, PCI_COMMAND, cmd & ~(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER));
	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		uint32_t lo = pci_read32(pci, PCI_BAR0 + 4 * i);

		if (lo & 1)
			continue;
		pci_write32(pci, PCI_BAR0 + 4 * i, 0);
		if (((lo >> 1) & 3) == 2 && i + 1 < PCI_NR_BARS)
			pci_write32(pci, PCI_BAR0 + 4 * ++i, 0);
	}
}

static bool setup(struct disk *dk, const struct pci_dev *pci)
{
	struct virtio_pci *vp = &dk->vp;
	uint64_t want = VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			VIRTIO_BIT(VIRTIO_BLK_F_RO) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
			VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
			VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |
			VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM);

	if (opt_indirect)
		want |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	if (opt_event_idx)
		want |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

	step("probe");
	if (opt_reassign)
		clear_bars(pci);
	if (!virtio_pci_probe(vp, pci))
		return rt_failf("probe: %s", virtio_error);
	for (unsigned t = VIRTIO_PCI_CAP_COMMON_CFG; t <= VIRTIO_PCI_CAP_PCI_CFG; t++) {
		static const char *const names[] = { "", "common", "notify", "isr", "device",
						     "pci_cfg" };
		const struct virtio_cap_info *ci = &vp->caps[t];

		if (ci->present)
			rt_info("cap_%s=%#x:bar%u+%#x/%#x", names[t], ci->cap, ci->bar, ci->offset,
				ci->length);
	}
	for (unsigned b = 0; b < PCI_NR_BARS; b++)
		if (vp->pci.bar_size[b])
			rt_info("bar%u=%#lx/%#lx%s%s", b, vp->pci.bar_addr[b], vp->pci.bar_size[b],
				vp->pci.bar_64[b] ? ",64" : "",
				vp->pci.bar_moved[b] ? ",placed" : "");
	rt_info("notify_off_multiplier=%u", vp->notify_mult);
	rt_info("msix=%u", vp->msix);
	if (!vp->caps[VIRTIO_PCI_CAP_DEVICE_CFG].present)
		return rt_failf("no device config capability");
	if (vp->caps[VIRTIO_PCI_CAP_DEVICE_CFG].length < 24)
		return rt_failf("device config is %u bytes", vp->caps[VIRTIO_PCI_CAP_DEVICE_CFG].length);

	step("init");
	if (!virtio_init(vp, want))
		return rt_failf("init: %s", virtio_error);
	rt_info("offered=%#lx", vp->offered);
	rt_info("features=%#lx", vp->features);
	rt_info("num_queues=%u", vp->num_queues);
	if (!virtq_setup(&dk->vq, vp, 0, opt_qsize))
		return rt_failf("queue: %s", virtio_error);
	rt_info("queue_size_max=%u", dk->vq.max_size);
	rt_info("queue_size=%u", dk->vq.size);
	rt_info("queue_notify_off=%u", dk->vq.notify_off);
	if (dk->vq.size < 4)
		return rt_failf("queue of %u entries is too small for a request", dk->vq.size);

	step("config");
	dk->capacity = virtio_cfg_read64(vp, BLK_CFG_CAPACITY);
	rt_info("capacity=%lu", dk->capacity);
	dk->ro = virtio_has(vp, VIRTIO_BLK_F_RO);
	dk->blk_sectors = 1;
	if (virtio_has(vp, VIRTIO_BLK_F_BLK_SIZE)) {
		uint32_t bs = virtio_cfg_read32(vp, BLK_CFG_BLK_SIZE);

		rt_info("blk_size=%u", bs);
		if (bs < SECTOR || bs > 65536 || (bs & (bs - 1)))
			return rt_failf("blk_size %u", bs);
		dk->blk_sectors = bs / SECTOR;
	}

	/* Chains: header + data + status, within the queue (or indirect table). */
	dk->seg_bytes = SEG_BYTES;
	dk->max_segs = dk->vq.size - 2;
	if (virtio_has(vp, VIRTIO_BLK_F_SIZE_MAX)) {
		uint32_t sm = virtio_cfg_read32(vp, BLK_CFG_SIZE_MAX);

		rt_info("size_max=%u", sm);
		if (sm < SECTOR)
			return rt_failf("size_max %u is less than a sector", sm);
		if (sm < dk->seg_bytes)
			dk->seg_bytes = sm & ~(SECTOR - 1);
	}
	if (virtio_has(vp, VIRTIO_BLK_F_SEG_MAX)) {
		uint32_t sm = virtio_cfg_read32(vp, BLK_CFG_SEG_MAX);

		rt_info("seg_max=%u", sm);
		if (!sm)
			return rt_failf("seg_max 0");
		if (sm < dk->max_segs)
			dk->max_segs = sm;
	}
	if (dk->capacity < 3 * REGION_SECTORS)
		return rt_failf("capacity %lu sectors: the test needs at least %u", dk->capacity,
			     3 * REGION_SECTORS);

	if (!virtio_driver_ok(vp))
		return rt_failf("driver_ok: %s", virtio_error);
	return true;
}

/* ---- checks ---- */

static bool check_get_id(struct disk *dk)
{
	int st;

	step("get_id");
	memset(req.id, 0, sizeof(req.id));
	st = blk_request(dk, VIRTIO_BLK_T_GET_ID, 0, req.id, VIRTIO_BLK_ID_BYTES, true, false);
	if (st < 0)
		return false;
	if (st == VIRTIO_BLK_S_UNSUPP) {
		rt_info("get_id=unsupported");
		dk->serial[0] = '\0';
	} else if (st != VIRTIO_BLK_S_OK) {
		return rt_failf("GET_ID: status %d", st);
	} else {
		/* Up to 20 bytes, NUL-terminated only when shorter. */
		unsigned i;

		for (i = 0; i < VIRTIO_BLK_ID_BYTES && req.id[i]; i++)
			dk->serial[i] = req.id[i] >= 0x21 && req.id[i] < 0x7f ? req.id[i] : '?';
		dk->serial[i] = '\0';
	}
	rt_info("serial=%s", dk->serial);
	return true;
}

/* First, middle and last 64 KiB, on logical block boundaries. */
static void regions(const struct disk *dk, uint64_t r[3])
{
	uint64_t a = dk->blk_sectors;

	r[0] = 0;
	r[1] = dk->capacity / 2 / a * a;
	r[2] = (dk->capacity - REGION_SECTORS) / a * a;
}

static bool check_region(struct disk *dk, uint64_t sector, bool first)
{
	char what[48];
	int st;

	rt_snprintf(what, sizeof(what), "read@%lu", sector);
	step(what);
	st = blk_rw(dk, VIRTIO_BLK_T_IN, sector, rbuf, REGION_BYTES);
	if (!expect_status(st, VIRTIO_BLK_S_OK, what))
		return false;
	uint64_t sum = fnv1a(rbuf, REGION_BYTES);
	rt_info("sum_%lu=%016lx", sector, sum);

	if (dk->ro) {
		/* 5.2.6.2: IOERR for a write, and nothing written. */
		rt_snprintf(what, sizeof(what), "write_ro@%lu", sector);
		step(what);
		fill_pattern(wbuf, sector, REGION_SECTORS, dk->index);
		st = blk_rw(dk, VIRTIO_BLK_T_OUT, sector, wbuf, REGION_BYTES);
		if (!expect_status(st, VIRTIO_BLK_S_IOERR, what))
			return false;
		rt_snprintf(what, sizeof(what), "reread@%lu", sector);
		step(what);
		memcpy(wbuf, rbuf, REGION_BYTES);
		st = blk_rw(dk, VIRTIO_BLK_T_IN, sector, rbuf, REGION_BYTES);
		if (!expect_status(st, VIRTIO_BLK_S_OK, what) ||
		    !same(rbuf, wbuf, REGION_BYTES, sector, "read-only disk changed"))
			return false;
	} else {
		rt_snprintf(what, sizeof(what), "write@%lu", sector);
		step(what);
		fill_pattern(wbuf, sector, REGION_SECTORS, dk->index);
		st = blk_rw(dk, VIRTIO_BLK_T_OUT, sector, wbuf, REGION_BYTES);
		if (!expect_status(st, VIRTIO_BLK_S_OK, what))
			return false;
		rt_snprintf(what, sizeof(what), "verify@%lu", sector);
		step(what);
		memset(rbuf, 0, REGION_BYTES);
		st = blk_rw(dk, VIRTIO_BLK_T_IN, sector, rbuf, REGION_BYTES);
		if (!expect_status(st, VIRTIO_BLK_S_OK, what) ||
		    !same(rbuf, wbuf, REGION_BYTES, sector, what))
			return false;
	}
	if (first)
		memcpy(first_data, wbuf, REGION_BYTES);
	return true;
}

static bool check_past_end(struct disk *dk)
{
	uint64_t cap = dk->capacity, b = dk->blk_sectors;
	int st;

	step("read_past_end");
	st = blk_request(dk, VIRTIO_BLK_T_IN, cap, rbuf, b * SECTOR, true, false);
	if (!expect_status(st, VIRTIO_BLK_S_IOERR, "read at capacity"))
		return false;
	step("read_across_end");
	st = blk_request(dk, VIRTIO_BLK_T_IN, cap - b, rbuf, 2 * b * SECTOR, true, false);
	if (!expect_status(st, VIRTIO_BLK_S_IOERR, "read across the end"))
		return false;
	step("read_far_past_end");
	st = blk_request(dk, VIRTIO_BLK_T_IN, ~0ull / SECTOR / b * b, rbuf, b * SECTOR, true,
			 false);
	if (!expect_status(st, VIRTIO_BLK_S_IOERR, "read at sector 2^55"))
		return false;
	if (dk->ro)
		return true;
	/* A write there must not grow the backing file either (the host checks). */
	step("write_past_end");
	memset(wbuf, 0xee, b * SECTOR);
	st = blk_request(dk, VIRTIO_BLK_T_OUT, cap, wbuf, b * SECTOR, false, false);
	return expect_status(st, VIRTIO_BLK_S_IOERR, "write at capacity");
}

static bool check_flush(struct disk *dk)
{
	int st;

	if (!virtio_has(&dk->vp, VIRTIO_BLK_F_FLUSH))
		return true;
	step("flush");
	req.hdr.type = VIRTIO_BLK_T_FLUSH;
	req.hdr.reserved = 0;
	req.hdr.sector = 0;
	bufs[0] = (struct virtq_buf){ (uintptr_t)&req.hdr, sizeof(req.hdr), false };
	bufs[1] = (struct virtq_buf){ (uintptr_t)&req.status, 1, true };
	st = submit(dk, 2, false, 1, &req.status);
	return expect_status(st, VIRTIO_BLK_S_OK, "flush");
}

/*
 * Any layout (2.6.4, implied by VERSION_1: the device must not assume how
 * the request is cut into descriptors), three ways, each reported as
 * any_layout_<way>=ok|<rt_why> before the step fails on any of them:
 *   split_header: the header in two descriptors of 8
 *   status_in_data: the status byte as the last byte of the data descriptor
 *   header_with_data: a write whose header and data share one descriptor
 *     (it writes back what the first sector holds now, so nothing changes)
 */
static uint8_t hdr_data[16 + 65536] __attribute__((section(".noinit.blk"), aligned(64)));

/* Report one way that failed; the first failure is what the step fails with. */
static void layout_bad(char *bad, size_t n, const char *key)
{
	rt_info("%s=%s", key, rt_why);
	if (!bad[0])
		memcpy(bad, rt_why, n);
}

static bool check_layout(struct disk *dk)
{
	uint32_t len = dk->blk_sectors * SECTOR;
	char bad[sizeof(rt_why)] = "";
	int st;

	if (!opt_any_layout)
		return true;
	step("any_layout");
	req.hdr = (struct blk_req_hdr){ VIRTIO_BLK_T_IN, 0, 0 };
	bufs[0] = (struct virtq_buf){ (uintptr_t)&req.hdr, 8, false };
	bufs[1] = (struct virtq_buf){ (uintptr_t)&req.hdr + 8, 8, false };
	bufs[2] = (struct virtq_buf){ (uintptr_t)rbuf, len, true };
	bufs[3] = (struct virtq_buf){ (uintptr_t)&req.status, 1, true };
	memset(rbuf, 0, len);
	st = submit(dk, 4, false, len + 1, &req.status);
	if (expect_status(st, VIRTIO_BLK_S_OK, "split header") &&
	    same(rbuf, first_data, len, 0, "split header"))
		rt_info("any_layout_split_header=ok");
	else
		layout_bad(bad, sizeof(bad), "any_layout_split_header");
	if (st < 0)
		return false;

	req.hdr = (struct blk_req_hdr){ VIRTIO_BLK_T_IN, 0, 0 };
	bufs[0] = (struct virtq_buf){ (uintptr_t)&req.hdr, sizeof(req.hdr), false };
	bufs[1] = (struct virtq_buf){ (uintptr_t)rbuf, len + 1, true };
	memset(rbuf, 0, len);
	st = submit(dk, 2, false, len + 1, &rbuf[len]);
	if (expect_status(st, VIRTIO_BLK_S_OK, "status in data") &&
	    same(rbuf, first_data, len, 0, "status in data"))
		rt_info("any_layout_status_in_data=ok");
	else
		layout_bad(bad, sizeof(bad), "any_layout_status_in_data");
	if (st < 0)
		return false;

	if (!dk->ro) {
		struct blk_req_hdr h = { VIRTIO_BLK_T_OUT, 0, 0 };

		memcpy(hdr_data, &h, sizeof(h));
		memcpy(hdr_data + sizeof(h), first_data, len);
		bufs[0] = (struct virtq_buf){ (uintptr_t)hdr_data, sizeof(h) + len, false };
		bufs[1] = (struct virtq_buf){ (uintptr_t)&req.status, 1, true };
		req.hdr = h;		/* for messages */
		st = submit(dk, 2, false, 1, &req.status);
		if (expect_status(st, VIRTIO_BLK_S_OK, "header with data"))
			rt_info("any_layout_header_with_data=ok");
		else
			layout_bad(bad, sizeof(bad), "any_layout_header_with_data");
		if (st < 0)
			return false;
	}
	/* Not fatal yet: the steps after this one still tell something. */
	if (bad[0] && !deferred[0])
		rt_snprintf(deferred, sizeof(deferred), "any_layout: %s", bad);
	/* Whatever went wrong, sector 0 must still hold what it did. */
	st = blk_rw(dk, VIRTIO_BLK_T_IN, 0, rbuf, len);
	return expect_status(st, VIRTIO_BLK_S_OK, "any_layout reread") &&
	       same(rbuf, first_data, len, 0, "any_layout reread");
}

static bool dwz_request(struct disk *dk, uint32_t type, uint64_t sector, uint32_t n,
			const char *what)
{
	int st;

	req.hdr.type = type;
	req.hdr.reserved = 0;
	req.hdr.sector = 0;
	req.dwz.sector = sector;
	req.dwz.num_sectors = n;
	req.dwz.flags = 0;
	bufs[0] = (struct virtq_buf){ (uintptr_t)&req.hdr, sizeof(req.hdr), false };
	bufs[1] = (struct virtq_buf){ (uintptr_t)&req.dwz, sizeof(req.dwz), false };
	bufs[2] = (struct virtq_buf){ (uintptr_t)&req.status, 1, true };
	st = submit(dk, 3, false, 1, &req.status);
	return expect_status(st, VIRTIO_BLK_S_OK, what);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static bool check_write_zeroes(struct disk *dk, uint64_t mid)
{
	struct virtio_pci *vp = &dk->vp;

	if (dk->ro || !virtio_has(vp, VIRTIO_BLK_F_WRITE_ZEROES))
		return true;
	step("write_zeroes");
	uint32_t max = virtio_cfg_read32(vp, BLK_CFG_MAX_WZ_SECTORS);
	rt_info("max_write_zeroes_sectors=%u", max);
	rt_info("max_write_zeroes_seg=%u", virtio_cfg_read32(vp, BLK_CFG_MAX_WZ_SEG));
	uint64_t s = align_up(mid + 16, dk->blk_sectors);
	uint32_t n = align_up(16, dk->blk_sectors);
	if (n > max)
		return rt_failf("max_write_zeroes_sectors %u is below %u", max, n);
	if (!dwz_request(dk, VIRTIO_BLK_T_WRITE_ZEROES, s, n, "write_zeroes"))
		return false;
	rt_info("write_zeroes=%lu+%u", s, n);

	step("write_zeroes_verify");
	fill_pattern(wbuf, mid, REGION_SECTORS, dk->index);
	memset(wbuf + (s - mid) * SECTOR, 0, n * SECTOR);
	memset(rbuf, 0xaa, REGION_BYTES);
	int st = blk_rw(dk, VIRTIO_BLK_T_IN, mid, rbuf, REGION_BYTES);
	return expect_status(st, VIRTIO_BLK_S_OK, "write_zeroes_verify") &&
	       same(rbuf, wbuf, REGION_BYTES, mid, "after write_zeroes");
}

static bool check_discard(struct disk *dk, uint64_t last)
{
	struct virtio_pci *vp = &dk->vp;

	if (dk->ro || !virtio_has(vp, VIRTIO_BLK_F_DISCARD))
		return true;
	step("discard");
	uint32_t max = virtio_cfg_read32(vp, BLK_CFG_MAX_DISCARD_SECTORS);
	uint32_t align = virtio_cfg_read32(vp, BLK_CFG_DISCARD_ALIGN);
	rt_info("max_discard_sectors=%u", max);
	rt_info("max_discard_seg=%u", virtio_cfg_read32(vp, BLK_CFG_MAX_DISCARD_SEG));
	rt_info("discard_sector_alignment=%u", align);
	if (align < dk->blk_sectors)
		align = dk->blk_sectors;
	uint64_t s = align_up(last + 16, align);
	uint32_t n = align_up(16, align);
	if (n > max)
		return rt_failf("max_discard_sectors %u is below %u", max, n);
	if (s + n > dk->capacity) {
		rt_info("discard=skipped");
		return true;
	}
	/* What the range reads afterwards is up to the device: not checked. */
	if (!dwz_request(dk, VIRTIO_BLK_T_DISCARD, s, n, "discard"))
		return false;
	rt_info("discard=%lu+%u", s, n);
	return true;
}

/* Single-sector reads of the first region until the avail ring wrapped three times. */
static bool check_ring_wrap(struct disk *dk)
{
	unsigned n = 3 * dk->vq.size, bs = dk->blk_sectors;

	step("ring_wrap");
	for (unsigned i = 0; i < n; i++) {
		uint64_t s = (uint64_t)i * bs % REGION_SECTORS;
		int st = blk_request(dk, VIRTIO_BLK_T_IN, s, rbuf, bs * SECTOR, true,
				     opt_indirect && (i & 1));

		if (!expect_status(st, VIRTIO_BLK_S_OK, "ring_wrap") ||
		    !same(rbuf, first_data + s * SECTOR, bs * SECTOR, s, "ring_wrap"))
			return false;
	}
	return true;
}

/* GET_ID requests in flight at once in idx_wrap: 3 descriptors each. */
#define BATCH_MAX 32
static struct {
	struct blk_req_hdr hdr;
	uint8_t status;
	char id[VIRTIO_BLK_ID_BYTES];
} batch[BATCH_MAX] __attribute__((aligned(64)));

/*
 * Enough GET_IDs that avail->idx and used->idx pass 65535 -> 0, in batches
 * (one notification for up to 32 chains, completions in any order) so that
 * it takes no longer than it must.
 */
static bool check_idx_wrap(struct disk *dk)
{
	char first[VIRTIO_BLK_ID_BYTES];
	unsigned n = IDX_WRAP_REQUESTS + 2 * dk->vq.size, per = dk->vq.size / 3, done = 0;
	int heads[BATCH_MAX];
	uint64_t t0;

	if (!opt_idx_wrap || !dk->serial[0])
		return true;
	step("idx_wrap");
	if (per > BATCH_MAX)
		per = BATCH_MAX;
	memcpy(first, req.id, sizeof(first));
	t0 = virtio_now_us();
	while (done < n) {
		unsigned k = n - done < per ? n - done : per;

		for (unsigned j = 0; j < k; j++) {
			batch[j].hdr = (struct blk_req_hdr){ VIRTIO_BLK_T_GET_ID, 0, 0 };
			batch[j].status = 0xff;
			memset(batch[j].id, 0, sizeof(batch[j].id));
			bufs[0] = (struct virtq_buf){ (uintptr_t)&batch[j].hdr, sizeof(batch[j].hdr),
						      false };
			bufs[1] = (struct virtq_buf){ (uintptr_t)batch[j].id, VIRTIO_BLK_ID_BYTES,
						      true };
			bufs[2] = (struct virtq_buf){ (uintptr_t)&batch[j].status, 1, true };
			heads[j] = virtq_add(&dk->vq, bufs, 3, false);
			if (heads[j] < 0)
				return rt_failf("idx_wrap: add: %s", virtio_error);
		}
		virtq_kick(&dk->vq);
		for (unsigned got = 0; got < k; got++) {
			uint32_t id, len;
			unsigned j;
			int r = virtq_get(&dk->vq, VIRTIO_TIMEOUT_US, &id, &len);

			if (r)
				return rt_failf("idx_wrap, request %u (avail idx %u): %s: %s", done + got,
					     dk->vq.avail_idx, vq_errname(r), virtio_error);
			for (j = 0; j < k && heads[j] != (int)id; j++)
				;
			if (j == k)
				return rt_failf("idx_wrap: used id %u is not in this batch", id);
			heads[j] = -1;
			if (len != VIRTIO_BLK_ID_BYTES + 1)
				return rt_failf("idx_wrap: used len %u, want %u", len,
					     VIRTIO_BLK_ID_BYTES + 1);
			if (batch[j].status != VIRTIO_BLK_S_OK)
				return rt_failf("idx_wrap: GET_ID status %u", batch[j].status);
			if (memcmp(batch[j].id, first, sizeof(first)))
				return rt_failf("idx_wrap: GET_ID %u returned something else", done + got);
		}
		done += k;
	}
	rt_info("idx_wrap_requests=%u", n);
	rt_info("idx_wrap_us=%lu", virtio_now_us() - t0);
	return true;
}

/* Reads (and, on a writable disk, writes) in flight at once in batch_rw. */
static struct {
	struct blk_req_hdr hdr;
	uint8_t status;
} rw_batch[BATCH_MAX] __attribute__((aligned(64)));

/* One batch of k requests of len bytes at sector j * len / 512 of the first region. */
static bool batch_rw_once(struct disk *dk, uint32_t type, unsigned k, uint32_t len)
{
	uint8_t *data = type == VIRTIO_BLK_T_IN ? rbuf : first_data;
	bool dev_writes = type == VIRTIO_BLK_T_IN;
	int heads[BATCH_MAX];

	for (unsigned j = 0; j < k; j++) {
		rw_batch[j].hdr = (struct blk_req_hdr){ type, 0, (uint64_t)j * len / SECTOR };
		rw_batch[j].status = 0xff;
		bufs[0] = (struct virtq_buf){ (uintptr_t)&rw_batch[j].hdr, sizeof(rw_batch[j].hdr),
					      false };
		bufs[1] = (struct virtq_buf){ (uintptr_t)data + j * len, len, dev_writes };
		bufs[2] = (struct virtq_buf){ (uintptr_t)&rw_batch[j].status, 1, true };
		heads[j] = virtq_add(&dk->vq, bufs, 3, false);
		if (heads[j] < 0)
			return rt_failf("batch_rw: add: %s", virtio_error);
	}
	virtq_kick(&dk->vq);
	for (unsigned got = 0; got < k; got++) {
		uint32_t id, ulen;
		unsigned j;
		int r = virtq_get(&dk->vq, VIRTIO_TIMEOUT_US, &id, &ulen);

		if (r)
			return rt_failf("batch_rw: %s: %s", vq_errname(r), virtio_error);
		for (j = 0; j < k && heads[j] != (int)id; j++)
			;
		if (j == k)
			return rt_failf("batch_rw: used id %u is not in this batch", id);
		heads[j] = -1;
		if (rw_batch[j].status != VIRTIO_BLK_S_OK)
			return rt_failf("batch_rw: type %u sector %lu: status %u", type,
				     rw_batch[j].hdr.sector, rw_batch[j].status);
		if (ulen != (dev_writes ? len : 0) + 1)
			return rt_failf("batch_rw: used len %u", ulen);
	}
	return true;
}

/*
 * Many requests in flight at once, completed in any order: the first
 * region written back as it is (so the host's checks still hold), then
 * read in pieces and compared.
 */
static bool check_batch_rw(struct disk *dk)
{
	uint32_t len = dk->seg_bytes >= 2048 ? 2048 : SECTOR;
	unsigned k = dk->vq.size / 3;

	step("batch_rw");
	if (k > BATCH_MAX)
		k = BATCH_MAX;
	if (k * len > REGION_BYTES)
		k = REGION_BYTES / len;
	if (!dk->ro && !batch_rw_once(dk, VIRTIO_BLK_T_OUT, k, len))
		return false;
	memset(rbuf, 0xee, k * len);
	if (!batch_rw_once(dk, VIRTIO_BLK_T_IN, k, len))
		return false;
	if (!same(rbuf, first_data, k * len, 0, "batch_rw"))
		return false;
	rt_info("batch_rw=%u", k);
	return true;
}

static bool test_disk(struct disk *dk, const struct pci_dev *pci)
{
	uint64_t t0 = virtio_now_us(), r[3];
	uint8_t s;

	rt_info("disk=%u", dk->index);
	rt_info("pci=%02x:%02x.%u", pci->bus, pci->dev, pci->fn);
	if (!setup(dk, pci))
		return false;
	if (dk->ro)
		rt_info("readonly=1");
	if (!check_get_id(dk))
		return false;
	regions(dk, r);
	for (unsigned i = 0; i < 3; i++)
		if (!check_region(dk, r[i], i == 0))
			return false;
	if (!check_flush(dk) || !check_past_end(dk) || !check_layout(dk) ||
	    !check_write_zeroes(dk, r[1]) || !check_discard(dk, r[2]) ||
	    !check_ring_wrap(dk) || !check_batch_rw(dk) || !check_idx_wrap(dk) ||
	    !check_flush(dk))
		return false;

	if (deferred[0])
		return rt_failf("%s", deferred);
	step("status");
	s = virtio_get_status(&dk->vp);
	if (s != (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		  VIRTIO_STATUS_DRIVER_OK))
		return rt_failf("device status %#x at the end", s);
	rt_info("requests=%lu", dk->vq.requests);
	rt_info("notifies=%lu", dk->vq.notifies);
	rt_info("notifies_skipped=%lu", dk->vq.notifies_skipped);
	step("reset");
	if (!virtio_reset(&dk->vp))
		return rt_failf("reset: %s", virtio_error);
	rt_info("disk_us=%lu", virtio_now_us() - t0);
	return true;
}

static uint64_t run(void *arg)
{
	struct pci_dev pci;
	unsigned n = 0;

	parse_cmdline(arg);
	if (!pci_present())
		return rt_failf("no PCI configuration mechanism #1");
	while (n < MAX_DISKS && pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_BLOCK),
					 n, &pci)) {
		disks[n].index = n;
		if (!test_disk(&disks[n], &pci))
			return false;
		n++;
	}
	rt_info("disks=%u", n);
	if (!n)
		return rt_failf("no virtio-blk device (%04x:%04x) on bus 0", VIRTIO_PCI_VENDOR,
			     VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_BLOCK));
	return true;
}

void guest_main(struct hvm_start_info *si)
{
	if (!cpl3_call(run, si))
		rt_fail("%s", rt_why);
	rt_pass();
}
