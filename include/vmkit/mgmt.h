/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The management layer's library (lib/mgmt): the state directory, VM
 * definitions, storage pools, networks, cgroups and the QMP client. It never prints;
 * the operations of vmkit/mgmt-ops.h are built on it, and the commands in
 * cli/vm*.c, cli/pool.c, cli/vol.c and cli/network.c report their errors.
 *
 * State directory ($VMKIT_HOME, default /var/lib/vmkit):
 *   lock                 flock()ed by every command that changes state
 *   vms/NAME/config      the VM's definition (key: value lines)
 *   vms/NAME/run/        pid, supervisor, qmp.sock, console.sock, log, status
 *   pools/NAME.conf      a storage pool's definition
 *   networks/NAME.conf   a network's definition (a host bridge), and whether it was started
 *   images/              the default pool "local"
 */
#ifndef VMKIT_MGMT_H
#define VMKIT_MGMT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmkit/util.h"

#define MGMT_NAME_MAX	64

/* ---- state directory (lib/mgmt/home.c) ---- */

const char *mgmt_home(void);
/* Creates the state directory and its subdirectories when missing. */
int mgmt_home_init(struct vk_err *err);
/* snprintf into buf of PATH_MAX bytes: "$VMKIT_HOME/<fmt>". */
const char *mgmt_path(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The global state lock: exclusive, held until mgmt_unlock (or exit). */
int mgmt_lock(struct vk_err *err);
void mgmt_unlock(void);
/* Whether this process holds the state lock. */
bool mgmt_is_locked(void);
/* Names of VMs, pools, volumes: [A-Za-z0-9][A-Za-z0-9._-]*, at most 63 characters. */
int mgmt_check_name(const char *what, const char *name, struct vk_err *err);
/* Prefix err's message with "what: "; returns err->code. */
int mgmt_wrap(struct vk_err *err, const char *what);
/* "0-3,6" into a bit mask; -ERANGE when an entry is >= max (or >= 64). */
int mgmt_parse_cpulist(const char *s, uint64_t *mask, unsigned int max);
/*
 * Read a "key: value" definition file (lib/mgmt/kvfile.c), calling set for
 * each key; "<what> '<name>' does not exist" when it is missing, and any
 * other error prefixed with the path.
 */
typedef int (*mgmt_kv_fn)(void *ctx, const char *key, const char *val, struct vk_err *err);
int mgmt_load_kv(const char *path, const char *what, const char *name, mgmt_kv_fn set,
		 void *ctx, struct vk_err *err);
/* Write a whole file atomically: temp file in the same directory, fsync, rename, fsync dir. */
int mgmt_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      struct vk_err *err);

/* ---- VM definitions (lib/mgmt/config.c, config-keys.c) ---- */

struct vm_kv {
	char *key;
	char *val;
};

struct vm_def {
	char name[MGMT_NAME_MAX];
	unsigned int n;
	struct vm_kv *kv;		/* in file order; "name" is kept in name, not here */
};

void vm_def_free(struct vm_def *d);
/* Parse config text; validates every key. `where` names the source in errors. */
int vm_def_parse(const char *text, const char *where, struct vm_def *d, struct vk_err *err);
/* Serialize to malloc'd text (name first, then the keys in order). */
char *vm_def_format(const struct vm_def *d);
const char *vm_def_get(const struct vm_def *d, const char *key);
/* A key that holds a drive: virtioN, scsiN (not scsihw), sataN, ideN. */
bool vm_drive_key(const char *key);
/*
 * A drive that holds one of the VM's disks: a drive key whose value is not
 * a CD-ROM (media=cdrom). What clone copies, snapshots and templates act
 * on and purge deletes; a CD-ROM's ISO is shared, never the VM's own.
 */
bool vm_disk_entry(const char *key, const char *val);
/* Set (val != NULL) or delete (val == NULL) a key after validating it. */
int vm_def_set(struct vm_def *d, const char *key, const char *val, struct vk_err *err);
/* Validate one key: known, and a well-formed value. */
int vm_key_validate(const char *key, const char *val, struct vk_err *err);
/* Cross-key checks (vCPUs against the host, balloon below memory, ...). */
int vm_def_check(const struct vm_def *d, struct vk_err *err);
/* The definition's vCPU count and memory in MiB, with defaults applied. */
unsigned int vm_def_vcpus(const struct vm_def *d);
uint64_t vm_def_memory_mib(const struct vm_def *d);

