// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * start: the monitor runs detached, under a supervisor, and outlives the CLI.
 *
 *   vmkit start ─fork─> supervisor (setsid) ─fork─> monitor (exec vmkit run ...)
 *
 * The monitor joins the VM's cgroup before it execs. The supervisor records
 * run/pid, waits for the monitor, then records how it ended in run/status
 * ("stopped: ..." or "crashed: ..." with the reason from the log) and
 * removes run/pid and the cgroup. In between, for a VM with a balloon, it
 * runs the auto-balloon policy every poll interval (lib/mgmt/vm-autoballoon.c).
 * vm_start returns once the monitor answers on its QMP socket, or says why
 * it did not start.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "vm-autoballoon.h"
#include "vmkit/mgmt-ops.h"

#define START_TIMEOUT_S	20.0

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	return vk_now_ns() / 1e9;
}

int vm_require_running(const char *name, struct vm_status *st, struct vk_err *err)
{
	if (!vm_exists(name))
		return vk_fail(err, -ENOENT, "VM '%s' does not exist", name);
	vm_status_get(name, st);
	if (!st->pid)
		return vk_fail(err, -EINVAL, "VM '%s' is not running", name);
	return 0;
}

int vm_require_shutoff(const char *name, const char *what, struct vk_err *err)
{
	struct vm_status st;

	vm_status_get(name, &st);
	if (st.pid)
		return vk_fail(err, -EBUSY, "VM '%s' is %s; %s needs it shut off", name,
			       vm_state_name(st.state), what);
	return 0;
}

int vm_qmp(const char *name, struct qmpc **q, struct vk_err *err)
{
	char sock[PATH_MAX];
	struct vm_status st;
	int ret = vm_require_running(name, &st, err);

	return ret ? ret : qmpc_connect(mgmt_path(sock, "vms/%s/run/qmp.sock", name), q, err);
}

bool vm_wait_stopped(const char *name, double timeout_s)
{
	double end = now_s() + timeout_s;
	char p[PATH_MAX];
	struct vm_status st;

	mgmt_path(p, "vms/%s/run/pid", name);
	for (;;) {
		/* The supervisor removes run/pid once it has recorded the end. */
		vm_status_get(name, &st);
		if (access(p, F_OK) || st.state == VM_CRASHED)
			return true;
		if (now_s() > end)
			return false;
		sleep_ms(50);
	}
}

/* How the monitor ended, for run/status. */
static void record_end(const char *name, int status)
{
	char p[PATH_MAX], line[200], text[512];
	bool destroyed = !access(mgmt_path(p, "vms/%s/run/destroy", name), F_OK);
	int n;

	mgmt_last_line(mgmt_path(p, "vms/%s/run/log", name), line, sizeof(line));
	if (destroyed)
		n = snprintf(text, sizeof(text), "stopped: destroyed\n");
	else if (WIFEXITED(status) && !WEXITSTATUS(status))
		n = snprintf(text, sizeof(text), "stopped: the monitor exited normally\n");
	else if (WIFEXITED(status))
		n = snprintf(text, sizeof(text), "crashed: the monitor exited with status %d%s%s\n",
			     WEXITSTATUS(status), line[0] ? ": " : "", line);
	else
		n = snprintf(text, sizeof(text), "crashed: the monitor was killed by signal %d (%s)\n",
			     WTERMSIG(status), strsignal(WTERMSIG(status)));
	mgmt_write_atomic(mgmt_path(p, "vms/%s/run/status", name), text, n, 0600, NULL);
	unlink(mgmt_path(p, "vms/%s/run/destroy", name));
	unlink(mgmt_path(p, "vms/%s/run/pid", name));
	unlink(mgmt_path(p, "vms/%s/run/qmp.sock", name));
	unlink(mgmt_path(p, "vms/%s/run/console.sock", name));
	unlink(mgmt_path(p, "vms/%s/run/autoballoon", name));
	unlink(mgmt_path(p, "vms/%s/run/autoballoon-resume", name));
	vm_runas_restore(name);
	cg_remove(name);
}

