// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Automatic ballooning, run by each VM's supervisor (lib/mgmt/vm-start.c) every
 * poll interval: read the knobs ($VMKIT_HOME/autoballoon, re-read each time
 * so they can change while VMs run), the host's /proc/meminfo, the VM's
 * `balloon` (MIN, re-read too: `vmkit set NAME balloon=...` takes effect at
 * the next poll) and the sum of MAX - MIN over the running auto-ballooned
 * VMs; ask the policy (lib/mgmt/autoballoon.c); apply its target over QMP.
 *
 * The supervisor's stderr is the VM's log: each change is one line there,
 * and so is each new problem (bad knobs, QMP errors), once, not every poll.
 * run/autoballoon holds the current state for `vmkit show`.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vm-autoballoon.h"

static const char *const action_name[] = {
	[AB_KEEP] = "keep", [AB_SHRINK] = "shrink", [AB_GROW] = "grow",
};

/* balloon: as MiB; 0 when absent, 0 or not a size. */
static uint64_t balloon_min(const struct vm_def *d)
{
	const char *v = vm_def_get(d, "balloon");
	uint64_t b;

	return v && !vk_parse_size(v, MiB, &b) ? b / MiB : 0;
}

/* Log a problem once: again only after it changed (or went away and came back). */
static void complain(char last[AB_MSG_MAX], const char *fmt, ...)
{
	char line[AB_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!strcmp(last, line))
		return;
	memcpy(last, line, sizeof(line));
	fprintf(stderr, "%s\n", line);
}

static struct ab_knobs load_knobs(struct vm_autoballoon *ab)
{
	struct vk_err err = { 0 };
	struct ab_knobs k;
	char p[PATH_MAX];

	if (ab_load_knobs(mgmt_path(p, "autoballoon"), &k, &err))
		complain(ab->knob_msg, "vmkit: autoballoon: warning: %s; using target %u%%, interval %.1f s",
			 err.msg, k.target_pct, k.interval_ms / 1000.0);
	else
		ab->knob_msg[0] = 0;
	return k;
}

/* MemTotal and MemTotal - MemAvailable, in MiB. */
static int host_memory(uint64_t *total, uint64_t *used)
{
	unsigned long long t = 0, a = 0, v;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &v) == 1)
			t = v;
		else if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
			a = v;
	}
	fclose(f);
	if (!t || a > t)
		return -EINVAL;
	*total = t / 1024;
	*used = (t - a) / 1024;
	return 0;
}

/* Its monitor runs: run/pid names a live process started when the file says. */
static bool running(const char *name)
{
	unsigned long long start;
	char p[PATH_MAX];
	FILE *f = fopen(mgmt_path(p, "vms/%s/run/pid", name), "re");
	int pid, n;

	if (!f)
		return false;
	n = fscanf(f, "%d %llu", &pid, &start);
	fclose(f);
	return n == 2 && pid > 0 && mgmt_proc_starttime(pid) == start;
}

/* Sum of MAX - MIN over the other running VMs with auto-ballooning. */
static uint64_t others_span(const char *self)
{
	uint64_t sum = 0, min, max;
	char **names, **n;

	if (vm_list_names(&names, NULL))
		return 0;
	for (n = names; *n; n++) {
		struct vm_def d;

		if (!strcmp(*n, self) || !running(*n) || vm_load(*n, &d, NULL))
			continue;
		min = balloon_min(&d);
		max = vm_def_memory_mib(&d);
		if (min && min < max)
			sum += max - min;
		vm_def_free(&d);
	}
	mgmt_strv_free(names);
	return sum;
}

/* run/autoballoon, for `vmkit show`: rewritten only when it changes. */
static void write_state(struct vm_autoballoon *ab, const char *text)
{
	char p[PATH_MAX];

	if (!strcmp(text, ab->state))
		return;
	snprintf(ab->state, sizeof(ab->state), "%s", text);
	mgmt_write_atomic(mgmt_path(p, "vms/%s/run/autoballoon", ab->name), text, strlen(text),
			  0600, NULL);
}

static void save_state(struct vm_autoballoon *ab, const struct ab_input *in, uint64_t target)
{
	char text[sizeof(ab->state)];

	if (in->min && in->min < in->max)
		snprintf(text, sizeof(text), "on, target %llu MiB (min %llu, max %llu), host goal %u%%%s%s\n",
			 (unsigned long long)target, (unsigned long long)in->min,
			 (unsigned long long)in->max, in->target_pct,
			 ab->last_change[0] ? ", last change " : "", ab->last_change);
	else
		snprintf(text, sizeof(text), "off (balloon is not below memory)\n");
	write_state(ab, text);
}

