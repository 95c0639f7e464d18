// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit run's options for disk controllers and CD-ROMs: --disk's bus= and
 * media=, --cdrom (as QEMU's -cdrom), --scsihw (as Proxmox's scsihw). A
 * CD-ROM is read-only and must hold an ISO 9660 image (or be empty);
 * anything else is one line naming the option and exit 2.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "run-media.h"
#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/scsi.h"
#include "vmkit/util.h"

static int media_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int media_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vk_vmsg(fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int run_disk_media_kv(struct disk_config *d, const char *key, const char *val, bool *handled)
{
	*handled = true;
	if (!strcmp(key, "bus") || !strcmp(key, "if")) {
		if (!strcmp(val, "virtio"))
			d->bus = DISK_BUS_VIRTIO;
		else if (!strcmp(val, "scsi"))
			d->bus = DISK_BUS_SCSI;
		else if (!strcmp(val, "sata"))
			d->bus = DISK_BUS_SATA;
		else
			return media_error("--disk: bus=%s: expected virtio, scsi or sata", val);
		d->bus_given = true;
	} else if (!strcmp(key, "media")) {
		if (!strcmp(val, "disk"))
			d->cdrom = false;
		else if (!strcmp(val, "cdrom"))
			d->cdrom = true;
		else
			return media_error("--disk: media=%s: expected disk or cdrom", val);
	} else if (!strcmp(key, "id")) {
		if (!*val || strlen(val) > 31)
			return media_error("--disk: id=%s: expected 1 to 31 characters", val);
		d->id = strdup(val);
	} else {
		*handled = false;
	}
	return 0;
}

int run_check_disk_media(struct disk_config *d, const char *what)
{
	struct vk_err err = { 0 };

	if (!d->cdrom)
		return d->path && *d->path ? 0 : media_error("%s: no path= given", what);
	if (d->readonly_given && !d->readonly)
		return media_error("%s: a CD-ROM is read-only: readonly=off is not possible",
				   what);
	d->readonly = true;
	if (!d->bus_given)
		d->bus = RUN_CDROM_BUS;
	if (!d->path || !*d->path) {
		d->path = NULL;
		if (d->bus == DISK_BUS_VIRTIO)
			return media_error("%s: an empty CD-ROM drive needs bus=scsi or bus=sata (virtio-blk has no removable media)",
					   what);
		return 0;
	}
	/* A qcow2 (or other image) holding an ISO is checked by the guest, not here. */
	if (blk_format_may_be_plain(d->format) && vk_blk_iso_check(d->path, &err))
		return media_error("%s: %s", what, err.msg);
	return 0;
}

int run_parse_cdrom(struct vm_config *c, const char *arg)
{
	struct disk_config *d;

	if (c->nr_disks == VM_MAX_DISKS)
		return media_error("--cdrom: at most %u disks", VM_MAX_DISKS);
	d = &c->disks[c->nr_disks];
	*d = (struct disk_config){ .cache = CACHE_NONE, .cdrom = true, .bus = RUN_CDROM_BUS };
	d->path = *arg ? strdup(arg) : NULL;
	if (run_check_disk_media(d, "--cdrom") < 0) {
		free((char *)d->path);
		return -EINVAL;
	}
	c->nr_disks++;
	return 0;
}

int run_parse_scsihw(struct vm_config *c, const char *arg)
{
	if (!strcmp(arg, "virtio-scsi-pci"))
		c->scsi_single = false;
	else if (!strcmp(arg, "virtio-scsi-single"))
		c->scsi_single = true;
	else
		return media_error("--scsihw %s: expected virtio-scsi-pci or virtio-scsi-single", arg);
	return 0;
}
