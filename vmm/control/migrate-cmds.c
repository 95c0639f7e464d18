// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP migrate, query-migrate, migrate_cancel and the parameters (issue 15).
 *
 * migrate {"uri": "file:PATH"} pauses the VM (if it runs), writes RAM and
 * every device's and vCPU's state (include/vmkit/vm-state.h) and leaves it
 * paused, as QEMU leaves a source after a completed migration; on failure
 * the VM runs again if it ran before.
 *
 * migrate {"uri": "tcp:ADDR:PORT"} answers at once and migrates live on a
 * thread of its own (vmm/core/migrate.c): the VM runs while its RAM goes,
 * is paused for the last round, and stays paused once the destination
 * runs it; cont is refused then (two copies of one VM must never both
 * run). A failure anywhere, cancelled or refused, resumes the VM if the
 * migration paused it. The thread never takes vm_lock while a command
 * could wait for it: the VM's detach joins it first.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp.h"
#include "vmkit/migrate.h"
#include "vmkit/vm-state.h"
#include "vmkit/vm.h"
#include "vmkit/vmm-sandbox.h"

enum {
	MIGRATE_NONE, MIGRATE_SETUP, MIGRATE_ACTIVE, MIGRATE_CANCELLING,
	MIGRATE_COMPLETED, MIGRATE_FAILED, MIGRATE_CANCELLED,
};

static const char *const status_names[] = {
	[MIGRATE_NONE] = "none", [MIGRATE_SETUP] = "setup", [MIGRATE_ACTIVE] = "active",
	[MIGRATE_CANCELLING] = "cancelling", [MIGRATE_COMPLETED] = "completed",
	[MIGRATE_FAILED] = "failed", [MIGRATE_CANCELLED] = "cancelled",
};

#define CONNECT_TIMEOUT_MS	10000
#define DOWNTIME_MAX_MS		2000000		/* QEMU's limit: 2000 s */

const struct qmp_param qmp_migrate_params[] = {
	{ .name = "uri", .type = json_type_string },
	/* QEMU's old flags, accepted as QEMU does */
	{ .name = "detach", .type = json_type_boolean, .optional = true },
	/* QEMU's block migration flag: the disks' contents go too (Proxmox's --with-local-disks) */
	{ .name = "blk", .type = json_type_boolean, .optional = true },
	{ .name = NULL },
};

const struct qmp_param qmp_migrate_set_parameters_params[] = {
	{ .name = "downtime-limit", .type = json_type_int, .optional = true },
	{ .name = "max-bandwidth", .type = json_type_int, .optional = true },
	/* vmkit's: rounds of pre-copy before it gives up, saying why */
	{ .name = "x-max-rounds", .type = json_type_int, .optional = true },
	/* TLS (vmm/core/migrate-tls.c): the credentials' id ("" off), the name to check */
	{ .name = "tls-creds", .type = json_type_string, .optional = true },
	{ .name = "tls-hostname", .type = json_type_string, .optional = true },
	{ .name = NULL },
};

static json_object *status_event(const char *status)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "status", json_object_new_string(status));
	return d;
}

static void set_status(struct control *c, int st)
{
	atomic_store(&c->migrate_status, st);
	qmp_emit(c, "MIGRATION", status_event(status_names[st]));
}

static bool live(struct control *c)
{
	int st = atomic_load(&c->migrate_status);

	return st == MIGRATE_SETUP || st == MIGRATE_ACTIVE || st == MIGRATE_CANCELLING;
}

static void params_default(struct control *c)
{
	if (c->mig_params_set)
		return;
	c->mig_downtime_ms = MIGRATE_DOWNTIME_MS;
	c->mig_bandwidth = MIGRATE_BANDWIDTH;
	c->mig_max_rounds = MIGRATE_MAX_ROUNDS;
	c->mig_params_set = true;
}

/* ---- file: ---- */

static int migrate_file(struct control *c, const char *path, struct qmp_error *e)
{
	bool was_paused = c->paused;
	struct vk_err err = { 0 };

	if (!was_paused) {
		vm_pause(c->vm);
		c->paused = true;
		qmp_emit(c, "STOP", NULL);
	}
	set_status(c, MIGRATE_ACTIVE);
	if (vm_state_save_file(c->vm, path, &err)) {
		snprintf(c->migrate_error, sizeof(c->migrate_error), "%s", err.msg);
		set_status(c, MIGRATE_FAILED);
		if (!was_paused) {
			vm_resume(c->vm);
			c->paused = false;
			qmp_emit(c, "RESUME", NULL);
		}
		return qmp_fail(e, "GenericError", "migrate: %s", err.msg);
	}
	set_status(c, MIGRATE_COMPLETED);
	return 0;
}

/* ---- tcp: ---- */

