/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The management operations (lib/mgmt: vm-create.c, vm-edit.c, pool-ops.c,
 * ...): what `vmkit create`, `start`, `pool`, `vol`, `network`, ... do,
 * without argument parsing and without printing, so that the CLI (cli/vm-*.c,
 * pool.c, vol.c, network.c) and the REST server (serve/) run the same code.
 *
 * Every operation returns 0 or a negative errno with the message in err, and
 * takes the state lock itself (mgmt_op_lock): a caller only calls it. A
 * caller that already holds the lock (the CLI, for the whole command) keeps
 * it; otherwise it is released when the operation returns.
 */
#ifndef VMKIT_MGMT_OPS_H
#define VMKIT_MGMT_OPS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmkit/mgmt.h"

/* ---- the environment of the operations (lib/mgmt/ops-env.c) ---- */

/*
 * The vmkit binary that monitors and `vmkit img` steps run. Unset: this
 * process's own (/proc/self/exe), right for the CLI; vmkit-serve sets the
 * vmkit installed next to it.
 */
void mgmt_set_exe(const char *path);
const char *vmkit_exe(void);
/* Warnings an operation gives without failing (vCPU overcommit, no cgroups). Unset: dropped. */
typedef void (*mgmt_warn_fn)(const char *msg);
void mgmt_set_warn(mgmt_warn_fn fn);
void mgmt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Take the state lock unless held; *took says whether mgmt_op_unlock must release it. */
int mgmt_op_lock(bool *took, struct vk_err *err);
void mgmt_op_unlock(bool took);
/* mgmt_op_lock, then the default pool made sure of (what pool and volume operations need). */
int mgmt_op_lock_pools(bool *took, struct vk_err *err);
/* mgmt_op_lock, then the VM's definition loaded; on failure the lock is released again. */
int vm_op_load(const char *name, struct vm_def *d, bool *took, struct vk_err *err);

/*
 * ---- save/restore (lib/mgmt/vm-save.c, issue 15), as virsh save/restore ----
 * vm_save_state: the running VM's RAM and state into file (QMP migrate to file:,
 * absolute path), then its monitor quits. vm_restore_state: the VM named in file
 * (shut off, with the definition it was saved with) started from it; its
 * name into name (MGMT_NAME_MAX bytes).
 */
int vm_save_state(const char *name, const char *file, struct vk_err *err);
int vm_restore_state(const char *file, char *name, struct vk_err *err);
/*
 * Backups (lib/mgmt/vm-backup.c, issue 15, Proxmox's vzdump): every disk of
 * the VM (running or not) at one moment, and its definition, into a new
 * directory under `where` (a directory, or a pool's dump/), its path in out
 * (PATH_MAX). Auto: incremental over the VM's last backup where it can be.
 */
/* A copy of a VM must not share its MACs: each NIC's is dropped (derived from the name). */
int vm_def_new_macs(struct vm_def *nd, struct vk_err *err);
/*
 * Point a disk key at a new volume ref of format fmt, keeping the old
 * value's other options (opts: from its first comma, or NULL).
 */
int vm_def_set_disk(struct vm_def *d, const char *key, const char *ref, const char *fmt,
		    const char *opts, struct vk_err *err);
enum vm_backup_mode { VM_BACKUP_AUTO, VM_BACKUP_FULL, VM_BACKUP_INCREMENTAL };
struct vm_backup_opts {
	enum vm_backup_mode mode;
	bool compress;			/* zstd clusters (the default) */
	uint64_t bwlimit;		/* bytes/s a running VM's copy may take, 0: no limit */
};
int vm_backup(const char *name, const char *where, const struct vm_backup_opts *o,
	      char *out, struct vk_err *err);
/*
 * A backup directory back into a VM (Proxmox's qmrestore): its definition
 * as VM name (NULL: the name it was taken from), which must not exist, each
 * disk a new qcow2 volume in pool storage (NULL: the pool it came from, or
 * "local"), read through the backups it builds on.
 */
int vm_backup_restore(const char *dir, const char *name, const char *storage,
		      char *out_name, struct vk_err *err);

/* ---- a VM's lifecycle (lib/mgmt/vm-start.c, vm-control.c) ---- */

int vm_start(const char *name, struct vk_err *err);
/*
 * Start it from a saved VM instead of booting (vmkit run --incoming file:PATH; issue 15),
 * or, with saved "tcp:ADDR:PORT", waiting there for it to migrate in.
 */
