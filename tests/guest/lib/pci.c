/* SPDX-License-Identifier: GPL-2.0-or-later */
/* PCI configuration mechanism #1 on bus 0, memory BARs, capabilities. */
#include "pci.h"

char pci_error[128];

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rt_vsnprintf(pci_error, sizeof(pci_error), fmt, ap);
	va_end(ap);
}

static void cfg_addr(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
	outl(0xcf8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xfc));
}

static uint32_t raw_read32(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
	cfg_addr(bus, dev, fn, off);
	return inl(0xcfc);
}

/* Narrow accesses use the byte lanes of 0xCFC that match the offset. */
uint32_t pci_read32(const struct pci_dev *d, unsigned off)
{
	return raw_read32(d->bus, d->dev, d->fn, off);
}

uint16_t pci_read16(const struct pci_dev *d, unsigned off)
{
	cfg_addr(d->bus, d->dev, d->fn, off);
	return inw(0xcfc + (off & 2));
}

uint8_t pci_read8(const struct pci_dev *d, unsigned off)
{
	cfg_addr(d->bus, d->dev, d->fn, off);
	return inb(0xcfc + (off & 3));
}

void pci_write32(const struct pci_dev *d, unsigned off, uint32_t v)
{
	cfg_addr(d->bus, d->dev, d->fn, off);
	outl(0xcfc, v);
}

void pci_write16(const struct pci_dev *d, unsigned off, uint16_t v)
{
	cfg_addr(d->bus, d->dev, d->fn, off);
	outw(0xcfc + (off & 2), v);
}

void pci_write8(const struct pci_dev *d, unsigned off, uint8_t v)
{
	cfg_addr(d->bus, d->dev, d->fn, off);
	outb(0xcfc + (off & 3), v);
}

bool pci_present(void)
{
	uint32_t saved = inl(0xcf8), latch;

	outl(0xcf8, 0x80000000u);
	latch = inl(0xcf8);
	outl(0xcf8, saved);
	return latch == 0x80000000u;
}

/* Visit every function on bus 0; stop early when fn returns true. */
static bool for_each_function(bool (*fn)(struct pci_dev *d, void *arg), void *arg)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		unsigned nfn = 1;

		for (unsigned f = 0; f < nfn; f++) {
			uint32_t id = raw_read32(0, dev, f, PCI_VENDOR_ID);
			struct pci_dev d = { .bus = 0, .dev = dev, .fn = f };

			if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0)
				continue;
			/* Header type bit 7 on function 0: functions 1-7 exist. */
			if (f == 0 && (raw_read32(0, dev, 0, 0x0c) >> 16) & 0x80)
				nfn = 8;
			d.vendor = id & 0xffff;
			d.device = id >> 16;
			if (fn(&d, arg))
				return true;
		}
	}
	return false;
}

struct find_arg {
	uint16_t vendor, device;
	unsigned index;
	struct pci_dev *out;
};

static bool find_one(struct pci_dev *d, void *arg)
{
	struct find_arg *a = arg;

	if (d->vendor != a->vendor || d->device != a->device)
		return false;
	if (a->index--)
		return false;
	*a->out = *d;
	return true;
}

bool pci_find(uint16_t vendor, uint16_t device, unsigned index, struct pci_dev *d)
{
	struct find_arg a = { vendor, device, index, d };

	memset(d, 0, sizeof(*d));
	return for_each_function(find_one, &a);
}

/*
 * Size the memory BARs of d (memory decode must be off: the all-ones probe
 * would otherwise briefly map the BAR at the top of the address space).
 * Fills bar_addr/bar_size/bar_64; returns the number of memory BARs.
 */
static unsigned size_bars(struct pci_dev *d)
{
	unsigned n = 0;

	/* Only type-0 headers have six BARs; a bridge's two are not ours to move. */
	if ((pci_read8(d, PCI_HEADER_TYPE) & 0x7f) != 0)
		return 0;
	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		unsigned off = PCI_BAR0 + 4 * i;
		uint32_t lo = pci_read32(d, off), hi = 0, mlo, mhi = 0xffffffffu;
		bool is64;

		d->bar_addr[i] = d->bar_size[i] = 0;
		d->bar_64[i] = false;
		if (lo & 1)
			continue;			/* I/O BAR */
		is64 = ((lo >> 1) & 3) == 2;
		if (is64 && i == PCI_NR_BARS - 1)
			break;				/* malformed: no upper half */
		pci_write32(d, off, 0xffffffffu);
		mlo = pci_read32(d, off);
		pci_write32(d, off, lo);
		if (is64) {
			hi = pci_read32(d, off + 4);
			pci_write32(d, off + 4, 0xffffffffu);
			mhi = pci_read32(d, off + 4);
			pci_write32(d, off + 4, hi);
		}
		uint64_t mask = ((uint64_t)mhi << 32) | (mlo & ~0xfu);
		if (mlo & ~0xfu) {
			d->bar_size[i] = ~mask + 1;
			d->bar_addr[i] = ((uint64_t)hi << 32) | (lo & ~0xfu);
			d->bar_64[i] = is64;
			n++;
		}
		if (is64)
			i++;				/* the upper half is not a BAR */
	}
	return n;
}

