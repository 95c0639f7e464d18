// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Snapshots of a VM: internal qcow2 snapshots of every disk, taken,
 * reverted and deleted through the block library (as qemu-img snapshot).
 * A shut-off VM's disks are opened here; a running VM's monitor takes
 * them itself (QMP x-vmkit-snapshot: paused, drained, all disks or none,
 * then running again), and with --memory (Proxmox's "include RAM") also
 * its RAM and state, kept as vms/NAME/snapshots/SNAP.state: a revert of
 * such a snapshot starts the VM from it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmkit/block.h"
#include "vmkit/mgmt-ops.h"

#define MAX_DISKS	16

/* Reverting a disk that a linked clone reads through would change the clone's data. */
static int refuse_revert_base(const struct vm_def *d, struct vk_err *err)
{
	char ref[PATH_MAX], who[PATH_MAX + 64];
	int ret = vm_disk_overlay(d, ref, who, sizeof(who), err);

	if (ret > 0)
		return vk_fail(err, -EBUSY,
			       "snapshot revert: disk %s of VM '%s' is the backing file of %s",
			       ref, d->name, who);
	return ret;
}

/* The disk's reference ("local:x.qcow2") and file; val is its config value. */
static int disk_file(const char *val, char ref[PATH_MAX], char file[PATH_MAX],
		     struct vk_err *err)
{
	snprintf(ref, PATH_MAX, "%.*s", (int)strcspn(val, ","), val);
	return vol_resolve(ref, true, file, err);
}

enum snap_action { SNAP_CREATE, SNAP_DELETE, SNAP_REVERT };

/*
 * One snapshot action on one disk, through the image library (opened
 * writable with its backing chain, as qemu-img snapshot opens it); a
 * failure names the disk and the image's reason.
 */
static int disk_snapshot(enum snap_action act, const char *snap, const char *file,
			 const char *what, const char *ref, struct vk_err *err)
{
	struct vk_blk_opts o = { .flags = VK_BLK_RDWR };
	struct vk_err e = { 0 };
	struct vk_blk *bs;
	int ret = vk_blk_open(file, &o, &bs, &e);

	if (!ret) {
		if (act == SNAP_CREATE)
			ret = vk_blk_snapshot_create(bs, snap, &e);
		else if (act == SNAP_REVERT)
			ret = vk_blk_snapshot_goto(bs, snap, &e);
		else
			ret = vk_blk_snapshot_delete(bs, NULL, snap, &e);
		vk_blk_close(bs);
	}
	if (ret == -ENOTSUP)
		return vk_fail(err, ret, "snapshot %s: disk %s: its format has no internal snapshots "
			       "(qcow2 has)", what, ref);
	if (ret < 0)
		return vk_fail(err, ret, "snapshot %s: disk %s: %s", what, ref, e.msg);
	return 0;
}

/* Every disk, or (create) none: the snapshots made are taken back on a failure. */
static int each_disk(const struct vm_def *d, const char *what, enum snap_action act,
		     const char *snap, struct vk_err *err)
{
	char (*done)[PATH_MAX] = calloc(MAX_DISKS, PATH_MAX);
	char ref[PATH_MAX], file[PATH_MAX];
	unsigned int i, ndone = 0;
	int ret = done ? 0 : vk_fail(err, -ENOMEM, "out of memory");

	for (i = 0; i < d->n && !ret; i++) {
		if (!vm_disk_entry(d->kv[i].key, d->kv[i].val))
			continue;
		ret = disk_file(d->kv[i].val, ref, file, err);
		if (!ret)
			ret = disk_snapshot(act, snap, file, what, ref, err);
		if (!ret && ndone < MAX_DISKS)
			snprintf(done[ndone++], PATH_MAX, "%s", file);
	}
	if (ret && act == SNAP_CREATE) {
		struct vk_err ignored = { 0 };

		while (ndone--)
			disk_snapshot(SNAP_DELETE, snap, done[ndone], "undo", done[ndone], &ignored);
	}
	free(done);
	return ret;
}

/* A memory snapshot's RAM and state: vms/NAME/snapshots/SNAP.state. */
static const char *state_file(char out[PATH_MAX], const char *name, const char *snap)
{
	return mgmt_path(out, "vms/%s/snapshots/%s.state", name, snap);
}

/* The snapshot's name goes into a file name too: no '/', no leading dot. */
static int check_snap_name(const char *snap, struct vk_err *err)
{
	if (!*snap || strchr(snap, '/') || snap[0] == '.' || strlen(snap) > 200)
		return vk_fail(err, -EINVAL, "snapshot name '%s': 1 to 200 characters, no '/', "
			       "not starting with '.'", snap);
	return 0;
}

#define SNAP_OUT "snapshot.state"	/* in run/out: what the monitor, in its root, may write */

/* A running VM: its monitor snapshots its disks (and with memory its RAM) itself. */
static int live_create(const char *name, const char *snap, bool memory, struct vk_err *err)
{
	json_object *o = json_object_new_object();
	char dst[PATH_MAX], dir[PATH_MAX], *args;
	int ret;

	json_object_object_add(o, "name", json_object_new_string(snap));
	if (memory)	/* relative to the monitor's cwd, run/ */
		json_object_object_add(o, "vmstate", json_object_new_string("out/" SNAP_OUT));
	args = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (!args)
		return vk_fail(err, -ENOMEM, "out of memory");
	ret = vm_qmp_call(name, "x-vmkit-snapshot", args, NULL, err);
	free(args);
	if (ret || !memory)
		return ret;
	if (mkdir(mgmt_path(dir, "vms/%s/snapshots", name), 0700) < 0 && errno != EEXIST)
		return vk_fail(err, -errno, "%s: %s", dir, strerror(errno));
	/* Guest RAM: private to root, as vmkit save's file. */
	return vm_run_file_out(name, SNAP_OUT, state_file(dst, name, snap), 0600, err);
}

static int snapshot_op(const char *name, const char *what, enum snap_action act,
		       const char *snap, bool memory, struct vk_err *err)
{
	char state[PATH_MAX];
	struct vm_status st;
	struct vm_def d;
	bool took, running, with_ram;
	int ret = check_snap_name(snap, err);

	if (!ret)
		ret = vm_op_load(name, &d, &took, err);
	if (ret)
		return ret;
	vm_status_get(name, &st);
	running = st.pid > 0;
	state_file(state, name, snap);
	with_ram = access(state, F_OK) == 0;
	if (act == SNAP_CREATE && memory && !running)
		ret = vk_fail(err, -EINVAL, "snapshot create --memory: VM '%s' is not running "
			      "(a shut-off VM's snapshot has no RAM to keep)", name);
	else if (act == SNAP_CREATE && with_ram)
		ret = vk_fail(err, -EEXIST, "snapshot create: VM '%s' has a snapshot '%s' already",
			      name, snap);
	else if (act != SNAP_CREATE || !running)
		ret = vm_require_shutoff(name, act == SNAP_CREATE ? "a disk snapshot" :
					 act == SNAP_REVERT ? "a snapshot revert" :
					 "a snapshot delete", err);
	if (!ret)
		ret = vm_refuse_template(&d, "snapshotted or reverted", err);
	if (!ret && act == SNAP_REVERT)
		ret = refuse_revert_base(&d, err);
	if (!ret && act == SNAP_CREATE && running)
		ret = live_create(name, snap, memory, err);
	else if (!ret)
		ret = each_disk(&d, what, act, snap, err);
	if (!ret && act == SNAP_DELETE && with_ram && unlink(state) < 0)
		ret = vk_fail(err, -errno, "%s: %s", state, strerror(errno));
	vm_def_free(&d);
	mgmt_op_unlock(took);
	/* A snapshot with its RAM: the VM goes on from that moment, as Proxmox's rollback. */
	if (!ret && act == SNAP_REVERT && with_ram)
		ret = vm_start_incoming(name, state, err);
	return ret;
}

int vm_snapshot_create_with(const char *name, const char *snap, bool memory,
			    struct vk_err *err)
{
	return snapshot_op(name, "create", SNAP_CREATE, snap, memory, err);
}

int vm_snapshot_create(const char *name, const char *snap, struct vk_err *err)
{
	return vm_snapshot_create_with(name, snap, false, err);
}

int vm_snapshot_delete(const char *name, const char *snap, struct vk_err *err)
{
	return snapshot_op(name, "delete", SNAP_DELETE, snap, false, err);
}

int vm_snapshot_revert(const char *name, const char *snap, struct vk_err *err)
{
	return snapshot_op(name, "revert", SNAP_REVERT, snap, false, err);
}

bool vm_snapshot_has_ram(const char *name, const char *snap)
{
	char state[PATH_MAX];

	return access(state_file(state, name, snap), F_OK) == 0;
}

/* Append the snapshots of one disk to *out. */
static int list_disk(const char *name, const char *key, const char *val,
		     struct vm_snapshot **out, unsigned int *n, struct vk_err *err)
{
	struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING };
	struct vk_blk_snapshot *sn = NULL;
	char ref[PATH_MAX], file[PATH_MAX];
	struct vm_snapshot *v;
	unsigned int k, i;
	struct vk_blk *bs;
	int ret = disk_file(val, ref, file, err);

	if (!ret)
		ret = vk_blk_open(file, &o, &bs, err);
	if (ret)
		return ret;
	ret = vk_blk_snapshot_list(bs, &sn, &k, err);
	v = ret < 0 ? NULL : realloc(*out, (*n + k + 1) * sizeof(**out));
	if (ret >= 0 && !v)
		ret = vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; v && i < k; i++) {
		struct vm_snapshot *s = &v[*n + i];

		memset(s, 0, sizeof(*s));
		snprintf(s->disk, sizeof(s->disk), "%s", key);
		snprintf(s->ref, sizeof(s->ref), "%s", ref);
		snprintf(s->id, sizeof(s->id), "%s", sn[i].id ? sn[i].id : "");
		snprintf(s->name, sizeof(s->name), "%s", sn[i].name ? sn[i].name : "");
		s->date_sec = sn[i].date_sec;
		s->date_nsec = sn[i].date_nsec;
		s->vm_clock_nsec = sn[i].vm_clock_nsec;
		s->vm_state_size = sn[i].vm_state_size;
		s->icount = sn[i].icount;
		s->ram = sn[i].name && vm_snapshot_has_ram(name, sn[i].name);
	}
	if (v) {
		*out = v;
		*n += k;
	}
	free(sn);
	vk_blk_close(bs);
	return ret < 0 ? ret : 0;
}

int vm_snapshot_list(const char *name, struct vm_snapshot **out, unsigned int *n,
		     struct vk_err *err)
{
	struct vm_snapshot *list = NULL;
	unsigned int i, count = 0;
	struct vm_def d;
	bool took;
	int ret = vm_op_load(name, &d, &took, err);

	if (ret)
		return ret;
	for (i = 0; i < d.n && !ret; i++)
		if (vm_disk_entry(d.kv[i].key, d.kv[i].val))
			ret = list_disk(name, d.kv[i].key, d.kv[i].val, &list, &count, err);
	vm_def_free(&d);
	mgmt_op_unlock(took);
	if (ret) {
		free(list);
		return ret;
	}
	*out = list;
	*n = count;
	return 0;
}
