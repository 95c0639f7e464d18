// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket's server: a thread of its own serving the unix
 * socket (socket.c), any number of clients (up to MAX_CLIENTS), QMP
 * framing (greeting, capabilities negotiation, one JSON object per
 * request, replies with the request's id, asynchronous events). Client input is parsed with json-c's
 * incremental tokener, so a request may arrive in pieces and several may
 * arrive in one read. Nothing a client sends can stop the monitor: bad
 * JSON gets QMP's error and the connection stays up; a client that does not
 * read its replies is dropped once MAX_OUTPUT bytes are owed to it.
 *
 * Requests must be UTF-8 (RFC 8259, as QEMU's parser insists): other bytes
 * in a string are a parse error, so no reply ever echoes them and every
 * reply is valid JSON.
 *
 * Slots are few (MAX_CLIENTS) and clients such as libvirt keep a negotiated
 * connection open for hours waiting for events, so idle time alone cannot
 * end a session. Two rules keep connections that do nothing from locking
 * management out: a client must finish capabilities negotiation within
 * handshake_ns of connecting (then it gets an error and is closed), and
 * when every slot is taken a new client takes the slot of the one that has
 * been silent longest, provided that one has sent nothing for evict_idle_ns
 * (not negotiated yet: at once). Only when every slot holds a client that
 * spoke within evict_idle_ns is a new connection closed unserved. QEMU's own -qmp socket serves a single
 * client and leaves others waiting in the backlog, a lockout of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "qmp.h"
#include "vmkit/vmm-sandbox.h"

#define MAX_CLIENTS	32
#define MAX_REQUEST	(1u << 20)	/* bytes of one unfinished request */
#define MAX_OUTPUT	(4u << 20)	/* bytes owed to one client */
#define JSON_DEPTH	64
#define HANDSHAKE_NS	(10 * 1000000000ull)	/* connect to qmp_capabilities */
#define EVICT_IDLE_NS	(10 * 1000000000ull)	/* silence that gives a slot away */

struct qmp_client {
	int fd;
	struct json_tokener *tok;
	size_t pending;			/* bytes fed since the last complete object */
	bool negotiated;
	bool skip_line;			/* after bad input: drop bytes up to the next newline */
	bool dead;			/* closed on the control thread's next round */
	uint64_t connected_ns, last_input_ns;	/* vk_now_ns() at accept, at the last read */
	char *out;
	size_t out_len, out_cap;
	struct qmp_client *next;
};

/* Tags for epoll data that are not clients. */
static char tag_listen, tag_wake;

/*
 * Cut a truncated UTF-8 sequence off the end of s: a description echoes
 * the client's (valid) strings and vsnprintf may stop inside a character.
 */
static void trim_partial_utf8(char *s)
{
	size_t len = strlen(s), i = len, need;
	unsigned char lead;

	while (i > 0 && len - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;	/* continuation bytes */
	if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0)
		return;
	lead = s[i - 1];
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	if (len - (i - 1) < need)
		s[i - 1] = '\0';
}

int qmp_fail(struct qmp_error *e, const char *cls, const char *fmt, ...)
{
	va_list ap;

	e->cls = cls;
	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
	trim_partial_utf8(e->desc);
	return -1;
}

/* ---- output (out_lock held) ---- */

static void client_flush(struct control *c, struct qmp_client *cl)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = cl };
	ssize_t n;

	while (cl->out_len && !cl->dead) {
		n = send(cl->fd, cl->out, cl->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			cl->dead = true;
			shutdown(cl->fd, SHUT_RDWR);	/* the control thread sees HUP */
			return;
		}
		memmove(cl->out, cl->out + n, cl->out_len - n);
		cl->out_len -= n;
	}
	if (cl->out_len)
		ev.events |= EPOLLOUT;
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, cl->fd, &ev);
}

