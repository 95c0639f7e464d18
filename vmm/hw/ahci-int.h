/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Inside the AHCI controller: ports and commands (ahci.c) and ATA/ATAPI (ahci-ata.c). */
#ifndef VMKIT_AHCI_INT_H
#define VMKIT_AHCI_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/ahci.h"
#include "vmkit/scsi.h"

/* ATA status and error bits */
#define ATA_ERR		0x01
#define ATA_DRQ		0x08
#define ATA_DSC		0x10
#define ATA_DRDY	0x40
#define ATA_BSY		0x80
#define ATA_ABRT	0x04
#define ATA_IDNF	0x10
#define ATA_UNC		0x40

struct ahci_port;

/* One command slot with the device. */
struct ahci_cmd {
	struct ahci_port *port;
	unsigned int slot;
	unsigned int gen;		/* the port's reset count when it started */
	uint8_t *hdr;			/* its command header in guest RAM (PRDBC at +4) */
	bool pio;			/* a PIO command: a PIO Setup FIS too */
	uint8_t status, error;		/* the ATA result */
	void *param;			/* a parameter list the translation made (DSM's UNMAP) */
	struct scsi_req *r;		/* the SCSI command it became */
	struct iovec one;		/* param as an iovec */
	uint16_t count;			/* the D2H FIS's count and LBA (CHECK POWER, READ NATIVE MAX) */
	uint64_t lba;
	bool atapi_sig;			/* IDENTIFY to an ATAPI device: its signature in the FIS */
	struct iovec *iov;		/* the PRDT as host buffers */
	unsigned int niov;
	size_t len;
};

struct ahci_port {
	struct ahci *a;
	unsigned int idx;
	struct scsi_lun *lun;		/* NULL: nothing on the port */
	bool atapi;
	bool discard_ignore;
	char serial[21];
	uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
	uint32_t running;		/* slots with the LUN */
	unsigned int gen;
	struct ahci_cmd *cmds[32];
};

/*
 * Start the command in c's H2D FIS (and, for PACKET, the CDB in acmd) with
 * its PRDT in c->iov: 0 when it finished (c->status/error set), or
 * -EINPROGRESS (ahci_cmd_done follows on the LUN's loop).
 */
int ata_start(struct ahci_port *p, struct ahci_cmd *c, const uint8_t *fis, const uint8_t *acmd,
	      bool write);
/* The SCSI result of c->r as ATA status and error. */
void ata_result(struct ahci_port *p, struct ahci_cmd *c);
/* The LUN finished c->r (ahci.c). */
void ahci_cmd_done(struct scsi_req *r);

#endif