int vm_start_incoming(const char *name, const char *saved, struct vk_err *err);
/*
 * The host's migration TLS credentials, $VMKIT_HOME/tls (QEMU's and
 * libvirt's layout: ca-cert.pem, server-*.pem, client-*.pem), into dir;
 * false if there are none. Every VM started with them has them (vmkit run
 * --tls-creds): it migrates out over TLS and in over TLS only.
 */
bool vm_tls_dir(char dir[PATH_MAX]);

/*
 * ---- live migration between hosts (lib/mgmt/vm-migrate.c, issue 15) ----
 * vm_migrate: the running VM to host (its definition too), over a remote
 * shell to host's vmkit (rsh: "ssh" or VMKIT_MIGRATE_RSH, split at spaces;
 * host then `vmkit migrate-incoming NAME` are appended) and a live
 * migration to host's address; progress lines to progress (may be NULL).
 * Over TLS when this host has credentials (vm_tls_dir); a host with
 * credentials takes only migrations over TLS.
 * vm_migrate_incoming: that remote side, on in/out.
 */
int vm_migrate(const char *name, const char *host, bool local_disks, FILE *progress,
	       struct vk_err *err);
/* host is a host name or address (not an ssh option): 0, else err says so. */
int vm_migrate_check_host(const char *host, struct vk_err *err);
int vm_migrate_incoming(const char *name, FILE *in, FILE *out, struct vk_err *err);
/* Wait until the VM is no longer running; false on timeout. */
bool vm_wait_stopped(const char *name, double timeout_s);
/* The VM exists and its monitor runs (st filled); else err says which is not so. */
int vm_require_running(const char *name, struct vm_status *st, struct vk_err *err);
/* The VM's monitor is not running; else err: "VM 'x' is running; WHAT needs it shut off". */
int vm_require_shutoff(const char *name, const char *what, struct vk_err *err);
/* Open the VM's QMP socket (the VM must be running). */
int vm_qmp(const char *name, struct qmpc **q, struct vk_err *err);
/* Pin a running VM's monitor threads and vCPUs to its affinity/vcpupin (lib/mgmt/vm-pin.c). */
int vm_pin_live(const struct vm_def *d, pid_t pid, struct vk_err *err);
/* The cgroup limits a definition asks for. */
void vm_cg_limits(const struct vm_def *d, struct cg_limits *l);
/*
 * ACPI power button, then wait up to timeout_s: 0 when the VM is off, -ETIMEDOUT
 * when it still runs; with force it is destroyed then instead (a warning, and 1).
 */
int vm_shutdown(const char *name, double timeout_s, bool force, struct vk_err *err);
/* Force the VM off: SIGTERM to the monitor, SIGKILL after 5 s (vm_destroy is the VMM's). */
int mgmt_vm_destroy(const char *name, struct vk_err *err);
/* One QMP command; ret_json (may be NULL) gets the malloc'd "return" value. */
int vm_qmp_call(const char *name, const char *cmd, const char *args_json, char **ret_json,
		struct vk_err *err);
/* A command without arguments: pause is "stop", resume "cont", reboot "system_reset". */
int vm_qmp_simple(const char *name, const char *qmp_cmd, struct vk_err *err);
/*
 * Put media (a file or POOL:VOLUME) into the VM's CD-ROM drive, or empty
 * it (media NULL): the definition first, then the running VM (lib/mgmt/vm-cdrom.c).
 */
int vm_cdrom(const char *name, const char *media, struct vk_err *err);
/* The balloon's target in bytes (at least 1 MiB); pauses auto-ballooning. */
int vm_balloon_set(const char *name, uint64_t bytes, struct vk_err *err);
/* Hand the balloon target back to auto-ballooning. */
int vm_balloon_auto(const char *name, struct vk_err *err);

/* ---- definitions (lib/mgmt/vm-create.c, vm-edit.c, vm-template.c) ---- */

/* What `vmkit create` takes; NULL / 0 for "not given". */
struct vm_create_req {
	const char *name, *kernel, *initrd, *cmdline;
	const char *memory;		/* "512M", MiB without a suffix; default 512M */
	unsigned int cpus;		/* 0: 1 */
	const char *const *disks;	/* NULL-terminated --disk specs, may be NULL */
	const char *const *nets;	/* NULL-terminated --net specs, may be NULL */
	const char *balloon, *console;
	bool autostart;			/* onboot: 1 */
	const struct vm_kv *extra;	/* any other definition keys, validated */
	unsigned int n_extra;
};

