// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What firmware reads through fw_cfg on a PC (include/vmkit/firmware.h):
 * RAM size and the e820 map, CPU counts, the ACPI tables with their
 * loader script, SMBIOS, the boot order, and for --kernel with firmware
 * the Linux kernel, initrd and command line in QEMU's keys (OVMF loads
 * them itself; SeaBIOS through the linuxboot_dma option ROM when QEMU's
 * is installed). Filled once the vCPUs exist (the MADT lists them).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/firmware.h"
#include "vmkit/fw-cfg.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"
#include "bzimage.h"

/* Where QEMU (and so the firmware's loaders) put a Linux kernel's parts. */
#define LINUX_SETUP_ADDR	0x10000
#define LINUX_CMDLINE_ADDR	0x20000
#define LINUX_KERNEL_ADDR	0x100000
/* KVM's TSS and identity-map pages under firmware: QEMU's place, listed as reserved. */
#define FW_KVM_PAGES		0xfeffc000ULL

struct fw_e820 {
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

static int add_e820(struct vm *vm)
{
	struct fw_e820 e[3];
	unsigned int n = 0;

	e[n++] = (struct fw_e820){ htole64(0), htole64(vm->low_mem_top), htole32(E820_RAM) };
	if (vm->ram_size > vm->low_mem_top)
		e[n++] = (struct fw_e820){ htole64(MMIO_HOLE_END),
					   htole64(vm->ram_size - vm->low_mem_top),
					   htole32(E820_RAM) };
	e[n++] = (struct fw_e820){ htole64(FW_KVM_PAGES), htole64(0x4000),
				   htole32(E820_RESERVED) };
	return fw_cfg_add_file(vm, "etc/e820", e, n * sizeof(e[0]));
}

static int add_machine(struct vm *vm)
{
	static const uint8_t uuid[16];
	uint32_t fail_wait = htole32(UINT32_MAX);	/* -1: never reboot on boot failure */
	char order[FW_BOOT_MAX * (FW_BOOT_PATH_MAX + 1) + 1];
	int r;

	r = fw_cfg_add_i64(vm, FW_CFG_RAM_SIZE, vm->ram_size);
	if (!r)
		r = fw_cfg_add_i16(vm, FW_CFG_NB_CPUS, vm->nr_vcpus);
	if (!r)
		r = fw_cfg_add_i16(vm, FW_CFG_MAX_CPUS, vm->nr_vcpus);
	if (!r)
		r = fw_cfg_add_bytes(vm, FW_CFG_UUID, uuid, sizeof(uuid));
	if (!r)
		r = fw_cfg_add_i16(vm, FW_CFG_NOGRAPHIC, 0);
	if (!r)
		r = fw_cfg_add_i16(vm, FW_CFG_BOOT_MENU, 0);
	if (!r)
		r = add_e820(vm);
	if (!r)
		r = fw_cfg_add_file(vm, "etc/boot-fail-wait", &fail_wait, 4);
	if (!r)
		r = fw_boot_order_text(vm, order, sizeof(order));
	if (!r)
		r = fw_cfg_add_file(vm, "bootorder", order, strlen(order) + 1);
	return r;
}


static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }

static int add_initrd(struct vm *vm, uint8_t *setup, struct vk_err *err)
{
	_cleanup_free_ void *buf = NULL;
	uint64_t max = MIN((uint64_t)get32(setup + HDR_INITRD_ADDR_MAX) + 1,
			   vm->low_mem_top - 128 * KiB);
	uint32_t at;
	size_t len;
	int r;

	r = vk_read_file(vm->cfg->initrd, &buf, &len, vm->low_mem_top);
	if (r)
		return vk_fail(err, r, "%s: cannot read initrd: %s", vm->cfg->initrd, strerror(-r));
	if (len > max / 2)
		return vk_fail(err, -ENOSPC, "%s: initrd (%zu bytes) does not fit in guest memory",
			       vm->cfg->initrd, len);
	at = ALIGN_DOWN(max - len, 4096);
	put32(setup + HDR_RAMDISK_IMAGE, at);
	put32(setup + HDR_RAMDISK_SIZE, len);
	r = fw_cfg_add_i32(vm, FW_CFG_INITRD_ADDR, at);
	if (!r)
		r = fw_cfg_add_i32(vm, FW_CFG_INITRD_SIZE, len);
	if (!r)
		r = fw_cfg_add_bytes(vm, FW_CFG_INITRD_DATA, buf, len);
	return r ? vk_fail(err, r, "fw_cfg: %s", strerror(-r)) : 0;
}

