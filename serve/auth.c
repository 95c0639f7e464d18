// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tickets and CSRF tokens, as Proxmox's: a login gives a ticket
 * "VMKIT:USER:HEXTIME::SIG" (the cookie) and a CSRF token
 * "HEXTIME:SIG" (a header every write must carry: a page of another site
 * can make the browser send the cookie, but cannot read the token).
 * Signatures are HMAC-SHA256 under a key made on first start
 * ($VMKIT_HOME/serve/auth.key, 0600), so tickets survive a restart of the
 * server and nothing is kept per session. Tickets live 2 hours.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "serve.h"

#define TICKET_LIFE_S	7200
#define KEY_LEN		32

static unsigned char key[KEY_LEN];

int auth_init(struct vk_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX];
	ssize_t n;
	int fd;

	mkdir(mgmt_path(dir, "serve"), 0700);
	fd = open(mgmt_path(path, "serve/auth.key"), O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = vk_read_full(fd, key, sizeof(key));
		close(fd);
		if (n == KEY_LEN)
			return 0;
	}
	if (getrandom(key, sizeof(key), 0) != KEY_LEN)
		return vk_fail(err, -errno, "getrandom: %s", strerror(errno));
	return mgmt_write_atomic(path, key, sizeof(key), 0600, err);
}

/* base64url of HMAC-SHA256(key, msg). */
static void sign(const char *msg, char *out, size_t n)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char b64[64];
	size_t i;

	HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)msg, strlen(msg), mac, &len);
	EVP_EncodeBlock((unsigned char *)b64, mac, (int)len);
	for (i = 0; b64[i]; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
		else if (b64[i] == '=')
			b64[i] = 0;
	}
	snprintf(out, n, "%s", b64);
}

static bool sig_equal(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && !CRYPTO_memcmp(a, b, n);
}

void auth_ticket_make(const char *user, char *out, size_t n)
{
	char msg[256], sig[64];

	snprintf(msg, sizeof(msg), "VMKIT:%s:%08llX", user, (unsigned long long)time(NULL));
	sign(msg, sig, sizeof(sig));
	snprintf(out, n, "%s::%s", msg, sig);
}

int auth_ticket_check(const char *ticket, char *user, size_t n)
{
	char msg[256], sig[64];
	const char *sep = strstr(ticket, "::"), *colon;
	unsigned long long t;
	size_t len;

	if (!sep || strncmp(ticket, "VMKIT:", 6) || (len = (size_t)(sep - ticket)) >= sizeof(msg))
		return -EACCES;
	memcpy(msg, ticket, len);
	msg[len] = 0;
	sign(msg, sig, sizeof(sig));
	if (!sig_equal(sig, sep + 2))
		return -EACCES;
	colon = strrchr(msg, ':');
	t = strtoull(colon + 1, NULL, 16);
	if ((unsigned long long)time(NULL) > t + TICKET_LIFE_S || colon - msg - 6 >= (long)n)
		return -EACCES;
	snprintf(user, n, "%.*s", (int)(colon - msg - 6), msg + 6);
	return 0;
}

void auth_csrf_make(const char *user, char *out, size_t n)
{
	char msg[256], sig[64], t[16];

	snprintf(t, sizeof(t), "%08llX", (unsigned long long)time(NULL));
	snprintf(msg, sizeof(msg), "csrf:%s:%s", t, user);
	sign(msg, sig, sizeof(sig));
	snprintf(out, n, "%s:%s", t, sig);
}

bool auth_csrf_check(const char *user, const char *token)
{
	char msg[256], sig[64], t[16];
	const char *colon = strchr(token, ':');

	if (!colon || colon - token != 8)
		return false;
	memcpy(t, token, 8);
	t[8] = 0;
	if ((unsigned long long)time(NULL) > strtoull(t, NULL, 16) + TICKET_LIFE_S)
		return false;
	snprintf(msg, sizeof(msg), "csrf:%s:%s", t, user);
	sign(msg, sig, sizeof(sig));
	return sig_equal(sig, colon + 1);
}

/* The value of cookie name in the Cookie header. */
static bool cookie_value(struct lws *wsi, const char *name, char *out, size_t n)
{
	char hdr[2048], *p, *save = NULL;
	size_t nl = strlen(name);

	if (lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_COOKIE) <= 0)
		return false;
	for (p = strtok_r(hdr, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, name, nl) && p[nl] == '=') {
			snprintf(out, n, "%s", p + nl + 1);
			return true;
		}
	}
	return false;
}

int auth_request(struct sess *s)
{
	char ticket[600], tok[256], csrf[128];
	bool write = s->method != M_GET;

	if (lws_hdr_copy(s->wsi, tok, sizeof(tok), WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
		if (auth_token_check(tok, s->user, sizeof(s->user)))
			return -EACCES;
		s->token_auth = true;
		return 0;
	}
	if (!cookie_value(s->wsi, "VMKitAuthCookie", ticket, sizeof(ticket)) ||
	    auth_ticket_check(ticket, s->user, sizeof(s->user))) {
		s->user[0] = 0;
		return -EACCES;
	}
	if (!write || s->token_auth)
		return 0;
	if (lws_hdr_custom_copy(s->wsi, csrf, sizeof(csrf), "csrfpreventiontoken:", 20) <= 0 ||
	    !auth_csrf_check(s->user, csrf))
		return -EPERM;
	return 0;
}

/*
 * Failed logins, per peer address: the answer to the next attempt waits
 * 1 s after 3 failures in 10 minutes, doubling up to 30 s; a success clears it.
 */
#define PEERS	64

static struct {
	char peer[64];
	unsigned int fails;
	time_t last;
} peers[PEERS];

static unsigned int slot(const char *peer)
{
	unsigned int i, oldest = 0;

	for (i = 0; i < PEERS; i++) {
		if (!strcmp(peers[i].peer, peer))
			return i;
		if (peers[i].last < peers[oldest].last)
			oldest = i;
	}
	memset(&peers[oldest], 0, sizeof(peers[oldest]));
	snprintf(peers[oldest].peer, sizeof(peers[oldest].peer), "%s", peer);
	return oldest;
}

unsigned int auth_throttle_ms(const char *peer)
{
	unsigned int i = slot(peer), ms;

	if (time(NULL) - peers[i].last > 600)
		peers[i].fails = 0;
	if (peers[i].fails < 3)
		return 0;
	ms = 1000u << (peers[i].fails - 3 > 5 ? 5 : peers[i].fails - 3);
	return ms > 30000 ? 30000 : ms;
}

void auth_throttle_note(const char *peer, bool ok)
{
	unsigned int i = slot(peer);

	peers[i].fails = ok ? 0 : peers[i].fails + 1;
	peers[i].last = time(NULL);
}
