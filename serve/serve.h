/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmkit-serve: the REST API and web interface (serve/API.md). One process,
 * one libwebsockets event loop. Everything that changes state runs in a
 * forked child (serve/job.c) that calls the management library, so the loop
 * never blocks on a lock, a PAM delay or a VM that is slow to stop, and the
 * state lock works across the server and CLI commands alike.
 */
#ifndef VMKIT_SERVE_H
#define VMKIT_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <libwebsockets.h>

#include "vmkit/mgmt.h"

#define SERVE_BODY_MAX		(1024 * 1024)	/* JSON bodies; uploads stream */
#define SERVE_USER_MAX		128
#define SERVE_PATH_MAX		1024

enum http_method { M_GET, M_POST, M_PUT, M_DELETE, M_OTHER };

struct job;
struct upload;
struct wscon;

/* One HTTP request (or WebSocket) and its reply: libwebsockets' per-session data. */
struct sess {
	struct lws *wsi;
	enum http_method method;
	char path[SERVE_PATH_MAX];	/* decoded, without the query */
	char query[SERVE_PATH_MAX];
	char peer[64];
	char user[SERVE_USER_MAX];	/* authenticated user ("" when none) */
	bool token_auth;		/* by API token: no CSRF header needed */
	const struct route *route;
	char arg[3][MGMT_NAME_MAX];	/* {name} captures of the route */
	uint64_t content_length;
	uint64_t body_seen;		/* body bytes that arrived */
	bool has_length;
	/* JSON body being received */
	char *body;
	size_t body_len;
	bool body_too_large;
	bool dispatched;		/* the handler ran: a late body-complete is not a second request */
	bool drain_body;		/* replied early: read the rest of the body, then end */
	struct upload *upload;
	/* reply */
	bool replied;			/* reply is set; write it when writeable */
	int status;
	char *out;
	size_t out_len, out_sent;
	const char *ctype;
	char cookie[600];		/* Set-Cookie value, "" for none */
	unsigned int delay_ms;		/* throttled login failures */
	lws_sorted_usec_list_t sul;	/* for delay_ms */
	struct job *job;		/* a child whose result is the reply */
	struct wscon *con;	/* WebSocket console proxy */
	bool dead;			/* the connection closed: drop late results */
};

/* ---- routes (serve/route.c) ---- */

enum route_flags {
	R_PUBLIC = 1,		/* no authentication */
	R_RAW_BODY = 2,		/* body streamed to the handler (upload), not parsed */
	R_WEBSOCKET = 4,
};

struct route {
	enum http_method method;
	const char *pattern;	/* "/api/vms/{}/status/{}": {} captures a name */
	void (*fn)(struct sess *s, struct json_object *body);
	unsigned int flags;
	const char *summary;	/* for /api/openapi.json */
};

/* The route for method+path; *path_known when only the method is wrong. */
const struct route *route_find(enum http_method m, const char *path, char arg[3][MGMT_NAME_MAX],
			       bool *path_known);
/* All routes, for the OpenAPI description; NULL-pattern terminated. */
const struct route *route_table(void);
const char *method_name(enum http_method m);

/* ---- replies (serve/reply.c) ---- */

