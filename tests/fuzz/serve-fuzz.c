// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for what vmkit serve parses from a client before it
 * knows who the client is: the route matcher (paths, {name} captures),
 * tickets, CSRF tokens, API-token headers and query strings. The first
 * byte picks which; the rest is the input. Besides not crashing: a route's
 * captures are always valid vmkit names, and nothing but the exact ticket,
 * token and header made here is ever accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../serve/serve.h"

const char *serve_webroot = "/nonexistent";
const char *serve_exe_dir = "/nonexistent";

static char ticket[400], csrf[128], token_hdr[256];

int token_cmd(int argc, char **argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char home[] = "/tmp/vmkit-serve-fuzz-XXXXXX";
	struct vk_err err = { 0 };
	char *args[] = { "token", "add", "fuzz@pam", "t1", NULL };
	char line[256] = "";
	FILE *f;
	int fd;

	if (!mkdtemp(home))
		abort();
	setenv("VMKIT_HOME", home, 1);
	if (mgmt_home_init(&err) || auth_init(&err))
		abort();
	auth_ticket_make("fuzz@pam", ticket, sizeof(ticket));
	auth_csrf_make("fuzz@pam", csrf, sizeof(csrf));
	/* The token's secret is printed: catch it. */
	f = tmpfile();
	fd = dup(1);
	dup2(fileno(f), 1);
	token_cmd(4, args);
	fflush(stdout);
	dup2(fd, 1);
	close(fd);
	rewind(f);
	if (!fgets(line, sizeof(line), f))
		abort();
	fclose(f);
	line[strcspn(line, "\n")] = 0;
	snprintf(token_hdr, sizeof(token_hdr), "VMKitAPIToken=%s", line);
	return 0;
}

static bool valid_name(const char *s)
{
	struct vk_err err = { 0 };

	return !mgmt_check_name("x", s, &err);
}

static void routes(const char *path)
{
	char arg[3][MGMT_NAME_MAX];
	const struct route *r;
	bool known;
	int m, i;

	for (m = M_GET; m <= M_OTHER; m++) {
		memset(arg, 0x55, sizeof(arg));
		r = route_find((enum http_method)m, path, arg, &known);
		if (!r)
			continue;
		for (i = 0; r->pattern[0] && i < 3; i++) {
			const char *p = r->pattern;
			int n = 0;

			while ((p = strstr(p, "{}")))
				n++, p += 2;
			if (i < n && (memchr(arg[i], 0, MGMT_NAME_MAX) == NULL || !valid_name(arg[i])))
				abort();
		}
	}
}

static void credentials(const char *s)
{
	char user[SERVE_USER_MAX];

	if (!auth_ticket_check(s, user, sizeof(user)) && (strcmp(s, ticket) || strcmp(user, "fuzz@pam")))
		abort();
	if (auth_csrf_check("fuzz@pam", s) && strcmp(s, csrf))
		abort();
	if (!auth_token_check(s, user, sizeof(user)) && strcmp(s, token_hdr))
		abort();
}

static void query(const char *s)
{
	struct sess *sess = calloc(1, sizeof(*sess));
	static const char *const names[] = { "purge", "filename", "", "a" };
	char buf[64];
	size_t i;

	snprintf(sess->query, sizeof(sess->query), "%s", s);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		memset(buf, 0x55, sizeof(buf));
		if (query_arg(sess, names[i], buf, sizeof(buf)) && !memchr(buf, 0, sizeof(buf)))
			abort();
	}
	free(sess);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 4096)
		return 0;
	s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	switch (data[0] % 3) {
	case 0: routes(s); break;
	case 1: credentials(s); break;
	case 2: query(s); break;
	}
	free(s);
	return 0;
}
