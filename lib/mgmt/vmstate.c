// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Whether a VM runs, from its run/ directory. The supervisor (lib/mgmt/vm-start.c)
 * writes run/pid ("PID STARTTIME") when the monitor starts, and run/status
 * ("stopped: how" or "crashed: why") when it ends, then removes run/pid.
 * The start time guards against a recycled PID; a pid file whose process
 * is gone means the supervisor died too, which is a crash as well.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/mgmt.h"

const char *vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_RUNNING: return "running";
	case VM_PAUSED: return "paused";
	case VM_CRASHED: return "crashed";
	default: return "shut off";
	}
}

unsigned long long mgmt_proc_starttime(pid_t pid)
{
	char p[64], buf[1024], *rp;
	unsigned long long start = 0;
	FILE *f;
	int i;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	/* The command name may hold spaces and parentheses: count from the last ')'. */
	rp = strrchr(buf, ')');
	if (!rp || rp[1] != ' ' || rp[2] == 'Z')
		return 0;	/* gone, or a zombie */
	for (i = 3, rp += 2; i < 22 && rp; i++) {
		rp = strchr(rp, ' ');
		if (rp)
			rp++;
	}
	if (rp)
		start = strtoull(rp, NULL, 10);
	return start;
}

void mgmt_last_line(const char *path, char *buf, size_t n)
{
	char chunk[4096];
	FILE *f = fopen(path, "re");
	long size;
	size_t len;
	char *end, *start;

	buf[0] = 0;
	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof(chunk) - 1 ? size - (long)sizeof(chunk) + 1 : 0, SEEK_SET);
	len = fread(chunk, 1, sizeof(chunk) - 1, f);
	fclose(f);
	chunk[len] = 0;
	end = chunk + len;
	while (end > chunk && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		*--end = 0;
	start = strrchr(chunk, '\n');
	snprintf(buf, n, "%s", start ? start + 1 : chunk);
}

static double uptime_of(unsigned long long start)
{
	double up = 0;
	FILE *f = fopen("/proc/uptime", "re");

	if (f) {
		if (fscanf(f, "%lf", &up) != 1)
			up = 0;
		fclose(f);
	}
	up -= (double)start / sysconf(_SC_CLK_TCK);
	return up > 0 ? up : 0;
}

static bool paused(const char *name)
{
	char sock[PATH_MAX];
	struct qmpc *q;
	char *ret = NULL;
	bool p = false;

	if (qmpc_connect(mgmt_path(sock, "vms/%s/run/qmp.sock", name), &q, NULL))
		return false;
	if (!qmpc_execute(q, "query-status", NULL, &ret, NULL))
		p = ret && strstr(ret, "\"paused\"");
	free(ret);
	qmpc_close(q);
	return p;
}

static void read_status(const char *name, struct vm_status *st)
{
	_cleanup_free_ char *text = NULL;
	char p[PATH_MAX];
	size_t len;

	st->state = VM_SHUTOFF;
	if (vk_read_file(mgmt_path(p, "vms/%s/run/status", name), (void **)&text, &len, 4096))
		return;
	text[strcspn(text, "\n")] = 0;
	if (!strncmp(text, "crashed: ", 9)) {
		st->state = VM_CRASHED;
		snprintf(st->reason, sizeof(st->reason), "%s", text + 9);
	} else if (!strncmp(text, "stopped: ", 9)) {
		snprintf(st->reason, sizeof(st->reason), "%s", text + 9);
	}
}

/* run/pid: "MONITOR_PID STARTTIME SUPERVISOR_PID STARTTIME"; false if absent. */
static bool read_pid_file(const char *name, int pid[2], unsigned long long start[2])
{
	char p[PATH_MAX];
	FILE *f = fopen(mgmt_path(p, "vms/%s/run/pid", name), "re");
	int n;

	if (!f)
		return false;
	n = fscanf(f, "%d %llu %d %llu", &pid[0], &start[0], &pid[1], &start[1]);
	fclose(f);
	if (n < 2)
		pid[0] = 0;
	if (n < 4)
		pid[1] = 0;
	return true;
}

static bool alive(int pid, unsigned long long start)
{
	return pid > 0 && start && mgmt_proc_starttime(pid) == start;
}

int vm_status_get(const char *name, struct vm_status *st)
{
	char log[PATH_MAX], line[200];
	unsigned long long start[2] = { 0, 0 };
	int pid[2] = { 0, 0 }, tries;

	memset(st, 0, sizeof(*st));
	for (tries = 0; ; tries++) {
		if (!read_pid_file(name, pid, start)) {
			read_status(name, st);
			return 0;
		}
		if (alive(pid[0], start[0])) {
			st->pid = pid[0];
			st->uptime = uptime_of(start[0]);
			st->state = paused(name) ? VM_PAUSED : VM_RUNNING;
			return 0;
		}
		/* The monitor is gone; a live supervisor is about to record how (within ms). */
		if (!alive(pid[1], start[1]) || tries >= 100)
			break;
		usleep(20000);
	}
	/* A pid file with nobody behind it: nobody was left to record the end. */
	st->state = VM_CRASHED;
	mgmt_last_line(mgmt_path(log, "vms/%s/run/log", name), line, sizeof(line));
	snprintf(st->reason, sizeof(st->reason), "monitor (pid %d) and its supervisor are gone%s%s",
		 pid[0], line[0] ? "; log: " : "", line);
	return 0;
}
