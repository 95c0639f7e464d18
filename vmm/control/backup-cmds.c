// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A running VM's backup over QMP (issue 15; `vmkit backup` drives it):
 *
 *   x-vmkit-backup {"job-id": ID?, "compress": bool?, "speed": BYTES_PER_S?,
 *                   "disks": [{"device": D, "target": PATH,
 *                              "sync": "full"|"incremental"?, "bitmap": NAME?}]}
 *
 * starts one job over all the disks named: the VM pauses for as long as it
 * takes to drain its devices and reset the bitmaps (milliseconds), and that
 * moment is the backup's for every disk; the copy then runs beside the
 * guest (vmm/block/backup.c). QEMU's job commands follow it:
 * query-block-jobs (len, offset, status running/concluded, error),
 * block-job-cancel {"device": ID}, job-dismiss {"id": ID}, and the events
 * BLOCK_JOB_COMPLETED / BLOCK_JOB_CANCELLED. A concluded job stays listed
 * until it is dismissed or the next one starts, so that whoever polls it
 * reads how it ended. A VM that stops or resets ends a running job
 * (cancelled, saying so) before its disks are closed; the report stays.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qmp.h"
#include "vmkit/blk-backend.h"
#include "vmkit/blk-backup.h"
#include "vmkit/device.h"
#include "vmkit/vm.h"

const struct qmp_param qmp_backup_params[] = {
	{ .name = "disks", .type = json_type_array },
	{ .name = "job-id", .type = json_type_string, .optional = true },
	{ .name = "compress", .type = json_type_boolean, .optional = true },
	/* QEMU's: bytes/s of the copy (guest writes waiting for it are never slowed) */
	{ .name = "speed", .type = json_type_int, .optional = true },
	{ .name = NULL },
};

const struct qmp_param qmp_block_job_cancel_params[] = {
	{ .name = "device", .type = json_type_string },
	{ .name = "force", .type = json_type_boolean, .optional = true },
	{ .name = NULL },
};

const struct qmp_param qmp_job_dismiss_params[] = {
	{ .name = "id", .type = json_type_string },
	{ .name = NULL },
};

static json_object *job_event(struct control *c, const struct blk_backup_progress *p)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "type", json_object_new_string("backup"));
	json_object_object_add(d, "device", json_object_new_string(c->backup_id));
	json_object_object_add(d, "len", json_object_new_int64((int64_t)p->len));
	json_object_object_add(d, "offset", json_object_new_int64((int64_t)p->offset));
	json_object_object_add(d, "speed", json_object_new_int64((int64_t)p->speed));
	if (p->error[0])
		json_object_object_add(d, "error", json_object_new_string(p->error));
	return d;
}

/* The job's thread, as it ends: an event (no vm_lock here: the VM's detach joins this thread). */
static void job_finished(void *opaque)
{
	struct control *c = opaque;
	struct blk_backup_progress p;

	blk_backup_progress(c->backup, &p);
	qmp_emit(c, c->backup_cancelled ? "BLOCK_JOB_CANCELLED" : "BLOCK_JOB_COMPLETED",
		 job_event(c, &p));
}

bool qmp_backup_running(struct control *c)
{
	struct blk_backup_progress p;

	if (!c->backup)
		return false;
	blk_backup_progress(c->backup, &p);
	return p.running;
}

void qmp_backup_end(struct control *c, const char *why)
{
	if (!c->backup)
		return;
	if (qmp_backup_running(c)) {
		c->backup_cancelled = true;
		blk_backup_cancel(c->backup, why);
	}
	blk_backup_wait(c->backup);
}

void qmp_backup_join(struct control *c)
{
	qmp_backup_end(c, "cancelled");
	blk_backup_free(c->backup);
	c->backup = NULL;
}

/* The disk QMP calls name, if the VM has it and it can be backed up. */
static struct blk_backend *find_disk(struct control *c, const char *name, struct qmp_error *e)
{
	const struct vm_config *cfg = c->vm->cfg;
	struct blk_backend *bb;
	unsigned int i;
	char buf[32];

	for (i = 0; i < cfg->nr_disks; i++) {
		if (strcmp(qmp_disk_name(cfg, i, buf, sizeof(buf)), name))
			continue;
		if (cfg->disks[i].cdrom)
			return qmp_fail(e, "GenericError", "backup: %s is a CD-ROM", name), NULL;
		bb = blk_backend_find(cfg->disks[i].path);
		if (!bb)
			qmp_fail(e, "GenericError", "backup: %s has no open image", name);
		return bb;
	}
	qmp_fail(e, "DeviceNotFound", "Device '%s' not found", name);
	return NULL;
}

/* One element of "disks", checked, into s. */
static int parse_disk(struct control *c, json_object *o, struct blk_backup_disk_spec *s,
		      struct qmp_error *e)
{
	json_object *dev, *target, *sync, *bitmap;
	const char *sy;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "device", &dev) ||
	    !json_object_is_type(dev, json_type_string) ||
	    !json_object_object_get_ex(o, "target", &target) ||
	    !json_object_is_type(target, json_type_string) || !*json_object_get_string(target))
		return qmp_fail(e, "GenericError", "backup: each of 'disks' is an object with "
				"'device' and 'target' strings");
	s->name = json_object_get_string(dev);
	s->target = json_object_get_string(target);
	if (json_object_object_get_ex(o, "bitmap", &bitmap)) {
		if (!json_object_is_type(bitmap, json_type_string) ||
		    !*json_object_get_string(bitmap) || json_object_get_string_len(bitmap) > 1023)
			return qmp_fail(e, "GenericError", "backup: 'bitmap' is a name of 1 to "
					"1023 bytes");
		s->bitmap = json_object_get_string(bitmap);
	}
	if (json_object_object_get_ex(o, "sync", &sync)) {
		sy = json_object_get_string(sync);
		if (!json_object_is_type(sync, json_type_string) ||
		    (strcmp(sy, "full") && strcmp(sy, "incremental")))
			return qmp_fail(e, "GenericError", "backup: 'sync' is full or incremental");
		s->incremental = !strcmp(sy, "incremental");
	}
	s->bb = find_disk(c, s->name, e);
	return s->bb ? 0 : -1;
}

