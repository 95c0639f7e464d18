// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A QMP client: the only way management reaches into a running monitor.
 * Connect, read the greeting, negotiate capabilities, then one command at a
 * time; asynchronous events that arrive in between are skipped. Replies are
 * parsed with json-c's incremental tokener, so a reply split across reads
 * or two messages in one read are both handled.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "vmkit/mgmt.h"

#define QMP_TIMEOUT_S	10

struct qmpc {
	int fd;
	struct json_tokener *tok;
	char buf[65536];
	size_t len, off;
};

/* The next complete JSON object from the socket. */
static int read_msg(struct qmpc *q, struct json_object **out, struct vk_err *err)
{
	for (;;) {
		while (q->off < q->len) {
			struct json_object *o;
			size_t n = q->len - q->off;

			o = json_tokener_parse_ex(q->tok, q->buf + q->off, n);
			enum json_tokener_error e = json_tokener_get_error(q->tok);

			if (e == json_tokener_continue) {
				q->off = q->len;
				break;
			}
			q->off += json_tokener_get_parse_end(q->tok);
			json_tokener_reset(q->tok);
			if (e != json_tokener_success)
				return vk_fail(err, -EPROTO, "QMP: malformed reply: %s",
					       json_tokener_error_desc(e));
			if (o) {
				*out = o;
				return 0;
			}
		}
		ssize_t r = recv(q->fd, q->buf, sizeof(q->buf), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return vk_fail(err, -errno, "QMP: %s", errno == EAGAIN ? "no reply in time" :
				       strerror(errno));
		if (r == 0)
			return vk_fail(err, -ECONNRESET, "QMP: the monitor closed the connection");
		q->len = r;
		q->off = 0;
	}
}

/* The reply to the command just sent: skips events, turns "error" into err. */
static int read_reply(struct qmpc *q, struct json_object **ret, struct vk_err *err)
{
	struct json_object *o, *v;
	int r;

	for (;;) {
		r = read_msg(q, &o, err);
		if (r)
			return r;
		if (json_object_object_get_ex(o, "return", &v)) {
			*ret = json_object_get(v);
			json_object_put(o);
			return 0;
		}
		if (json_object_object_get_ex(o, "error", &v)) {
			struct json_object *desc;
			const char *d = json_object_object_get_ex(v, "desc", &desc) ?
					json_object_get_string(desc) : "unknown error";

			vk_fail(err, -EIO, "%s", d);
			json_object_put(o);
			return -EIO;
		}
		json_object_put(o);	/* an event */
	}
}

static int send_cmd(struct qmpc *q, const char *cmd, const char *args_json,
		    struct vk_err *err)
{
	char msg[8192];
	int n;

	n = snprintf(msg, sizeof(msg), "{\"execute\": \"%s\"%s%s}\n", cmd,
		     args_json ? ", \"arguments\": " : "", args_json ? args_json : "");
	if (n >= (int)sizeof(msg))
		return vk_fail(err, -E2BIG, "QMP: command too long");
	if (send(q->fd, msg, n, MSG_NOSIGNAL) != n)
		return vk_fail(err, -errno, "QMP: %s", strerror(errno));
	return 0;
}

int mgmt_unix_connect(const char *path, struct vk_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *slash = strrchr(path, '/');
	int fd, dfd = -1, e;

	/*
	 * A socket path may be longer than sun_path (108 bytes) when the state
	 * directory is deep: then go through the directory's fd, a short path
	 * the kernel resolves the same way.
	 */
	if (strlen(path) < sizeof(sa.sun_path)) {
		strcpy(sa.sun_path, path);
	} else if (slash) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return vk_fail(err, -errno, "%s: %s", dir, strerror(errno));
		if (snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d%s", dfd, slash) >=
		    (int)sizeof(sa.sun_path)) {
			close(dfd);
			return vk_fail(err, -ENAMETOOLONG, "%s: socket name too long", path);
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	e = errno;
	if (dfd >= 0)
		close(dfd);
	if (fd < 0)
		return vk_fail(err, -e, "%s: %s", path, strerror(e));
	return fd;
}

int qmpc_connect(const char *path, struct qmpc **out, struct vk_err *err)
{
	struct timeval tv = { .tv_sec = QMP_TIMEOUT_S };
	struct json_object *o, *v;
	struct qmpc *q;
	int ret;

	q = calloc(1, sizeof(*q));
	if (!q || !(q->tok = json_tokener_new())) {
		free(q);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	q->fd = mgmt_unix_connect(path, err);
	if (q->fd < 0) {
		ret = q->fd;
		goto err_close;
	}
	setsockopt(q->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = read_msg(q, &o, err);
	if (ret)
		goto err_close;
	if (!json_object_object_get_ex(o, "QMP", &v)) {
		json_object_put(o);
		ret = vk_fail(err, -EPROTO, "%s: no QMP greeting", path);
		goto err_close;
	}
	json_object_put(o);
	ret = send_cmd(q, "qmp_capabilities", NULL, err);
	if (!ret)
		ret = read_reply(q, &o, err);
	if (ret)
		goto err_close;
	json_object_put(o);
	*out = q;
	return 0;
err_close:
	qmpc_close(q);
	return ret;
}

int qmpc_execute(struct qmpc *q, const char *cmd, const char *args_json, char **ret_json,
		struct vk_err *err)
{
	struct json_object *o;
	int ret = send_cmd(q, cmd, args_json, err);

	if (!ret)
		ret = read_reply(q, &o, err);
	if (ret)
		return ret;
	if (ret_json) {
		*ret_json = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		if (!*ret_json)
			ret = vk_fail(err, -ENOMEM, "out of memory");
	}
	json_object_put(o);
	return ret;
}

void qmpc_close(struct qmpc *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	if (q->tok)
		json_tokener_free(q->tok);
	free(q);
}

int qmpc_vcpu_threads(struct qmpc *q, pid_t *tids, unsigned int max, unsigned int *n,
		      struct vk_err *err)
{
	_cleanup_free_ char *text = NULL;
	struct json_object *arr, *cpu, *idx, *tid;
	size_t i, len;
	int r;

	*n = 0;
	r = qmpc_execute(q, "query-cpus-fast", NULL, &text, err);
	if (r)
		return r;
	arr = json_tokener_parse(text);
	if (!arr || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return vk_fail(err, -EPROTO, "query-cpus-fast: not a list");
	}
	len = json_object_array_length(arr);
	for (i = 0; i < len; i++) {
		cpu = json_object_array_get_idx(arr, i);
		if (!json_object_object_get_ex(cpu, "cpu-index", &idx) ||
		    !json_object_object_get_ex(cpu, "thread-id", &tid) ||
		    json_object_get_int(idx) < 0 || (unsigned int)json_object_get_int(idx) >= max)
			continue;
		tids[json_object_get_int(idx)] = json_object_get_int(tid);
		*n = MAX(*n, (unsigned int)json_object_get_int(idx) + 1);
	}
	json_object_put(arr);
	return 0;
}
