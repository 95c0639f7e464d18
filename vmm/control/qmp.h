/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the control socket: the server (server.c: thread, clients,
 * framing, events), the socket file (socket.c), the VM's lifetime
 * (lifecycle.c) and the commands (commands.c, hmp.c) share this.
 */
#ifndef VMKIT_CONTROL_QMP_H
#define VMKIT_CONTROL_QMP_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "vmkit/control.h"

struct qmp_client;

struct control {
	char *path;
	dev_t sock_dev;			/* what we bound, so we unlink only our own socket */
	ino_t sock_ino;
	const struct vm_config *cfg;
	const char *version;
	int listen_fd, epfd, wake_fd;
	pthread_t thread;
	bool thread_started;

	/*
	 * vm_lock: commands run under it, and attach/detach take it, so a
	 * command never sees a VM being torn down. Device threads never take
	 * it (stop waits for vCPUs, which may be inside a device).
	 */
	pthread_mutex_t vm_lock;
	pthread_cond_t vm_cond;		/* a VM was attached, or none ever will be */
	struct vm *vm;
	bool finished;			/* no VM will be attached again */
	bool paused;			/* run state, kept across resets */
	enum vm_stop host_req;		/* a stop this socket asked for */
	bool quit;			/* a client said quit: no VM after this one */
	uint64_t balloon_target;	/* bytes, 0: never set; kept across resets */
	int stats_interval;		/* qom-set guest-stats-polling-interval, -1: never set */
	/* input-send-event's pointer: buttons held, absolute position (input-cmds.c). */
	unsigned int buttons, abs_x, abs_y;
	/*
	 * Migration (migrate-cmds.c): the last one's status (enum in there),
	 * why it failed (written before the status says so), and a live one's
	 * job, thread and socket. mig_paused: it paused the VM, and resumes it
	 * if it fails. The parameters migrate-set-parameters sets.
	 */
	atomic_int migrate_status;
	char migrate_error[512];
	struct migrate_job *mig;
	pthread_t mig_thread;
	bool mig_thread_started, mig_paused, mig_gone;
	atomic_int mig_fd;
	bool mig_params_set;
	uint64_t mig_downtime_ms, mig_bandwidth;
	unsigned int mig_max_rounds;
	bool mig_tls;			/* tls-creds: over TLS with --tls-creds' */
	char mig_tls_host[256];		/* tls-hostname: the name to check, else the URI's */
	/*
	 * The backup job (backup-cmds.c): running, or concluded and kept
	 * until dismissed or replaced, so its end can be read. Only commands
	 * (under vm_lock) and the VM's detach touch these.
	 */
	struct blk_backup *backup;
	char backup_id[64];
	bool backup_cancelled;

	/* out_lock: the client list and every client's output. */
	pthread_mutex_t out_lock;
	struct qmp_client *clients;
	unsigned int nr_clients;
	atomic_bool closing;
	/* Hostile or forgotten clients (server.c); tests shorten these. */
	uint64_t handshake_ns;		/* to finish qmp_capabilities after connecting */
	uint64_t evict_idle_ns;		/* silence after which a full server gives the slot away */
};

/* A command's failure: QMP's error class and description. */
struct qmp_error {
	const char *cls;		/* "GenericError", "CommandNotFound", ... */
	char desc[256];
};

int qmp_fail(struct qmp_error *e, const char *cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), nonnull(3)));

struct qmp_param {
	const char *name;
	json_type type;
	bool optional;
};

/*
 * A command: fn runs on the control thread with vm_lock held and c->vm set
 * when needs_vm (it waits for a VM being rebuilt after a reset). It returns
 * 0 with *ret (NULL means {}), or -1 with e filled.
 */
struct qmp_cmd {
	const char *name;
	int (*fn)(struct control *c, json_object *args, json_object **ret, struct qmp_error *e);
	const struct qmp_param *params;	/* NULL-name terminated, or NULL for none */
	bool needs_vm;
};

const struct qmp_cmd *qmp_find_cmd(const char *name);
/* All commands, for query-commands. */
extern const struct qmp_cmd qmp_cmds[];
extern const unsigned int qmp_nr_cmds;

/* query-block's "inserted" object for a medium, whatever controller holds it. */
struct qmp_medium {
	const char *path, *node, *format;
	const char *backing_file;	/* NULL: none */
	unsigned int backing_depth;
	bool readonly, direct;
	enum disk_cache cache;
	uint64_t size;
};
json_object *qmp_inserted_obj(const struct qmp_medium *m);

