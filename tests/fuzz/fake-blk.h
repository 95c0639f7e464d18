/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A block backend for the fuzz targets of devices on SCSI LUNs (scsi,
 * ahci): vmm/block/backend.c's entry points on a 1 MiB buffer (a CD-ROM's
 * medium a little smaller), requests completed when the target settles
 * them, in an order of their own (last first), as an engine would later.
 * Every buffer is read or written in full, so ASan sees any that is bad.
 */
#ifndef VMKIT_FUZZ_FAKE_BLK_H
#define VMKIT_FUZZ_FAKE_BLK_H

#include <stdbool.h>

#define FAKE_DISK_SIZE	(1u << 20)

/* Media opened from now on are O_DIRECT (unaligned buffers bounce). */
extern bool fake_blk_direct;
/* Complete everything submitted so far (and what completing submits). */
void fake_blk_settle(void);

#endif
