// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The libwebsockets protocol callback: one HTTP request at a time per
 * connection, routed to an API handler (serve/route.c) or a static file of
 * the web root; WebSocket upgrades to a console (serve/console.c).
 * libwebsockets parses HTTP, decodes and normalises the URI (no "..")
 * and does TLS; we only route and answer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "serve.h"

static enum http_method method_of(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		return M_GET;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
		return M_POST;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI))
		return M_PUT;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
		return M_DELETE;
	return M_OTHER;
}

/* The query as "a=b&c=d" (each fragment already decoded by libwebsockets). */
static void read_query(struct sess *s)
{
	char frag[256];
	size_t used = 0;
	int i;

	s->query[0] = 0;
	for (i = 0; i < 16; i++) {
		int n = lws_hdr_copy_fragment(s->wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);

		if (n <= 0)
			break;
		used += snprintf(s->query + used, sizeof(s->query) - used, "%s%s", used ? "&" : "", frag);
		if (used >= sizeof(s->query))
			break;
	}
}

static void read_request(struct sess *s, const char *uri)
{
	char len[32];

	s->method = method_of(s->wsi);
	snprintf(s->path, sizeof(s->path), "%s", uri);
	read_query(s);
	lws_get_peer_simple(s->wsi, s->peer, sizeof(s->peer));
	if (lws_hdr_copy(s->wsi, len, sizeof(len), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		s->content_length = strtoull(len, NULL, 10);
		s->has_length = true;
	}
}

static const char *mime_of(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" }, { ".png", "image/png" }, { ".svg", "image/svg+xml" },
		{ ".ico", "image/x-icon" }, { ".woff2", "font/woff2" }, { ".map", "application/json" },
	};
	const char *dot = strrchr(path, '.');
	size_t i;

	for (i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* A file of the web root; libwebsockets sends it. */
static int serve_static(struct sess *s)
{
	static const char csp[] = "default-src 'self'; img-src 'self' data:; "
				  "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";
	unsigned char hdr[512], *p = hdr, *end = hdr + sizeof(hdr);
	char file[SERVE_PATH_MAX + 256];
	struct stat st;
	int n;

	if (s->method != M_GET) {
		reply_error(s, 405, "method not allowed");
		return 0;
	}
	snprintf(file, sizeof(file), "%s%s", serve_webroot, s->path);
	if (!strstr(s->path, "/.") && stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
		size_t l = strlen(file);

		snprintf(file + l, sizeof(file) - l, "%sindex.html", l && file[l - 1] == '/' ? "" : "/");
	}
	if (strstr(s->path, "/.") || stat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
		reply_error(s, 404, "%s: not found", s->path);
		return 0;
	}
	if (lws_add_http_header_by_name(s->wsi, (const unsigned char *)"content-security-policy:",
					(const unsigned char *)csp, strlen(csp), &p, end) ||
	    lws_add_http_header_by_name(s->wsi, (const unsigned char *)"x-content-type-options:",
					(const unsigned char *)"nosniff", 7, &p, end))
		return -1;
	n = lws_serve_http_file(s->wsi, file, mime_of(file), (const char *)hdr, (int)(p - hdr));
	if (n < 0 || (n > 0 && lws_http_transaction_completed(s->wsi)))
		return -1;
	return 0;
}

/* Route, authenticate, and run the handler (the body, if any, has arrived). */
static void dispatch(struct sess *s)
{
	struct json_object *body = NULL;

	if (s->dispatched)
		return;
	s->dispatched = true;
	if (s->body_too_large) {
		reply_error(s, 413, "request body larger than %d bytes", SERVE_BODY_MAX);
		return;
	}
	if (s->body_len && !(s->route->flags & R_RAW_BODY)) {
		enum json_tokener_error jerr;

		body = json_tokener_parse_verbose(s->body, &jerr);
		if (!body) {
			reply_error(s, 400, "request body: not valid JSON (%s)",
				    json_tokener_error_desc(jerr));
			return;
		}
	}
	s->route->fn(s, body);
	json_object_put(body);
}

static int begin_request(struct sess *s, const char *uri)
{
	bool known = false;
	int ret;

	sess_reset(s);
	s->dead = false;
	read_request(s, uri);
	if (strncmp(s->path, "/api/", 5) && strcmp(s->path, "/api"))
		return serve_static(s);
	s->route = route_find(s->method, s->path, s->arg, &known);
	if (!s->route) {
		if (known)
			reply_error(s, 405, "%s %s: method not allowed", method_name(s->method), s->path);
		else
			reply_error(s, 404, "%s: no such API path", s->path);
		return 0;
	}
	if (!(s->route->flags & R_PUBLIC)) {
		ret = auth_request(s);
		if (ret == -EACCES) {
			reply_error(s, 401, "authentication required");
			return 0;
		}
		if (ret) {
			reply_error(s, 403, "missing or wrong CSRFPreventionToken header");
			return 0;
		}
	}
	if (s->route->flags & R_WEBSOCKET) {
		reply_error(s, 400, "%s: a WebSocket endpoint", s->path);
		return 0;
	}
	if (s->route->flags & R_RAW_BODY) {
		upload_begin(s);
		return 0;
	}
	/* Wait for the body when there is one. */
	if (s->has_length && s->content_length)
		return 0;
	dispatch(s);
	return 0;
}

static int on_body(struct sess *s, const void *in, size_t len)
{
	s->body_seen += len;
	/* Answered already (refused early): the rest of the body is dropped. */
	if (s->replied || s->drain_body || s->dispatched)
		return 0;
	if (s->route && (s->route->flags & R_RAW_BODY)) {
		upload_data(s, in, len);	/* a failure sets the reply */
		return 0;
	}
	if (s->body_len + len > SERVE_BODY_MAX) {
		s->body_too_large = true;
		dispatch(s);	/* 413 now, not after the whole body */
		return 0;
	}
	char *nb = realloc(s->body, s->body_len + len + 1);

	if (!nb)
		return -1;
	s->body = nb;
	memcpy(s->body + s->body_len, in, len);
	s->body_len += len;
	s->body[s->body_len] = 0;
	return 0;
}

static int on_body_done(struct sess *s)
{
	if (s->drain_body) {
		s->drain_body = false;
		return lws_http_transaction_completed(s->wsi) ? -1 : 0;
	}
	if (s->replied || s->dispatched)
		return 0;
	if (!s->route)
		return 0;
	if (s->route->flags & R_RAW_BODY) {
		upload_end(s);
		return 0;
	}
	dispatch(s);
	return 0;
}

/* A WebSocket upgrade: only the console routes, authenticated by the cookie. */
static int filter_ws(struct sess *s, struct lws *wsi)
{
	char uri[SERVE_PATH_MAX];
	bool known;

	memset(s, 0, sizeof(*s));
	s->wsi = wsi;
	if (lws_hdr_copy(s->wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return -1;
	s->method = M_GET;
	snprintf(s->path, sizeof(s->path), "%s", uri);
	lws_get_peer_simple(s->wsi, s->peer, sizeof(s->peer));
	s->route = route_find(M_GET, s->path, s->arg, &known);
	if (!s->route || !(s->route->flags & R_WEBSOCKET))
		return -1;
	/* Browsers send no custom headers on an upgrade: the cookie alone, no CSRF. */
	s->token_auth = true;
	if (auth_request(s))
		return -1;
	/* Refuse in the handshake (no 101) what cannot be joined. */
	return wscon_can_open(s) ? 0 : -1;
}

int serve_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct sess *s = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		s->wsi = wsi;
		return begin_request(s, in);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(s, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return on_body_done(s);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!s->replied)
			return 0;
		return reply_write(s) < 0 ? -1 : 0;
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (s) {
			s->dead = true;
			sess_reset(s);
		}
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return filter_ws(s, wsi);
	case LWS_CALLBACK_ESTABLISHED:
		s->wsi = wsi;
		return wscon_open(s);
	case LWS_CALLBACK_RECEIVE:
		return wscon_from_client(s, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return wscon_writeable(s);
	case LWS_CALLBACK_CLOSED:
		wscon_close(s);
		return 0;
	default:
		return 0;
	}
}
