// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP migrate and query-migrate (issue 15), for a file destination only
 * for now: migrate {"uri": "file:PATH"} pauses the VM (if it runs), writes
 * RAM and every device's and vCPU's state (include/vmkit/vm-state.h) and
 * leaves it paused, as QEMU leaves a source after a completed migration;
 * `vmkit run --incoming file:PATH` starts from the file. On failure the VM
 * runs again if it ran before. tcp: (live migration) is not done yet.
 */
#include <string.h>

#include "qmp.h"
#include "vmkit/vm-state.h"
#include "vmkit/vm.h"

enum { MIGRATE_NONE, MIGRATE_COMPLETED, MIGRATE_FAILED };

const struct qmp_param qmp_migrate_params[] = {
	{ .name = "uri", .type = json_type_string },
	/* QEMU's old flags, accepted as QEMU does: a file migration has nothing to detach */
	{ .name = "detach", .type = json_type_boolean, .optional = true },
	{ .name = NULL },
};

static json_object *status_event(const char *status)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "status", json_object_new_string(status));
	return d;
}

int qmp_cmd_migrate(struct control *c, json_object *args, json_object **ret,
		    struct qmp_error *e)
{
	const char *uri = json_object_get_string(json_object_object_get(args, "uri"));
	bool was_paused = c->paused;
	struct vk_err err = { 0 };

	if (strncmp(uri, "file:", 5) || !uri[5])
		return qmp_fail(e, "GenericError", "migrate: only file:PATH is supported "
				"(tcp: is not done yet), not '%s'", uri);
	if (!was_paused) {
		vm_pause(c->vm);
		c->paused = true;
		qmp_emit(c, "STOP", NULL);
	}
	qmp_emit(c, "MIGRATION", status_event("active"));
	if (vm_state_save_file(c->vm, uri + 5, &err)) {
		c->migrate_status = MIGRATE_FAILED;
		snprintf(c->migrate_error, sizeof(c->migrate_error), "%s", err.msg);
		qmp_emit(c, "MIGRATION", status_event("failed"));
		if (!was_paused) {
			vm_resume(c->vm);
			c->paused = false;
			qmp_emit(c, "RESUME", NULL);
		}
		return qmp_fail(e, "GenericError", "migrate: %s", err.msg);
	}
	c->migrate_status = MIGRATE_COMPLETED;
	qmp_emit(c, "MIGRATION", status_event("completed"));
	return 0;
}

int qmp_cmd_query_migrate(struct control *c, json_object *args, json_object **ret,
			  struct qmp_error *e)
{
	*ret = json_object_new_object();
	if (c->migrate_status == MIGRATE_NONE)
		return 0;
	json_object_object_add(*ret, "status", json_object_new_string(
		c->migrate_status == MIGRATE_COMPLETED ? "completed" : "failed"));
	if (c->migrate_status == MIGRATE_FAILED)
		json_object_object_add(*ret, "error-desc", json_object_new_string(c->migrate_error));
	return 0;
}
