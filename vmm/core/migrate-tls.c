// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Live migration over TLS (issue 15), as QEMU's tls-creds-x509: the
 * credentials are a directory in QEMU's and libvirt's layout,
 *   ca-cert.pem                      the CA both ends trust
 *   server-cert.pem server-key.pem   this host receiving (--incoming)
 *   client-cert.pem client-key.pem   this host sending (QMP migrate)
 * read once at start-up, before the sandbox closes the file system. Both
 * ends prove who they are: the destination wants the source's certificate
 * signed by its CA (QEMU's verify-peer=on), the source checks the
 * destination's against its CA and against the address it connects to (or
 * tls-hostname), as QEMU does.
 *
 * The stream is the same stream, inside TLS. The records go through a BIO
 * of our own that calls send and recv with MSG_DONTWAIT, so the TLS path
 * makes the same system calls as the plain one (the sandbox's lists stay
 * as they are) and waits for the socket with the same time limit.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "migrate-int.h"
#include "vmkit/migrate.h"

struct migrate_tls {
	SSL_CTX *server, *client;	/* NULL where the directory has no such pair */
	char dir[PATH_MAX];
};

/* OpenSSL's first queued reason, or the fallback; the queue emptied. */
static const char *ssl_reason(const char *fallback)
{
	static __thread char buf[160];
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, sizeof(buf), "%s", r ? r : fallback);
	ERR_clear_error();
	return buf;
}

/* ---- the credentials ---- */

static bool exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return !stat(p, &st);
}

static SSL_CTX *make_ctx(const struct migrate_tls *t, bool server, struct vk_err *err)
{
	const char *side = server ? "server" : "client";
	char ca[PATH_MAX + 16], cert[PATH_MAX + 32], key[PATH_MAX + 32];
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx) {
		vk_fail(err, -ENOMEM, "TLS: %s", ssl_reason("out of memory"));
		return NULL;
	}
	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", t->dir);
	snprintf(cert, sizeof(cert), "%s/%s-cert.pem", t->dir, side);
	snprintf(key, sizeof(key), "%s/%s-key.pem", t->dir, side);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		vk_fail(err, -EINVAL, "%s: %s", ca, ssl_reason("not a CA certificate"));
	else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		vk_fail(err, -EINVAL, "%s: %s", cert, ssl_reason("not a certificate"));
	else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		vk_fail(err, -EINVAL, "%s: %s", key, ssl_reason("not a private key"));
	else if (SSL_CTX_check_private_key(ctx) != 1)
		vk_fail(err, -EINVAL, "%s: %s", key, ssl_reason("not the key of the certificate"));
	if (err->code) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Both ends show a certificate the CA signed. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
			   NULL);
	/*
	 * No session tickets: TLS 1.3 sends them after the handshake, and the
	 * source takes anything readable as the destination's answer.
	 */
	if (server)
		SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

int migrate_tls_load(const char *dir, struct migrate_tls **out, struct vk_err *err)
{
	struct migrate_tls *t;
	struct stat st;

	*out = NULL;
	if (stat(dir, &st))
		return vk_fail(err, -errno, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return vk_fail(err, -ENOTDIR, "%s: not a directory (of ca-cert.pem, "
			       "server-cert.pem, ...)", dir);
	if (!exists(dir, "ca-cert.pem"))
		return vk_fail(err, -ENOENT, "%s: no ca-cert.pem (the CA both hosts trust)", dir);
	if (!exists(dir, "server-cert.pem") && !exists(dir, "client-cert.pem"))
		return vk_fail(err, -ENOENT, "%s: neither server-cert.pem (to receive) nor "
			       "client-cert.pem (to send)", dir);
	t = calloc(1, sizeof(*t));
	if (!t)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (snprintf(t->dir, sizeof(t->dir), "%s", dir) >= (int)sizeof(t->dir)) {
		free(t);
		return vk_fail(err, -ENAMETOOLONG, "%s: path too long", dir);
	}
	if (exists(dir, "server-cert.pem") && !(t->server = make_ctx(t, true, err))) {
		free(t);
		return err->code;
	}
	if (exists(dir, "client-cert.pem") && !(t->client = make_ctx(t, false, err))) {
		SSL_CTX_free(t->server);
		free(t);
		return err->code;
	}
	*out = t;
	return 0;
}

void migrate_tls_free(struct migrate_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	free(t);
}

/* ---- the BIO: send and recv on the socket, never blocking ---- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *buf, int len)
{
	struct mig_chan *c = BIO_get_data(b);
	ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	if (w >= 0)
		return (int)w;
	if (errno == EAGAIN || errno == EINTR)
		BIO_set_retry_write(b);
	else
		c->sys_err = errno;
	return -1;
}

static int bio_read(BIO *b, char *buf, int len)
{
	struct mig_chan *c = BIO_get_data(b);
	ssize_t r = recv(c->fd, buf, len, MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	if (r >= 0)
		return (int)r;
	if (errno == EAGAIN || errno == EINTR)
		BIO_set_retry_read(b);
	else
		c->sys_err = errno;
	return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b; (void)num; (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void bio_make(void)
{
	bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vmkit-migration");
	if (!bio_method)
		return;
	BIO_meth_set_write(bio_method, bio_write);
	BIO_meth_set_read(bio_method, bio_read);
	BIO_meth_set_ctrl(bio_method, bio_ctrl);
	BIO_meth_set_create(bio_method, bio_create);
}

/*
 * After a TLS call returned ret: 1 wait and call again, or an errno
 * (a lost peer as the plain wire says it, -EPROTO for TLS itself).
 */
static int tls_wait(struct mig_chan *c, int ret)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		ret = mig_wait_fd(c->fd, POLLIN);
		return ret ? ret : 1;
	case SSL_ERROR_WANT_WRITE:
		ret = mig_wait_fd(c->fd, POLLOUT);
		return ret ? ret : 1;
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return c->sys_err ? -c->sys_err : -ECONNRESET;
	default:
		snprintf(c->why, sizeof(c->why), "%s", ssl_reason("a TLS error"));
		return -EPROTO;
	}
}