/* Disks on the SCSI and SATA controllers, and their CD-ROMs' media (media.c). */
struct scsi_lun;
const char *qmp_disk_name(const struct vm_config *cfg, unsigned int i, char *buf, size_t len);
struct scsi_lun *qmp_disk_lun(struct vm *vm, unsigned int i);
json_object *qmp_lun_block_obj(struct scsi_lun *lun, const char *name);
int qmp_cmd_eject(struct control *c, json_object *args, json_object **ret, struct qmp_error *e);
int qmp_cmd_change_medium(struct control *c, json_object *args, json_object **ret,
			  struct qmp_error *e);

/* Run a command by name as a client would, arguments checked (hmp.c uses it). */
int qmp_execute(struct control *c, const char *name, json_object *args, json_object **ret,
		struct qmp_error *e);

/*
 * A client on the connected socket fd (greeted; NULL, fd closed, on
 * failure), the bytes it sent, and its end. The control thread calls
 * these; so does the QMP fuzzer (tests/fuzz), on a struct control of its own.
 */
struct qmp_client *qmp_client_add(struct control *c, int fd);
void qmp_client_input(struct control *c, struct qmp_client *cl, const char *buf, size_t len);
void qmp_client_remove(struct control *c, struct qmp_client *cl);

/* Send an event to every client past negotiation; takes ownership of data (may be NULL). */
void qmp_emit(struct control *c, const char *event, json_object *data);

/* The socket file (socket.c): bind c->path into c->listen_fd; remove it if still ours. */
int qmp_bind(struct control *c, struct vk_err *err);
void qmp_unbind(struct control *c);

/* The input commands (input-cmds.c): send-key, input-send-event, query-mice. */
int qmp_cmd_send_key(struct control *c, json_object *args, json_object **ret,
		     struct qmp_error *e);
int qmp_cmd_input_send_event(struct control *c, json_object *args, json_object **ret,
			     struct qmp_error *e);
int qmp_cmd_query_mice(struct control *c, json_object *args, json_object **ret,
		       struct qmp_error *e);
extern const struct qmp_param qmp_send_key_params[], qmp_input_send_event_params[];

/*
 * Save/restore and live migration (migrate-cmds.c, issue 15): migrate to
 * file:PATH or tcp:ADDR:PORT, query-migrate, migrate_cancel, the parameters.
 */
int qmp_cmd_migrate_cancel(struct control *c, json_object *args, json_object **ret,
			   struct qmp_error *e);
int qmp_cmd_migrate_set_parameters(struct control *c, json_object *args, json_object **ret,
				   struct qmp_error *e);
int qmp_cmd_query_migrate_parameters(struct control *c, json_object *args, json_object **ret,
				     struct qmp_error *e);
extern const struct qmp_param qmp_migrate_set_parameters_params[];
/* A running VM's snapshot: its disks, and its RAM and state with vmstate (snapshot-cmds.c). */
int qmp_cmd_snapshot(struct control *c, json_object *args, json_object **ret,
		     struct qmp_error *e);
extern const struct qmp_param qmp_snapshot_params[];
/* Backups (backup-cmds.c): x-vmkit-backup and QEMU's block job commands. */
extern const struct qmp_param qmp_backup_params[], qmp_block_job_cancel_params[],
	qmp_job_dismiss_params[];
int qmp_cmd_backup(struct control *c, json_object *args, json_object **ret, struct qmp_error *e);
int qmp_cmd_query_block_jobs(struct control *c, json_object *args, json_object **ret,
			     struct qmp_error *e);
int qmp_cmd_block_job_cancel(struct control *c, json_object *args, json_object **ret,
			     struct qmp_error *e);
int qmp_cmd_job_dismiss(struct control *c, json_object *args, json_object **ret,
			struct qmp_error *e);
bool qmp_backup_running(struct control *c);
/*
 * End the backup job before the VM's disks close (cancelled with why if it
 * runs), keeping its report; qmp_backup_join also forgets it.
 */
void qmp_backup_end(struct control *c, const char *why);
void qmp_backup_join(struct control *c);
/*
 * Every device's requests in flight completed (devices held, VM paused):
 * taking the devices' state does it. Fails where a device cannot be saved.
 */
int qmp_devices_drain(struct vm *vm, struct vk_err *err);

/* Wait for a live migration's thread to end (cancelling it): before the VM goes. */
void qmp_migrate_join(struct control *c);
/* Why cont must not run the VM now (a migration holds it, or it left), or NULL. */
const char *qmp_migrate_blocks_cont(struct control *c);
int qmp_cmd_migrate(struct control *c, json_object *args, json_object **ret,
		    struct qmp_error *e);
int qmp_cmd_query_migrate(struct control *c, json_object *args, json_object **ret,
			  struct qmp_error *e);
extern const struct qmp_param qmp_migrate_params[];

/* human-monitor-command */
int qmp_hmp(struct control *c, json_object *args, json_object **ret, struct qmp_error *e);

#endif