static void client_send(struct control *c, struct qmp_client *cl, json_object *msg)
{
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(s), need = cl->out_len + len + 2;
	char *p;

	if (cl->dead)
		return;
	if (need > MAX_OUTPUT) {
		cl->dead = true;	/* it does not read what it asks for */
		shutdown(cl->fd, SHUT_RDWR);
		return;
	}
	if (need > cl->out_cap) {
		p = realloc(cl->out, need * 2);
		if (!p)
			return;
		cl->out = p;
		cl->out_cap = need * 2;
	}
	memcpy(cl->out + cl->out_len, s, len);
	memcpy(cl->out + cl->out_len + len, "\r\n", 2);
	cl->out_len += len + 2;
	client_flush(c, cl);
}

static void send_locked(struct control *c, struct qmp_client *cl, json_object *msg)
{
	pthread_mutex_lock(&c->out_lock);
	client_send(c, cl, msg);
	pthread_mutex_unlock(&c->out_lock);
	json_object_put(msg);
}

void qmp_emit(struct control *c, const char *event, json_object *data)
{
	json_object *msg = json_object_new_object(), *ts = json_object_new_object();
	struct qmp_client *cl;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	json_object_object_add(msg, "event", json_object_new_string(event));
	if (data)
		json_object_object_add(msg, "data", data);
	json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
	json_object_object_add(ts, "microseconds", json_object_new_int64(tv.tv_usec));
	json_object_object_add(msg, "timestamp", ts);
	pthread_mutex_lock(&c->out_lock);
	for (cl = c->clients; cl; cl = cl->next)
		if (cl->negotiated)
			client_send(c, cl, msg);
	pthread_mutex_unlock(&c->out_lock);
	json_object_put(msg);
}

/*
 * The request's id for the reply. A number is made anew from its value:
 * json-c keeps a parsed number's own text for printing, and a text JSON
 * does not allow ("02", found by qmp-fuzz) would go back out as sent,
 * making the reply itself malformed.
 */
static json_object *reply_id(json_object *id)
{
	switch (json_object_get_type(id)) {
	case json_type_int:
		return json_object_new_int64(json_object_get_int64(id));
	case json_type_double:
		return json_object_new_double(json_object_get_double(id));
	default:
		return json_object_get(id);
	}
}

static void send_error(struct control *c, struct qmp_client *cl, json_object *id,
		       const struct qmp_error *e)
{
	json_object *msg = json_object_new_object(), *err = json_object_new_object();

	json_object_object_add(err, "class", json_object_new_string(e->cls));
	json_object_object_add(err, "desc", json_object_new_string(e->desc));
	json_object_object_add(msg, "error", err);
	if (id)
		json_object_object_add(msg, "id", reply_id(id));
	send_locked(c, cl, msg);
}

static void send_return(struct control *c, struct qmp_client *cl, json_object *id,
			json_object *ret)
{
	json_object *msg = json_object_new_object();

	json_object_object_add(msg, "return", ret ? ret : json_object_new_object());
	if (id)
		json_object_object_add(msg, "id", reply_id(id));
	send_locked(c, cl, msg);
}

/* ---- requests ---- */

/* QAPI's names for the JSON types, as its errors say them. */
static const char *type_name(json_type t)
{
	switch (t) {
	case json_type_int: return "integer";
	case json_type_double: return "number";
	case json_type_boolean: return "boolean";
	case json_type_string: return "string";
	case json_type_object: return "object";
	case json_type_array: return "array";
	default: return "null";
	}
}

static int check_args(const struct qmp_cmd *cmd, json_object *args, struct qmp_error *e)
{
	const struct qmp_param *p;
	json_object *v;

	json_object_object_foreach(args, key, val) {
		(void)val;
		for (p = cmd->params; p && p->name; p++)
			if (!strcmp(p->name, key))
				break;
		if (!p || !p->name)
			return qmp_fail(e, "GenericError", "Parameter '%s' is unexpected", key);
	}
	for (p = cmd->params; p && p->name; p++) {
		if (!json_object_object_get_ex(args, p->name, &v)) {
			if (p->optional)
				continue;
			return qmp_fail(e, "GenericError", "Parameter '%s' is missing", p->name);
		}
		/* json_type_null in a parameter list means any type. */
		if (p->type != json_type_null && !json_object_is_type(v, p->type))
			return qmp_fail(e, "GenericError", "Invalid parameter type for '%s', expected: %s",
					p->name, type_name(p->type));
	}
	return 0;
}