/* ---- the handshake ---- */

int mig_tls_start(struct mig_chan *c, const struct migrate_tls *t, bool server,
		  const char *peer, struct vk_err *err)
{
	const char *who = server ? "the source" : "the destination";
	SSL_CTX *ctx = server ? t->server : t->client;
	uint8_t welcome[8];
	BIO *bio;
	long v;
	int r;

	if (!ctx)
		return vk_fail(err, -ENOENT, "TLS: %s has no %s-cert.pem", t->dir,
			       server ? "server" : "client");
	pthread_once(&bio_once, bio_make);
	c->ssl = SSL_new(ctx);
	bio = bio_method ? BIO_new(bio_method) : NULL;
	if (!c->ssl || !bio) {
		BIO_free(bio);
		return vk_fail(err, -ENOMEM, "TLS: out of memory");
	}
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio);
	if (!server && peer && *peer) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);

		/* An address in the URI is checked as one (its certificate's IP SAN). */
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, peer) != 1) {
			SSL_set_tlsext_host_name(c->ssl, peer);
			X509_VERIFY_PARAM_set1_host(vp, peer, 0);
		}
	}
	do
		r = server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
	while (r != 1 && (r = tls_wait(c, r)) == 1);
	/*
	 * TLS 1.3 ends the client's handshake before the server has checked
	 * its certificate: the destination says it took it (8 zero bytes), so
	 * a refusal reaches the source here, as the alert, not midway.
	 */
	if (r == 1) {
		struct iovec iov = { welcome, sizeof(welcome) };

		memset(welcome, 0, sizeof(welcome));
		r = server ? mig_tls_send(c, &iov, 1) : mig_tls_recv(c, welcome, sizeof(welcome));
		if (!r && memcmp(welcome, (uint8_t[8]){ 0 }, sizeof(welcome)))
			return vk_fail(err, -EPROTO, "TLS: the destination's first bytes are not a "
				       "vmkit's");
		if (!r)
			return 0;
	}
	v = SSL_get_verify_result(c->ssl);
	if (v != X509_V_OK)
		return vk_fail(err, -EACCES, "TLS: %s's certificate: %s", who,
			       X509_verify_cert_error_string(v));
	if (r == -EPROTO)
		return vk_fail(err, r, "TLS handshake with %s: %s (does it migrate with TLS, "
			       "with the same CA?)", who, c->why);
	return vk_fail(err, r, "TLS handshake with %s: %s", who, mig_wire_error(r));
}

void mig_tls_end(struct mig_chan *c)
{
	if (!c->ssl)
		return;
	SSL_free(c->ssl);
	c->ssl = NULL;
}

/* ---- the stream ---- */

int mig_tls_send(struct mig_chan *c, const struct iovec *iov, int n)
{
	uint8_t small[16384];
	size_t fill = 0, done;
	int i, r;

	/*
	 * Small pieces (a record's header) go in one TLS record with what
	 * follows, if that is small too; large ones go as they are.
	 */
	for (i = 0; i <= n; i++) {
		const void *p = i < n ? iov[i].iov_base : NULL;
		size_t len = i < n ? iov[i].iov_len : 0;

		if (i < n && fill + len <= sizeof(small)) {
			memcpy(small + fill, p, len);
			fill += len;
			continue;
		}
		if (fill) {
			while ((r = SSL_write_ex(c->ssl, small, fill, &done)) != 1)
				if ((r = tls_wait(c, r)) != 1)
					return r;
			fill = 0;
		}
		if (i < n && len) {
			while ((r = SSL_write_ex(c->ssl, p, len, &done)) != 1)
				if ((r = tls_wait(c, r)) != 1)
					return r;
		}
	}
	return 0;
}

int mig_tls_recv(struct mig_chan *c, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got;
	int r;

	while (len) {
		r = SSL_read_ex(c->ssl, p, len, &got);
		if (r != 1) {
			if ((r = tls_wait(c, r)) != 1)
				return r;
			continue;
		}
		p += got;
		len -= got;
	}
	return 0;
}
