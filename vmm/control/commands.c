// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The QMP commands the control socket serves, with QEMU's names, arguments
 * and return shapes (QEMU's qapi schema), so existing clients work. Each
 * runs on the control thread with the control's vm_lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "qmp.h"
#include "vmkit/display.h"
#include "vmkit/vnc.h"
#include "vmkit/hw.h"
#include "vmkit/virtio-balloon.h"
#include "vmkit/virtio-blk.h"
#include "vmkit/virtio-net.h"
#include "vmkit/net.h"
#include "vmkit/vm.h"

static json_object *status_obj(struct control *c)
{
	json_object *r = json_object_new_object();
	/* Between a reset and the rebuilt VM's attach it is still running, as far as anyone can tell. */
	bool alive = c->vm || !c->finished;
	bool running = alive && !c->paused;
	const char *st = running ? "running" : c->paused ? "paused" : "shutdown";

	json_object_object_add(r, "status", json_object_new_string(st));
	json_object_object_add(r, "singlestep", json_object_new_boolean(false));
	json_object_object_add(r, "running", json_object_new_boolean(running));
	return r;
}

static int cmd_query_status(struct control *c, json_object *args, json_object **ret,
			    struct qmp_error *e)
{
	*ret = status_obj(c);
	return 0;
}

static int cmd_stop(struct control *c, json_object *args, json_object **ret, struct qmp_error *e)
{
	if (c->paused)
		return 0;
	vm_pause(c->vm);
	c->paused = true;
	qmp_emit(c, "STOP", NULL);
	return 0;
}

static int cmd_cont(struct control *c, json_object *args, json_object **ret, struct qmp_error *e)
{
	const char *why = qmp_migrate_blocks_cont(c);

	if (why)
		return qmp_fail(e, "GenericError", "%s", why);
	if (!c->paused)
		return 0;
	vm_resume(c->vm);
	c->paused = false;
	qmp_emit(c, "RESUME", NULL);
	return 0;
}

/* Stop the VM for why, remembering that the request came from here. */
static int request_stop(struct control *c, enum vm_stop why, const char *msg)
{
	if (vm_request_stop(c->vm, why, "%s", msg))
		c->host_req = why;
	return 0;
}

static int cmd_quit(struct control *c, json_object *args, json_object **ret, struct qmp_error *e)
{
	/* Even if the VM is already stopping (for a reset, say): no VM comes after it. */
	c->quit = true;
	return request_stop(c, VM_STOP_QUIT, "quit from the control socket");
}

static int cmd_system_reset(struct control *c, json_object *args, json_object **ret,
			    struct qmp_error *e)
{
	return request_stop(c, VM_STOP_RESET, "reset from the control socket");
}

static int cmd_system_powerdown(struct control *c, json_object *args, json_object **ret,
				struct qmp_error *e)
{
	pm_power_button(c->vm);
	qmp_emit(c, "POWERDOWN", NULL);
	return 0;
}

static int cmd_query_name(struct control *c, json_object *args, json_object **ret,
			  struct qmp_error *e)
{
	*ret = json_object_new_object();
	if (c->cfg->name)
		json_object_object_add(*ret, "name", json_object_new_string(c->cfg->name));
	return 0;
}

static int cmd_query_version(struct control *c, json_object *args, json_object **ret,
			     struct qmp_error *e)
{
	json_object *q = json_object_new_object();
	unsigned int maj = 0, min = 0, mic = 0;
	char pkg[64];

	sscanf(c->version, "%u.%u.%u", &maj, &min, &mic);
	json_object_object_add(q, "major", json_object_new_int(maj));
	json_object_object_add(q, "minor", json_object_new_int(min));
	json_object_object_add(q, "micro", json_object_new_int(mic));
	snprintf(pkg, sizeof(pkg), "vmkit %s", c->version);
	*ret = json_object_new_object();
	json_object_object_add(*ret, "qemu", q);
	json_object_object_add(*ret, "package", json_object_new_string(pkg));
	return 0;
}

static int cmd_query_commands(struct control *c, json_object *args, json_object **ret,
			      struct qmp_error *e)
{
	unsigned int i;

	*ret = json_object_new_array();
	for (i = 0; i < qmp_nr_cmds; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(qmp_cmds[i].name));
		json_object_array_add(*ret, o);
	}
	return 0;
}

