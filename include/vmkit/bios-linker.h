/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QEMU's BIOS linker/loader script (the fw_cfg file "etc/table-loader"):
 * commands that tell SeaBIOS and OVMF to allocate guest memory for fw_cfg
 * files, patch pointers between them once placed, and recompute
 * checksums. It is how the monitor's ACPI (and other) tables reach a
 * guest that boots through firmware. Each command is 128 bytes.
 */
#ifndef VMKIT_BIOS_LINKER_H
#define VMKIT_BIOS_LINKER_H

#include <stddef.h>
#include <stdint.h>

#define BIOS_LINKER_ALLOCATE		1
#define BIOS_LINKER_ADD_POINTER		2
#define BIOS_LINKER_ADD_CHECKSUM	3
#define BIOS_LINKER_ZONE_HIGH		1	/* anywhere in RAM */
#define BIOS_LINKER_ZONE_FSEG		2	/* the 0xe0000-0xfffff segment (an RSDP) */
#define BIOS_LINKER_FILE_LEN		56
#define BIOS_LINKER_ENTRY_LEN		128

struct bios_linker_entry {
	uint32_t command;
	union {
		struct {
			char file[BIOS_LINKER_FILE_LEN];
			uint32_t align;
			uint8_t zone;
		} __attribute__((packed)) alloc;
		struct {
			char dest_file[BIOS_LINKER_FILE_LEN];
			char src_file[BIOS_LINKER_FILE_LEN];
			uint32_t offset;	/* of the pointer in dest_file */
			uint8_t size;		/* 1, 2, 4 or 8 bytes, little-endian */
		} __attribute__((packed)) pointer;
		struct {
			char file[BIOS_LINKER_FILE_LEN];
			uint32_t offset;	/* of the checksum byte */
			uint32_t start, length;	/* the range summed to zero */
		} __attribute__((packed)) cksum;
		uint8_t pad[BIOS_LINKER_ENTRY_LEN - 4];
	};
} __attribute__((packed));

_Static_assert(sizeof(struct bios_linker_entry) == BIOS_LINKER_ENTRY_LEN, "loader entry size");

struct bios_linker {
	struct bios_linker_entry *e;
	unsigned int nr, cap;
	int error;		/* the first failure (-ENOMEM, -EINVAL); later calls do nothing */
};

/* The commands, in the order the firmware runs them; errors collect in l->error. */
void bios_linker_alloc(struct bios_linker *l, const char *file, uint32_t align, uint8_t zone);
void bios_linker_add_pointer(struct bios_linker *l, const char *dest, uint32_t offset,
			     uint8_t size, const char *src);
void bios_linker_add_checksum(struct bios_linker *l, const char *file, uint32_t start,
			      uint32_t length, uint32_t offset);
void bios_linker_free(struct bios_linker *l);

#endif