/* Memory ranges the other functions on bus 0 decode (or will once enabled). */
#define MAX_USED 64

struct used_ranges {
	const struct pci_dev *self;
	unsigned n;
	uint64_t base[MAX_USED], size[MAX_USED];
};

static bool collect_used(struct pci_dev *d, void *arg)
{
	struct used_ranges *u = arg;
	uint16_t cmd;

	if (d->dev == u->self->dev && d->fn == u->self->fn)
		return false;
	cmd = pci_read16(d, PCI_COMMAND);
	if (cmd & PCI_COMMAND_MEMORY)
		pci_write16(d, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
	size_bars(d);
	if (cmd & PCI_COMMAND_MEMORY)
		pci_write16(d, PCI_COMMAND, cmd);
	for (unsigned i = 0; i < PCI_NR_BARS && u->n < MAX_USED; i++) {
		if (!d->bar_size[i] || !d->bar_addr[i])
			continue;
		u->base[u->n] = d->bar_addr[i];
		u->size[u->n] = d->bar_size[i];
		u->n++;
	}
	return false;
}

static bool overlaps_used(const struct used_ranges *u, uint64_t a, uint64_t size)
{
	for (unsigned i = 0; i < u->n; i++)
		if (a < u->base[i] + u->size[i] && u->base[i] < a + size)
			return true;
	return false;
}

/* Lowest size-aligned address in the window that nothing else decodes. */
static uint64_t alloc_window(const struct used_ranges *u, uint64_t size)
{
	for (uint64_t a = PCI_WINDOW_START; a + size <= PCI_WINDOW_END; a += size)
		if (!overlaps_used(u, a, size))
			return a;
	return 0;
}

static bool needs_placing(const struct pci_dev *d, unsigned i)
{
	uint64_t a = d->bar_addr[i];

	/* 0: never assigned. Above 4 GiB: out of the runtime's identity map. */
	return d->bar_size[i] && (!a || a + d->bar_size[i] > (4ull << 30));
}

bool pci_enable(struct pci_dev *d)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	static struct used_ranges used;
	bool have_used = false;

	pci_error[0] = '\0';
	pci_write16(d, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
	size_bars(d);
	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		d->bar_moved[i] = false;
		if (!needs_placing(d, i))
			continue;
		if (!have_used) {
			/* Our own BARs that stay put count as used too. */
			memset(&used, 0, sizeof(used));
			used.self = d;
			for (unsigned j = 0; j < PCI_NR_BARS; j++)
				if (!needs_placing(d, j) && d->bar_size[j] && used.n < MAX_USED) {
					used.base[used.n] = d->bar_addr[j];
					used.size[used.n++] = d->bar_size[j];
				}
			for_each_function(collect_used, &used);
			have_used = true;
		}
		uint64_t a = alloc_window(&used, d->bar_size[i]);
		if (!a) {
			set_error("no room for BAR%u (%#lx bytes) in [%#llx, %#llx)", i,
				  d->bar_size[i], PCI_WINDOW_START, PCI_WINDOW_END);
			return false;
		}
		unsigned off = PCI_BAR0 + 4 * i;
		uint32_t flags = pci_read32(d, off) & 0xf;
		pci_write32(d, off, (uint32_t)a | flags);
		if (d->bar_64[i])
			pci_write32(d, off + 4, (uint32_t)(a >> 32));
		uint64_t got = pci_read32(d, off) & ~0xfu;
		if (d->bar_64[i])
			got |= (uint64_t)pci_read32(d, off + 4) << 32;
		if (got != a) {
			set_error("BAR%u reads back %#lx after writing %#lx", i, got, a);
			return false;
		}
		d->bar_addr[i] = a;
		d->bar_moved[i] = true;
		if (used.n < MAX_USED) {
			used.base[used.n] = a;
			used.size[used.n++] = d->bar_size[i];
		}
	}
	pci_write16(d, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	uint16_t now = pci_read16(d, PCI_COMMAND);
	if ((now & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) !=
	    (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) {
		set_error("command register reads %#x after enabling memory and master", now);
		return false;
	}
	return true;
}

uint8_t pci_find_cap(const struct pci_dev *d, uint8_t id, uint8_t after)
{
	uint8_t p;

	if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	p = after ? pci_read8(d, after + 1) : pci_read8(d, PCI_CAP_PTR);
	/* At most 48 capabilities fit in 192 bytes: more means a loop. */
	for (unsigned n = 0; n < 48; n++) {
		p &= 0xfc;
		if (p < 0x40)
			return 0;
		if (pci_read8(d, p) == id)
			return p;
		p = pci_read8(d, p + 1);
	}
	return 0;
}