/* virsh and libvirt ask these two before anything else. */
static int cmd_query_kvm(struct control *c, json_object *args, json_object **ret,
			 struct qmp_error *e)
{
	*ret = json_object_new_object();
	json_object_object_add(*ret, "enabled", json_object_new_boolean(true));
	json_object_object_add(*ret, "present", json_object_new_boolean(true));
	return 0;
}

static int cmd_query_target(struct control *c, json_object *args, json_object **ret,
			    struct qmp_error *e)
{
	*ret = json_object_new_object();
	json_object_object_add(*ret, "arch", json_object_new_string("x86_64"));
	return 0;
}

/* A vCPU's TID appears once its thread runs; the VM may be just starting. */
static int vcpu_tid(struct vcpu *v)
{
	struct timespec ts = { 0, 1000000 };
	int i, tid;

	for (i = 0; i < 1000 && !(tid = atomic_load(&v->tid)); i++)
		nanosleep(&ts, NULL);
	return tid;
}

static json_object *cpu_obj(struct vm *vm, struct vcpu *v)
{
	const struct vm_topology *t = &vm->cfg->topo;
	json_object *o = json_object_new_object(), *props = json_object_new_object();
	char path[64];

	json_object_object_add(o, "cpu-index", json_object_new_int(v->id));
	snprintf(path, sizeof(path), "/machine/unattached/device[%u]", v->id);
	json_object_object_add(o, "qom-path", json_object_new_string(path));
	json_object_object_add(o, "thread-id", json_object_new_int(vcpu_tid(v)));
	json_object_object_add(props, "socket-id",
			       json_object_new_int(v->id / (t->threads * t->cores)));
	json_object_object_add(props, "core-id",
			       json_object_new_int((v->id / t->threads) % t->cores));
	json_object_object_add(props, "thread-id", json_object_new_int(v->id % t->threads));
	json_object_object_add(o, "props", props);
	json_object_object_add(o, "target", json_object_new_string("x86_64"));
	return o;
}

static int cmd_query_cpus_fast(struct control *c, json_object *args, json_object **ret,
			       struct qmp_error *e)
{
	unsigned int i;

	*ret = json_object_new_array();
	for (i = 0; i < c->vm->nr_vcpus; i++)
		json_object_array_add(*ret, cpu_obj(c->vm, &c->vm->vcpus[i]));
	return 0;
}

json_object *qmp_inserted_obj(const struct qmp_medium *m)
{
	json_object *o = json_object_new_object(), *cache = json_object_new_object();
	json_object *image = json_object_new_object();

	json_object_object_add(o, "file", json_object_new_string(m->path));
	json_object_object_add(o, "node-name", json_object_new_string(m->node));
	json_object_object_add(o, "ro", json_object_new_boolean(m->readonly));
	json_object_object_add(o, "drv", json_object_new_string(m->format));
	if (m->backing_file)
		json_object_object_add(o, "backing_file", json_object_new_string(m->backing_file));
	json_object_object_add(o, "backing_file_depth", json_object_new_int(m->backing_depth));
	json_object_object_add(o, "encrypted", json_object_new_boolean(false));
	json_object_object_add(o, "detect_zeroes", json_object_new_string("off"));
	json_object_object_add(cache, "writeback", json_object_new_boolean(
		m->cache != CACHE_WRITETHROUGH && m->cache != CACHE_DIRECTSYNC));
	/* From the open file's flags, not the option: true only if O_DIRECT is in force. */
	json_object_object_add(cache, "direct", json_object_new_boolean(m->direct));
	json_object_object_add(cache, "no-flush", json_object_new_boolean(m->cache == CACHE_UNSAFE));
	json_object_object_add(o, "cache", cache);
	json_object_object_add(image, "filename", json_object_new_string(m->path));
	json_object_object_add(image, "format", json_object_new_string(m->format));
	json_object_object_add(image, "virtual-size", json_object_new_int64(m->size));
	json_object_object_add(o, "image", image);
	return o;
}

