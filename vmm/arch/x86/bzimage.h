/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Linux x86 boot protocol's setup header and zero page
 * (Documentation/arch/x86/boot.rst): the offsets the direct-boot loader
 * (boot.c) and the firmware's kernel keys (fw-setup.c) read and patch.
 */
#ifndef VMKIT_X86_BZIMAGE_H
#define VMKIT_X86_BZIMAGE_H

#define HDR_SETUP_SECTS		0x1f1
#define HDR_BOOT_FLAG		0x1fe
#define HDR_MAGIC		0x202
#define HDR_VERSION		0x206
#define HDR_TYPE_OF_LOADER	0x210
#define HDR_LOADFLAGS		0x211
#define HDR_RAMDISK_IMAGE	0x218
#define HDR_RAMDISK_SIZE	0x21c
#define HDR_HEAP_END_PTR	0x224
#define HDR_CMD_LINE_PTR	0x228
#define HDR_INITRD_ADDR_MAX	0x22c
#define HDR_KERNEL_ALIGNMENT	0x230
#define HDR_XLOADFLAGS		0x236
#define HDR_CMDLINE_SIZE	0x238
#define HDR_INIT_SIZE		0x260
#define BP_ACPI_RSDP_ADDR	0x070
#define BP_EXT_RAMDISK_IMAGE	0x0c0
#define BP_EXT_RAMDISK_SIZE	0x0c4
#define BP_E820_ENTRIES		0x1e8
#define BP_E820_TABLE		0x2d0
#define BP_E820_MAX		128
#define LOADED_HIGH		0x01	/* loadflags */
#define CAN_USE_HEAP		0x80	/* loadflags */
#define XLF_KERNEL_64		0x01	/* xloadflags */
#define BZIMAGE_LOAD_ADDR	0x100000

#endif