/* Wait for a VM (after a reset one is being built); false if none will come. */
static bool wait_vm(struct control *c)
{
	while (!c->vm && !c->finished)
		pthread_cond_wait(&c->vm_cond, &c->vm_lock);
	return c->vm != NULL;
}

int qmp_execute(struct control *c, const char *name, json_object *args, json_object **ret,
		struct qmp_error *e)
{
	const struct qmp_cmd *cmd = qmp_find_cmd(name);
	json_object *empty = NULL;
	int r;

	*ret = NULL;
	if (!cmd)
		return qmp_fail(e, "CommandNotFound", "The command %s has not been found", name);
	if (!args)
		args = empty = json_object_new_object();
	r = check_args(cmd, args, e);
	if (!r && cmd->needs_vm && !wait_vm(c))
		r = qmp_fail(e, "GenericError", "the VM has stopped");
	if (!r)
		r = cmd->fn(c, args, ret, e);
	json_object_put(empty);
	return r;
}

/* The request's form (QMP spec 2.3); NULL with e filled if it is not a request. */
static const char *request_name(json_object *req, json_object **args, struct qmp_error *e)
{
	json_object *exec = NULL;

	*args = NULL;
	if (!json_object_is_type(req, json_type_object)) {
		qmp_fail(e, "GenericError", "QMP input must be a JSON object");
		return NULL;
	}
	json_object_object_foreach(req, key, val) {
		(void)val;
		if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
			qmp_fail(e, "GenericError", "QMP input member '%s' is unexpected", key);
			return NULL;
		}
	}
	if (!json_object_object_get_ex(req, "execute", &exec)) {
		qmp_fail(e, "GenericError", "QMP input lacks member 'execute'");
		return NULL;
	}
	if (!json_object_is_type(exec, json_type_string)) {
		qmp_fail(e, "GenericError", "QMP input member 'execute' must be a string");
		return NULL;
	}
	if (json_object_object_get_ex(req, "arguments", args) &&
	    !json_object_is_type(*args, json_type_object)) {
		qmp_fail(e, "GenericError", "QMP input member 'arguments' must be an object");
		return NULL;
	}
	return json_object_get_string(exec);
}

/* qmp_capabilities: we offer no capabilities, so an "enable" list may only be empty. */
static void negotiate(struct control *c, struct qmp_client *cl, json_object *id,
		      json_object *args)
{
	struct qmp_error e = { 0 };
	json_object *en = NULL;

	if (cl->negotiated)
		qmp_fail(&e, "CommandNotFound",
			 "Capabilities negotiation is already complete, command ignored");
	else if (args && json_object_object_get_ex(args, "enable", &en) &&
		 (!json_object_is_type(en, json_type_array) || json_object_array_length(en)))
		qmp_fail(&e, "GenericError", "Capability '%s' not available",
			 json_object_to_json_string(en));
	if (e.cls) {
		send_error(c, cl, id, &e);
		return;
	}
	pthread_mutex_lock(&c->out_lock);
	cl->negotiated = true;
	pthread_mutex_unlock(&c->out_lock);
	send_return(c, cl, id, NULL);
}

static void handle_request(struct control *c, struct qmp_client *cl, json_object *req)
{
	struct qmp_error e = { 0 };
	json_object *id = NULL, *args, *ret = NULL;
	const char *name;
	int r;

	if (json_object_is_type(req, json_type_object))
		json_object_object_get_ex(req, "id", &id);
	name = request_name(req, &args, &e);
	if (!name) {
		send_error(c, cl, id, &e);
		return;
	}
	if (!strcmp(name, "qmp_capabilities")) {
		negotiate(c, cl, id, args);
		return;
	}
	if (!cl->negotiated) {
		qmp_fail(&e, "CommandNotFound",
			 "Expecting capabilities negotiation with 'qmp_capabilities'");
		send_error(c, cl, id, &e);
		return;
	}
	pthread_mutex_lock(&c->vm_lock);
	r = qmp_execute(c, name, args, &ret, &e);
	/* Queue the reply before releasing the VM: it must precede the events that follow. */
	if (r)
		send_error(c, cl, id, &e);
	else
		send_return(c, cl, id, ret);
	pthread_mutex_unlock(&c->vm_lock);
}