static json_object *inserted_obj(const struct virtio_blk_info *bi, unsigned int i)
{
	char node[32];

	snprintf(node, sizeof(node), "drive-virtio%u", i);
	return qmp_inserted_obj(&(struct qmp_medium){
		.path = bi->path, .node = node, .format = bi->format,
		.backing_file = bi->backing_file, .backing_depth = bi->backing_depth,
		.readonly = bi->readonly, .direct = bi->direct, .cache = bi->cache, .size = bi->size,
	});
}

static int cmd_query_block(struct control *c, json_object *args, json_object **ret,
			   struct qmp_error *e)
{
	struct virtio_blk_info bi;
	unsigned int i;
	char name[32];

	*ret = json_object_new_array();
	for (i = 0; i < VM_MAX_DISKS; i++) {
		json_object *o;

		if (!c->vm->disks[i])
			continue;
		virtio_blk_info(c->vm->disks[i], &bi);
		o = json_object_new_object();
		snprintf(name, sizeof(name), "virtio%u", i);
		json_object_object_add(o, "device", json_object_new_string(name));
		json_object_object_add(o, "qdev", json_object_new_string(name));
		json_object_object_add(o, "locked", json_object_new_boolean(false));
		json_object_object_add(o, "removable", json_object_new_boolean(false));
		json_object_object_add(o, "type", json_object_new_string("unknown"));
		json_object_object_add(o, "inserted", inserted_obj(&bi, i));
		json_object_array_add(*ret, o);
	}
	/* Disks and CD-ROMs on virtio-scsi and AHCI (vmm/control/media.c). */
	for (i = 0; i < c->vm->cfg->nr_disks; i++) {
		struct scsi_lun *lun = qmp_disk_lun(c->vm, i);

		if (lun)
			json_object_array_add(*ret, qmp_lun_block_obj(lun,
						qmp_disk_name(c->vm->cfg, i, name, sizeof(name))));
	}
	return 0;
}

static int no_balloon(struct qmp_error *e)
{
	return qmp_fail(e, "DeviceNotActive", "No balloon device has been activated");
}

static const char *const stat_names[VIRTIO_BALLOON_NR_STATS] = {
	"stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults",
	"stat-free-memory", "stat-total-memory", "stat-available-memory", "stat-disk-caches",
	"stat-htlb-pgalloc", "stat-htlb-pgfail",
};

/* QEMU's guest-stats property: every stat, -1 where the guest gave none. */
static json_object *stats_obj(const struct virtio_balloon_info *bi)
{
	json_object *o = json_object_new_object(), *s = json_object_new_object();
	unsigned int i;

	for (i = 0; i < VIRTIO_BALLOON_NR_STATS; i++)
		json_object_object_add(s, stat_names[i], json_object_new_int64(
			bi->stats_valid & (1u << i) ? (int64_t)bi->stats[i] : -1));
	json_object_object_add(o, "stats", s);
	json_object_object_add(o, "last-update", json_object_new_int64(bi->stats_time));
	return o;
}

static int cmd_query_balloon(struct control *c, json_object *args, json_object **ret,
			     struct qmp_error *e)
{
	struct virtio_balloon_info bi;

	if (!c->vm->balloon)
		return no_balloon(e);
	virtio_balloon_query(c->vm->balloon, &bi);
	*ret = json_object_new_object();
	json_object_object_add(*ret, "actual", json_object_new_int64(bi.actual));
	/* Extensions (QEMU shows these through qom-get guest-stats). */
	json_object_object_add(*ret, "target", json_object_new_int64(bi.target));
	json_object_object_add(*ret, "guest-stats", stats_obj(&bi));
	return 0;
}

static int cmd_balloon(struct control *c, json_object *args, json_object **ret,
		       struct qmp_error *e)
{
	int64_t v = json_object_get_int64(json_object_object_get(args, "value"));