bool vm_exists(const char *name);
int vm_load(const char *name, struct vm_def *d, struct vk_err *err);
int vm_save(const struct vm_def *d, struct vk_err *err);
/* Names of defined VMs, sorted; a NULL-terminated malloc'd array. */
int vm_list_names(char ***names, struct vk_err *err);
void mgmt_strv_free(char **v);
/* The value of key in "k=v,k=v" options, copied to buf (n bytes); NULL if absent. */
const char *mgmt_opt_val(const char *opts, const char *key, char *buf, size_t n);
/* Append a copy of s to the NULL-terminated malloc'd array *v. */
int mgmt_strv_push(char ***v, const char *s, struct vk_err *err);
/* Names of the entries of dir for which keep() holds (writing the name to list into out), sorted. */
int mgmt_list_dir(const char *dir, bool (*keep)(const char *dir, const char *name, char *out),
		  char ***names, struct vk_err *err);

/* A VM definition as a NULL-terminated `EXE run ...` argv (lib/mgmt/argv.c). */
int vm_build_argv(const struct vm_def *d, const char *exe, char ***out, struct vk_err *err);
/* Remove a directory tree (or a file). */
int mgmt_rm_rf(const char *path);

/* ---- a VM's runtime state (lib/mgmt/vmstate.c) ---- */

enum vm_state { VM_SHUTOFF, VM_RUNNING, VM_PAUSED, VM_CRASHED };

struct vm_status {
	enum vm_state state;
	pid_t pid;			/* the monitor, when running or paused */
	double uptime;			/* seconds, when running or paused */
	char reason[256];		/* why it crashed, or how it last stopped */
};

const char *vm_state_name(enum vm_state s);
int vm_status_get(const char *name, struct vm_status *st);
/*
 * The user VMs run as (lib/mgmt/vm-runas.c): VMKIT_RUNAS, default "vmkit",
 * when root; NULL when the monitor keeps the caller's user.
 */
const char *vm_runas_user(void);
/*
 * Before a start: give the files the monitor writes (its disks, UEFI
 * variables) and its run directory to that user, their owners kept in
 * run/owners, and add --runas to argv. vm_runas_restore gives them back.
 */
int vm_runas_prepare(const char *name, char ***argv, struct vk_err *err);
void vm_runas_restore(const char *name);
/* A file a VM is to read (an ISO): whether the user VMs run as can. */
int vm_runas_check_readable(const char *file, struct vk_err *err);
/*
 * A file the monitor wrote in its run directory on request (a screendump,
 * a saved state: it sees only its own files) moved to dst, owned by the
 * caller, with mode: copied through a temp file beside dst.
 */
int vm_run_file_out(const char *name, const char *file, const char *dst, mode_t mode,
		    struct vk_err *err);
/*
 * Make file (absolute) visible, read-only at its own path, to the running
 * monitor pid when it lives in a private root (lib/mgmt/vm-jail.c).
 */
int vm_jail_expose(pid_t pid, const char *file, struct vk_err *err);
/* A process's start time in clock ticks since boot (/proc/PID/stat field 22); 0 if gone. */
unsigned long long mgmt_proc_starttime(pid_t pid);
/* The last non-empty line of a file (a monitor's log), into buf. */
void mgmt_last_line(const char *path, char *buf, size_t n);

/* ---- pools and volumes (lib/mgmt/pool.c) ---- */

struct pool_def {
	char name[MGMT_NAME_MAX];
	char type[16];			/* "dir" */
	char path[4096];
	bool autostart;
	bool active;
};

int pool_load(const char *name, struct pool_def *p, struct vk_err *err);
int pool_save(const struct pool_def *p, struct vk_err *err);
int pool_delete(const char *name, struct vk_err *err);
int pool_list_names(char ***names, struct vk_err *err);
/* Makes sure the default pool "local" ($VMKIT_HOME/images) exists. */
int pool_ensure_default(struct vk_err *err);
/*
 * Resolve "POOL:VOLUME" (or an absolute path, returned as is) to a file name
 * in out (PATH_MAX). must_exist: the volume must exist.
 */
