// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Jobs: every operation that changes state runs in a forked child that
 * calls the management library, as a CLI command would in its own
 * process. The event loop stays free (a child may wait on the state lock,
 * on PAM's failure delay or on a VM that takes a minute to shut down), the
 * state lock (flock) orders the server's changes with the CLI's, and a
 * crash in an operation cannot take the server down.
 *
 * The child's stdout/stderr is the task's log; fd 3 carries its result
 * as one JSON object {"code": 0 or -errno, "message", "data"}.
 * Tasks (long operations) answer at once with their id; other jobs answer
 * the request when the child ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"

#define TASKS_KEPT	500
#define LOG_LINES_MAX	5000
#define POLL_US		20000

struct task {
	char id[64], type[32], target[160], user[SERVE_USER_MAX];
	time_t start, end;
	char status[512];		/* "" while running */
	double progress;		/* < 0: none */
	char **log;
	unsigned int nlog;
	struct task *next;		/* newest first */
};

struct job {
	pid_t pid;
	int outfd, resfd;
	struct sess *s;			/* waiting for the result, or NULL */
	job_done_fn done;
	struct task *t;
	char line[1024];
	size_t line_len;
	char *res;
	size_t res_len;
	struct job *next;
};

static struct lws_context *context;
static lws_sorted_usec_list_t poll_sul;
static bool poll_on;
static struct job *jobs;
static struct task *tasks;
static unsigned int task_seq;

static void poll_cb(lws_sorted_usec_list_t *sul);
static void task_load_all(void);

static void poll_schedule(void)
{
	if (poll_on || !context)
		return;
	poll_on = true;
	lws_sul_schedule(context, 0, &poll_sul, poll_cb, POLL_US);
}

void job_init(struct lws_context *ctx)
{
	context = ctx;
	signal(SIGPIPE, SIG_IGN);
	task_load_all();
}

/* ---- tasks ---- */

static void task_trim(void)
{
	struct task *t = tasks, *prev = NULL;
	unsigned int n = 0, i;

	for (; t; prev = t, t = t->next) {
		if (++n <= TASKS_KEPT || !t->end)
			continue;
		prev->next = t->next;
		for (i = 0; i < t->nlog; i++)
			free(t->log[i]);
		free(t->log);
		free(t);
		t = prev;
	}
}

struct task *task_new(const char *type, const char *target, const char *user, char *id)
{
	struct task *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->start = time(NULL);
	t->progress = -1;
	/* The pid keeps ids unique across restarts within one second. */
	snprintf(t->id, sizeof(t->id), "task-%08llX-%X-%u", (unsigned long long)t->start,
		 (unsigned int)getpid(), ++task_seq);
	snprintf(t->type, sizeof(t->type), "%s", type);
	snprintf(t->target, sizeof(t->target), "%s", target);
	snprintf(t->user, sizeof(t->user), "%s", user);
	t->next = tasks;
	tasks = t;
	task_trim();
	if (id)
		snprintf(id, 64, "%s", t->id);
	return t;
}

void task_log(struct task *t, const char *fmt, ...)
{
	char **nl, *line;
	va_list ap;

	if (t->nlog >= LOG_LINES_MAX)
		return;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	nl = line ? realloc(t->log, (t->nlog + 1) * sizeof(*nl)) : NULL;
	if (!nl) {
		free(line);
		return;
	}
	t->log = nl;
	t->log[t->nlog++] = line;
}

void task_progress(struct task *t, double p)
{
	t->progress = p;
}

/* A finished task is kept on disk ($VMKIT_HOME/serve/tasks/ID.json): a restart keeps the log. */
static void task_save(const struct task *t)
{
	struct json_object *o = task_json(t, true);
	const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	struct vk_err err = { 0 };
	char path[PATH_MAX];

	mkdir(mgmt_path(path, "serve/tasks"), 0700);
	mgmt_write_atomic(mgmt_path(path, "serve/tasks/%s.json", t->id), txt, strlen(txt), 0600,
			  &err);
	json_object_put(o);
}

void task_end(struct task *t, const char *status)
{
	t->end = time(NULL);
	snprintf(t->status, sizeof(t->status), "%s", status);
	task_log(t, "TASK %s", status);
	task_save(t);
}

static struct task *task_from_json(struct json_object *o)
{
	struct task *t = calloc(1, sizeof(*t));
	struct json_object *v, *log;
	size_t i;

	if (!t)
		return NULL;
	snprintf(t->id, sizeof(t->id), "%s", jstr(o, "id") ? jstr(o, "id") : "");
	snprintf(t->type, sizeof(t->type), "%s", jstr(o, "type") ? jstr(o, "type") : "");
	snprintf(t->target, sizeof(t->target), "%s", jstr(o, "target") ? jstr(o, "target") : "");
	snprintf(t->user, sizeof(t->user), "%s", jstr(o, "user") ? jstr(o, "user") : "");
	snprintf(t->status, sizeof(t->status), "%s", jstr(o, "status") ? jstr(o, "status") : "");
	t->start = json_object_object_get_ex(o, "starttime", &v) ? json_object_get_int64(v) : 0;
	t->end = json_object_object_get_ex(o, "endtime", &v) ? json_object_get_int64(v) : 0;
	t->progress = json_object_object_get_ex(o, "progress", &v) && v ?
		json_object_get_double(v) : -1;
	if (!t->id[0] || !t->end) {
		free(t);
		return NULL;
	}
	if (json_object_object_get_ex(o, "log", &log) && json_object_is_type(log, json_type_array))
		for (i = 0; i < json_object_array_length(log); i++)
			task_log(t, "%s", json_object_get_string(json_object_array_get_idx(log, i)));
	return t;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* The kept tasks, oldest first onto the list (so newest ends first); beyond TASKS_KEPT removed. */
static void task_load_all(void)
{
	struct dirent **ents = NULL;
	char dir[PATH_MAX], path[PATH_MAX + 300];
	int n, i;

	n = scandir(mgmt_path(dir, "serve/tasks"), &ents, NULL, by_name);
	for (i = 0; i < n; i++) {
		struct json_object *o;
		struct task *t = NULL;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] == '.' || !strstr(ents[i]->d_name, ".json")) {
			free(ents[i]);
			continue;
		}
		if (i < n - TASKS_KEPT) {
			unlink(path);
		} else if ((o = json_object_from_file(path))) {
			t = task_from_json(o);
			json_object_put(o);
		}
		if (t) {
			t->next = tasks;
			tasks = t;
		}
		free(ents[i]);
	}
	free(ents);
}

