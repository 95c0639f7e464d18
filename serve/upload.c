// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Uploads into a pool (an ISO, an image): POST /api/pools/P/upload
 * ?filename=NAME with the file as the raw body. The body goes straight to
 * a temporary file in the pool as it arrives (never whole in memory), is
 * fsynced and renamed to NAME only when every byte of Content-Length has
 * come, without replacing a volume of that name; a transfer that breaks
 * off leaves nothing behind. A task shows the progress to everyone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "serve.h"

struct upload {
	int fd;
	char tmp[PATH_MAX], dest[PATH_MAX];
	uint64_t got, want;
	struct task *t;
	char task_id[64];
	uint64_t last_note;
};

static int check(struct sess *s, struct pool_def *p, char *name, size_t n)
{
	struct vk_err err = { 0 };

	if (!query_arg(s, "filename", name, n)) {
		reply_error(s, 400, "filename: required (?filename=NAME)");
		return -1;
	}
	if (mgmt_check_name("volume", name, &err) || pool_load(s->arg[0], p, &err)) {
		reply_err(s, &err);
		return -1;
	}
	if (!p->active) {
		reply_error(s, 409, "pool '%s' is not active", p->name);
		return -1;
	}
	if (!s->has_length) {
		reply_error(s, 411, "upload: Content-Length is required");
		return -1;
	}
	return 0;
}

void upload_begin(struct sess *s)
{
	struct pool_def p;
	struct upload *u;
	char name[MGMT_NAME_MAX + 8], target[PATH_MAX + MGMT_NAME_MAX];

	if (check(s, &p, name, sizeof(name)))
		return;
	u = calloc(1, sizeof(*u));
	if (!u) {
		reply_error(s, 500, "out of memory");
		return;
	}
	snprintf(u->dest, sizeof(u->dest), "%s/%s", p.path, name);
	if (!access(u->dest, F_OK)) {
		free(u);
		reply_error(s, 409, "volume '%s:%s' exists", p.name, name);
		return;
	}
	snprintf(u->tmp, sizeof(u->tmp), "%s/.%s.upload-XXXXXX", p.path, name);
	u->fd = mkostemp(u->tmp, O_CLOEXEC);
	if (u->fd < 0) {
		reply_error(s, 500, "%s: %s", p.path, strerror(errno));
		free(u);
		return;
	}
	/* Readable by the user VMs run as (vmkit), as volumes vmkit img makes are. */
	fchmod(u->fd, 0644);
	u->want = s->content_length;
	snprintf(target, sizeof(target), "%s:%s", p.name, name);
	u->t = task_new("upload", target, s->user, u->task_id);
	if (u->t) {
		task_log(u->t, "receiving %llu bytes into %s", (unsigned long long)u->want, u->dest);
		task_progress(u->t, 0);
	}
	s->upload = u;
	/* An empty file has no body to wait for. */
	if (!u->want)
		upload_end(s);
}

static void fail(struct sess *s, int status, const char *msg)
{
	struct upload *u = s->upload;

	if (u->t)
		task_end(u->t, msg);
	u->t = NULL;
	upload_abort(s);
	reply_error(s, status, "%s", msg);
}

int upload_data(struct sess *s, const void *buf, size_t len)
{
	struct upload *u = s->upload;
	char msg[PATH_MAX + 64];

	if (!u)
		return -1;
	if (u->got + len > u->want) {
		fail(s, 400, "upload: more data than Content-Length");
		return -1;
	}
	if (vk_write_full(u->fd, buf, len) < 0) {
		snprintf(msg, sizeof(msg), "upload: %s: %s", u->tmp, strerror(errno));
		fail(s, errno == ENOSPC ? 507 : 500, msg);
		return -1;
	}
	u->got += len;
	if (u->t && u->want)
		task_progress(u->t, (double)u->got / (double)u->want);
	return 0;
}

void upload_end(struct sess *s)
{
	struct upload *u = s->upload;
	char msg[PATH_MAX + 64], id[64];
	int dfd;

	if (!u)
		return;
	if (u->got != u->want) {
		fail(s, 400, "upload: the body ended before Content-Length");
		return;
	}
	if (fsync(u->fd) < 0 || renameat2(AT_FDCWD, u->tmp, AT_FDCWD, u->dest, RENAME_NOREPLACE) < 0) {
		snprintf(msg, sizeof(msg), "upload: %s: %s", u->dest, strerror(errno));
		fail(s, errno == EEXIST ? 409 : 500, msg);
		return;
	}
	*strrchr(u->tmp, '/') = 0;
	dfd = open(u->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	u->tmp[0] = 0;
	if (u->t) {
		task_progress(u->t, 1);
		task_end(u->t, "OK");
	}
	snprintf(id, sizeof(id), "%s", u->task_id);
	u->t = NULL;
	upload_abort(s);
	reply_data(s, json_object_new_string(id));
}

void upload_abort(struct sess *s)
{
	struct upload *u = s->upload;

	if (!u)
		return;
	if (u->t)
		task_end(u->t, "upload broken off");
	close(u->fd);
	if (u->tmp[0])
		unlink(u->tmp);
	free(u);
	s->upload = NULL;
}