	if (!c->vm->balloon)
		return no_balloon(e);
	if (v <= 0)
		return qmp_fail(e, "GenericError", "Parameter 'value' expects a size");
	virtio_balloon_set_target(c->vm->balloon, v);
	c->balloon_target = v;
	return 0;
}

#define POLLING "guest-stats-polling-interval"

/*
 * qom-get/qom-set of the balloon's guest-stats and guest-stats-polling-interval:
 * the part of QOM that balloon clients (libvirt) use. Any path names the balloon.
 */
static int cmd_qom_get(struct control *c, json_object *args, json_object **ret,
		       struct qmp_error *e)
{
	const char *prop = json_object_get_string(json_object_object_get(args, "property"));
	struct virtio_balloon_info bi;

	if (strcmp(prop, "guest-stats") && strcmp(prop, POLLING))
		return qmp_fail(e, "GenericError", "Property '%s' not found (only a balloon's guest-stats and "
				POLLING ")", prop);
	if (!c->vm->balloon)
		return no_balloon(e);
	virtio_balloon_query(c->vm->balloon, &bi);
	*ret = strcmp(prop, POLLING) ? stats_obj(&bi) : json_object_new_int(bi.stats_interval);
	return 0;
}

static int cmd_qom_set(struct control *c, json_object *args, json_object **ret,
		       struct qmp_error *e)
{
	const char *prop = json_object_get_string(json_object_object_get(args, "property"));
	json_object *val = json_object_object_get(args, "value");
	int64_t v = json_object_get_int64(val);
	int r;

	if (strcmp(prop, POLLING))
		return qmp_fail(e, "GenericError", "Property '%s' cannot be set (only " POLLING ")",
				prop);
	if (!c->vm->balloon)
		return no_balloon(e);
	if (!json_object_is_type(val, json_type_int) || v < 0 || v > 86400)
		return qmp_fail(e, "GenericError", "Parameter 'value' expects seconds from 0 to 86400");
	r = virtio_balloon_set_stats_interval(c->vm->balloon, v);
	if (r)
		return qmp_fail(e, "GenericError", "stats timer: %s", strerror(-r));
	c->stats_interval = v;
	return 0;
}

/*
 * set_link: a NIC by its name, netN (the Nth --net), or its host
 * interface. The state is the backend's, so it outlives guest resets.
 */
static int cmd_set_link(struct control *c, json_object *args, json_object **ret,
			struct qmp_error *e)
{
	const char *name = json_object_get_string(json_object_object_get(args, "name"));
	bool up = json_object_get_boolean(json_object_object_get(args, "up"));
	unsigned int i;
	char id[16];

	for (i = 0; i < c->vm->cfg->nr_nets; i++) {
		const struct net_backend *nb = c->vm->cfg->nets[i].backend;

		snprintf(id, sizeof(id), "net%u", i);
		if (c->vm->nics[i] && (!strcmp(name, id) || (nb && nb->ifname[0] && !strcmp(name, nb->ifname)))) {
			virtio_net_set_link(c->vm->nics[i], up);
			return 0;
		}
	}
	return qmp_fail(e, "DeviceNotFound", "Device '%s' not found", name);
}

static const struct qmp_param set_link_params[] = {
	{ .name = "name", .type = json_type_string },
	{ .name = "up", .type = json_type_boolean },
	{ .name = NULL },
};

static const struct qmp_param balloon_params[] = {
	{ .name = "value", .type = json_type_int },
	{ .name = NULL },
};

static const struct qmp_param qom_get_params[] = {
	{ .name = "path", .type = json_type_string },
	{ .name = "property", .type = json_type_string },
	{ .name = NULL },
};

static const struct qmp_param qom_set_params[] = {
	{ .name = "path", .type = json_type_string },
	{ .name = "property", .type = json_type_string },
	{ .name = "value", .type = json_type_null },	/* any type: checked by the property */
	{ .name = NULL },
};

static const struct qmp_param hmp_params[] = {
	{ .name = "command-line", .type = json_type_string },
	{ .name = "cpu-index", .type = json_type_int, .optional = true },
	{ .name = NULL },
};

