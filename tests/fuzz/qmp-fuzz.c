// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the QMP server's request path (vmm/control/
 * server.c, commands.c, hmp.c): JSON framing with json-c's incremental
 * tokener, request checks, argument checks and dispatch. The input is what
 * one client sends, cut into reads of a size its first byte picks; the
 * server has no VM and never will (commands that need one fail as after
 * the VM stopped). Every reply is read back and must be a JSON object in
 * valid UTF-8 (issue 16: invalid UTF-8 in a request was echoed into one).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../vmm/control/qmp.h"
#include "vmkit/config.h"

static struct control *ctl;
static struct vm_config cfg = { .name = "fuzz" };

static void setup(void)
{
	ctl = calloc(1, sizeof(*ctl));
	ctl->cfg = &cfg;
	ctl->version = "0.1.0";
	ctl->listen_fd = ctl->wake_fd = -1;
	ctl->epfd = epoll_create1(EPOLL_CLOEXEC);
	ctl->host_req = VM_RUNNING;
	ctl->stats_interval = -1;
	ctl->finished = true;	/* no VM: commands that need one fail at once */
	pthread_mutex_init(&ctl->vm_lock, NULL);
	pthread_cond_init(&ctl->vm_cond, NULL);
	pthread_mutex_init(&ctl->out_lock, NULL);
}

/* Each complete line from the server must parse, strictly, as UTF-8 JSON. */
static void check_replies(int fd, char *buf, size_t *len, size_t cap)
{
	struct json_tokener *tok;
	json_object *obj;
	ssize_t n;
	char *nl;

	while ((n = recv(fd, buf + *len, cap - *len, MSG_DONTWAIT)) > 0) {
		*len += n;
		while ((nl = memchr(buf, '\n', *len))) {
			tok = json_tokener_new();
			json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
			obj = json_tokener_parse_ex(tok, buf, nl - buf);
			if (!obj || !json_object_is_type(obj, json_type_object)) {
				fprintf(stderr, "qmp-fuzz: reply is not a JSON object: %.*s\n",
					(int)(nl - buf), buf);
				abort();
			}
			json_object_put(obj);
			json_tokener_free(tok);
			*len -= nl + 1 - buf;
			memmove(buf, nl + 1, *len);
		}
		if (*len == cap)
			*len = 0;	/* a line longer than we keep: drop it */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[] = { 4096, 1, 2, 3, 7, 16, 64, 509 };
	static char replies[1 << 16];
	size_t chunk, n, len = 0;
	struct qmp_client *cl;
	int sv[2];

	if (!size)
		return 0;
	if (!ctl)
		setup();
	chunk = chunks[data[0] % 8];
	data++;
	size--;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	cl = qmp_client_add(ctl, sv[0]);
	if (!cl)
		abort();
	for (; size; data += n, size -= n) {
		n = size < chunk ? size : chunk;
		qmp_client_input(ctl, cl, (const char *)data, n);
		check_replies(sv[1], replies, &len, sizeof(replies));
	}
	qmp_client_remove(ctl, cl);
	check_replies(sv[1], replies, &len, sizeof(replies));
	close(sv[1]);
	return 0;
}