/* The last round: the VM pauses (vm_lock: commands see paused or running, never between). */
static void stop_vm(void *opaque)
{
	struct control *c = opaque;

	pthread_mutex_lock(&c->vm_lock);
	c->mig_paused = !c->paused;
	if (c->mig_paused) {
		vm_pause(c->vm);
		c->paused = true;
	}
	pthread_mutex_unlock(&c->vm_lock);
	if (c->mig_paused)
		qmp_emit(c, "STOP", NULL);
}

static int connect_to(const char *uri, struct control *c, struct vk_err *err)
{
	struct sockaddr_storage sa;
	unsigned int len;
	struct pollfd p;
	int fd, r, so = 0, one = 1;
	socklen_t sl = sizeof(so);

	r = migrate_parse_tcp(uri, &sa, &len, err);
	if (r)
		return r;
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vk_fail(err, -errno, "%s: %s", uri, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
	atomic_store(&c->mig_fd, fd);	/* migrate_cancel shuts it down */
	if (connect(fd, (struct sockaddr *)&sa, len) < 0 && errno != EINPROGRESS)
		return vk_fail(err, -errno, "%s: %s", uri, strerror(errno));
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	do
		r = poll(&p, 1, CONNECT_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return vk_fail(err, -ETIMEDOUT, "%s: no answer in %d s", uri,
			       CONNECT_TIMEOUT_MS / 1000);
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0)
		return vk_fail(err, -errno, "%s: %s", uri, strerror(errno));
	if (so)
		return vk_fail(err, -so, "%s: %s", uri, strerror(so));
	return 0;
}

struct mig_start {
	struct control *c;
	char uri[256];
};

static void *mig_thread(void *arg)
{
	struct mig_start *ms = arg;
	struct control *c = ms->c;
	struct vk_err err = { 0 };
	int r, fd;

	prctl(PR_SET_NAME, "migrate");
	r = connect_to(ms->uri, c, &err);
	if (!r) {
		set_status(c, MIGRATE_ACTIVE);
		r = vm_migrate_send(c->vm, atomic_load(&c->mig_fd), c->mig, &err);
	}
	fd = atomic_exchange(&c->mig_fd, -1);
	if (fd >= 0)
		close(fd);
	if (!r) {
		c->mig_gone = true;
		set_status(c, MIGRATE_COMPLETED);
		free(ms);
		return NULL;
	}
	snprintf(c->migrate_error, sizeof(c->migrate_error), "%s", err.msg);
	if (atomic_load(&c->mig->disks_lost))
		c->mig_gone = true;	/* it must not run: cont says so */
	else if (atomic_load(&c->mig->stopped) && c->mig_paused) {
		pthread_mutex_lock(&c->vm_lock);
		vm_resume(c->vm);
		c->paused = false;
		pthread_mutex_unlock(&c->vm_lock);
		qmp_emit(c, "RESUME", NULL);
	}
	set_status(c, atomic_load(&c->mig->cancel) ? MIGRATE_CANCELLED : MIGRATE_FAILED);
	free(ms);
	return NULL;
}

/* tcp:ADDR:PORT's ADDR, without an IPv6 address's brackets (it was parsed: it has a port). */
static void tls_peer_of(const char *uri, char *out, size_t len)
{
	const char *p = uri + 4;
	size_t n = strrchr(p, ':') - p;

	if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
		p++;
		n -= 2;
	}
	snprintf(out, len, "%.*s", (int)n, p);
}

static int migrate_tcp(struct control *c, const char *uri, bool blk, struct qmp_error *e)
{
	struct sockaddr_storage sa;
	struct vk_err err = { 0 };
	struct mig_start *ms;
	unsigned int len;

	if (migrate_parse_tcp(uri, &sa, &len, &err))
		return qmp_fail(e, "GenericError", "migrate: %s", err.msg);
	qmp_migrate_join(c);	/* the last one's thread, ended */
	ms = calloc(1, sizeof(*ms));
	if (!c->mig)
		c->mig = malloc(sizeof(*c->mig));
	if (!ms || !c->mig) {
		free(ms);
		return qmp_fail(e, "GenericError", "out of memory");
	}
	params_default(c);
	migrate_job_init(c->mig);
	c->mig->downtime_limit_ms = c->mig_downtime_ms;
	c->mig->bandwidth = c->mig_bandwidth;
	c->mig->max_rounds = c->mig_max_rounds;
	c->mig->disks = blk;
	if (c->mig_tls) {
		c->mig->tls = c->cfg->tls;
		/* The URI's address, unless tls-hostname names what the certificate says. */
		if (c->mig_tls_host[0])
			snprintf(c->mig->tls_peer, sizeof(c->mig->tls_peer), "%s", c->mig_tls_host);
		else
			tls_peer_of(uri, c->mig->tls_peer, sizeof(c->mig->tls_peer));
	}
	c->mig->stop_vm = stop_vm;
	c->mig->opaque = c;
	c->mig_paused = false;
	c->migrate_error[0] = 0;
	atomic_store(&c->mig_fd, -1);
	ms->c = c;
	snprintf(ms->uri, sizeof(ms->uri), "%s", uri);
	set_status(c, MIGRATE_SETUP);
	if (pthread_create(&c->mig_thread, NULL, mig_thread, ms)) {
		free(ms);
		snprintf(c->migrate_error, sizeof(c->migrate_error), "cannot start a thread");
		set_status(c, MIGRATE_FAILED);
		return qmp_fail(e, "GenericError", "migrate: cannot start a thread");
	}
	c->mig_thread_started = true;
	return 0;
}