/* ---- the graphical console (issue 13) ---- */

static int cmd_screendump(struct control *c, json_object *args, json_object **ret,
			  struct qmp_error *e)
{
	const char *file = json_object_get_string(json_object_object_get(args, "filename"));
	json_object *fmt = json_object_object_get(args, "format");
	struct vk_err err = { 0 };

	if (!c->cfg->display)
		return qmp_fail(e, "GenericError", "no display (start the VM with --vga std or --vnc)");
	if (display_screendump(c->cfg->display, file, fmt ? json_object_get_string(fmt) : "ppm",
			       &err))
		return qmp_fail(e, "GenericError", "%s", err.msg);
	return 0;
}

static int cmd_query_vnc(struct control *c, json_object *args, json_object **ret,
			 struct qmp_error *e)
{
	struct vnc_info vi;

	*ret = json_object_new_object();
	json_object_object_add(*ret, "enabled", json_object_new_boolean(c->cfg->vnc != NULL));
	if (!c->cfg->vnc)
		return 0;
	vnc_query(c->cfg->vnc, &vi);
	json_object_object_add(*ret, "host", json_object_new_string(vi.unix_path[0] ? vi.unix_path :
								    vi.host));
	json_object_object_add(*ret, "family", json_object_new_string(vi.unix_path[0] ? "unix" :
								      strchr(vi.host, ':') ? "ipv6" : "ipv4"));
	json_object_object_add(*ret, "service", json_object_new_string(vi.service));
	json_object_object_add(*ret, "auth", json_object_new_string(vi.password ? "vnc" : "none"));
	json_object_object_add(*ret, "clients", json_object_new_int(vi.clients));
	if (vi.websocket)
		json_object_object_add(*ret, "websocket", json_object_new_int(vi.websocket));
	return 0;
}

static int cmd_change_vnc_password(struct control *c, json_object *args, json_object **ret,
				   struct qmp_error *e)
{
	const char *pw = json_object_get_string(json_object_object_get(args, "password"));
	struct vk_err err = { 0 };

	if (!c->cfg->vnc)
		return qmp_fail(e, "GenericError", "no VNC server (start the VM with --vnc)");
	if (vnc_set_password(c->cfg->vnc, pw, &err))
		return qmp_fail(e, "GenericError", "%s", err.msg);
	return 0;
}

static const struct qmp_param screendump_params[] = {
	{ .name = "filename", .type = json_type_string },
	{ .name = "format", .type = json_type_string, .optional = true },
	{ .name = "device", .type = json_type_string, .optional = true },
	{ .name = "head", .type = json_type_int, .optional = true },
	{ .name = NULL },
};

static const struct qmp_param vnc_password_params[] = {
	{ .name = "password", .type = json_type_string },
	{ .name = NULL },
};

static const struct qmp_param eject_params[] = {
	{ .name = "id", .type = json_type_string, .optional = true },
	{ .name = "device", .type = json_type_string, .optional = true },
	{ .name = "force", .type = json_type_boolean, .optional = true },
	{ .name = NULL },
};

static const struct qmp_param change_medium_params[] = {
	{ .name = "id", .type = json_type_string, .optional = true },
	{ .name = "device", .type = json_type_string, .optional = true },
	{ .name = "filename", .type = json_type_string },
	{ .name = "format", .type = json_type_string, .optional = true },
	{ .name = "read-only-mode", .type = json_type_string, .optional = true },
	{ .name = NULL },
};