/*
 * After bad input, the rest of its line is dropped (however many reads it
 * takes), so one bad request gets one error and the next line starts afresh.
 */
static size_t skip_line(struct qmp_client *cl, const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);

	cl->skip_line = !nl;
	return nl ? (size_t)(nl - buf) + 1 : len;
}

void qmp_client_input(struct control *c, struct qmp_client *cl, const char *buf, size_t len)
{
	struct qmp_error e = { 0 };
	enum json_tokener_error err;
	json_object *obj;
	size_t used;

	while (len && !cl->dead) {
		if (cl->skip_line) {
			used = skip_line(cl, buf, len);
			buf += used;
			len -= used;
			continue;
		}
		obj = json_tokener_parse_ex(cl->tok, buf, len);
		err = json_tokener_get_error(cl->tok);
		used = json_tokener_get_parse_end(cl->tok);
		if (err == json_tokener_continue) {
			cl->pending += len;
			if (cl->pending <= MAX_REQUEST)
				return;
			qmp_fail(&e, "GenericError", "JSON parse error, request longer than %u bytes",
				 MAX_REQUEST);
		} else if (err != json_tokener_success) {
			qmp_fail(&e, "GenericError", "JSON parse error, %s",
				 json_tokener_error_desc(err));
		}
		json_tokener_reset(cl->tok);
		cl->pending = 0;
		if (err != json_tokener_success) {
			send_error(c, cl, NULL, &e);
			used = skip_line(cl, buf, len);
		} else if (used == 0 || used > len) {
			used = len;	/* cannot happen; never loop on the same bytes */
		}
		buf += used;
		len -= used;
		if (err == json_tokener_success) {
			handle_request(c, cl, obj);
			json_object_put(obj);
		}
	}
}

/* ---- clients ---- */

static void client_free(struct qmp_client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	if (cl->tok)
		json_tokener_free(cl->tok);
	free(cl->out);
	free(cl);
}

static void client_remove(struct control *c, struct qmp_client *cl)
{
	struct qmp_client **p;

	pthread_mutex_lock(&c->out_lock);
	for (p = &c->clients; *p; p = &(*p)->next) {
		if (*p == cl) {
			*p = cl->next;
			c->nr_clients--;
			break;
		}
	}
	pthread_mutex_unlock(&c->out_lock);
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	client_free(cl);
}

static json_object *greeting(struct control *c)
{
	json_object *msg = json_object_new_object(), *qmp = json_object_new_object();
	json_object *ver = json_object_new_object(), *q = json_object_new_object();
	unsigned int maj = 0, min = 0, mic = 0;
	char pkg[64];

	sscanf(c->version, "%u.%u.%u", &maj, &min, &mic);
	json_object_object_add(q, "major", json_object_new_int(maj));
	json_object_object_add(q, "minor", json_object_new_int(min));
	json_object_object_add(q, "micro", json_object_new_int(mic));
	json_object_object_add(ver, "qemu", q);
	snprintf(pkg, sizeof(pkg), "vmkit %s", c->version);
	json_object_object_add(ver, "package", json_object_new_string(pkg));
	json_object_object_add(qmp, "version", ver);
	json_object_object_add(qmp, "capabilities", json_object_new_array());
	json_object_object_add(msg, "QMP", qmp);
	return msg;
}