static void exec_monitor(const char *name, char **argv, int logfd)
{
	struct vk_err err = { 0 };
	int fd = open("/dev/null", O_RDONLY);
	sigset_t empty;

	char run[PATH_MAX];

	sigemptyset(&empty);
	if (cg_attach(name, getpid(), &err) && err.code != -ENOTSUP)
		dprintf(logfd, "vmkit: cgroup: %s\n", err.msg);
	if (chdir(mgmt_path(run, "vms/%s/run", name)) < 0)
		dprintf(logfd, "vmkit: %s: %s\n", run, strerror(errno));
	dup2(fd, 0);
	dup2(logfd, 1);
	dup2(logfd, 2);
	/* The supervisor blocks SIGCHLD to wait for it; the monitor must not inherit that. */
	sigprocmask(SIG_SETMASK, &empty, NULL);
	execv(argv[0], argv);
	dprintf(2, "vmkit: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Until the monitor exits: SIGCHLD wakes the supervisor at once; in between,
 * when the VM has a balloon, an auto-balloon poll every interval.
 */
static int wait_monitor(pid_t pid, const sigset_t *chld, struct vm_autoballoon *ab)
{
	struct timespec ts;
	unsigned int ms;
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			_exit(1);
		if (!ab) {
			sigwaitinfo(chld, NULL);
			continue;
		}
		ms = vm_autoballoon_poll(ab);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		sigtimedwait(chld, NULL, &ts);
	}
}

static void supervise(const struct vm_def *d, char **argv, int logfd, int report_fd)
{
	const char *name = d->name;
	char p[PATH_MAX], text[128];
	struct vm_autoballoon ab;
	int status, n, fd;
	sigset_t chld;
	pid_t pid;

	setsid();
	/* Blocked, SIGCHLD stays pending for sigtimedwait (its default action discards it). */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	prctl(PR_SET_NAME, "vmkit-supervise");
	/* The caller's stdout may be a pipe someone waits on: let go of it. */
	fd = open("/dev/null", O_RDWR);
	dup2(fd, 0);
	dup2(logfd, 1);
	dup2(logfd, 2);
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (!pid)
		exec_monitor(name, argv, logfd);
	n = snprintf(text, sizeof(text), "%d %llu %d %llu\n", (int)pid, mgmt_proc_starttime(pid),
		     (int)getpid(), mgmt_proc_starttime(getpid()));
	mgmt_write_atomic(mgmt_path(p, "vms/%s/run/pid", name), text, n, 0600, NULL);
	if (write(report_fd, &pid, sizeof(pid)) < 0)
		dprintf(2, "vmkit: supervisor: %s\n", strerror(errno));
	close(report_fd);
	status = wait_monitor(pid, &chld, vm_autoballoon_init(&ab, d) ? &ab : NULL);
	record_end(name, status);
	_exit(0);
}

/* A writable disk in use by another running VM, unless both say shared=on. */
static int check_shared(const struct vm_def *d, struct vk_err *err);

static void warn_overcommit(const struct vm_def *d)
{
	long host = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long total = vm_def_vcpus(d);
	char **names, **n;

	if (vm_list_names(&names, NULL))
		return;
	for (n = names; *n; n++) {
		struct vm_status st;
		struct vm_def o;

		if (!strcmp(*n, d->name) || vm_status_get(*n, &st) || !st.pid || vm_load(*n, &o, NULL))
			continue;
		total += vm_def_vcpus(&o);
		vm_def_free(&o);
	}
	mgmt_strv_free(names);
	/* Seed 001: past 8 vCPUs per host CPU, guests starve one another. */
	if (total > 8UL * host)
		mgmt_warn("warning: %lu vCPUs on %ld host CPUs is more than 8x overcommit", total,
			  host);
}

/* After the fork: wait until the monitor answers QMP, or report how it ended. */
static int wait_ready(const char *name, pid_t pid, bool live_incoming, struct vk_err *err)
{
	double end = now_s() + START_TIMEOUT_S;
	char sock[PATH_MAX];
	struct qmpc *q;
	struct vm_status st;

	mgmt_path(sock, "vms/%s/run/qmp.sock", name);
	while (now_s() < end) {
		/*
		 * The socket answers before the VM is built (as QEMU's does); commands
		 * that need the VM succeed once the kernel is loaded and vCPUs exist.
		 */
		if (!qmpc_connect(sock, &q, NULL)) {
			/* A VM migrating in is built only when it arrives: its socket answering is all. */
			int r = qmpc_execute(q, live_incoming ? "query-status" : "query-cpus-fast",
					     NULL, NULL, NULL);

			qmpc_close(q);
			if (!r)
				return 0;
		}
		if (!mgmt_proc_starttime(pid)) {
			vm_wait_stopped(name, 5);
			vm_status_get(name, &st);
			return vk_fail(err, -EIO, "VM '%s' did not start: %s", name,
				       st.reason[0] ? st.reason : "the monitor exited");
		}
		sleep_ms(20);
	}
	return vk_fail(err, -ETIMEDOUT, "VM '%s': the monitor did not answer on %s within %.0f s",
		       name, sock, START_TIMEOUT_S);
}

static int spawn(const struct vm_def *d, char **argv, bool live_incoming, struct vk_err *err)
{
	char p[PATH_MAX];
	int logfd, pfd[2];
	pid_t sup, pid = 0;

	logfd = open(mgmt_path(p, "vms/%s/run/log", d->name),
		     O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0)
		return vk_fail(err, -errno, "%s: %s", p, strerror(errno));
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		close(logfd);
		return vk_fail(err, -errno, "pipe: %s", strerror(errno));
	}
	fflush(NULL);
	sup = fork();
	if (sup < 0) {
		close(logfd);
		return vk_fail(err, -errno, "fork: %s", strerror(errno));
	}
	if (!sup) {
		mgmt_unlock();
		close(pfd[0]);
		supervise(d, argv, logfd, pfd[1]);
	}
	close(pfd[1]);
	close(logfd);
	if (read(pfd[0], &pid, sizeof(pid)) != sizeof(pid))
		pid = 0;
	close(pfd[0]);
	waitpid(sup, NULL, WNOHANG);
	if (!pid)
		return vk_fail(err, -EIO, "VM '%s': the supervisor could not start the monitor",
			       d->name);
	return wait_ready(d->name, pid, live_incoming, err);
}

