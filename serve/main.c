// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit-serve: `vmkit serve` and `vmkit token` (vmkit execs this binary:
 * TLS, PAM and libwebsockets are shared libraries, and the monitor stays
 * one static executable). HTTPS only; HTTP/1.1 (ALPN), so WebSocket
 * consoles work in every browser.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve.h"
#include "vmkit/mgmt-ops.h"

int serve_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len);

const char *serve_webroot;
const char *serve_exe_dir;
static volatile sig_atomic_t stop;
static struct lws_context *context;

static const char usage[] =
	"usage: vmkit serve [--listen ADDR:PORT] [--cert FILE --key FILE] [--webroot DIR]\n"
	"The REST API and web interface over HTTPS (default 127.0.0.1:8006).\n"
	"Without --cert/--key a self-signed certificate is made on first start in\n"
	"$VMKIT_HOME/serve/. Log in as root or a member of the group vmkit (PAM).\n";

static void on_signal(int sig)
{
	stop = 1;
	if (context)
		lws_cancel_service(context);
}

static int parse_listen(const char *s, char *addr, size_t n, int *port)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long p;

	if (!colon || (size_t)(colon - s) >= n)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535 || colon == s)
		return -1;
	snprintf(addr, n, "%.*s", (int)(colon - s), s);
	/* [::1]:8006 */
	if (addr[0] == '[' && addr[strlen(addr) - 1] == ']') {
		memmove(addr, addr + 1, strlen(addr));
		addr[strlen(addr) - 1] = 0;
	}
	*port = (int)p;
	return 0;
}

/* The web root: --webroot, else web/ beside this binary (the build tree), else the installed one. */
static const char *find_webroot(const char *given)
{
	static char buf[PATH_MAX];

	if (given)
		return given;
	snprintf(buf, sizeof(buf), "%s/web/index.html", serve_exe_dir);
	if (!access(buf, R_OK)) {
		snprintf(buf, sizeof(buf), "%s/web", serve_exe_dir);
		return buf;
	}
	return VMKIT_WEBDIR;
}

static void exe_dir(void)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	char *slash;

	buf[n > 0 ? n : 0] = 0;
	slash = strrchr(buf, '/');
	if (slash)
		*slash = 0;
	serve_exe_dir = buf;
}

static const struct lws_protocols protocols[] = {
	/* The first protocol takes HTTP and WebSockets that ask for none. */
	{ "http", serve_callback, sizeof(struct sess), 65536, 0, NULL, 0 },
	/* noVNC asks for "binary". */
	{ "binary", serve_callback, sizeof(struct sess), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static int run(const char *addr, int port, const char *cert, const char *key)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.port = port;
	info.iface = addr;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.ssl_cert_filepath = cert;
	info.ssl_private_key_filepath = key;
	info.alpn = "http/1.1";
	info.timeout_secs = 30;
	info.max_http_header_data = 4096;
	lws_set_log_level(LLL_ERR, NULL);
	context = lws_create_context(&info);
	if (!context) {
		fprintf(stderr, "vmkit: serve: cannot listen on %s:%d (in use, or a bad address)\n",
			addr, port);
		return 1;
	}
	job_init(context);
	printf("vmkit serve: https://%s:%d/\n", addr, lws_get_vhost_listen_port(
		lws_get_vhost_by_name(context, "default")));
	fflush(stdout);
	while (!stop && lws_service(context, 0) >= 0)
		;
	lws_context_destroy(context);
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' }, { "webroot", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *listen = "127.0.0.1:8006", *cert = NULL, *key = NULL, *web = NULL;
	char addr[128], cpath[PATH_MAX], kpath[PATH_MAX];
	struct vk_err err = { 0 };
	int o, port;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'w': web = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vmkit serve: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (parse_listen(listen, addr, sizeof(addr), &port)) {
		fprintf(stderr, "vmkit serve: --listen '%s': expected ADDR:PORT\n", listen);
		return 2;
	}
	if (!cert != !key) {
		fprintf(stderr, "vmkit serve: --cert and --key go together\n");
		return 2;
	}
	serve_webroot = find_webroot(web);
	if (mgmt_home_init(&err) || auth_init(&err)) {
		fprintf(stderr, "vmkit: %s\n", err.msg);
		return 1;
	}
	if (!cert) {
		cert = mgmt_path(cpath, "serve/cert.pem");
		key = mgmt_path(kpath, "serve/key.pem");
		if (cert_ensure(cert, key, &err)) {
			fprintf(stderr, "vmkit: %s\n", err.msg);
			return 1;
		}
	} else if (access(cert, R_OK) || access(key, R_OK)) {
		fprintf(stderr, "vmkit: %s: %s\n", access(cert, R_OK) ? cert : key, strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	return run(addr, port, cert, key);
}

int main(int argc, char **argv)
{
	static char vmkit[PATH_MAX];

	exe_dir();
	/* VMs are started with the vmkit installed beside this binary. */
	snprintf(vmkit, sizeof(vmkit), "%s/vmkit", serve_exe_dir);
	mgmt_set_exe(vmkit);
	if (argc > 1 && !strcmp(argv[1], "token"))
		return token_cmd(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	return cmd_serve(argc, argv);
}
