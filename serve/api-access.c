// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /api/access: log in (PAM in a job's child), who am I, log out. A failed
 * login says only "authentication failure" and, after a few from one
 * address, waits longer and longer before saying it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "serve.h"

struct login {
	char user[SERVE_USER_MAX];
	char password[512];
};

static int do_login(void *arg, struct json_object **result, struct vk_err *err)
{
	const struct login *l = arg;

	return auth_pam(l->user, l->password, err);
}

static void login_done(struct sess *s, const struct vk_err *err, struct json_object *data)
{
	char ticket[400], csrf[128], user[SERVE_USER_MAX];
	struct json_object *o;

	json_object_put(data);
	auth_throttle_note(s->peer, !err->code);
	if (err->code) {
		s->delay_ms = auth_throttle_ms(s->peer);
		reply_error(s, 401, "authentication failure");
		return;
	}
	/* The ticket names user@pam, as Proxmox's. */
	auth_user_name(s->user, user, sizeof(user));
	snprintf(s->user, sizeof(s->user), "%s@pam", user);
	auth_ticket_make(s->user, ticket, sizeof(ticket));
	auth_csrf_make(s->user, csrf, sizeof(csrf));
	snprintf(s->cookie, sizeof(s->cookie),
		 "VMKitAuthCookie=%s; Path=/; Secure; HttpOnly; SameSite=Strict", ticket);
	o = json_object_new_object();
	json_object_object_add(o, "username", json_object_new_string(s->user));
	json_object_object_add(o, "ticket", json_object_new_string(ticket));
	json_object_object_add(o, "CSRFPreventionToken", json_object_new_string(csrf));
	reply_data(s, o);
}

void api_ticket_post(struct sess *s, struct json_object *b)
{
	const char *user = jstr(b, "username"), *pw = jstr(b, "password");
	struct login l = { 0 };
	char plain[64];

	if (!need_object(s, b))
		return;
	if (!user || !pw || !*user) {
		reply_error(s, 400, "username and password are required");
		return;
	}
	/* Unknown realms and overlong names fail like a wrong password. */
	if (strlen(user) >= sizeof(l.user) || strlen(pw) >= sizeof(l.password) ||
	    auth_user_name(user, plain, sizeof(plain))) {
		auth_throttle_note(s->peer, false);
		s->delay_ms = auth_throttle_ms(s->peer);
		reply_error(s, 401, "authentication failure");
		return;
	}
	snprintf(l.user, sizeof(l.user), "%s", user);
	snprintf(l.password, sizeof(l.password), "%s", pw);
	snprintf(s->user, sizeof(s->user), "%s", user);
	job_sync_cb(s, do_login, &l, sizeof(l), login_done);
	memset(&l, 0, sizeof(l));
}

void api_ticket_get(struct sess *s, struct json_object *b)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "username", json_object_new_string(s->user));
	reply_data(s, o);
}

void api_logout(struct sess *s, struct json_object *b)
{
	snprintf(s->cookie, sizeof(s->cookie),
		 "VMKitAuthCookie=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
	reply_data(s, NULL);
}
