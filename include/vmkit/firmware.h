/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Booting through firmware (--firmware bios|uefi): SeaBIOS or OVMF mapped
 * at the top of 4 GiB, the i440FX's PAM-switched shadow RAM below 1 MiB,
 * OVMF's variable store on CFI pflash, the boot order, and the fw_cfg
 * contents firmware reads (vmm/arch/x86/firmware.c, fw-setup.c, pam.c,
 * vmm/hw/pflash.c).
 */
#ifndef VMKIT_FIRMWARE_H
#define VMKIT_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;

/*
 * Debian's images (packages seabios and ovmf), under /usr/share or the
 * directory in $VMKIT_FIRMWARE_DIR (QEMU's -L), e.g. for tests.
 */
#define FW_BIOS_IMAGE		"seabios/bios-256k.bin"
#define FW_OVMF_CODE		"OVMF/OVMF_CODE_4M.fd"
#define FW_OVMF_VARS		"OVMF/OVMF_VARS_4M.fd"
#define FW_VGA_BIOS_IMAGE	"seabios/vgabios-stdvga.bin"	/* --vga std under SeaBIOS */
/* SeaBIOS loads --kernel through QEMU's option ROM, when installed (vmm/arch/x86/fw-setup.c). */
#define FW_LINUXBOOT_ROM	"/usr/share/qemu/linuxboot_dma.bin"
#define FW_IMAGE_MAX		(16 * MiB)
/* path of one of the images above in buf; returns buf. */
const char *fw_image_path(const char *image, char *buf, size_t len);

/*
 * The shadow area's PAM registers: seven bytes of the host bridge's config
 * space, 0x59-0x5f on the i440FX, 0x90-0x96 on the Q35 MCH, laid out alike.
 */
#define PAM_REG_FIRST		0x59
#define PAM_Q35_FIRST		0x90
#define PAM_NR_REGS		7
/* The guest wrote the PAM registers: remap the segments whose mode changed. */
void pam_update(struct vm *vm, const uint8_t regs[PAM_NR_REGS]);
struct pci_device;
/* Make the PAM registers at config offset first of bridge d writable (reset: all ROM). */
void pam_init_regs(struct pci_device *d, unsigned int first);
/* From the bridge's config_write hook: remap if [off, off+len) touched them. */
void pam_config_written(struct pci_device *d, unsigned int first, unsigned int off,
			unsigned int len);

/*
 * Boot order. Each bootable device registers the OpenFirmware path
 * SeaBIOS and OVMF match in the fw_cfg file "bootorder", under a kind
 * and its name (the Proxmox key: virtio0, scsi0, sata1, ide2, net0):
 *
 *	fw_boot_add(vm, FW_BOOT_DISK, "scsi0",
 *		    "/pci@i0cf8/scsi@4/channel@0/disk@0,0");
 *
 * Call it from the device class's create; paths look like
 *	virtio-scsi	/pci@i0cf8/scsi@SLOT/channel@0/disk@TARGET,LUN
 *	AHCI (SATA)	/pci@i0cf8/pci8086,2922@SLOT/drive@PORT/disk@0
 *	virtio-blk	/pci@i0cf8/scsi@SLOT/disk@0,0
 *	virtio-net	/pci@i0cf8/ethernet@SLOT/ethernet-phy@0
 * with SLOT in hex (",FN" when the function is not 0). Devices not named
 * by vm_config.boot_order are not listed: the firmware tries them after.
 * Returns 0, -ENOSPC or -EINVAL (a path longer than FW_BOOT_PATH_MAX, or
 * one OVMF cannot parse: it would ignore the whole file); a VM without
 * firmware ignores the call.
 */
enum fw_boot_kind { FW_BOOT_DISK, FW_BOOT_CDROM, FW_BOOT_NET };
#define FW_BOOT_MAX		64
#define FW_BOOT_PATH_MAX	128
int fw_boot_add(struct vm *vm, enum fw_boot_kind kind, const char *name, const char *path);
/* The same, named prefix + the next free number (virtio0, virtio1...: the --disk order). */
int fw_boot_add_numbered(struct vm *vm, enum fw_boot_kind kind, const char *prefix,
			 const char *path);
/* A PCI function's path, "/pci@i0cf8/" + node@slot[,fn]; returns the length or -EINVAL. */
int fw_boot_pci_path(char *buf, size_t len, const char *node, unsigned int slot,
		     unsigned int fn);
/* The "bootorder" file's text for vm_config.boot_order (NUL-terminated, may be empty). */
int fw_boot_order_text(struct vm *vm, char *buf, size_t len);
/* Whether a --boot order= word is one we know (a kind, or a device name). */
bool fw_boot_order_word_ok(const char *word);

/* After the vCPUs exist: fill fw_cfg (RAM, CPUs, e820, ACPI, SMBIOS, boot order, kernel). */
int x86_firmware_setup(struct vm *vm, struct vk_err *err);
/* SMBIOS tables as fw_cfg etc/smbios/smbios-tables and -anchor (vmm/arch/x86/smbios.c). */
int x86_smbios_fw_cfg(struct vm *vm, struct vk_err *err);

#endif
