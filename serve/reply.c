// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replies: a handler (or a job that ends) sets status and body; they are
 * written when libwebsockets says the connection can take them, in pieces,
 * so a reply never blocks the loop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define CHUNK	16384

void sess_reset(struct sess *s)
{
	if (s->job)
		job_sess_gone(s);
	if (s->upload)
		upload_abort(s);
	lws_sul_cancel(&s->sul);
	free(s->body);
	free(s->out);
	s->body = s->out = NULL;
	s->body_len = s->out_len = s->out_sent = 0;
	s->drain_body = false;
	s->body_too_large = s->dispatched = s->replied = s->has_length = s->token_auth = false;
	s->content_length = s->body_seen = 0;
	s->route = NULL;
	s->user[0] = s->cookie[0] = 0;
	s->status = 0;
	s->delay_ms = 0;
}

static void delayed(lws_sorted_usec_list_t *sul)
{
	struct sess *s = lws_container_of(sul, struct sess, sul);

	lws_callback_on_writable(s->wsi);
}

void reply_kick(struct sess *s)
{
	if (s->dead)
		return;
	if (s->delay_ms) {
		lws_sul_schedule(lws_get_context(s->wsi), 0, &s->sul, delayed,
				 (lws_usec_t)s->delay_ms * 1000);
		s->delay_ms = 0;
		return;
	}
	lws_callback_on_writable(s->wsi);
}

void reply_raw(struct sess *s, int status, const char *ctype, char *body, size_t len)
{
	free(s->out);
	s->out = body;
	s->out_len = len;
	s->out_sent = 0;
	s->status = status;
	s->ctype = ctype;
	s->replied = true;
	reply_kick(s);
}

static void reply_json(struct sess *s, int status, struct json_object *o)
{
	const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							    JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = strdup(txt);

	reply_raw(s, status, "application/json", copy, copy ? strlen(copy) : 0);
	json_object_put(o);
}

void reply_data(struct sess *s, struct json_object *data)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "data", data);
	reply_json(s, 200, o);
}

void reply_error(struct sess *s, int status, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/*
	 * 401 carries no detail: nothing to learn about users or tickets. A
	 * failed login says just that (Proxmox's words).
	 */
	if (status == 401 && strcmp(msg, "authentication failure"))
		snprintf(msg, sizeof(msg), "authentication required");
	json_object_object_add(o, "message", json_object_new_string(msg));
	reply_json(s, status, o);
}

int http_status_for(int neg_errno)
{
	switch (neg_errno) {
	case -EINVAL: case -ERANGE: case -ENAMETOOLONG: case -E2BIG: case -EDOM:
		return 400;
	case -ENOENT: case -ESRCH:
		return 404;
	case -EEXIST: case -EBUSY: case -ENOTEMPTY: case -EALREADY: case -EISCONN:
	case -ENOTCONN: case -ETXTBSY:
		return 409;
	case -EACCES: case -EPERM:
		return 403;
	default:
		return 500;
	}
}

void reply_err(struct sess *s, const struct vk_err *err)
{
	reply_error(s, http_status_for(err->code), "%s",
		    err->msg[0] ? err->msg : strerror(err->code < 0 ? -err->code : EIO));
}

static int write_headers(struct sess *s)
{
	unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;

	if (lws_add_http_common_headers(s->wsi, (unsigned int)s->status, s->ctype, s->out_len, &p, end))
		return -1;
	if (s->cookie[0] &&
	    lws_add_http_header_by_name(s->wsi, (const unsigned char *)"set-cookie:",
					(const unsigned char *)s->cookie, (int)strlen(s->cookie), &p, end))
		return -1;
	if (lws_add_http_header_by_name(s->wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end) ||
	    lws_add_http_header_by_name(s->wsi, (const unsigned char *)"x-content-type-options:",
					(const unsigned char *)"nosniff", 7, &p, end))
		return -1;
	return lws_finalize_write_http_header(s->wsi, start, &p, end) ? -1 : 0;
}

int reply_write(struct sess *s)
{
	unsigned char buf[LWS_PRE + CHUNK];
	size_t n;
	bool last;

	if (s->status) {	/* status is cleared once the headers are out */
		if (write_headers(s))
			return -1;
		s->status = 0;
		if (s->out_len) {
			lws_callback_on_writable(s->wsi);
			return 0;
		}
	} else {
		n = s->out_len - s->out_sent;
		if (n > CHUNK)
			n = CHUNK;
		last = s->out_sent + n == s->out_len;
		memcpy(buf + LWS_PRE, s->out + s->out_sent, n);
		if (lws_write(s->wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
			return -1;
		s->out_sent += n;
		if (!last) {
			lws_callback_on_writable(s->wsi);
			return 0;
		}
	}
	s->replied = false;
	/*
	 * Answered before the whole body came (refused): the rest must not be
	 * read as the next request. Up to 1 MiB more is read and dropped, then
	 * the transaction ends (closing with unread data would reset the
	 * connection before the client reads our answer); more than that, and
	 * the connection ends here.
	 */
	if (s->has_length && s->body_seen < s->content_length) {
		if (s->content_length - s->body_seen > SERVE_BODY_MAX)
			return -1;
		s->drain_body = true;
		return 1;
	}
	return lws_http_transaction_completed(s->wsi) ? -1 : 1;
}