/* {"data": data} with 200; takes ownership of data (NULL gives null). */
void reply_data(struct sess *s, struct json_object *data);
/* {"message": "..."} with status. */
void reply_error(struct sess *s, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A failed operation: the HTTP status for its negative errno, message from err. */
void reply_err(struct sess *s, const struct vk_err *err);
int http_status_for(int neg_errno);
void reply_raw(struct sess *s, int status, const char *ctype, char *body, size_t len);
/* Ask for a writeable callback, which sends the reply. */
void reply_kick(struct sess *s);
/* Write the next part of the reply; returns -1 to close, 1 when finished. */
int reply_write(struct sess *s);
void sess_reset(struct sess *s);

/* ---- authentication (serve/auth.c, serve/pam.c, serve/token.c) ---- */

int auth_init(struct vk_err *err);
/* "VMKIT:user:HEXTIME::SIGNATURE" */
void auth_ticket_make(const char *user, char *out, size_t n);
int auth_ticket_check(const char *ticket, char *user, size_t n);
void auth_csrf_make(const char *user, char *out, size_t n);
bool auth_csrf_check(const char *user, const char *token);
/* "VMKitAPIToken=USER!ID=SECRET": 0 with user set, or -EACCES. */
int auth_token_check(const char *header, char *user, size_t n);
/* "root@pam" or "root" to "root"; -EACCES for other realms. */
int auth_user_name(const char *login, char *user, size_t n);
bool auth_user_allowed(const char *user);
/* Who may log in: root and members of the group vmkit. Blocking (PAM); run in a child. */
int auth_pam(const char *user, const char *password, struct vk_err *err);
/* Failed logins from a peer: how long to hold the next answer back. */
unsigned int auth_throttle_ms(const char *peer);
void auth_throttle_note(const char *peer, bool ok);
/* Authenticate a request from its cookie or token header; CSRF for writes. */
int auth_request(struct sess *s);
/* The token store: $VMKIT_HOME/serve/tokens. */
int token_cmd(int argc, char **argv);

/* ---- TLS certificate (serve/cert.c) ---- */

/* Make a self-signed certificate and key (0600) when missing. */
int cert_ensure(const char *cert, const char *key, struct vk_err *err);

/* ---- jobs and tasks (serve/job.c) ---- */

/*
 * The work of a job, run in a forked child: log lines go to stdout,
 * *result (JSON, may stay NULL) becomes the reply's data.
 */
typedef int (*job_fn)(void *arg, struct json_object **result, struct vk_err *err);

/* What to do with a job's result instead of replying with it (done owns data). */
typedef void (*job_done_fn)(struct sess *s, const struct vk_err *err, struct json_object *data);

/* Run fn in a child; reply with its result when it ends. arg is copied (argsize bytes). */
int job_sync_cb(struct sess *s, job_fn fn, const void *arg, size_t argsize, job_done_fn done);
int job_sync(struct sess *s, job_fn fn, const void *arg, size_t argsize);
/* Run fn in a child as a task; reply {"data": "TASK-ID"} at once. */
int job_task(struct sess *s, const char *type, const char *target, job_fn fn, const void *arg,
	     size_t argsize);
/* A task made by the server itself (an upload): its id into id (64). */
struct task *task_new(const char *type, const char *target, const char *user, char *id);
void task_log(struct task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void task_progress(struct task *t, double p);
void task_end(struct task *t, const char *status);
struct json_object *task_json(const struct task *t, bool with_log);
struct json_object *task_list_json(void);
const struct task *task_find(const char *id);
/* Reap children, read their output, finish replies (every few ms from the loop). */
void job_poll(void);
void job_sess_gone(struct sess *s);
void job_init(struct lws_context *ctx);
/* Make sure the poll timer runs (a console opened). */
void job_poll_kick(void);

/* ---- API handlers (serve/api-*.c) ---- */

void api_ticket_get(struct sess *s, struct json_object *b);
void api_ticket_post(struct sess *s, struct json_object *b);
void api_logout(struct sess *s, struct json_object *b);
void api_node_status(struct sess *s, struct json_object *b);
void api_openapi(struct sess *s, struct json_object *b);
void api_tasks(struct sess *s, struct json_object *b);
void api_task(struct sess *s, struct json_object *b);

void api_vm_list(struct sess *s, struct json_object *b);
void api_vm_create(struct sess *s, struct json_object *b);
void api_vm_get(struct sess *s, struct json_object *b);
void api_vm_config(struct sess *s, struct json_object *b);
void api_vm_delete(struct sess *s, struct json_object *b);
void api_vm_action(struct sess *s, struct json_object *b);
void api_vm_current(struct sess *s, struct json_object *b);
void api_vm_clone(struct sess *s, struct json_object *b);
void api_vm_migrate(struct sess *s, struct json_object *b);
/* serve/api-backup.c */
void api_vm_backup(struct sess *s, struct json_object *b);
void api_backup_list(struct sess *s, struct json_object *b);
void api_backup_restore(struct sess *s, struct json_object *b);
void api_vm_template(struct sess *s, struct json_object *b);
void api_vm_balloon(struct sess *s, struct json_object *b);
void api_snap_list(struct sess *s, struct json_object *b);
void api_snap_create(struct sess *s, struct json_object *b);
void api_snap_rollback(struct sess *s, struct json_object *b);
void api_snap_delete(struct sess *s, struct json_object *b);

void api_pool_list(struct sess *s, struct json_object *b);
void api_pool_create(struct sess *s, struct json_object *b);
void api_pool_get(struct sess *s, struct json_object *b);
void api_pool_delete(struct sess *s, struct json_object *b);
void api_pool_action(struct sess *s, struct json_object *b);
void api_vol_list(struct sess *s, struct json_object *b);
void api_vol_create(struct sess *s, struct json_object *b);
void api_vol_delete(struct sess *s, struct json_object *b);

void api_net_list(struct sess *s, struct json_object *b);
void api_net_create(struct sess *s, struct json_object *b);
void api_net_delete(struct sess *s, struct json_object *b);
void api_net_action(struct sess *s, struct json_object *b);

/* ---- uploads (serve/upload.c) ---- */

void upload_begin(struct sess *s);
/* A piece of the body; -1 stops the transfer (the reply is set). */
int upload_data(struct sess *s, const void *buf, size_t len);
void upload_end(struct sess *s);
void upload_abort(struct sess *s);

/* ---- consoles (serve/console.c) ---- */

int wscon_open(struct sess *s);
int wscon_from_client(struct sess *s, const void *buf, size_t len);
int wscon_writeable(struct sess *s);
void wscon_close(struct sess *s);
void wscon_poll(void);
bool wscon_active(void);
/* The upgrade names a console that can be joined (a running VM's). */
bool wscon_can_open(struct sess *s);

/* ---- live figures of a VM (serve/stats.c) ---- */

/* The list entry of a VM: definition summary, state, CPU and memory figures. */
struct json_object *stats_vm(const char *name);
struct json_object *stats_node(void);
/* running, shutoff, paused, crashed. */
const char *stats_state(enum vm_state s);

/* Helpers for handlers (serve/api-util.c) */
const char *jstr(struct json_object *o, const char *key);
bool jbool(struct json_object *o, const char *key, bool def);
/* A query argument ("purge") into buf; false when absent. */
bool query_arg(const struct sess *s, const char *name, char *buf, size_t n);
/* The body must be a JSON object: else replies 400 and returns false. */
bool need_object(struct sess *s, struct json_object *b);

extern const char *serve_webroot;
extern const char *serve_exe_dir;

#endif
