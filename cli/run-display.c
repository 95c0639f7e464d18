// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit run's graphical console options: --vga std|none and --vnc SPEC;
 * and the display and VNC server that live across guest resets (made
 * before the first build, as the control socket is).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "vmkit/config.h"
#include "vmkit/display.h"
#include "vmkit/vnc.h"

static struct vnc_opts vnc_opts;

int run_parse_vga(struct vm_config *c, const char *arg)
{
	/* QEMU's spellings: -vga std, -vga none; Proxmox's vga: std. */
	if (!strcmp(arg, "std"))
		c->vga = VGA_STD;
	else if (!strcmp(arg, "none"))
		c->vga = VGA_NONE;
	else {
		vk_msg("--vga %s: expected std or none", arg);
		return -EINVAL;
	}
	return 0;
}

int run_parse_vnc(struct vm_config *c, const char *arg)
{
	struct vk_err err = { 0 };

	if (vnc_parse(arg, &vnc_opts, &err)) {
		vk_report(&err);
		return -EINVAL;
	}
	c->vnc_spec = arg;
	return 0;
}

int run_open_display(struct vm_config *c)
{
	struct vk_err err = { 0 };

	if (c->vga == VGA_NONE && !c->vnc_spec)
		return 0;
	if (display_new(&c->display, &err))
		goto fail;
	/* --sandbox off reaches the helper as it reaches vmkit-slirp (issue 16). */
	vnc_opts.sandbox_off = c->sandbox == SANDBOX_OFF;
	/* Its reader thread starts in run_start_display, after the sandbox's drop. */
	if (c->vnc_spec && vnc_spawn(&c->vnc, c->display, &vnc_opts, &err))
		goto fail;
	/* libvncserver leaves the socket to the umask: the owner's alone, as QMP's. */
	if (vnc_opts.unix_path[0] && chmod(vnc_opts.unix_path, 0600) < 0)
		vk_msg("--vnc unix:%s: %s", vnc_opts.unix_path, strerror(errno));
	return 0;
fail:
	vk_report(&err);
	display_free(c->display);
	c->display = NULL;
	return -EINVAL;
}

void run_give_display(uid_t uid, gid_t gid)
{
	if (vnc_opts.unix_path[0] && lchown(vnc_opts.unix_path, uid, gid) < 0)
		vk_msg("--vnc unix:%s: %s", vnc_opts.unix_path, strerror(errno));
}

int run_start_display(struct vm_config *c)
{
	struct vk_err err = { 0 };

	if (c->vnc && vnc_start(c->vnc, &err)) {
		vk_report(&err);
		return -EINVAL;
	}
	return 0;
}

void run_close_display(struct vm_config *c)
{
	vnc_close(c->vnc);
	c->vnc = NULL;
	display_free(c->display);
	c->display = NULL;
}
