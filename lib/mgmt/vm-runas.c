// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The user VMs run as (issue 16): `vmkit start` as root starts each monitor
 * with --runas vmkit (creating that system user when missing), so a guest
 * that breaks out of its device models lands in an unprivileged process
 * that sees only its own files. As libvirt's DAC driver does for qemu:qemu,
 * the files the VM writes (its disks and UEFI variable store) are handed to
 * that user for the VM's run and given back when it ends; their owners are
 * kept in run/owners meanwhile, so a crash of everything is mended at the
 * next start. Files the VM only reads (kernel, ISO, backing images) must be
 * readable by the user; they are not changed. What the monitor writes on
 * request (screendumps, saved states) goes to run/out, the one directory
 * the user owns (--outdir), and is copied out from there; run/ itself
 * (pid, owners, status) stays root's, out of a broken-into monitor's reach.
 *
 * VMKIT_RUNAS in the environment picks another (existing) user; "root" (or
 * empty) keeps the monitor root, as before. Not root: the monitor runs as
 * the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmkit/block.h"
#include "vmkit/mgmt.h"
#include "vmkit/mgmt-ops.h"
#include "vmkit/sandbox.h"

#define DEFAULT_USER "vmkit"

const char *vm_runas_user(void)
{
	const char *u = getenv("VMKIT_RUNAS");

	if (geteuid() != 0)
		return NULL;
	if (!u)
		return DEFAULT_USER;
	return *u && strcmp(u, "root") ? u : NULL;
}

static bool on(const char *v)
{
	return !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes");
}

/* Give path to uid:gid, recording its owner first (a line "uid gid path"). */
static int take(FILE *rec, const char *path, uid_t uid, gid_t gid, struct vk_err *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;	/* missing: the monitor's open says so */
	if (st.st_uid == uid && st.st_gid == gid)
		return 0;
	if (fprintf(rec, "%u %u %s\n", (unsigned int)st.st_uid, (unsigned int)st.st_gid,
		    path) < 0 || fflush(rec) || fsync(fileno(rec)))
		return vk_fail(err, -EIO, "run/owners: %s", strerror(errno));
	if (chown(path, uid, gid) < 0)
		return vk_fail(err, -errno, "%s: giving it to the VM's user: %s", path,
			       strerror(errno));
	return 0;
}

/* A file the VM only reads: the user must be able to (said before anything starts). */
static int check_readable(const char *path, const char *user, uid_t uid, gid_t gid,
			  struct vk_err *err)
{
	struct stat st;
	mode_t need;

	if (stat(path, &st) < 0)
		return 0;	/* missing: the monitor's open says so */
	need = st.st_uid == uid ? S_IRUSR : st.st_gid == gid ? S_IRGRP : S_IROTH;
	if (st.st_mode & need)
		return 0;
	return vk_fail(err, -EACCES, "%s: not readable by user %s, whom the VM runs as "
		       "(mode %04o): chmod o+r it, or start with VMKIT_RUNAS=root", path, user,
		       (unsigned int)(st.st_mode & 07777));
}

int vm_runas_check_readable(const char *file, struct vk_err *err)
{
	const char *user = vm_runas_user();
	uid_t uid;
	gid_t gid;

	if (!user || sandbox_lookup_user(user, &uid, &gid, NULL))
		return 0;	/* no such user yet: the start that makes it checks */
	return check_readable(file, user, uid, gid, err);
}

struct chain_user {
	const char *user;
	uid_t uid;
	gid_t gid;
	struct vk_err *err;
};

static int chain_readable(void *opaque, const char *file)
{
	struct chain_user *u = opaque;

	return check_readable(file, u->user, u->uid, u->gid, u->err);
}

/*
 * The files under a disk (its backing chain, a vmdk's extents), which the
 * monitor opens read-only at each build: readable by the user too, or the
 * start says which is not (rather than the monitor's open, after the drop).
 */
static int check_chain(const char *path, const char *format, const char *user, uid_t uid,
		       gid_t gid, struct vk_err *err)
{
	struct vk_blk_opts o = { .format = vk_blk_find_driver(format) ? format : NULL,
				 .flags = VK_BLK_NO_LOCK };
	struct chain_user u = { user, uid, gid, err };
	struct vk_blk *bs = NULL;
	int r;

	if (vk_blk_format_plain(format) || vk_blk_open(path, &o, &bs, NULL))
		return 0;	/* no chain, or not openable: the monitor's open says why */
	r = vk_blk_each_file_under(bs, chain_readable, &u);
	vk_blk_close(bs);
	return r;
}

/*
 * The files the monitor opens, as its command line names them: those it
 * writes given to the user, those it only reads checked.
 */
static int take_all(FILE *rec, char **argv, const char *user, uid_t uid, gid_t gid,
		    struct vk_err *err)
{
	char path[PATH_MAX], v[16];
	int r = 0;