const struct task *task_find(const char *id)
{
	const struct task *t;

	for (t = tasks; t; t = t->next)
		if (!strcmp(t->id, id))
			return t;
	return NULL;
}

struct json_object *task_json(const struct task *t, bool with_log)
{
	struct json_object *o = json_object_new_object();
	unsigned int i;

	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "type", json_object_new_string(t->type));
	json_object_object_add(o, "target", json_object_new_string(t->target));
	json_object_object_add(o, "user", json_object_new_string(t->user));
	json_object_object_add(o, "starttime", json_object_new_int64(t->start));
	json_object_object_add(o, "endtime", t->end ? json_object_new_int64(t->end) : NULL);
	json_object_object_add(o, "status", json_object_new_string(t->end ? t->status : "running"));
	json_object_object_add(o, "progress",
			       t->progress >= 0 ? json_object_new_double(t->progress) : NULL);
	if (with_log) {
		struct json_object *log = json_object_new_array();

		for (i = 0; i < t->nlog; i++)
			json_object_array_add(log, json_object_new_string(t->log[i]));
		json_object_object_add(o, "log", log);
	}
	return o;
}

struct json_object *task_list_json(void)
{
	struct json_object *a = json_object_new_array();
	const struct task *t;

	for (t = tasks; t; t = t->next)
		json_object_array_add(a, task_json(t, false));
	return a;
}

/* ---- the child ---- */