int qmp_cmd_migrate(struct control *c, json_object *args, json_object **ret,
		    struct qmp_error *e)
{
	const char *uri = json_object_get_string(json_object_object_get(args, "uri"));
	json_object *v;
	bool blk = json_object_object_get_ex(args, "blk", &v) && json_object_get_boolean(v);

	if (live(c))
		return qmp_fail(e, "GenericError", "There's a migration process in progress");
	if (c->mig_gone)
		return qmp_fail(e, "GenericError", "%s", qmp_migrate_blocks_cont(c));
	/* Its disks are still being copied, and would be handed over (or closed) under it. */
	if (qmp_backup_running(c))
		return qmp_fail(e, "GenericError", "migrate: backup job '%s' is running "
				"(block-job-cancel ends it)", c->backup_id);
	if (!strncmp(uri, "tcp:", 4))
		return migrate_tcp(c, uri, blk, e);
	if (blk)
		return qmp_fail(e, "GenericError", "migrate: blk (the disks' contents) goes over "
				"tcp: only; a saved state never holds the disks");
	if (!strncmp(uri, "file:", 5) && uri[5])
		return migrate_file(c, uri + 5, e);
	return qmp_fail(e, "GenericError", "migrate: '%s': give tcp:ADDR:PORT or file:PATH", uri);
}

int qmp_cmd_migrate_cancel(struct control *c, json_object *args, json_object **ret,
			   struct qmp_error *e)
{
	int fd;

	if (!live(c))
		return 0;	/* as QEMU: nothing to cancel is no error */
	atomic_store(&c->mig->cancel, true);
	fd = atomic_load(&c->mig_fd);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);	/* wakes a send or receive that waits */
	atomic_store(&c->migrate_status, MIGRATE_CANCELLING);
	return 0;
}

void qmp_migrate_join(struct control *c)
{
	int fd;

	if (!c->mig_thread_started)
		return;
	if (live(c)) {
		atomic_store(&c->mig->cancel, true);
		fd = atomic_load(&c->mig_fd);
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
	}
	pthread_join(c->mig_thread, NULL);
	c->mig_thread_started = false;
}

const char *qmp_migrate_blocks_cont(struct control *c)
{
	if (live(c))
		return "a migration is in progress (migrate_cancel ends it)";
	if (c->mig_gone && atomic_load(&c->migrate_status) == MIGRATE_COMPLETED)
		return "the VM has migrated: it runs on the destination now";
	if (c->mig_gone)
		return "the failed migration could not take the disks back (query-migrate says why)";
	return NULL;
}

/* ---- parameters ---- */

int qmp_cmd_migrate_set_parameters(struct control *c, json_object *args, json_object **ret,
				   struct qmp_error *e)
{
	json_object *v;
	int64_t d = -1, b = -1, m = -1;

