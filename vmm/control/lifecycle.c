// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket and the VM's lifetime: each VM built (the first, and
 * one after every reset) is attached, and detached when it stops, with the
 * SHUTDOWN or RESET event that says why. What clients set (paused, the
 * balloon's target and polling interval) carries over to the next VM.
 */
#include "qmp.h"
#include "vmkit/virtio-balloon.h"

void control_attach(struct control *c, struct vm *vm)
{
	pthread_mutex_lock(&c->vm_lock);
	c->vm = vm;
	vm->ctl = c;
	/* A VM paused before a reset comes back paused: its vCPUs park at once. */
	if (c->paused)
		atomic_store(&vm->pause_req, true);
	/* As QEMU: the balloon's target survives a reset; the guest's driver finds it at probe. */
	if (vm->balloon && c->balloon_target)
		virtio_balloon_set_target(vm->balloon, c->balloon_target);
	if (vm->balloon && c->stats_interval >= 0)
		virtio_balloon_set_stats_interval(vm->balloon, c->stats_interval);
	pthread_cond_broadcast(&c->vm_cond);
	pthread_mutex_unlock(&c->vm_lock);
}

static json_object *shutdown_data(bool guest, const char *reason)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "guest", json_object_new_boolean(guest));
	json_object_object_add(d, "reason", json_object_new_string(reason));
	return d;
}

bool control_detach(struct control *c, enum vm_stop why, bool rebooting)
{
	bool host;
	const char *reason;

	/* A live migration ends (cancelled, if still going) before its VM does. */
	qmp_migrate_join(c);
	pthread_mutex_lock(&c->vm_lock);
	/* So does a backup: its disks are about to close. */
	qmp_backup_end(c, rebooting ? "cancelled: the VM was reset" : "cancelled: the VM stopped");
	if (c->quit) {
		why = c->host_req = VM_STOP_QUIT;
		rebooting = false;
	}
	host = c->host_req == why;
	c->host_req = VM_RUNNING;
	if (c->vm)
		c->vm->ctl = NULL;
	c->vm = NULL;
	c->finished = !rebooting;
	pthread_cond_broadcast(&c->vm_cond);
	switch (why) {
	case VM_STOP_RESET:
		reason = host ? "host-qmp-system-reset" : "guest-reset";
		break;
	case VM_STOP_QUIT:
		reason = host ? "host-qmp-quit" : "host-signal";
		break;
	case VM_STOP_ERROR:
		reason = "host-error";
		break;
	default:
		reason = "guest-shutdown";
		break;
	}
	host = host || why == VM_STOP_QUIT || why == VM_STOP_ERROR;
	qmp_emit(c, rebooting ? "RESET" : "SHUTDOWN", shutdown_data(!host, reason));
	pthread_mutex_unlock(&c->vm_lock);
	return rebooting;
}

void control_event_balloon(struct control *c, uint64_t actual)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "actual", json_object_new_int64(actual));
	qmp_emit(c, "BALLOON_CHANGE", d);
}
