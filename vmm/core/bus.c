// SPDX-License-Identifier: GPL-2.0-or-later
/* Address-range dispatch for port I/O and MMIO exits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/bus.h"

void io_bus_init(struct io_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_rwlock_init(&bus->lock, NULL);
}

static int insert(struct io_bus *bus, uint64_t base, uint64_t len,
		  const struct io_ops *ops, void *dev)
{
	struct io_range *r;
	unsigned int i;

	for (i = 0; i < bus->nr; i++) {
		r = &bus->ranges[i];
		if (base < r->base + r->len && r->base < base + len)
			return -EBUSY;
		if (r->base > base)
			break;
	}
	if (bus->nr == bus->cap) {
		unsigned int cap = bus->cap ? bus->cap * 2 : 16;

		r = realloc(bus->ranges, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		bus->ranges = r;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(*r));
	bus->ranges[i] = (struct io_range){ base, len, ops, dev };
	bus->nr++;
	return 0;
}

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
		    const struct io_ops *ops, void *dev)
{
	int r;

	if (!len || base + len < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	r = insert(bus, base, len, ops, dev);
	pthread_rwlock_unlock(&bus->lock);
	return r;
}

int io_bus_unregister(struct io_bus *bus, uint64_t base, void *dev)
{
	unsigned int i;
	int r = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	for (i = 0; i < bus->nr; i++) {
		if (bus->ranges[i].base != base || bus->ranges[i].dev != dev)
			continue;
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(bus->nr - i - 1) * sizeof(bus->ranges[0]));
		bus->nr--;
		r = 0;
		break;
	}
	pthread_rwlock_unlock(&bus->lock);
	return r;
}

/* Binary search: the bus is consulted on every I/O exit. */
static struct io_range *find(struct io_bus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;
		struct io_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr >= r->base + r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/* A copy of the range holding addr, taken under the lock. */
static bool lookup(struct io_bus *bus, uint64_t addr, struct io_range *out)
{
	struct io_range *r;

	pthread_rwlock_rdlock(&bus->lock);
	r = find(bus, addr);
	if (r)
		*out = *r;
	pthread_rwlock_unlock(&bus->lock);
	return r != NULL;
}

bool io_bus_read(struct io_bus *bus, uint64_t addr, void *data, unsigned int len)
{
	struct io_range r;

	if (!lookup(bus, addr, &r) || !r.ops->read)
		return false;
	r.ops->read(r.dev, addr - r.base, data, len);
	return true;
}

bool io_bus_write(struct io_bus *bus, uint64_t addr, const void *data, unsigned int len)
{
	struct io_range r;

	if (!lookup(bus, addr, &r) || !r.ops->write)
		return false;
	r.ops->write(r.dev, addr - r.base, data, len);
	return true;
}

void io_bus_free(struct io_bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
}
