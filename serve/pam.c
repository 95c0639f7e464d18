// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Host users through PAM (Proxmox's "@pam" realm), with the service
 * "vmkit" (contrib/pam.d/vmkit; without it PAM's "other" applies, which
 * on Debian is the common-auth stack). Only root and members of the group
 * "vmkit" may log in. pam_authenticate blocks (pam_unix waits after a
 * failure), so this runs in a job's child, never in the event loop.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include "serve.h"

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	int i;

	if (!r)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			r[i].resp = strdup(data);
	}
	*resp = r;
	return PAM_SUCCESS;
}

/* "root@pam" or "root" to "root"; other realms are unknown. */
int auth_user_name(const char *login, char *user, size_t n)
{
	const char *at = strchr(login, '@');
	size_t len = at ? (size_t)(at - login) : strlen(login);

	if (at && strcmp(at, "@pam"))
		return -EACCES;
	if (!len || len >= n || len >= 64)
		return -EACCES;
	memcpy(user, login, len);
	user[len] = 0;
	return 0;
}

bool auth_user_allowed(const char *user)
{
	struct passwd *pw = getpwnam(user);
	struct group *gr;
	gid_t groups[256];
	int ng = 256, i;

	if (!pw)
		return false;
	if (pw->pw_uid == 0)
		return true;
	gr = getgrnam("vmkit");
	if (!gr || getgrouplist(user, pw->pw_gid, groups, &ng) < 0)
		return false;
	for (i = 0; i < ng; i++)
		if (groups[i] == gr->gr_gid)
			return true;
	return false;
}

int auth_pam(const char *login, const char *password, struct vk_err *err)
{
	struct pam_conv c = { conv, (void *)password };
	pam_handle_t *h = NULL;
	char user[64];
	int rc;

	if (auth_user_name(login, user, sizeof(user)) || !auth_user_allowed(user))
		return vk_fail(err, -EACCES, "authentication failure");
	rc = pam_start("vmkit", user, &c, &h);
	if (rc == PAM_SUCCESS)
		rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (rc == PAM_SUCCESS)
		rc = pam_acct_mgmt(h, PAM_SILENT);
	pam_end(h, rc);
	if (rc != PAM_SUCCESS)
		return vk_fail(err, -EACCES, "authentication failure");
	return 0;
}
