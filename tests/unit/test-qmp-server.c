// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The QMP server (vmm/control/server.c) against hostile clients, with no VM:
 * control_open serves a socket in a temporary directory, and the commands
 * used here (qmp_capabilities, query-version) need none. Issue 16: idle
 * connections locked every other client out, and invalid UTF-8 in a
 * request was echoed into a reply that was then not JSON.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../vmm/control/qmp.h"
#include "vmkit/config.h"

#define MS 1000000ull
#define NR_SLOTS 32		/* MAX_CLIENTS in server.c */

struct fixture {
	char dir[64], path[96];
	struct vm_config cfg;
	struct control *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vk_err err = { 0 };

	strcpy(f->dir, "/tmp/vmkit-qmp-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
	assert_int_equal(control_open(&f->c, f->path, &f->cfg, "0.1.0", &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	control_close(f->c);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int connect_to(struct fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/*
 * The next line the server sends, parsed as strict JSON (UTF-8 checked);
 * NULL on end of file or after timeout_ms without one. Fails the test on a
 * line that is not valid JSON.
 */
static json_object *read_msg(int fd, int timeout_ms)
{
	char line[65536];
	size_t len = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct json_tokener *tok;
	json_object *obj;

	while (len < sizeof(line) - 1) {
		if (poll(&p, 1, timeout_ms) != 1 || recv(fd, line + len, 1, 0) != 1)
			return NULL;
		if (line[len++] == '\n')
			break;
	}
	line[len] = '\0';
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, line, len);
	if (!obj)
		fail_msg("reply is not valid JSON (%s): %s",
			 json_tokener_error_desc(json_tokener_get_error(tok)), line);
	json_tokener_free(tok);
	return obj;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Whether obj has member key (the greeting's "QMP", a reply's "return" or "error"). */
static bool has(json_object *obj, const char *key)
{
	bool r = obj && json_object_object_get_ex(obj, key, NULL);

	json_object_put(obj);
	return r;
}

/* A client past negotiation. */
static int negotiated(struct fixture *f)
{
	int fd = connect_to(f);

	assert_true(has(read_msg(fd, 2000), "QMP"));
	send_str(fd, "{\"execute\": \"qmp_capabilities\"}\n");
	assert_true(has(read_msg(fd, 2000), "return"));
	return fd;
}

/* The error reply to one request line; its desc copied into desc. */
static void error_reply(int fd, const char *req, char *desc, size_t size)
{
	json_object *msg, *err, *d;

	send_str(fd, req);
	msg = read_msg(fd, 2000);
	assert_non_null(msg);
	assert_true(json_object_object_get_ex(msg, "error", &err));
	assert_true(json_object_object_get_ex(err, "desc", &d));
	snprintf(desc, size, "%s", json_object_get_string(d));
	json_object_put(msg);
}

static void test_invalid_utf8(void **state)
{
	struct fixture *f = *state;
	char desc[512], req[1024], *p;
	int fd = negotiated(f), i;

	/* Before the fix: "The command \xff\xfe has not been found", not JSON. */
	error_reply(fd, "{\"execute\": \"\xff\xfe\"}\n", desc, sizeof(desc));
	assert_non_null(strstr(desc, "JSON parse error"));
	error_reply(fd, "{\"execute\": \"query-version\", \"id\": \"\xc3\x28\"}\n", desc,
		    sizeof(desc));
	assert_non_null(strstr(desc, "JSON parse error"));
	/* Overlong and surrogate encodings are not UTF-8 either. */
	error_reply(fd, "{\"execute\": \"\xc0\xaf\"}\n", desc, sizeof(desc));
	error_reply(fd, "{\"execute\": \"\xed\xa0\x80\"}\n", desc, sizeof(desc));
	/*
	 * Valid UTF-8 that the 256-byte description cuts: the cut must not
	 * leave half a character. Try each alignment of 2- and 3-byte ones.
	 */
	for (i = 0; i < 6; i++) {
		p = req + sprintf(req, "{\"execute\": \"%.*s", i, "xxxxx");
		while (p < req + 700)
			p += sprintf(p, i % 2 ? "\xc3\xa9" : "\xe2\x82\xac");
		strcpy(p, "\"}\n");
		error_reply(fd, req, desc, sizeof(desc));
		assert_non_null(strstr(desc, "The command"));
	}
	/* The session is still good. */
	send_str(fd, "{\"execute\": \"query-version\", \"id\": \"\xc3\xa9t\xc3\xa9\"}\n");
	assert_true(has(read_msg(fd, 2000), "return"));
	close(fd);
}

/* NR_SLOTS connections that never negotiate do not keep a manager out. */
static void test_idle_unnegotiated(void **state)
{
	struct fixture *f = *state;
	int idle[NR_SLOTS], fd, i;

	for (i = 0; i < NR_SLOTS; i++) {
		idle[i] = connect_to(f);
		assert_true(has(read_msg(idle[i], 2000), "QMP"));
	}
	fd = negotiated(f);
	send_str(fd, "{\"execute\": \"query-version\"}\n");
	assert_true(has(read_msg(fd, 2000), "return"));
	/* The oldest silent one gave its slot away, with a word why, then EOF. */
	assert_true(has(read_msg(idle[0], 2000), "error"));
	assert_null(read_msg(idle[0], 2000));
	for (i = 0; i < NR_SLOTS; i++)
		close(idle[i]);
	close(fd);
}

/* A client that does not negotiate within the handshake time is closed. */
static void test_handshake_timeout(void **state)
{
	struct fixture *f = *state;
	int fd;

	f->c->handshake_ns = 200 * MS;
	fd = connect_to(f);
	assert_true(has(read_msg(fd, 2000), "QMP"));
	assert_true(has(read_msg(fd, 3000), "error"));	/* negotiation timed out */
	assert_null(read_msg(fd, 2000));
	close(fd);
	/* One that negotiates in time stays, however long it is then silent. */
	fd = negotiated(f);
	usleep(400000);
	send_str(fd, "{\"execute\": \"query-version\"}\n");
	assert_true(has(read_msg(fd, 2000), "return"));
	close(fd);
}

/*
 * All slots negotiated: a newcomer takes the slot of the one silent
 * longest once that one has been silent evict_idle_ns; while every client
 * spoke recently, the newcomer is closed unserved (it may retry).
 */
static void test_full_of_negotiated(void **state)
{
	struct fixture *f = *state;
	int fds[NR_SLOTS], fd, i;
	char buf[16];

	f->c->evict_idle_ns = 300 * MS;
	for (i = 0; i < NR_SLOTS; i++)
		fds[i] = negotiated(f);
	fd = connect_to(f);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);	/* all busy: closed */
	close(fd);
	usleep(400000);
	for (i = 1; i < NR_SLOTS; i++) {	/* all but fds[0] speak */
		send_str(fds[i], "{\"execute\": \"query-version\"}\n");
		assert_true(has(read_msg(fds[i], 2000), "return"));
	}
	fd = negotiated(f);
	assert_true(has(read_msg(fds[0], 2000), "error"));
	assert_null(read_msg(fds[0], 2000));
	for (i = 1; i < NR_SLOTS; i++) {	/* the others are untouched */
		send_str(fds[i], "{\"execute\": \"query-version\"}\n");
		assert_true(has(read_msg(fds[i], 2000), "return"));
	}
	for (i = 0; i < NR_SLOTS; i++)
		close(fds[i]);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_unnegotiated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_of_negotiated, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
