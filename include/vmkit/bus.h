/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Port-I/O and MMIO dispatch: devices claim address ranges; the vCPU loop
 * looks up the range an exit falls in and calls the device's ops.
 */
#ifndef VMKIT_BUS_H
#define VMKIT_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct io_ops {
	/* offset is relative to the range's base; len is 1, 2, 4 or 8. */
	void (*read)(void *dev, uint64_t offset, void *data, unsigned int len);
	void (*write)(void *dev, uint64_t offset, const void *data, unsigned int len);
};

struct io_range {
	uint64_t base, len;
	const struct io_ops *ops;
	void *dev;
};

/*
 * Ranges can change while vCPUs run (a guest moving a PCI BAR), so lookups
 * take a read lock; a device's op is called after the lock is dropped, so
 * an op may itself (un)register ranges.
 */
struct io_bus {
	pthread_rwlock_t lock;
	struct io_range *ranges;	/* sorted by base, never overlapping */
	unsigned int nr, cap;
};

void io_bus_init(struct io_bus *bus);
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
		    const struct io_ops *ops, void *dev);
/* Returns false when no device claims addr (the caller applies the bus default). */
bool io_bus_read(struct io_bus *bus, uint64_t addr, void *data, unsigned int len);
bool io_bus_write(struct io_bus *bus, uint64_t addr, const void *data, unsigned int len);
/* Remove the range that starts at base and belongs to dev; -ENOENT if none. */
int io_bus_unregister(struct io_bus *bus, uint64_t base, void *dev);
void io_bus_free(struct io_bus *bus);

#endif
