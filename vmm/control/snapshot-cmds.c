// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP x-vmkit-snapshot {"name": N, "vmstate": PATH?} (issue 15): a
 * snapshot of the running VM, as QEMU's savevm / snapshot-save: the VM
 * pauses, its devices are held and drained, every writable disk gets the
 * internal snapshot N (all or none), and with vmstate RAM and the whole
 * state go to PATH as for migrate file: (include/vmkit/vm-state.h); then
 * the VM runs again if it ran. `vmkit snapshot create NAME SNAP [--memory]`
 * on a running VM uses it; a revert starts the VM from the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qmp.h"
#include "vmkit/blk-backend.h"
#include "vmkit/device.h"
#include "vmkit/vm-state.h"
#include "vmkit/vm.h"

const struct qmp_param qmp_snapshot_params[] = {
	{ .name = "name", .type = json_type_string },
	{ .name = "vmstate", .type = json_type_string, .optional = true },
	{ .name = NULL },
};

/* Taking the state drains every device (and is thrown away). */
int qmp_devices_drain(struct vm *vm, struct vk_err *err)
{
	uint8_t *buf = NULL;
	size_t len;
	int r = vm_state_capture(vm, true, &buf, &len, err);

	free(buf);
	return r;
}

int qmp_cmd_snapshot(struct control *c, json_object *args, json_object **ret,
		     struct qmp_error *e)
{
	const char *name = json_object_get_string(json_object_object_get(args, "name"));
	json_object *v = json_object_object_get(args, "vmstate");
	const char *vmstate = v ? json_object_get_string(v) : NULL;
	bool was_paused = c->paused;
	struct vk_err err = { 0 };
	int r;

	if (!*name || strlen(name) > 255)
		return qmp_fail(e, "GenericError", "snapshot: a name of 1 to 255 bytes");
	if ((r = vm_devices_savable(c->vm, &err)))
		return qmp_fail(e, "GenericError", "snapshot: %s", err.msg);
	if (!was_paused)
		vm_pause(c->vm);
	/* The RAM first (it drains and holds the devices itself), then the disks as they are. */
	if (vmstate)
		r = vm_state_save_file(c->vm, vmstate, &err);
	vm_devices_hold(c->vm, true);
	if (!r && !vmstate)
		r = qmp_devices_drain(c->vm, &err);
	if (!r)
		r = blk_backends_snapshot(name, &err);
	vm_devices_hold(c->vm, false);
	if (!was_paused)
		vm_resume(c->vm);
	if (r && vmstate)
		unlink(vmstate);
	if (r)
		return qmp_fail(e, "GenericError", "snapshot: %s", err.msg);
	return 0;
}