static int prepare_run_dir(const char *name, struct vk_err *err)
{
	static const char *const stale[] = { "status", "destroy", "qmp.sock", "console.sock",
					     "autoballoon", "autoballoon-resume" };
	char p[PATH_MAX];
	unsigned int i;

	if (mkdir(mgmt_path(p, "vms/%s/run", name), 0700) < 0 && errno != EEXIST)
		return vk_fail(err, -errno, "%s: %s", p, strerror(errno));
	/* Ours, and no one else's to write: pid and owners are believed from it. */
	if ((chown(p, geteuid(), getegid()) < 0 && geteuid() == 0) || chmod(p, 0700) < 0)
		return vk_fail(err, -errno, "%s: %s", p, strerror(errno));
	/*
	 * What the monitor writes on request (vm-runas.c). Kept across runs: a
	 * saved state whose copy to its destination failed waits there.
	 */
	if (mkdir(mgmt_path(p, "vms/%s/run/out", name), 0700) < 0 && errno != EEXIST)
		return vk_fail(err, -errno, "%s: %s", p, strerror(errno));
	for (i = 0; i < ARRAY_SIZE(stale); i++)
		unlink(mgmt_path(p, "vms/%s/run/%s", name, stale[i]));
	return 0;
}

bool vm_tls_dir(char dir[PATH_MAX])
{
	char ca[PATH_MAX];

	mgmt_path(dir, "tls");
	return !access(mgmt_path(ca, "tls/ca-cert.pem"), R_OK);
}

/* --tls-creds $VMKIT_HOME/tls, when the host has them: the monitor reads them only at start. */
static int add_tls(char ***argv, struct vk_err *err)
{
	char dir[PATH_MAX];
	int r;

	if (!vm_tls_dir(dir))
		return 0;
	r = mgmt_strv_push(argv, "--tls-creds", err);
	return r ? r : mgmt_strv_push(argv, dir, err);
}

/* --incoming file:PATH after the definition's options (a saved VM to start from). */
static int add_incoming(char ***argv, const char *saved, struct vk_err *err)
{
	char uri[PATH_MAX + 8];

	int r = mgmt_strv_push(argv, "--incoming", err);

	/* tcp:ADDR:PORT as it is (a live migration coming in, vm-migrate.c); else a file */
	snprintf(uri, sizeof(uri), strncmp(saved, "tcp:", 4) ? "file:%s" : "%s", saved);
	return r ? r : mgmt_strv_push(argv, uri, err);
}

