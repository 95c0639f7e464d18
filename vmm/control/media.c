// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP for disks on the SCSI and SATA controllers (issue 12): their names,
 * their query-block entries (CD-ROMs removable, with the tray and the
 * door lock), and QEMU's eject and blockdev-change-medium. Runs on the
 * control thread with the control's vm_lock, as every command does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp.h"
#include "vmkit/ahci.h"
#include "vmkit/blk-backend.h"
#include "vmkit/scsi.h"
#include "vmkit/virtio-scsi.h"
#include "vmkit/vm.h"

/* A disk's QMP name: its id=, else bus and index on that bus (virtio keeps the --disk index). */
const char *qmp_disk_name(const struct vm_config *cfg, unsigned int i, char *buf, size_t len)
{
	static const char *const bus[] = { "virtio", "scsi", "sata" };
	unsigned int k, n = 0;

	if (cfg->disks[i].id)
		return cfg->disks[i].id;
	if (cfg->disks[i].bus == DISK_BUS_VIRTIO) {
		snprintf(buf, len, "virtio%u", i);
		return buf;
	}
	for (k = 0; k < i; k++)
		n += cfg->disks[k].bus == cfg->disks[i].bus && !cfg->disks[k].id;
	snprintf(buf, len, "%s%u", bus[cfg->disks[i].bus], n);
	return buf;
}

struct scsi_lun *qmp_disk_lun(struct vm *vm, unsigned int i)
{
	if (vm->cfg->disks[i].bus == DISK_BUS_SCSI)
		return virtio_scsi_lun(vm, i);
	if (vm->cfg->disks[i].bus == DISK_BUS_SATA)
		return ahci_lun(vm, i);
	return NULL;
}

static json_object *lun_inserted(const struct scsi_lun_info *li, const char *name)
{
	char node[48];

	snprintf(node, sizeof(node), "drive-%s", name);
	return qmp_inserted_obj(&(struct qmp_medium){
		.path = li->path, .node = node, .format = li->format, .readonly = li->readonly,
		.direct = li->direct, .cache = li->cache, .size = li->size,
	});
}

json_object *qmp_lun_block_obj(struct scsi_lun *lun, const char *name)
{
	json_object *o = json_object_new_object();
	struct scsi_lun_info li;
	bool cd;

	scsi_lun_info(lun, &li);
	cd = li.type == SCSI_LUN_CDROM;
	json_object_object_add(o, "device", json_object_new_string(name));
	json_object_object_add(o, "qdev", json_object_new_string(name));
	json_object_object_add(o, "locked", json_object_new_boolean(li.locked));
	json_object_object_add(o, "removable", json_object_new_boolean(cd));
	json_object_object_add(o, "type", json_object_new_string("unknown"));
	if (cd)
		json_object_object_add(o, "tray_open", json_object_new_boolean(li.tray_open));
	if (li.path)
		json_object_object_add(o, "inserted", lun_inserted(&li, name));
	return o;
}

/* The CD-ROM the arguments name ("id" or QEMU's older "device"). */
static int find_cdrom(struct control *c, json_object *args, struct qmp_error *e,
		      unsigned int *disk, struct scsi_lun **lun, const char **name)
{
	const char *want = json_object_get_string(json_object_object_get(args, "id"));
	char buf[32];
	unsigned int i;

	if (!want)
		want = json_object_get_string(json_object_object_get(args, "device"));
	if (!want)
		return qmp_fail(e, "GenericError", "Parameter 'id' is missing");
	for (i = 0; i < c->vm->cfg->nr_disks; i++) {
		if (strcmp(qmp_disk_name(c->vm->cfg, i, buf, sizeof(buf)), want))
			continue;
		*lun = qmp_disk_lun(c->vm, i);
		*disk = i;
		*name = want;
		if (!*lun || !c->vm->cfg->disks[i].cdrom)
			return qmp_fail(e, "GenericError", "Device '%s' is not removable", want);
		return 0;
	}
	return qmp_fail(e, "DeviceNotFound", "Device '%s' not found", want);
}

/*
 * The next build of the VM (after a guest reset) reads the config: it
 * names the medium now in the drive, which outlives a reset as in QEMU.
 */
static void remember(struct control *c, unsigned int disk, const char *path, const char *fmt)
{
	struct disk_config *d = (struct disk_config *)&c->vm->cfg->disks[disk];

	d->path = path ? strdup(path) : NULL;
	snprintf(d->format, sizeof(d->format), "%s", fmt);
}

int qmp_cmd_eject(struct control *c, json_object *args, json_object **ret, struct qmp_error *e)
{
	bool force = json_object_get_boolean(json_object_object_get(args, "force"));
	struct vk_err err = { 0 };
	struct scsi_lun *lun;
	const char *name;
	unsigned int disk;

	if (find_cdrom(c, args, e, &disk, &lun, &name))
		return -1;
	if (scsi_lun_eject(lun, force, &err))
		return qmp_fail(e, "GenericError", "Device '%s' %s", name, err.msg);
	remember(c, disk, NULL, "");
	return 0;
}

int qmp_cmd_change_medium(struct control *c, json_object *args, json_object **ret,
			  struct qmp_error *e)
{
	const char *file = json_object_get_string(json_object_object_get(args, "filename"));
	const char *format = json_object_get_string(json_object_object_get(args, "format"));
	char fmt[DISK_FORMAT_MAX] = "";
	struct vk_err err = { 0 };
	struct scsi_lun *lun;
	const char *name;
	unsigned int disk;

	if (format && (!strcmp(format, "auto") || blk_format_parse(format, fmt)))
		return qmp_fail(e, "GenericError", "Unknown driver '%s'", format);
	if (find_cdrom(c, args, e, &disk, &lun, &name))
		return -1;
	if (scsi_lun_change(lun, file, fmt, &err) == -EBUSY)
		return qmp_fail(e, "GenericError", "Device '%s' %s", name, err.msg);
	if (err.code)
		return qmp_fail(e, "GenericError", "Could not open '%s': %s", file, err.msg);
	remember(c, disk, file, fmt);
	return 0;
}
