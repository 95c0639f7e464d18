/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QEMU's firmware configuration interface (docs/specs/fw_cfg.rst), the
 * one SeaBIOS and OVMF read their machine description through: a 16-bit
 * selector at port 0x510, a byte-wide data port at 0x511 and a DMA
 * interface at 0x514. Items are numbered (the well-known keys below) or
 * named files listed in the directory at FW_CFG_FILE_DIR.
 *
 * The device exists only when the VM boots through firmware
 * (vm_config.firmware); the rest of the monitor fills it with
 * fw_cfg_add_file() and friends before the first vCPU runs.
 */
#ifndef VMKIT_FW_CFG_H
#define VMKIT_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;

#define FW_CFG_PORT_SEL		0x510	/* 16-bit selector (write); data at +1 */
#define FW_CFG_PORT_DATA	0x511
#define FW_CFG_PORT_DMA		0x514	/* big-endian 64-bit address, two 32-bit halves */

/* Well-known keys */
#define FW_CFG_SIGNATURE	0x00
#define FW_CFG_ID		0x01
#define FW_CFG_UUID		0x02
#define FW_CFG_RAM_SIZE		0x03
#define FW_CFG_NOGRAPHIC	0x04
#define FW_CFG_NB_CPUS		0x05
#define FW_CFG_MACHINE_ID	0x06
#define FW_CFG_KERNEL_ADDR	0x07
#define FW_CFG_KERNEL_SIZE	0x08
#define FW_CFG_KERNEL_CMDLINE	0x09
#define FW_CFG_INITRD_ADDR	0x0a
#define FW_CFG_INITRD_SIZE	0x0b
#define FW_CFG_BOOT_DEVICE	0x0c
#define FW_CFG_NUMA		0x0d
#define FW_CFG_BOOT_MENU	0x0e
#define FW_CFG_MAX_CPUS		0x0f
#define FW_CFG_KERNEL_ENTRY	0x10
#define FW_CFG_KERNEL_DATA	0x11
#define FW_CFG_INITRD_DATA	0x12
#define FW_CFG_CMDLINE_ADDR	0x13
#define FW_CFG_CMDLINE_SIZE	0x14
#define FW_CFG_CMDLINE_DATA	0x15
#define FW_CFG_SETUP_ADDR	0x16
#define FW_CFG_SETUP_SIZE	0x17
#define FW_CFG_SETUP_DATA	0x18
#define FW_CFG_FILE_DIR		0x19
#define FW_CFG_FILE_FIRST	0x20
#define FW_CFG_ARCH_LOCAL	0x8000
#define FW_CFG_E820_TABLE	(FW_CFG_ARCH_LOCAL + 3)

/* FW_CFG_ID bits */
#define FW_CFG_VERSION		0x01
#define FW_CFG_VERSION_DMA	0x02

/* The DMA access structure's control word (big-endian in guest memory). */
#define FW_CFG_DMA_CTL_ERROR	0x01
#define FW_CFG_DMA_CTL_READ	0x02
#define FW_CFG_DMA_CTL_SKIP	0x04
#define FW_CFG_DMA_CTL_SELECT	0x08
#define FW_CFG_DMA_CTL_WRITE	0x10
#define FW_CFG_DMA_SIGNATURE	0x51454d5520434647ULL	/* "QEMU CFG", read at 0x514 */

#define FW_CFG_MAX_FILE_PATH	56
#define FW_CFG_MAX_ITEMS	256

/*
 * Add (or replace) a named file; data is copied. Returns 0 or -EINVAL (name
 * empty or longer than 55 bytes), -ENOSPC (too many items), -ENOMEM,
 * -ENODEV (the VM has no fw_cfg: it boots without firmware).
 */
int fw_cfg_add_file(struct vm *vm, const char *name, const void *data, size_t len);
/* Set a numbered item (a well-known key); data is copied. */
int fw_cfg_add_bytes(struct vm *vm, uint16_t key, const void *data, size_t len);
/* Numbered items holding a little-endian integer, as firmware reads them. */
int fw_cfg_add_i16(struct vm *vm, uint16_t key, uint16_t v);
int fw_cfg_add_i32(struct vm *vm, uint16_t key, uint32_t v);
int fw_cfg_add_i64(struct vm *vm, uint16_t key, uint64_t v);
/*
 * Change a named file's bytes in place: fn(data, len, opaque) runs under
 * the device's lock. Returns 0, -ENOENT (no such file) or -ENODEV. For
 * contents that follow the guest's later choices (the MCFG table follows
 * the Q35's PCIEXBAR) before the firmware reads them.
 */
int fw_cfg_modify_file(struct vm *vm, const char *name,
		       void (*fn)(uint8_t *data, size_t len, void *opaque), void *opaque);
/* Whether the VM has a fw_cfg device. */
bool fw_cfg_present(struct vm *vm);

#endif
