/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-blk client for guests that use a disk: see vblk.h. */
#include "vblk.h"

char vblk_error[200];

/* struct virtio_blk_config (5.2.4) */
#define CFG_CAPACITY	0
#define CFG_SIZE_MAX	8
#define CFG_SEG_MAX	12
#define CFG_BLK_SIZE	20
#define CFG_WRITEBACK	32

/* Header + data descriptors + status; the data part is cut at size_max. */
#define MAX_CHAIN	(VIRTQ_MAX_SIZE)

static struct virtq_buf chain[MAX_CHAIN];

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rt_vsnprintf(vblk_error, sizeof(vblk_error), fmt, ap);
	va_end(ap);
	return false;
}

bool vblk_open(struct vblk *d, unsigned index, uint64_t extra, unsigned qsize)
{
	struct virtio_pci *vp = &d->vp;
	struct pci_dev pci;
	uint64_t want = VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			VIRTIO_BIT(VIRTIO_BLK_F_RO) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
			VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE) | extra;

	vblk_error[0] = '\0';
	if (!pci_present())
		return fail("no PCI configuration mechanism #1");
	if (!pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_BLOCK), index, &pci))
		return fail("no virtio-blk function #%u (%04x:%04x) on bus 0", index,
			    VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_MODERN(VIRTIO_ID_BLOCK));
	if (!virtio_pci_probe(vp, &pci))
		return fail("probe: %s", virtio_error);
	if (!vp->caps[VIRTIO_PCI_CAP_DEVICE_CFG].present ||
	    vp->caps[VIRTIO_PCI_CAP_DEVICE_CFG].length < 24)
		return fail("no usable device config capability");
	if (!virtio_init(vp, want))
		return fail("init: %s", virtio_error);
	if (!virtq_setup(&d->vq, vp, 0, qsize))
		return fail("queue: %s", virtio_error);
	if (d->vq.size < 4)
		return fail("queue of %u entries", d->vq.size);

	d->capacity = virtio_cfg_read64(vp, CFG_CAPACITY);
	d->ro = virtio_has(vp, VIRTIO_BLK_F_RO);
	d->flush = virtio_has(vp, VIRTIO_BLK_F_FLUSH);
	d->wce = virtio_has(vp, VIRTIO_BLK_F_CONFIG_WCE);
	d->writeback = d->wce ? virtio_cfg_read8(vp, CFG_WRITEBACK) : 0;
	d->blk_size = VBLK_SECTOR;
	if (virtio_has(vp, VIRTIO_BLK_F_BLK_SIZE)) {
		d->blk_size = virtio_cfg_read32(vp, CFG_BLK_SIZE);
		if (d->blk_size < VBLK_SECTOR || d->blk_size > 65536 ||
		    (d->blk_size & (d->blk_size - 1)))
			return fail("blk_size %u", d->blk_size);
	}
	d->size_max = 0;
	if (virtio_has(vp, VIRTIO_BLK_F_SIZE_MAX)) {
		d->size_max = virtio_cfg_read32(vp, CFG_SIZE_MAX) & ~(VBLK_SECTOR - 1);
		if (!d->size_max)
			return fail("size_max below a sector");
	}
	d->seg_max = d->vq.size - 2;
	if (virtio_has(vp, VIRTIO_BLK_F_SEG_MAX)) {
		uint32_t sm = virtio_cfg_read32(vp, CFG_SEG_MAX);

		if (!sm)
			return fail("seg_max 0");
		if (sm < d->seg_max)
			d->seg_max = sm;
	}
	if (d->seg_max > MAX_CHAIN - 2)
		d->seg_max = MAX_CHAIN - 2;
	for (unsigned i = 0; i < VIRTQ_MAX_SIZE; i++)
		d->inflight[i] = NULL;
	if (!virtio_driver_ok(vp))
		return fail("driver_ok: %s", virtio_error);
	return true;
}