const struct qmp_cmd qmp_cmds[] = {
	{ .name = "qmp_capabilities", .fn = NULL },	/* handled by the server: it changes the session */
	{ .name = "query-status", .fn = cmd_query_status },
	{ .name = "query-name", .fn = cmd_query_name },
	{ .name = "query-version", .fn = cmd_query_version },
	{ .name = "query-commands", .fn = cmd_query_commands },
	{ .name = "query-kvm", .fn = cmd_query_kvm },
	{ .name = "query-target", .fn = cmd_query_target },
	{ .name = "query-cpus-fast", .fn = cmd_query_cpus_fast, .needs_vm = true },
	{ .name = "query-block", .fn = cmd_query_block, .needs_vm = true },
	{ .name = "query-balloon", .fn = cmd_query_balloon, .needs_vm = true },
	{ .name = "balloon", .fn = cmd_balloon, .params = balloon_params, .needs_vm = true },
	{ .name = "qom-get", .fn = cmd_qom_get, .params = qom_get_params, .needs_vm = true },
	{ .name = "qom-set", .fn = cmd_qom_set, .params = qom_set_params, .needs_vm = true },
	{ .name = "stop", .fn = cmd_stop, .needs_vm = true },
	{ .name = "cont", .fn = cmd_cont, .needs_vm = true },
	{ .name = "system_powerdown", .fn = cmd_system_powerdown, .needs_vm = true },
	{ .name = "system_reset", .fn = cmd_system_reset, .needs_vm = true },
	{ .name = "quit", .fn = cmd_quit, .needs_vm = true },
	{ .name = "human-monitor-command", .fn = qmp_hmp, .params = hmp_params },
	{ .name = "set_link", .fn = cmd_set_link, .params = set_link_params, .needs_vm = true },
	/* Keyboard and pointer (input-cmds.c) */
	{ .name = "send-key", .fn = qmp_cmd_send_key, .params = qmp_send_key_params,
	  .needs_vm = true },
	{ .name = "input-send-event", .fn = qmp_cmd_input_send_event,
	  .params = qmp_input_send_event_params, .needs_vm = true },
	{ .name = "query-mice", .fn = qmp_cmd_query_mice, .needs_vm = true },
	{ .name = "screendump", .fn = cmd_screendump, .params = screendump_params },
	{ .name = "query-vnc", .fn = cmd_query_vnc },
	{ .name = "change-vnc-password", .fn = cmd_change_vnc_password,
	  .params = vnc_password_params },
	/* CD-ROMs (vmm/control/media.c) */
	{ .name = "eject", .fn = qmp_cmd_eject, .params = eject_params, .needs_vm = true },
	{ .name = "blockdev-change-medium", .fn = qmp_cmd_change_medium,
	  .params = change_medium_params, .needs_vm = true },
	/* Save/restore (migrate-cmds.c, issue 15) */
	{ .name = "migrate", .fn = qmp_cmd_migrate, .params = qmp_migrate_params,
	  .needs_vm = true },
	{ .name = "query-migrate", .fn = qmp_cmd_query_migrate },
	{ .name = "migrate_cancel", .fn = qmp_cmd_migrate_cancel },
	{ .name = "migrate-set-parameters", .fn = qmp_cmd_migrate_set_parameters,
	  .params = qmp_migrate_set_parameters_params },
	{ .name = "query-migrate-parameters", .fn = qmp_cmd_query_migrate_parameters },
	/* Backups (backup-cmds.c, issue 15) */
	{ .name = "x-vmkit-backup", .fn = qmp_cmd_backup, .params = qmp_backup_params,
	  .needs_vm = true },
	{ .name = "query-block-jobs", .fn = qmp_cmd_query_block_jobs },
	{ .name = "block-job-cancel", .fn = qmp_cmd_block_job_cancel,
	  .params = qmp_block_job_cancel_params },
	{ .name = "job-dismiss", .fn = qmp_cmd_job_dismiss, .params = qmp_job_dismiss_params },
	{ .name = "x-vmkit-snapshot", .fn = qmp_cmd_snapshot, .params = qmp_snapshot_params,
	  .needs_vm = true },
};

const unsigned int qmp_nr_cmds = ARRAY_SIZE(qmp_cmds);

const struct qmp_cmd *qmp_find_cmd(const char *name)
{
	unsigned int i;

	for (i = 0; i < qmp_nr_cmds; i++)
		if (qmp_cmds[i].fn && !strcmp(qmp_cmds[i].name, name))
			return &qmp_cmds[i];
	return NULL;
}