/*
 * A definition being made, option by option, in the order given (the CLI's
 * argument order decides the key order and which bad option is named).
 * Options: memory, cpus, disk, net, kernel, initrd, cmdline, balloon,
 * console, autostart (val ignored), or "key:KEY" for any definition key.
 */
struct vm_creation;
int vm_creation_new(const char *name, struct vm_creation **out, struct vk_err *err);
int vm_creation_add(struct vm_creation *c, const char *opt, const char *val, struct vk_err *err);
/* Cross-checks, new volumes made, definition saved; undone on failure. Frees c. */
int vm_creation_commit(struct vm_creation *c, struct vk_err *err);
/* Give up (after a failed add): nothing was made. Frees c. */
void vm_creation_abort(struct vm_creation *c);
/* All of `vmkit create` but --start (vm_start it then). */
int mgmt_vm_create(const struct vm_create_req *r, struct vk_err *err);

/* Define (or redefine) a VM from config text; its name into name. */
int vm_define(const char *text, const char *where, char name[MGMT_NAME_MAX], struct vk_err *err);
/* As `vmkit set`: val NULL deletes; all validated before saving; applied live to a running VM. */
int vm_set_keys(const char *name, const struct vm_kv *kv, unsigned int n, struct vk_err *err);
int vm_rename(const char *name, const char *newname, struct vk_err *err);
int vm_set_autostart(const char *name, bool on, struct vk_err *err);
/* Undefine a shut-off VM; purge also removes its pool volumes (removed: each one's ref). */
int vm_delete(const char *name, bool purge, struct vk_err *err);
int vm_delete_report(const char *name, bool purge, void (*removed)(const char *ref),
		     struct vk_err *err);

/* Templates: a VM with template: 1 in its definition. */
bool vm_is_template(const struct vm_def *d);
/* "VM 'x' is a template: it cannot be WHAT" for a template, else 0. */
int vm_refuse_template(const struct vm_def *d, const char *what, struct vk_err *err);
/* A template whose disks a clone is built on: -EBUSY naming the clone's image. */
int vm_template_in_use(const struct vm_def *d, struct vk_err *err);
/*
 * Whether a disk of d is the backing file of some other image: > 0 with its
 * reference in ref and the overlay in who, 0 when none is, < 0 on error.
 */
int vm_disk_overlay(const struct vm_def *d, char ref[PATH_MAX], char *who, size_t who_size,
		    struct vk_err *err);
/* Turn a shut-off VM into a template. */
int vm_template(const char *name, struct vk_err *err);

/* ---- clones and disk snapshots (lib/mgmt/vm-clone.c, vm-snapshot.c) ---- */

/* Copy a shut-off VM: new name, new MACs, its disks copied (linked: qcow2 overlays). */
int vm_clone(const char *src, const char *dst, bool linked, struct vk_err *err);

/* One internal snapshot of one disk, as `vmkit snapshot list` shows it. */
struct vm_snapshot {
	char disk[16];			/* virtio0 */
	char ref[PATH_MAX];		/* local:vm-disk0.qcow2 */
	char id[32], name[256];
	uint64_t date_sec, date_nsec, vm_clock_nsec, vm_state_size;
	int64_t icount;			/* -1: not recorded */
	bool ram;			/* a snapshot with its RAM (vms/NAME/snapshots/SNAP.state) */
};

/* The snapshots of every disk, in disk order; *out malloc'd. */
int vm_snapshot_list(const char *name, struct vm_snapshot **out, unsigned int *n,
		     struct vk_err *err);
/*
 * Of every qcow2 disk of a shut-off VM, or of none (create takes back what
 * it made). When a `vmkit img snapshot` step fails with its stdio inherited,
 * it has printed why: err->msg is then "".
 */
int vm_snapshot_create(const char *name, const char *snap, struct vk_err *err);
/*
 * On a running VM its monitor takes the disks' snapshots (live); memory:
 * also its RAM and state (running VMs only), which a revert starts from.
 */
int vm_snapshot_create_with(const char *name, const char *snap, bool memory,
			    struct vk_err *err);
bool vm_snapshot_has_ram(const char *name, const char *snap);
int vm_snapshot_delete(const char *name, const char *snap, struct vk_err *err);
int vm_snapshot_revert(const char *name, const char *snap, struct vk_err *err);