	if (json_object_object_get_ex(args, "downtime-limit", &v))
		d = json_object_get_int64(v);
	if (json_object_object_get_ex(args, "max-bandwidth", &v))
		b = json_object_get_int64(v);
	if (json_object_object_get_ex(args, "x-max-rounds", &v))
		m = json_object_get_int64(v);
	if (json_object_object_get_ex(args, "downtime-limit", NULL) &&
	    (d < 0 || d > DOWNTIME_MAX_MS))
		return qmp_fail(e, "GenericError", "Parameter 'downtime_limit' expects an integer "
				"in the range of 0 to %d milliseconds", DOWNTIME_MAX_MS);
	if (json_object_object_get_ex(args, "max-bandwidth", NULL) && b < 0)
		return qmp_fail(e, "GenericError", "Parameter 'max_bandwidth' expects a size of "
				"0 or more bytes per second");
	if (json_object_object_get_ex(args, "x-max-rounds", NULL) && (m < 1 || m > 100000))
		return qmp_fail(e, "GenericError", "Parameter 'x-max-rounds' expects 1 to 100000");
	if (json_object_object_get_ex(args, "tls-creds", &v) && *json_object_get_string(v)) {
		if (!c->cfg->tls)
			return qmp_fail(e, "GenericError", "No TLS credentials with id '%s' (start "
					"the VM with --tls-creds DIR)", json_object_get_string(v));
		if (strcmp(json_object_get_string(v), MIGRATE_TLS_ID))
			return qmp_fail(e, "GenericError", "No TLS credentials with id '%s' (the "
					"credentials of --tls-creds are '%s')",
					json_object_get_string(v), MIGRATE_TLS_ID);
	}
	if (json_object_object_get_ex(args, "tls-hostname", &v) &&
	    json_object_get_string_len(v) >= (int)sizeof(c->mig_tls_host))
		return qmp_fail(e, "GenericError", "Parameter 'tls-hostname' is too long");
	params_default(c);
	if (json_object_object_get_ex(args, "tls-creds", &v))
		c->mig_tls = *json_object_get_string(v);
	if (json_object_object_get_ex(args, "tls-hostname", &v))
		snprintf(c->mig_tls_host, sizeof(c->mig_tls_host), "%s", json_object_get_string(v));
	if (d >= 0)
		c->mig_downtime_ms = d;
	if (b >= 0)
		c->mig_bandwidth = b;
	if (m >= 0)
		c->mig_max_rounds = m;
	return 0;
}

int qmp_cmd_query_migrate_parameters(struct control *c, json_object *args, json_object **ret,
				     struct qmp_error *e)
{
	params_default(c);
	*ret = json_object_new_object();
	json_object_object_add(*ret, "downtime-limit", json_object_new_int64(c->mig_downtime_ms));
	json_object_object_add(*ret, "max-bandwidth", json_object_new_int64(c->mig_bandwidth));
	json_object_object_add(*ret, "x-max-rounds", json_object_new_int64(c->mig_max_rounds));
	json_object_object_add(*ret, "tls-creds", json_object_new_string(c->mig_tls ?
									  MIGRATE_TLS_ID : ""));
	json_object_object_add(*ret, "tls-hostname", json_object_new_string(c->mig_tls_host));
	return 0;
}

/* ---- query-migrate ---- */

static void add_int(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static json_object *ram_obj(const struct migrate_job *j)
{
	json_object *r = json_object_new_object();

	add_int(r, "transferred", atomic_load(&j->transferred));
	add_int(r, "remaining", atomic_load(&j->remaining));
	add_int(r, "total", atomic_load(&j->ram_total));
	add_int(r, "duplicate", atomic_load(&j->zero_pages));
	add_int(r, "normal", atomic_load(&j->pages_sent));
	add_int(r, "normal-bytes", atomic_load(&j->pages_sent) * 4096);
	add_int(r, "dirty-sync-count", atomic_load(&j->rounds));
	add_int(r, "dirty-pages-rate", atomic_load(&j->dirty_rate));
	add_int(r, "page-size", 4096);
	/* QEMU's mbps is megabits per second */
	json_object_object_add(r, "mbps", json_object_new_double(
		(double)atomic_load(&j->link_bps) * 8 / 1e6));
	return r;
}

int qmp_cmd_query_migrate(struct control *c, json_object *args, json_object **ret,
			  struct qmp_error *e)
{
	int st = atomic_load(&c->migrate_status);
	const struct migrate_job *j = c->mig;

	*ret = json_object_new_object();
	if (st == MIGRATE_NONE)
		return 0;
	/* QEMU's "device": the VM paused for the last round */
	json_object_object_add(*ret, "status", json_object_new_string(
		st == MIGRATE_ACTIVE && j && atomic_load(&j->stopped) ? "device" : status_names[st]));
	if (j && c->mig_thread_started) {
		bool done = st == MIGRATE_COMPLETED || st == MIGRATE_FAILED ||
			    st == MIGRATE_CANCELLED;
		uint64_t t0 = atomic_load(&j->started_ns);

		json_object_object_add(*ret, "ram", ram_obj(j));
		add_int(*ret, "total-time", done ? atomic_load(&j->total_ms) :
			t0 ? (vk_now_ns() - t0) / 1000000 : 0);
		add_int(*ret, "setup-time", atomic_load(&j->setup_ms));
		if (st == MIGRATE_COMPLETED)
			add_int(*ret, "downtime", atomic_load(&j->downtime_ms));
		else
			add_int(*ret, "expected-downtime", atomic_load(&j->expected_downtime_ms));
	}
	if (st == MIGRATE_FAILED || st == MIGRATE_CANCELLED)
		json_object_object_add(*ret, "error-desc",
				       json_object_new_string(c->migrate_error));
	return 0;
}
