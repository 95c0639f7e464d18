// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * API tokens for scripts (Proxmox's "USER@REALM!TOKENID"): the header
 * "Authorization: VMKitAPIToken=root@pam!ci=SECRET". The store,
 * $VMKIT_HOME/serve/tokens (0600), keeps "USER!ID SHA256-OF-SECRET" lines:
 * the secret is shown once when made and never stored.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "serve.h"

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
	for (i = 0; i < len && i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = 0;
}

static char *read_store(void)
{
	char path[PATH_MAX];
	void *buf = NULL;
	size_t len;

	if (vk_read_file(mgmt_path(path, "serve/tokens"), &buf, &len, 1 << 20))
		return strdup("");
	return buf;
}

/* The line for "USER!ID" in the store, or NULL. */
static const char *find_line(const char *store, const char *id)
{
	size_t n = strlen(id);
	const char *p;

	for (p = store; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, id, n) && p[n] == ' ')
			return p;
	return NULL;
}

static bool token_user_ok(const char *header, const char *bang)
{
	char login[SERVE_USER_MAX], user[64];

	if (bang - header >= (long)sizeof(login))
		return false;
	snprintf(login, sizeof(login), "%.*s", (int)(bang - header), header);
	return !auth_user_name(login, user, sizeof(user)) && auth_user_allowed(user);
}

int auth_token_check(const char *header, char *user, size_t n)
{
	char id[160], hash[65], want[65];
	const char *eq, *bang, *line;
	_cleanup_free_ char *store = NULL;

	if (strncmp(header, "VMKitAPIToken=", 14))
		return -EACCES;
	header += 14;
	eq = strchr(header, '=');
	bang = strchr(header, '!');
	if (!eq || !bang || bang > eq || (size_t)(eq - header) >= sizeof(id))
		return -EACCES;
	snprintf(id, sizeof(id), "%.*s", (int)(eq - header), header);
	store = read_store();
	line = find_line(store, id);
	if (!line)
		return -EACCES;
	snprintf(want, sizeof(want), "%.64s", line + strlen(id) + 1);
	sha256_hex(eq + 1, hash);
	if (CRYPTO_memcmp(hash, want, 64))
		return -EACCES;
	/* A token is its user's: it stops working when the user may no longer log in. */
	if (!token_user_ok(header, bang))
		return -EACCES;
	snprintf(user, n, "%.*s", (int)(bang - header), header);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: vmkit token add USER@pam TOKENID | remove USER@pam TOKENID | list\n");
	return 2;
}

static int check_args(const char *login, const char *tid, char *id, size_t n)
{
	struct vk_err err = { 0 };
	char user[64];

	if (auth_user_name(login, user, sizeof(user))) {
		fprintf(stderr, "vmkit: token: user '%s': only the @pam realm is known\n", login);
		return 2;
	}
	if (mgmt_check_name("token", tid, &err)) {
		fprintf(stderr, "vmkit: %s\n", err.msg);
		return 2;
	}
	snprintf(id, n, "%s@pam!%s", user, tid);
	return 0;
}

static int save(const char *text)
{
	struct vk_err err = { 0 };
	char path[PATH_MAX];

	mkdir(mgmt_path(path, "serve"), 0700);
	if (mgmt_write_atomic(mgmt_path(path, "serve/tokens"), text, strlen(text), 0600, &err)) {
		fprintf(stderr, "vmkit: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static int token_add(const char *id)
{
	_cleanup_free_ char *store = read_store();
	unsigned char rnd[24];
	char secret[64], hash[65], *text;
	size_t i;
	int rc;

	if (find_line(store, id)) {
		fprintf(stderr, "vmkit: token '%s' exists\n", id);
		return 1;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return 1;
	for (i = 0; i < sizeof(rnd); i++)
		sprintf(secret + 2 * i, "%02x", rnd[i]);
	sha256_hex(secret, hash);
	if (asprintf(&text, "%s%s %s\n", store, id, hash) < 0)
		return 1;
	rc = save(text);
	free(text);
	if (!rc)
		printf("%s=%s\n", id, secret);
	return rc;
}

static int token_remove(const char *id)
{
	_cleanup_free_ char *store = read_store();
	const char *line = find_line(store, id);
	const char *next;
	char *text;
	int rc;

	if (!line) {
		fprintf(stderr, "vmkit: token '%s' does not exist\n", id);
		return 1;
	}
	next = strchr(line, '\n');
	next = next ? next + 1 : line + strlen(line);
	if (asprintf(&text, "%.*s%s", (int)(line - store), store, next) < 0)
		return 1;
	rc = save(text);
	free(text);
	return rc;
}

int token_cmd(int argc, char **argv)
{
	char id[160];
	int rc;

	if (argc == 2 && !strcmp(argv[1], "list")) {
		_cleanup_free_ char *store = read_store();
		const char *p;

		for (p = store; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
			printf("%.*s\n", (int)strcspn(p, " \n"), p);
		return 0;
	}
	if (argc != 4)
		return usage();
	rc = check_args(argv[2], argv[3], id, sizeof(id));
	if (rc)
		return rc;
	if (!strcmp(argv[1], "add"))
		return token_add(id);
	if (!strcmp(argv[1], "remove"))
		return token_remove(id);
	return usage();
}
