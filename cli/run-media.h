/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmkit run's disk controller and CD-ROM options (issue 12): cli/run-media.c. */
#ifndef VMKIT_CLI_RUN_MEDIA_H
#define VMKIT_CLI_RUN_MEDIA_H

#include <stdbool.h>

#include "vmkit/config.h"

/* --disk's bus= and media= (and id=): *handled says whether key was one of them. */
int run_disk_media_kv(struct disk_config *d, const char *key, const char *val, bool *handled);
/* After all of a disk's keys: the rules between path, bus and media; what names it in messages. */
int run_check_disk_media(struct disk_config *d, const char *what);
/* --cdrom FILE: a CD-ROM on the default CD-ROM bus (SATA). */
int run_parse_cdrom(struct vm_config *c, const char *arg);
/* --scsihw virtio-scsi-pci|virtio-scsi-single */
int run_parse_scsihw(struct vm_config *c, const char *arg);

/* The bus --cdrom puts its drive on, and a media=cdrom without bus=. */
#define RUN_CDROM_BUS DISK_BUS_SATA

#endif