int vol_resolve(const char *ref, bool must_exist, char *out, struct vk_err *err);
/*
 * Is file the backing file of another image: a volume of an active pool or a
 * VM disk given by path (lib/mgmt/backing.c)? 1 with the first such overlay
 * named in who ("local:clone.qcow2"), 0 if none, or negative errno. Images
 * at the paths in skip (NULL-terminated, may be NULL) do not count.
 */
int vol_find_overlay(const char *file, const char *const *skip, char *who, size_t n,
		     struct vk_err *err);

/* ---- networks (lib/mgmt/network.c, network-run.c) ---- */

/*
 * A network as libvirt's bridged networks and Proxmox's vmbrN: a host
 * bridge, optionally with an address, an MTU and an uplink port. VM configs
 * name it as net0: virtio,network=NAME.
 */
struct network_def {
	char name[MGMT_NAME_MAX];
	char bridge[16];		/* IFNAMSIZ */
	char address[64];		/* CIDR, "" for none */
	char uplink[16];		/* "" for none */
	unsigned int mtu;		/* 0: the kernel's default */
	bool autostart;
	bool active;			/* started, as recorded; see network_is_active */
	bool made_bridge;		/* start made the bridge (stop removes only such a one) */
};

/* Validate and set one key of a definition (bridge, address, uplink, mtu, autostart, active,
 * made-bridge). */
int network_set(struct network_def *n, const char *key, const char *val, struct vk_err *err);
/* Cross-key checks: a bridge, the uplink not the bridge, no bridge or uplink of another network. */
int network_check(const struct network_def *n, struct vk_err *err);
int network_load(const char *name, struct network_def *n, struct vk_err *err);
int network_save(const struct network_def *n, struct vk_err *err);
int network_delete(const char *name, struct vk_err *err);
int network_list_names(char ***names, struct vk_err *err);
/* Started and its bridge is there (a reboot takes bridges away). */
bool network_is_active(const struct network_def *n);
/* network=NAME of a VM's net key to the bridge (IFNAMSIZ) and MTU (0: none); fails unless active. */
int network_resolve(const char *name, char *bridge, unsigned int *mtu, struct vk_err *err);
/* Make the bridge (or take the existing one), set MTU and address, attach the uplink. */
int network_start(struct network_def *n, struct vk_err *err);
/* Detach the uplink (its IPv4 addresses and default route back on it), delete the bridge. */
int network_stop(struct network_def *n, struct vk_err *err);

/* ---- cgroups (lib/mgmt/cgroup.c) ---- */

struct cg_limits {
	double cpulimit;		/* CPUs; 0 = unlimited */
	unsigned int cpuunits;		/* relative weight, Proxmox scale (1024 = default) */
	uint64_t mem_hard, mem_soft;	/* bytes; 0 = none */
};

/* Create (or update) the VM's cgroup, apply the limits. */
int cg_setup(const char *vm, const struct cg_limits *l, struct vk_err *err);
/* Move a process into the VM's cgroup. */
int cg_attach(const char *vm, pid_t pid, struct vk_err *err);
void cg_remove(const char *vm);
/* The cgroup file that holds a setting, for tests and `show`. */
const char *cg_version(void);

/* ---- QMP client (lib/mgmt/qmp-client.c) ---- */

/* Connect to a unix stream socket, even one whose path is longer than sun_path. */
int mgmt_unix_connect(const char *path, struct vk_err *err);

struct qmpc;
int qmpc_connect(const char *path, struct qmpc **out, struct vk_err *err);
/* Run a command; on success *ret_json (malloc'd) holds the "return" value as JSON text. */
int qmpc_execute(struct qmpc *q, const char *cmd, const char *args_json, char **ret_json,
		struct vk_err *err);
void qmpc_close(struct qmpc *q);
/* The monitor's vCPU thread IDs (query-cpus-fast), tids[cpu-index]; *n = highest index + 1. */
int qmpc_vcpu_threads(struct qmpc *q, pid_t *tids, unsigned int max, unsigned int *n,
		      struct vk_err *err);

#endif
