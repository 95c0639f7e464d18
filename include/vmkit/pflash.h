/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CFI parallel flash with the Intel/Sharp command set (QEMU's
 * pflash_cfi01, as OVMF's QemuFlashFvbServicesRuntimeDxe drives it), one
 * byte wide, 4 KiB blocks, backed by a file: every program and erase
 * reaches the file at once (pwrite), and the file is synced when the guest
 * returns the chip to read-array mode after changing it, and at teardown.
 */
#ifndef VMKIT_PFLASH_H
#define VMKIT_PFLASH_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;
struct pflash;

#define PFLASH_BLOCK_SIZE	4096

/* Commands (first write cycle) */
#define PFLASH_CMD_READ_ARRAY	0xff
#define PFLASH_CMD_PROGRAM	0x10	/* also 0x40 */
#define PFLASH_CMD_ERASE	0x20	/* then PFLASH_CMD_CONFIRM */
#define PFLASH_CMD_CLEAR_STATUS	0x50
#define PFLASH_CMD_READ_STATUS	0x70
#define PFLASH_CMD_READ_ID	0x90
#define PFLASH_CMD_CFI_QUERY	0x98
#define PFLASH_CMD_WRITE_BUFFER	0xe8	/* count - 1, data, PFLASH_CMD_CONFIRM */
#define PFLASH_CMD_CONFIRM	0xd0
#define PFLASH_STATUS_READY	0x80
#define PFLASH_STATUS_ERASE_ERR	0x20
#define PFLASH_STATUS_PROG_ERR	0x10

/*
 * Map the file path as flash ending at gpa_end (it sits just below the
 * code), read-array reads served by KVM slot slot. Its size must be a
 * multiple of the block size. Without persist the file is only read and
 * the guest's changes last until the VM stops (a template shared by all).
 */
int pflash_create(struct vm *vm, const char *path, bool persist, uint64_t gpa_end,
		  unsigned int slot, struct pflash **out, struct vk_err *err);
void pflash_destroy(struct pflash *p);
/*
 * Save/restore: the command state machine as fields of the caller's
 * section, and the contents when they are not persisted to the file
 * (persisted ones are in the file, which the restored VM opens again).
 */
struct ss_writer;
struct ss_section;
void pflash_save(struct pflash *p, struct ss_writer *w);
int pflash_load(struct pflash *p, const struct ss_section *s, struct vk_err *err);

#endif