int qmp_cmd_backup(struct control *c, json_object *args, json_object **ret, struct qmp_error *e)
{
	struct blk_backup_disk_spec spec[BLK_BACKUP_MAX_DISKS];
	json_object *disks = json_object_object_get(args, "disks"), *v;
	const char *id = "backup";
	bool compress = true, was_paused = c->paused;
	int64_t speed = 0;
	struct vk_err err = { 0 };
	size_t n = json_object_array_length(disks), i;
	int r;

	(void)ret;
	if (json_object_object_get_ex(args, "job-id", &v))
		id = json_object_get_string(v);
	if (json_object_object_get_ex(args, "compress", &v))
		compress = json_object_get_boolean(v);
	if (json_object_object_get_ex(args, "speed", &v))
		speed = json_object_get_int64(v);
	if (speed < 0)
		return qmp_fail(e, "GenericError", "Parameter 'speed' expects a non negative value");
	if (!*id || strlen(id) >= sizeof(c->backup_id))
		return qmp_fail(e, "GenericError", "backup: 'job-id' is 1 to %zu bytes",
				sizeof(c->backup_id) - 1);
	if (!n || n > BLK_BACKUP_MAX_DISKS)
		return qmp_fail(e, "GenericError", "backup: 'disks' names 1 to %d disks",
				BLK_BACKUP_MAX_DISKS);
	if (qmp_backup_running(c))
		return qmp_fail(e, "GenericError", "backup: job '%s' is running", c->backup_id);
	if (qmp_migrate_blocks_cont(c))
		return qmp_fail(e, "GenericError", "backup: %s", qmp_migrate_blocks_cont(c));
	memset(spec, 0, sizeof(spec));
	for (i = 0; i < n; i++)
		if (parse_disk(c, json_object_array_get_idx(disks, i), &spec[i], e))
			return -1;
	qmp_backup_join(c);	/* the last one, concluded: its report is replaced */
	/* This moment is the backup's: nothing in flight, nothing written until the holds are set. */
	if (!was_paused)
		vm_pause(c->vm);
	vm_devices_hold(c->vm, true);
	/*
	 * A VM whose devices cannot be saved (vhost-net) is not drained: a
	 * write in flight now may or may not be in the backup, as after a crash.
	 */
	qmp_devices_drain(c->vm, &err);
	err = (struct vk_err){ 0 };
	snprintf(c->backup_id, sizeof(c->backup_id), "%s", id);
	c->backup_cancelled = false;
	r = blk_backup_start(spec, (unsigned int)n, compress, (uint64_t)speed, job_finished, c,
			     &c->backup, &err);
	vm_devices_hold(c->vm, false);
	if (!was_paused)
		vm_resume(c->vm);
	if (r) {
		c->backup = NULL;
		return qmp_fail(e, "GenericError", "backup: %s", err.msg);
	}
	return 0;
}

int qmp_cmd_query_block_jobs(struct control *c, json_object *args, json_object **ret,
			     struct qmp_error *e)
{
	struct blk_backup_progress p;
	json_object *o;

	(void)args;
	(void)e;
	*ret = json_object_new_array();
	if (!c->backup)
		return 0;
	blk_backup_progress(c->backup, &p);
	o = job_event(c, &p);
	json_object_object_add(o, "status", json_object_new_string(p.running ? "running"
									     : "concluded"));
	json_object_object_add(o, "busy", json_object_new_boolean(p.running));
	json_object_object_add(o, "paused", json_object_new_boolean(false));
	json_object_object_add(o, "ready", json_object_new_boolean(false));
	json_object_object_add(o, "io-status", json_object_new_string("ok"));
	/* vmkit's: guest writes that waited for copy-before-write */
	json_object_object_add(o, "x-held-writes", json_object_new_int64((int64_t)p.held));
	json_object_array_add(*ret, o);
	return 0;
}

static bool is_job(struct control *c, const char *id)
{
	return c->backup && !strcmp(id, c->backup_id);
}

int qmp_cmd_block_job_cancel(struct control *c, json_object *args, json_object **ret,
			     struct qmp_error *e)
{
	const char *id = json_object_get_string(json_object_object_get(args, "device"));

	(void)ret;
	if (!is_job(c, id))
		return qmp_fail(e, "DeviceNotActive", "Block job '%s' not found", id);
	if (!qmp_backup_running(c))
		return qmp_fail(e, "GenericError", "Job '%s' in state 'concluded' cannot accept "
				"command verb 'cancel'", id);
	c->backup_cancelled = true;
	blk_backup_cancel(c->backup, "cancelled");
	return 0;
}

int qmp_cmd_job_dismiss(struct control *c, json_object *args, json_object **ret,
			struct qmp_error *e)
{
	const char *id = json_object_get_string(json_object_object_get(args, "id"));

	(void)ret;
	if (!is_job(c, id))
		return qmp_fail(e, "GenericError", "Job not found");
	if (qmp_backup_running(c))
		return qmp_fail(e, "GenericError", "Job '%s' in state 'running' cannot accept "
				"command verb 'dismiss'", id);
	qmp_backup_join(c);
	return 0;
}