static int start_locked(const char *name, const char *saved, struct vk_err *err)
{
	struct cg_limits limits;
	struct vm_status st;
	char **argv = NULL;
	bool took = false;
	struct vm_def d;
	int ret;

	ret = vm_load(name, &d, err);
	if (ret)
		return ret;
	vm_status_get(name, &st);
	if (st.pid) {
		ret = vk_fail(err, -EBUSY, "VM '%s' is already %s", name, vm_state_name(st.state));
		goto out;
	}
	ret = vm_refuse_template(&d, "started", err);
	if (!ret)
		ret = vm_build_argv(&d, vmkit_exe(), &argv, err);
	if (!ret && saved)
		ret = add_incoming(&argv, saved, err);
	if (!ret)
		ret = add_tls(&argv, err);
	if (!ret)
		ret = check_shared(&d, err);
	if (!ret)
		ret = prepare_run_dir(name, err);
	if (!ret) {
		ret = vm_runas_prepare(name, &argv, err);
		took = !ret;
	}
	if (!ret) {
		vm_cg_limits(&d, &limits);
		ret = cg_setup(name, &limits, err);
		/* Without cgroups (a container, `ip netns exec`'s private /sys) only limits need one. */
		if (ret == -ENOTSUP && !limits.cpulimit && limits.cpuunits == 1024 &&
		    !limits.mem_hard && !limits.mem_soft) {
			mgmt_warn("warning: %s; VM '%s' runs in the caller's cgroup", err->msg,
				  name);
			ret = 0;
		}
	}
	if (ret)
		goto out;
	warn_overcommit(&d);
	ret = spawn(&d, argv, saved && !strncmp(saved, "tcp:", 4), err);
out:
	/* Files handed to the VM's user, and no monitor to give them back when it ends. */
	if (ret && took && !vm_status_get(name, &st) && !st.pid)
		vm_runas_restore(name);
	mgmt_strv_free(argv);
	vm_def_free(&d);
	return ret;
}

int vm_start_incoming(const char *name, const char *saved, struct vk_err *err)
{
	bool took;
	int ret = mgmt_op_lock(&took, err);

	if (!ret)
		ret = start_locked(name, saved, err);
	mgmt_op_unlock(took);
	return ret;
}

int vm_start(const char *name, struct vk_err *err)
{
	return vm_start_incoming(name, NULL, err);
}

/* ---- shared disks ---- */

static bool disk_writable_shared(const char *val, bool *shared)
{
	*shared = strstr(val, "shared=on") || strstr(val, "shared=1");
	return !strstr(val, "readonly=on") && !strstr(val, "ro=on") &&
	       !strstr(val, "readonly=1") && !strstr(val, "ro=1");
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) || stat(b, &sb))
		return !strcmp(a, b);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * Does running VM `o` use `file` in a way that conflicts with us? Two readers
 * never conflict; a writer conflicts unless both sides say shared=on.
 */
static bool conflicts(const struct vm_def *o, const char *file, bool we_write, bool we_share)
{
	unsigned int i;

	for (i = 0; i < o->n; i++) {
		const char *v = o->kv[i].val;
		char ref[PATH_MAX], f[PATH_MAX];
		bool they_share, they_write;

		if (!vm_drive_key(o->kv[i].key))
			continue;
		snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(v, ","), v);
		if (vol_resolve(ref, false, f, NULL) || !same_file(f, file))
			continue;
		they_write = disk_writable_shared(v, &they_share);
		if ((we_write || they_write) && !(we_share && they_share))
			return true;
	}
	return false;
}

/*
 * A disk another image is built on (a linked clone's base) is not started
 * writable: the guest's writes would show through in the clone, under its
 * own writes. readonly=on is fine.
 */
static int refuse_base(const char *ref, const char *file, struct vk_err *err)
{
	char who[PATH_MAX + 64];
	int ret = vol_find_overlay(file, NULL, who, sizeof(who), err);

	if (ret > 0)
		return vk_fail(err, -EBUSY,
			       "disk %s is the backing file of %s; it can only be started with readonly=on",
			       ref, who);
	return ret;
}

static int check_one_disk(const struct vm_def *d, const char *val, char **names,
			  struct vk_err *err)
{
	char ref[PATH_MAX], file[PATH_MAX];
	bool shared, writable = disk_writable_shared(val, &shared);
	char **n;

	snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(val, ","), val);
	if (vol_resolve(ref, true, file, err))
		return err->code;
	if (writable) {
		int ret = refuse_base(ref, file, err);

		if (ret)
			return ret;
	}
	for (n = names; *n; n++) {
		struct vm_status st;
		struct vm_def o;
		bool busy;

		if (!strcmp(*n, d->name) || vm_status_get(*n, &st) || !st.pid ||
		    vm_load(*n, &o, NULL))
			continue;
		busy = conflicts(&o, file, writable, shared);
		vm_def_free(&o);
		if (busy)
			return vk_fail(err, -EBUSY,
				       "disk %s is in use by running VM '%s' (set shared=on on both to share it)",
				       ref, *n);
	}
	return 0;
}

static int check_shared(const struct vm_def *d, struct vk_err *err)
{
	char **names;
	unsigned int i;
	int ret = vm_list_names(&names, err);

	if (ret)
		return ret;
	for (i = 0; i < d->n && !ret; i++)
		if (vm_drive_key(d->kv[i].key))
			ret = check_one_disk(d, d->kv[i].val, names, err);
	mgmt_strv_free(names);
	return ret;
}
