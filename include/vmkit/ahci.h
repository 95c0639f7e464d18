/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AHCI (an ICH9 SATA controller, PCI 8086:2922): the --disk bus=sata
 * devices on its ports, in order (at most AHCI_PORTS). Disks speak ATA,
 * CD-ROMs ATAPI; both are SCSI LUNs (include/vmkit/scsi.h) underneath, the
 * ATA commands translated to the SCSI ones.
 */
#ifndef VMKIT_AHCI_H
#define VMKIT_AHCI_H

#include "vmkit/util.h"

struct vm;
struct scsi_lun;
struct ahci;

#define AHCI_PORTS	6
#define AHCI_ABAR_SIZE	0x1000

/* A controller for the disks cfg->disks[idx[0..n)], port i for idx[i]. */
int ahci_create(struct vm *vm, const unsigned int *idx, unsigned int n, struct ahci **out,
		struct vk_err *err);
void ahci_destroy(struct ahci *a);
/* The controller's PCI function (for tests driving it through config space). */
struct pci_device *ahci_pci(struct ahci *a);
/* Port p's LUN, or NULL. */
struct scsi_lun *ahci_port_lun(struct ahci *a, unsigned int port);
/* The LUN serving vm->cfg->disks[disk] on the SATA controller, or NULL. */
struct scsi_lun *ahci_lun(struct vm *vm, unsigned int disk);

#endif
