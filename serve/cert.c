// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The server's own certificate, as Proxmox's node certificate: made on
 * first start when --cert/--key are not given, self-signed, an EC P-256
 * key (0600) valid 10 years for the host name, localhost and 127.0.0.1.
 * Both files are written whole (temp file, fsync, rename).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "serve.h"

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return -1;
	ok = X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *pk)
{
	X509 *x = X509_new();
	X509_NAME *name;
	char host[256] = "localhost", san[600];

	gethostname(host, sizeof(host) - 1);
	snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", host);
	if (!x)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, pk);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"vmkit", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (add_ext(x, NID_subject_alt_name, san) ||
	    add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") || !X509_sign(x, pk, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* PEM text of what write() puts into a memory BIO, saved atomically. */
static int save_bio(BIO *b, const char *path, mode_t mode, struct vk_err *err)
{
	char *data;
	long len = BIO_get_mem_data(b, &data);

	return mgmt_write_atomic(path, data, (size_t)len, mode, err);
}

int cert_ensure(const char *cert, const char *key, struct vk_err *err)
{
	EVP_PKEY *pk;
	X509 *x;
	BIO *kb, *cb;
	int ret = 0;

	if (!access(cert, R_OK) && !access(key, R_OK))
		return 0;
	pk = EVP_EC_gen("P-256");
	x = pk ? make_cert(pk) : NULL;
	kb = BIO_new(BIO_s_mem());
	cb = BIO_new(BIO_s_mem());
	if (!x || !kb || !cb || !PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cb, x))
		ret = vk_fail(err, -EIO, "%s: cannot make a certificate (OpenSSL)", cert);
	if (!ret)
		ret = save_bio(kb, key, 0600, err);
	if (!ret)
		ret = save_bio(cb, cert, 0644, err);
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(pk);
	return ret;
}