/* ---- pools (lib/mgmt/pool-ops.c) ---- */

struct pool_info {
	struct pool_def def;
	unsigned int volumes;
	uint64_t allocation;		/* bytes the volumes take on disk */
	bool have_fs;			/* capacity and available are known */
	uint64_t capacity, available;	/* of the file system */
};

/* type must be "dir" (NULL: missing); path an existing directory. */
int pool_define(const char *name, const char *type, const char *path, struct vk_err *err);
/* Not 'local', not while a VM's config names one of its volumes; the directory stays. */
int pool_undefine(const char *name, struct vk_err *err);
int pool_start(const char *name, struct vk_err *err);
int pool_stop(const char *name, struct vk_err *err);
int pool_set_autostart(const char *name, bool on, struct vk_err *err);
/* The pool's directory is readable. */
int pool_refresh(const char *name, struct vk_err *err);
int pool_get_info(const char *name, struct pool_info *info, struct vk_err *err);
/* Every pool that loads (with 'local'), by name; *out malloc'd. */
int pool_list(struct pool_info **out, unsigned int *n, struct vk_err *err);

/* ---- volumes (lib/mgmt/vol-ops.c) ---- */

struct vol_info {
	char name[MGMT_NAME_MAX];
	char path[PATH_MAX];
	char format[16];
	uint64_t virtual_size;
	int64_t allocation;		/* bytes on disk */
	char backing[PATH_MAX];		/* "" for none */
	char used_by[MGMT_NAME_MAX];	/* the VM whose config names it, "" for none */
};

/* Create a volume file: format raw or qcow2, optional backing file (a path). */
int vol_create_file(const char *path, const char *format, uint64_t size, const char *backing,
		    const char *backing_fmt, struct vk_err *err);
/* The volumes of a pool, by name (files the block layer cannot open are left out). */
int vol_list(const char *pool, struct vol_info **out, unsigned int *n, struct vk_err *err);
/* ref is POOL:NAME. */
int vol_get_info(const char *ref, struct vol_info *info, struct vk_err *err);
/* backing: POOL:VOLUME or a path, NULL for none (then qcow2 only). */
int vol_create(const char *pool, const char *name, const char *format, uint64_t size,
	       const char *backing, struct vk_err *err);
/* Which VM's config names the volume ref (into vm, MGMT_NAME_MAX)? */
bool vol_in_use(const char *ref, char *vm);
/*
 * What delete, wipe, upload and resize (op) check first: the volume exists
 * (its file into file), no VM's config names it, and (but for resize) no
 * image is built on it.
 */
int vol_check_change(const char *ref, const char *op, char file[PATH_MAX], struct vk_err *err);
int vol_delete(const char *ref, struct vk_err *err);
/* The data goes; a qcow2 volume becomes an empty image of the same size. */
int vol_wipe(const char *ref, struct vk_err *err);
/* size as `vmkit img resize` takes it ("10G", "+1G"); shrink allows a smaller one. */
int vol_resize(const char *ref, const char *size, bool shrink, struct vk_err *err);
/* A copy NEWNAME in the same pool. */
int vol_clone(const char *ref, const char *newname, struct vk_err *err);
/* A whole file becomes the volume's content; or the volume is copied to a file. */
int vol_upload(const char *ref, const char *src, struct vk_err *err);
int vol_download(const char *ref, const char *dst, struct vk_err *err);

/* ---- networks (lib/mgmt/network-ops.c) ---- */

/*
 * A new definition in n from keys bridge, address, uplink, mtu, autostart,
 * in order, without the cross-key checks: the name is free and each value valid.
 */
int network_build(const char *name, const struct vm_kv *kv, unsigned int nkv,
		  struct network_def *n, struct vk_err *err);
/* network_build, the cross-key checks, saved (not started). */
int network_define(const char *name, const struct vm_kv *kv, unsigned int nkv,
		   struct network_def *n, struct vk_err *err);
/* Refused while active. */
int network_undefine(const char *name, struct vk_err *err);
/* Start an inactive network (network_start does the work). */
int network_up(const char *name, struct vk_err *err);
/* Stop an active one; refused while a running VM uses it, unless force. */
int network_down(const char *name, bool force, struct vk_err *err);
int network_set_autostart(const char *name, bool on, struct vk_err *err);
/* The running VMs on the network, comma-separated, into buf; their count. */
unsigned int network_users(const struct network_def *n, char *buf, size_t len);

#endif