int vblk_add(struct vblk *d, struct vblk_req *r, uint32_t type, uint64_t sector, void *buf,
	     uint32_t len)
{
	bool dev_writes = type == VIRTIO_BLK_T_IN;
	unsigned n = 0;
	int head;

	r->hdr.type = type;
	r->hdr.reserved = 0;
	r->hdr.sector = sector;
	r->status = 0xff;
	r->len = len;
	chain[n++] = (struct virtq_buf){ (uintptr_t)&r->hdr, sizeof(r->hdr), false };
	for (uint32_t off = 0; off < len;) {
		uint32_t l = len - off;

		if (d->size_max && l > d->size_max)
			l = d->size_max;
		if (n - 1 >= d->seg_max) {
			fail("%u bytes need more than seg_max %u descriptors of %u", len,
			     d->seg_max, d->size_max);
			return VQ_ERR_TOO_LONG;
		}
		chain[n++] = (struct virtq_buf){ (uintptr_t)buf + off, l, dev_writes };
		off += l;
	}
	chain[n++] = (struct virtq_buf){ (uintptr_t)&r->status, 1, true };
	head = virtq_add(&d->vq, chain, n, false);
	if (head < 0) {
		fail("add: %s", virtio_error);
		return head;
	}
	r->head = head;
	d->inflight[head] = r;
	return head;
}

int vblk_get(struct vblk *d, uint64_t timeout_us, struct vblk_req **out)
{
	uint32_t id, len, want;
	struct vblk_req *r;
	int e = virtq_get(&d->vq, timeout_us, &id, &len);

	*out = NULL;
	if (e) {
		fail("%s", virtio_error);
		return e;
	}
	r = d->inflight[id];
	d->inflight[id] = NULL;
	if (!r) {
		fail("used id %u has no request", id);
		return VQ_ERR_BAD_USED;
	}
	*out = r;
	if (r->status != VIRTIO_BLK_S_OK) {
		fail("request type %u sector %lu len %u: status %u", r->hdr.type, r->hdr.sector,
		     r->len, r->status);
		return 1;
	}
	want = (r->hdr.type == VIRTIO_BLK_T_IN ? r->len : 0) + 1;
	if (len != want) {
		fail("request type %u sector %lu: used len %u, want %u", r->hdr.type,
		     r->hdr.sector, len, want);
		return 1;
	}
	return VQ_OK;
}

int vblk_sync(struct vblk *d, struct vblk_req *r, uint32_t type, uint64_t sector, void *buf,
	      uint32_t len)
{
	struct vblk_req *got;
	int e = vblk_add(d, r, type, sector, buf, len);

	if (e < 0)
		return e;
	vblk_kick(d);
	e = vblk_get(d, VIRTIO_TIMEOUT_US, &got);
	if (e == VQ_OK && got != r) {
		fail("completion for another request");
		return VQ_ERR_BAD_USED;
	}
	return e;
}

const char *vblk_cmdline_arg(const struct hvm_start_info *si, const char *key)
{
	const char *start, *p;
	size_t n = strlen(key);

	if (!si || si->magic != HVM_START_MAGIC || !si->cmdline_paddr)
		return NULL;
	start = (const char *)(uintptr_t)si->cmdline_paddr;
	for (p = start; *p; p++) {
		if (p != start && p[-1] != ' ')
			continue;
		if (memcmp(p, key, n))
			continue;
		if (key[n - 1] == '=')
			return p + n;
		if (p[n] == ' ' || p[n] == '\0')
			return p + n;
	}
	return NULL;
}

uint64_t vblk_parse_u64(const char *p)
{
	uint64_t v = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		for (p += 2;; p++) {
			unsigned c = (unsigned char)*p, dgt;

			if (c >= '0' && c <= '9')
				dgt = c - '0';
			else if (c >= 'a' && c <= 'f')
				dgt = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				dgt = c - 'A' + 10;
			else
				break;
			v = v << 4 | dgt;
		}
		return v;
	}
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	return v;
}