/* The real-mode setup (patched as a boot loader would) and the protected-mode kernel. */
static int add_kernel_parts(struct vm *vm, uint8_t *k, size_t len, struct vk_err *err)
{
	const char *cmd = vm->cfg->cmdline ? vm->cfg->cmdline : "";
	size_t setup = ((k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4) + 1) * 512;
	int r = 0;

	if (setup >= len)
		return vk_fail(err, -EINVAL, "%s: setup header larger than the file", vm->cfg->kernel);
	k[HDR_TYPE_OF_LOADER] = 0xb0;		/* QEMU's loader ID, which firmware expects */
	k[HDR_LOADFLAGS] |= CAN_USE_HEAP;
	k[HDR_HEAP_END_PTR] = (LINUX_CMDLINE_ADDR - LINUX_SETUP_ADDR - 0x200) & 0xff;
	k[HDR_HEAP_END_PTR + 1] = (LINUX_CMDLINE_ADDR - LINUX_SETUP_ADDR - 0x200) >> 8;
	put32(k + HDR_CMD_LINE_PTR, LINUX_CMDLINE_ADDR);
	if (vm->cfg->initrd)
		r = add_initrd(vm, k, err);
	if (r)
		return r;
	r = fw_cfg_add_i32(vm, FW_CFG_SETUP_ADDR, LINUX_SETUP_ADDR);
	r = r ? r : fw_cfg_add_i32(vm, FW_CFG_SETUP_SIZE, setup);
	r = r ? r : fw_cfg_add_bytes(vm, FW_CFG_SETUP_DATA, k, setup);
	r = r ? r : fw_cfg_add_i32(vm, FW_CFG_KERNEL_ADDR, LINUX_KERNEL_ADDR);
	r = r ? r : fw_cfg_add_i32(vm, FW_CFG_KERNEL_SIZE, len - setup);
	r = r ? r : fw_cfg_add_bytes(vm, FW_CFG_KERNEL_DATA, k + setup, len - setup);
	r = r ? r : fw_cfg_add_i32(vm, FW_CFG_CMDLINE_ADDR, LINUX_CMDLINE_ADDR);
	r = r ? r : fw_cfg_add_i32(vm, FW_CFG_CMDLINE_SIZE, strlen(cmd) + 1);
	r = r ? r : fw_cfg_add_bytes(vm, FW_CFG_CMDLINE_DATA, cmd, strlen(cmd) + 1);
	return r ? vk_fail(err, r, "fw_cfg: %s", strerror(-r)) : 0;
}

/* SeaBIOS runs a kernel through an option ROM; QEMU's is used where it is installed. */
static int add_linuxboot_rom(struct vm *vm)
{
	_cleanup_free_ void *rom = NULL;
	size_t len;

	if (vm->cfg->firmware != FIRMWARE_BIOS ||
	    vk_read_file(FW_LINUXBOOT_ROM, &rom, &len, 64 * KiB))
		return 0;
	return fw_cfg_add_file(vm, "genroms/linuxboot_dma.bin", rom, len);
}

static int add_kernel(struct vm *vm, struct vk_err *err)
{
	_cleanup_free_ uint8_t *k = NULL;
	const char *path = vm->cfg->kernel;
	size_t len;
	int r;

	if (!path)
		return 0;
	r = vk_read_file(path, (void **)&k, &len, vm->low_mem_top);
	if (r)
		return vk_fail(err, r, "%s: cannot read kernel: %s", path, strerror(-r));
	if (len < 0x400 || get32(k + HDR_MAGIC) != 0x53726448 ||
	    (k[HDR_VERSION] | k[HDR_VERSION + 1] << 8) < 0x0206)
		return vk_fail(err, -ENOEXEC,
			       "%s: with --firmware, --kernel takes a Linux bzImage (boot protocol 2.06 or later)",
			       path);
	r = add_kernel_parts(vm, k, len, err);
	if (!r && (r = add_linuxboot_rom(vm)))
		return vk_fail(err, r, "fw_cfg: %s", strerror(-r));
	return r;
}

int x86_firmware_setup(struct vm *vm, struct vk_err *err)
{
	int r = add_machine(vm);

	if (r)
		return vk_fail(err, r, "fw_cfg: %s", strerror(-r));
	r = x86_acpi_build_fw_cfg(vm, err);
	if (!r)
		r = x86_smbios_fw_cfg(vm, err);
	if (!r)
		r = add_kernel(vm, err);
	return r;
}
