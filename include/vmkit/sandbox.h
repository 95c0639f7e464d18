/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Least privilege for vmkit's processes and threads (issue 16).
 *
 * A sandbox kind is a const allow-list of system calls, one per kind of
 * thread (the slirp helper; the monitor's vCPU, device event loop,
 * iothread and control threads), with argument filters where they are
 * cheap and mean something (ioctl numbers, socket families). Installing a
 * kind sets PR_SET_NO_NEW_PRIVS and loads a seccomp filter on the calling
 * thread (and the threads it creates afterwards) whose default action is
 * SCMP_ACT_TRAP: a forbidden call raises SIGSYS, whose handler writes one
 * line to stderr,
 *
 *   vmkit: sandbox: <kind>: forbidden system call <name> (<nr>)
 *
 * and then kills the whole process with SIGSYS (as SCMP_ACT_KILL_PROCESS
 * would, with the line first).
 *
 * Dropping privileges (only when running as root): a private mount
 * namespace whose root is an empty read-only tmpfs (or a given directory)
 * holding only the files asked for, read-only; the capability bounding
 * set emptied; supplementary groups, gid and uid switched to an
 * unprivileged user; every capability cleared; PR_SET_NO_NEW_PRIVS.
 * As non-root only PR_SET_NO_NEW_PRIVS applies (and the seccomp filter).
 *
 * Test hook: with VMKIT_SANDBOX_SELFTEST=1 (or =KIND) in the environment,
 * sandbox_install() calls a forbidden system call (ptrace) once the filter
 * is in place, so tests can see the process die naming it.
 */
#ifndef VMKIT_SANDBOX_H
#define VMKIT_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include "vmkit/util.h"

/* One allowed system call: with any arguments (arg < 0), or only when arg equals one of vals. */
struct sandbox_rule {
	int nr;
	int arg;
	const uint64_t *vals;
	unsigned int nvals;
};

#define SB_ALLOW(sys) { .nr = __NR_##sys, .arg = -1 }
#define SB_ALLOW_ARG(sys, a, ...) {						\
	.nr = __NR_##sys, .arg = (a), .vals = (const uint64_t[]){ __VA_ARGS__ },	\
	.nvals = sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t) }

struct sandbox_kind {
	const char *name;			/* in the SIGSYS line */
	const struct sandbox_rule *rules;
	unsigned int nr_rules;
};

#define SANDBOX_KIND(n, r) { .name = (n), .rules = (r), .nr_rules = sizeof(r) / sizeof((r)[0]) }

/* The user an unprivileged vmkit process runs as: SANDBOX_USER if it exists, else nobody. */
#define SANDBOX_USER		"vmkit"
#define SANDBOX_USER_FALLBACK	"nobody"

/* System calls every kind allows: the SIGSYS report's own and a thread's end. */
extern const struct sandbox_kind sandbox_base;

/*
 * Install kind's filter on the calling thread (every thread that should be
 * filtered calls it for itself; threads it creates later inherit it).
 * Also sets PR_SET_NO_NEW_PRIVS and the process's SIGSYS handler.
 * Returns 0 or a negative errno (err says which step failed).
 */
int sandbox_install(const struct sandbox_kind *kind, struct vk_err *err);

/*
 * Also write the SIGSYS line to fd, after prefix and without "vmkit: "
 * (the helper's status fd: "1 sandbox: slirp: forbidden system call ...").
 * -1 stops it.
 */
void sandbox_set_report_fd(int fd, const char *prefix);

/* The number of distinct system calls kind allows, sandbox_base included. */
unsigned int sandbox_kind_size(const struct sandbox_kind *kind);

struct sandbox_jail {
	const char *user;		/* NULL: SANDBOX_USER, else SANDBOX_USER_FALLBACK */
	const char *root;		/* NULL: an empty tmpfs; else this directory */
	const char *const *files;	/* NULL-terminated: host files bound read-only at the same path */
	const char *const *rw_files;	/* the same, writable (disks, device nodes, a directory) */
};

/*
 * Drop privileges as described above. As root all of it; otherwise only
 * PR_SET_NO_NEW_PRIVS (*dropped false). Call it while the process has one
 * thread: the mount namespace and root change only the calling thread's.
 * The parent-death signal, which a uid change clears, is set again.
 */
int sandbox_drop(const struct sandbox_jail *jail, bool *dropped, struct vk_err *err);

/* Resolve a user name to uid and gid (before the root changes). */
int sandbox_lookup_user(const char *name, uid_t *uid, gid_t *gid, struct vk_err *err);

/* Create user as a system user (useradd --system, no home, nologin) when missing. */
int sandbox_ensure_user(const char *user, struct vk_err *err);

/* Create path's missing parent directories (0755); -errno on failure. */
int sandbox_mkdirs(char *path);

/* Steps of sandbox_drop, for callers that need them apart (root.c, privs.c). */
int sandbox_enter_root(const struct sandbox_jail *jail, struct vk_err *err);
int sandbox_switch_user(uid_t uid, gid_t gid, struct vk_err *err);

#endif