static void child_run(int out, int res, job_fn fn, const void *arg)
{
	struct json_object *result = NULL, *o = json_object_new_object();
	struct vk_err err = { 0 };
	const char *txt;
	int rc;

	dup2(out, 1);
	dup2(out, 2);
	if (res != 3) {
		dup2(res, 3);
		close(res);
	} else {
		fcntl(3, F_SETFD, FD_CLOEXEC);
	}
	/* Not the server's sockets: a monitor started from here must not hold them. */
	close_range(4, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = fn((void *)arg, &result, &err);
	if (rc && !err.code)
		vk_fail(&err, rc, "%s", strerror(-rc));
	json_object_object_add(o, "code", json_object_new_int(rc));
	json_object_object_add(o, "message", json_object_new_string(err.msg));
	json_object_object_add(o, "data", result);
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	fflush(stdout);
	vk_write_full(3, txt, strlen(txt));
	_exit(rc ? 1 : 0);
}

static struct job *job_start(job_fn fn, const void *arg, size_t argsize, struct vk_err *err)
{
	int lp[2], rp[2];
	struct job *j;

	(void)argsize;		/* the child has its own copy of everything */
	if (pipe2(lp, O_CLOEXEC) < 0)
		return vk_fail(err, -errno, "pipe: %s", strerror(errno)), NULL;
	if (pipe2(rp, O_CLOEXEC) < 0) {
		vk_fail(err, -errno, "pipe: %s", strerror(errno));
		close(lp[0]);
		close(lp[1]);
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (j)
		j->pid = fork();
	if (!j || j->pid < 0) {
		vk_fail(err, -ENOMEM, "cannot start a job: %s", strerror(errno));
		free(j);
		close(lp[0]), close(lp[1]), close(rp[0]), close(rp[1]);
		return NULL;
	}
	if (!j->pid) {
		close(lp[0]);
		close(rp[0]);
		child_run(lp[1], rp[1], fn, arg);
	}
	close(lp[1]);
	close(rp[1]);
	j->outfd = lp[0];
	j->resfd = rp[0];
	fcntl(j->outfd, F_SETFL, O_NONBLOCK);
	fcntl(j->resfd, F_SETFL, O_NONBLOCK);
	j->next = jobs;
	jobs = j;
	poll_schedule();
	return j;
}

int job_sync_cb(struct sess *s, job_fn fn, const void *arg, size_t argsize, job_done_fn done)
{
	struct vk_err err = { 0 };
	struct job *j = job_start(fn, arg, argsize, &err);

	if (!j) {
		reply_err(s, &err);
		return err.code;
	}
	j->s = s;
	j->done = done;
	s->job = j;
	return 0;
}

int job_sync(struct sess *s, job_fn fn, const void *arg, size_t argsize)
{
	return job_sync_cb(s, fn, arg, argsize, NULL);
}

int job_task(struct sess *s, const char *type, const char *target, job_fn fn, const void *arg,
	     size_t argsize)
{
	struct vk_err err = { 0 };
	char id[64];
	struct task *t;
	struct job *j;

	t = task_new(type, target, s->user, id);
	if (!t) {
		reply_error(s, 500, "out of memory");
		return -ENOMEM;
	}
	j = job_start(fn, arg, argsize, &err);
	if (!j) {
		task_end(t, err.msg);
		reply_err(s, &err);
		return err.code;
	}
	j->t = t;
	reply_data(s, json_object_new_string(id));
	return 0;
}

void job_sess_gone(struct sess *s)
{
	if (s->job)
		s->job->s = NULL;
	s->job = NULL;
}

/* ---- the parent: collect output, finish ---- */

static void take_lines(struct job *j, const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf[i] == '\n' || j->line_len == sizeof(j->line) - 1) {
			j->line[j->line_len] = 0;
			if (j->t && j->line_len)
				task_log(j->t, "%s", j->line);
			j->line_len = 0;
			if (buf[i] == '\n')
				continue;
		}
		j->line[j->line_len++] = buf[i];
	}
}

static void drain(struct job *j)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(j->outfd, buf, sizeof(buf))) > 0)
		take_lines(j, buf, (size_t)n);
	while ((n = read(j->resfd, buf, sizeof(buf))) > 0) {
		char *nr = realloc(j->res, j->res_len + (size_t)n + 1);

		if (!nr)
			break;
		j->res = nr;
		memcpy(j->res + j->res_len, buf, (size_t)n);
		j->res_len += (size_t)n;
		j->res[j->res_len] = 0;
	}
}

static void finish(struct job *j, int wstatus)
{
	struct json_object *r = j->res ? json_tokener_parse(j->res) : NULL, *data = NULL;
	struct vk_err err = { 0 };
	struct json_object *v;

	if (j->line_len)
		take_lines(j, "\n", 1);
	if (!r) {
		vk_fail(&err, -EIO, "operation ended without a result (%s %d)",
			WIFSIGNALED(wstatus) ? "signal" : "exit status",
			WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
	} else {
		if (json_object_object_get_ex(r, "code", &v))
			err.code = json_object_get_int(v);
		if (err.code && json_object_object_get_ex(r, "message", &v))
			snprintf(err.msg, sizeof(err.msg), "%s", json_object_get_string(v));
		if (json_object_object_get_ex(r, "data", &data))
			json_object_get(data);
	}
	if (j->t)
		task_end(j->t, err.code ? err.msg : "OK");
	if (j->s) {
		j->s->job = NULL;
		if (j->done)
			j->done(j->s, &err, data), data = NULL;
		else if (err.code)
			reply_err(j->s, &err);
		else
			reply_data(j->s, data), data = NULL;
	}
	json_object_put(data);
	json_object_put(r);
}

void job_poll(void)
{
	struct job **pp = &jobs, *j;
	int wstatus;

	while ((j = *pp)) {
		drain(j);
		if (waitpid(j->pid, &wstatus, WNOHANG) != j->pid) {
			pp = &j->next;
			continue;
		}
		drain(j);
		finish(j, wstatus);
		*pp = j->next;
		close(j->outfd);
		close(j->resfd);
		free(j->res);
		free(j);
	}
}

static void poll_cb(lws_sorted_usec_list_t *sul)
{
	poll_on = false;
	job_poll();
	wscon_poll();
	if (jobs || wscon_active())
		poll_schedule();
}

void job_poll_kick(void)
{
	poll_schedule();
}