static void apply(struct vm_autoballoon *ab, struct qmpc *q, const struct ab_input *in)
{
	struct vk_err err = { 0 };
	enum ab_action act;
	char when[16];
	time_t now = time(NULL);
	uint64_t want;

	act = ab_decide(in, &want);
	if (act != AB_KEEP) {
		if (ab_set_target(q, want, &err)) {
			complain(ab->qmp_msg, "vmkit: autoballoon: balloon: %s", err.msg);
			return;
		}
		ab->known = want;
		fprintf(stderr, "vmkit: autoballoon: host %llu%% used, goal %u%%: %s balloon target %llu -> %llu MiB (actual %llu, min %llu, max %llu)\n",
			(unsigned long long)(in->host_used * 100 / in->host_total), in->target_pct,
			action_name[act], (unsigned long long)in->target, (unsigned long long)want,
			(unsigned long long)in->actual, (unsigned long long)in->min,
			(unsigned long long)in->max);
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
		snprintf(ab->last_change, sizeof(ab->last_change), "%s to %llu MiB at %s",
			 action_name[act], (unsigned long long)want, when);
	}
	save_state(ab, in, want);
}

/*
 * A target this loop did not set (`vmkit balloon NAME SIZE`, or any QMP
 * client) is the administrator's: hand over until `vmkit balloon NAME auto`
 * drops run/autoballoon-resume. Proxmox overrides such targets at its next
 * cycle; a target set on purpose that is quietly undone is worse.
 */
static bool handed_over(struct vm_autoballoon *ab, const struct ab_input *in)
{
	char p[PATH_MAX], text[sizeof(ab->state)];

	if (!ab->paused && in->target != ab->known) {
		ab->paused = true;
		fprintf(stderr, "vmkit: autoballoon: paused: the balloon target was set to %llu MiB by hand ('vmkit balloon %s auto' resumes)\n",
			(unsigned long long)in->target, ab->name);
	}
	if (!ab->paused)
		return false;
	if (!unlink(mgmt_path(p, "vms/%s/run/autoballoon-resume", ab->name))) {
		ab->paused = false;
		ab->known = in->target;
		fprintf(stderr, "vmkit: autoballoon: resumed at target %llu MiB\n",
			(unsigned long long)in->target);
		return false;
	}
	snprintf(text, sizeof(text), "paused, target %llu MiB set by hand (min %llu, max %llu)\n",
		 (unsigned long long)in->target, (unsigned long long)in->min,
		 (unsigned long long)in->max);
	write_state(ab, text);
	return true;
}

/*
 * Each query-balloon makes vmkit's balloon ask the guest for fresh stats,
 * work for the guest kernel (slow on PVM hosts): ask only when the target
 * the loop left would change, or every AB_QUERY_MAX_MS to see targets set by
 * hand. A guest still on its way to that target is thus left alone.
 */
static bool must_query(struct vm_autoballoon *ab, const struct ab_input *in)
{
	struct ab_input guess = *in;
	char p[PATH_MAX];
	uint64_t t;

	if (!ab->answered || vk_now_ns() - ab->last_query_ns >= AB_QUERY_MAX_MS * 1000000ULL)
		return true;
	if (ab->paused)
		return !access(mgmt_path(p, "vms/%s/run/autoballoon-resume", ab->name), F_OK);
	guess.actual = guess.target = ab->known;
	if (ab_decide(&guess, &t) != AB_KEEP)
		return true;
	save_state(ab, &guess, ab->known);
	return false;
}

bool vm_autoballoon_init(struct vm_autoballoon *ab, const struct vm_def *d)
{
	const char *b = vm_def_get(d, "balloon");

	memset(ab, 0, sizeof(*ab));
	snprintf(ab->name, sizeof(ab->name), "%s", d->name);
	ab->max = vm_def_memory_mib(d);
	ab->known = ab->max;	/* the monitor starts with the balloon empty */
	/* The device exists only with a non-zero balloon: (lib/mgmt/argv.c). */
	return b && strcmp(b, "0");
}

unsigned int vm_autoballoon_poll(struct vm_autoballoon *ab)
{
	struct ab_knobs k = load_knobs(ab);
	struct ab_input in = { .target_pct = k.target_pct, .max = ab->max };
	struct vk_err err = { 0 };
	char sock[PATH_MAX];
	struct qmpc *q = NULL;
	struct vm_def d;

	if (vm_load(ab->name, &d, NULL))
		return k.interval_ms;
	in.min = balloon_min(&d);
	vm_def_free(&d);
	if (!in.min || in.min >= in.max) {
		save_state(ab, &in, 0);
		return k.interval_ms;
	}
	if (host_memory(&in.host_total, &in.host_used)) {
		complain(ab->host_msg, "vmkit: autoballoon: /proc/meminfo: no MemTotal or MemAvailable");
		return k.interval_ms;
	}
	in.span_total = in.max - in.min + others_span(ab->name);
	if (!must_query(ab, &in))
		return k.interval_ms;
	ab->last_query_ns = vk_now_ns();
	if (qmpc_connect(mgmt_path(sock, "vms/%s/run/qmp.sock", ab->name), &q, &err) ||
	    ab_query_balloon(q, &in.actual, &in.target, &err)) {
		/* Before the first answer the monitor is still starting: nothing to say. */
		if (ab->answered)
			complain(ab->qmp_msg, "vmkit: autoballoon: %s", err.msg);
		qmpc_close(q);
		return k.interval_ms;
	}
	ab->answered = true;
	ab->qmp_msg[0] = 0;
	if (!handed_over(ab, &in))
		apply(ab, q, &in);
	qmpc_close(q);
	return k.interval_ms;
}