struct qmp_client *qmp_client_add(struct control *c, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct qmp_client *cl = calloc(1, sizeof(*cl));

	if (!cl) {
		close(fd);
		return NULL;
	}
	cl->fd = fd;
	cl->connected_ns = cl->last_input_ns = vk_now_ns();
	cl->tok = json_tokener_new_ex(JSON_DEPTH);
	ev.data.ptr = cl;
	if (!cl->tok || epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		client_free(cl);
		return NULL;
	}
	json_tokener_set_flags(cl->tok, JSON_TOKENER_VALIDATE_UTF8);
	pthread_mutex_lock(&c->out_lock);
	cl->next = c->clients;
	c->clients = cl;
	c->nr_clients++;
	pthread_mutex_unlock(&c->out_lock);
	send_locked(c, cl, greeting(c));
	return cl;
}

void qmp_client_remove(struct control *c, struct qmp_client *cl)
{
	client_remove(c, cl);
}

/*
 * Close cl with a last error saying why. It is only marked dead here and
 * freed by reap() after the round, as the round's events may still name it.
 */
static void client_drop(struct control *c, struct qmp_client *cl, const char *why)
{
	struct qmp_error e = { 0 };

	qmp_fail(&e, "GenericError", "%s", why);
	send_error(c, cl, NULL, &e);
	pthread_mutex_lock(&c->out_lock);
	if (!cl->dead) {
		cl->dead = true;
		shutdown(cl->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&c->out_lock);
}

/*
 * The client whose slot a newcomer may take: not negotiated before
 * negotiated, then the one silent longest; NULL if that one spoke within
 * evict_idle_ns. Counts the live clients into *live.
 */
static struct qmp_client *evictable(struct control *c, uint64_t now, unsigned int *live)
{
	struct qmp_client *cl, *best = NULL;

	*live = 0;
	for (cl = c->clients; cl; cl = cl->next) {
		if (cl->dead)
			continue;
		++*live;
		if (!best || (best->negotiated && !cl->negotiated) ||
		    (best->negotiated == cl->negotiated && cl->last_input_ns < best->last_input_ns))
			best = cl;
	}
	if (best && best->negotiated && now - best->last_input_ns < c->evict_idle_ns)
		return NULL;
	return best;
}

static void accept_client(struct control *c)
{
	struct qmp_client *victim;
	unsigned int live;
	int fd;

	fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	victim = evictable(c, vk_now_ns(), &live);
	if (live >= MAX_CLIENTS) {
		if (!victim) {
			close(fd);	/* every slot busy: the newcomer may retry */
			return;
		}
		client_drop(c, victim, "connection closed: idle, and another client needs its slot");
	}
	qmp_client_add(c, fd);
}

static void client_event(struct control *c, struct qmp_client *cl, uint32_t events)
{
	char buf[4096];
	ssize_t n;

	if (events & EPOLLOUT) {
		pthread_mutex_lock(&c->out_lock);
		client_flush(c, cl);
		pthread_mutex_unlock(&c->out_lock);
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !cl->dead) {
		n = recv(cl->fd, buf, sizeof(buf), 0);
		if (n > 0) {
			cl->last_input_ns = vk_now_ns();
			qmp_client_input(c, cl, buf, n);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			cl->dead = true;
		}
	}
}

/* After a round of events: close clients past the handshake deadline, free the dead. */
static void reap(struct control *c)
{
	uint64_t now = vk_now_ns();
	struct qmp_client *cl, *next;

	for (cl = c->clients; cl; cl = next) {
		next = cl->next;
		if (!cl->dead && !cl->negotiated && now - cl->connected_ns >= c->handshake_ns)
			client_drop(c, cl, "capabilities negotiation timed out");
		if (cl->dead)
			client_remove(c, cl);
	}
}

/* epoll_wait's timeout: until the first handshake deadline, -1 if none. */
static int next_deadline_ms(struct control *c)
{
	uint64_t now = vk_now_ns(), end, left = UINT64_MAX;
	struct qmp_client *cl;

	for (cl = c->clients; cl; cl = cl->next) {
		if (cl->negotiated || cl->dead)
			continue;
		end = cl->connected_ns + c->handshake_ns;
		left = MIN(left, end > now ? end - now : 0);
	}
	return left == UINT64_MAX ? -1 : (int)MIN(left / 1000000 + 1, (uint64_t)INT32_MAX);
}

static void *control_thread(void *opaque)
{
	struct control *c = opaque;
	struct epoll_event evs[16];
	int n, i;

	vmm_sandbox_enter(&vmm_sandbox_control);
	while (!c->closing) {
		n = epoll_wait(c->epfd, evs, 16, next_deadline_ms(c));
		for (i = 0; i < n && !c->closing; i++) {
			if (evs[i].data.ptr == &tag_listen)
				accept_client(c);
			else if (evs[i].data.ptr != &tag_wake)
				client_event(c, evs[i].data.ptr, evs[i].events);
		}
		if (!c->closing)
			reap(c);
	}
	return NULL;
}

static int add_fd(struct control *c, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int start(struct control *c, struct vk_err *err)
{
	int r;

	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->epfd < 0 || c->wake_fd < 0)
		return vk_fail(err, -errno, "--qmp: %s", strerror(errno));
	r = qmp_bind(c, err);
	if (r)
		return r;
	r = add_fd(c, c->listen_fd, &tag_listen);
	if (!r)
		r = add_fd(c, c->wake_fd, &tag_wake);
	if (r)
		return vk_fail(err, r, "--qmp: %s", strerror(-r));
	return 0;
}

const char *control_path(const struct control *c)
{
	return c->path;
}

int control_start(struct control *c, struct vk_err *err)
{
	int r = -pthread_create(&c->thread, NULL, control_thread, c);

	if (r)
		return vk_fail(err, r, "--qmp: %s", strerror(-r));
	c->thread_started = true;
	return 0;
}

int control_open(struct control **out, const char *path, const struct vm_config *cfg,
		 const char *version, struct vk_err *err)
{
	int r = control_bind(out, path, cfg, version, err);

	if (!r && (r = control_start(*out, err))) {
		control_close(*out);
		*out = NULL;
	}
	return r;
}

int control_bind(struct control **out, const char *path, const struct vm_config *cfg,
		 const char *version, struct vk_err *err)
{
	struct control *c = calloc(1, sizeof(*c));
	int r;

	if (!c || !(c->path = strdup(path))) {
		free(c);
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	c->cfg = cfg;
	c->version = version;
	c->listen_fd = c->epfd = c->wake_fd = -1;
	c->host_req = VM_RUNNING;
	c->stats_interval = -1;
	c->handshake_ns = HANDSHAKE_NS;
	c->evict_idle_ns = EVICT_IDLE_NS;
	pthread_mutex_init(&c->vm_lock, NULL);
	pthread_cond_init(&c->vm_cond, NULL);
	pthread_mutex_init(&c->out_lock, NULL);
	r = start(c, err);
	if (r) {
		control_close(c);
		return r;
	}
	*out = c;
	return 0;
}

/* Give each client up to a second to take what it is owed (the last events). */
static void drain(struct qmp_client *cl, uint64_t deadline_ns)
{
	struct pollfd pfd = { .fd = cl->fd, .events = POLLOUT };
	ssize_t n;

	while (cl->out_len && !cl->dead && vk_now_ns() < deadline_ns) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = send(cl->fd, cl->out, cl->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (n > 0) {
			memmove(cl->out, cl->out + n, cl->out_len - n);
			cl->out_len -= n;
		}
	}
}

void control_close(struct control *c)
{
	uint64_t deadline = vk_now_ns() + 1000000000ull;
	struct qmp_client *cl, *next;

	if (!c)
		return;
	c->closing = true;
	qmp_migrate_join(c);
	qmp_backup_join(c);
	if (c->thread_started) {
		eventfd_write(c->wake_fd, 1);
		pthread_join(c->thread, NULL);
	}
	for (cl = c->clients; cl; cl = next) {
		next = cl->next;
		drain(cl, deadline);
		client_free(cl);
	}
	qmp_unbind(c);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	if (c->epfd >= 0)
		close(c->epfd);
	pthread_mutex_destroy(&c->out_lock);
	pthread_cond_destroy(&c->vm_cond);
	pthread_mutex_destroy(&c->vm_lock);
	free(c->mig);
	free(c->path);
	free(c);
}