	for (; *argv && argv[1] && !r; argv++) {
		const char *a = argv[1];

		if (!strcmp(*argv, "--disk") && mgmt_opt_val(a, "path", path, sizeof(path))) {
			if ((mgmt_opt_val(a, "readonly", v, sizeof(v)) && on(v)) ||
			    (mgmt_opt_val(a, "media", v, sizeof(v)) && !strcmp(v, "cdrom")))
				r = check_readable(path, user, uid, gid, err);
			else
				r = take(rec, path, uid, gid, err);
			if (!r)
				r = check_chain(path, mgmt_opt_val(a, "format", v, sizeof(v)) ? v : "auto",
						user, uid, gid, err);
		} else if (!strcmp(*argv, "--firmware") && mgmt_opt_val(a, "vars", path, sizeof(path))) {
			r = take(rec, path, uid, gid, err);
		} else if (!strcmp(*argv, "--kernel") || !strcmp(*argv, "--initrd")) {
			r = check_readable(a, user, uid, gid, err);
		}
	}
	return r;
}

void vm_runas_restore(const char *name)
{
	char p[PATH_MAX], line[PATH_MAX + 32];
	FILE *f = fopen(mgmt_path(p, "vms/%s/run/owners", name), "re");
	unsigned int u, g;
	int n;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%u %u %n", &u, &g, &n) == 2 && line[n] == '/' &&
		    chown(line + n, u, g) < 0 && errno != ENOENT)
			mgmt_warn("warning: %s: giving it back to %u:%u: %s", line + n, u, g,
				  strerror(errno));
	}
	fclose(f);
	unlink(p);
}

/* --runas USER --outdir RUN/out at the end of argv. */
static int append_runas(char ***argv, const char *name, const char *user, struct vk_err *err)
{
	const char *add[4] = { "--runas", user, "--outdir", NULL };
	char out[PATH_MAX];
	unsigned int i;
	int r = 0;

	add[3] = mgmt_path(out, "vms/%s/run/out", name);
	for (i = 0; i < 4 && !r; i++)
		r = mgmt_strv_push(argv, add[i], err);
	return r;
}

int vm_runas_prepare(const char *name, char ***argv, struct vk_err *err)
{
	const char *user = vm_runas_user();
	char p[PATH_MAX];
	uid_t uid;
	gid_t gid;
	FILE *rec;
	int fd, r;

	/* Owners left by a run that ended without its supervisor: given back first. */
	vm_runas_restore(name);
	if (!user)
		return 0;
	/* Ours is made when missing; one the administrator named must exist. */
	r = strcmp(user, DEFAULT_USER) ? 0 : sandbox_ensure_user(user, err);
	if (!r && sandbox_lookup_user(user, &uid, &gid, NULL))
		r = vk_fail(err, -ENOENT, "VMKIT_RUNAS=%s: no such user", user);
	if (r)
		return r;
	if (!uid)
		return vk_fail(err, -EINVAL, "VMKIT_RUNAS=%s: that user is root", user);
	if (chown(mgmt_path(p, "vms/%s/run/out", name), uid, gid) < 0)
		return vk_fail(err, -errno, "%s: %s", p, strerror(errno));
	fd = open(mgmt_path(p, "vms/%s/run/owners", name),
		  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rec = fd < 0 ? NULL : fdopen(fd, "w");
	if (!rec) {
		r = vk_fail(err, -errno, "%s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	r = take_all(rec, *argv, user, uid, gid, err);
	fclose(rec);
	if (!r)
		r = append_runas(argv, name, user, err);
	if (r)
		vm_runas_restore(name);
	return r;
}

/* Copy from in to a temp file beside dst, fsync, rename: dst is whole or as it was. */
static int copy_into(int in, const char *src, const char *dst, mode_t mode, struct vk_err *err)
{
	char tmp[PATH_MAX + 16], buf[1 << 16];
	int out, r = 0;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", dst) >= (int)sizeof(tmp))
		return vk_fail(err, -ENAMETOOLONG, "%s: path too long", dst);
	out = mkstemp(tmp);
	if (out < 0)
		return vk_fail(err, -errno, "%s: %s", dst, strerror(errno));
	fchmod(out, mode);
	while (!r && (n = read(in, buf, sizeof(buf))) != 0)
		if (n < 0 || vk_write_full(out, buf, n) < 0)
			r = vk_fail(err, -errno, "%s: %s", n < 0 ? src : dst, strerror(errno));
	if (!r && fsync(out) < 0)
		r = vk_fail(err, -errno, "%s: %s", dst, strerror(errno));
	close(out);
	if (!r && rename(tmp, dst) < 0)
		r = vk_fail(err, -errno, "%s: %s", dst, strerror(errno));
	if (r)
		unlink(tmp);
	return r;
}

int vm_run_file_out(const char *name, const char *file, const char *dst, mode_t mode,
		    struct vk_err *err)
{
	char src[PATH_MAX];
	struct stat st;
	int in, r;

	/*
	 * Copied, not renamed, from a file opened without following links: the
	 * directory is the VM's user's, who could have put anything there.
	 */
	mgmt_path(src, "vms/%s/run/out/%s", name, file);
	in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return vk_fail(err, -errno, "%s: %s", src, strerror(errno));
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode))
		r = vk_fail(err, -EINVAL, "%s: not a regular file", src);
	else
		r = copy_into(in, src, dst, mode, err);
	close(in);
	if (!r) {
		unlink(src);
	} else {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		vk_fail(err, r, "%s (what the VM wrote is kept in %s)", why, src);
	}
	return r;
}
