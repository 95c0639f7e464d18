// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Pinning of a running VM (virsh vcpupin --live, seed 002's taskset): every
 * thread of the monitor to `affinity` (all online CPUs when unset), then each
 * vCPU named in `vcpupin` to its own list. vCPU thread IDs come from the
 * monitor's QMP query-cpus-fast, as libvirt finds them; the affinity itself
 * is the kernel's, set from outside, so the monitor takes no part in it.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/mgmt-ops.h"

#define MAX_PIN_VCPUS 64

static void to_set(uint64_t mask, cpu_set_t *set)
{
	unsigned int i;

	CPU_ZERO(set);
	for (i = 0; i < 64; i++)
		if (mask & (1ull << i))
			CPU_SET(i, set);
}

static int set_affinity(pid_t tid, uint64_t mask, const char *what, struct vk_err *err)
{
	cpu_set_t set;

	to_set(mask, &set);
	/* A thread that ended meanwhile (a finished I/O worker) needs no pinning. */
	if (sched_setaffinity(tid, sizeof(set), &set) < 0 && errno != ESRCH)
		return vk_fail(err, -errno, "%s (thread %d): cannot set its CPUs: %s", what,
			       (int)tid, strerror(errno));
	return 0;
}

static int online_cpus(uint64_t *mask, struct vk_err *err)
{
	static const char path[] = "/sys/devices/system/cpu/online";
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = vk_read_file(path, (void **)&text, &len, 4096);
	if (r)
		return vk_fail(err, r, "%s: %s", path, strerror(-r));
	text[strcspn(text, "\n")] = 0;
	/* More than 64 CPUs: the first 64, the most a config's lists can name. */
	if (mgmt_parse_cpulist(text, mask, 64) == -ERANGE)
		*mask = ~0ull;
	return 0;
}

static int pin_all_threads(pid_t pid, uint64_t mask, struct vk_err *err)
{
	char dir[64];
	struct dirent *e;
	DIR *d;
	int r = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (!d)
		return vk_fail(err, -errno, "%s: %s", dir, strerror(errno));
	while (!r && (e = readdir(d)))
		if (e->d_name[0] != '.')
			r = set_affinity(atoi(e->d_name), mask, "monitor", err);
	closedir(d);
	return r;
}

/* "0=0-1 1=2": each vCPU's thread to its list. */
static int pin_vcpus(const char *name, const char *pins, struct vk_err *err)
{
	pid_t tids[MAX_PIN_VCPUS] = { 0 };
	_cleanup_free_ char *copy = strdup(pins);
	char *tok, *save = NULL, what[32];
	struct qmpc *q;
	unsigned int n;
	uint64_t mask;
	int r;

	if (!copy)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vm_qmp(name, &q, err);
	if (r)
		return r;
	r = qmpc_vcpu_threads(q, tids, MAX_PIN_VCPUS, &n, err);
	qmpc_close(q);
	for (tok = strtok_r(copy, " ", &save); tok && !r; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		unsigned int v = (unsigned int)atoi(tok);

		/* The config was validated when it was written: "N=list" each. */
		if (!eq || mgmt_parse_cpulist(eq + 1, &mask, 64) < 0)
			continue;
		if (v >= n || !tids[v]) {
			r = vk_fail(err, -ENOENT, "vcpupin: the VM has no vCPU %u", v);
			break;
		}
		snprintf(what, sizeof(what), "vCPU %u", v);
		r = set_affinity(tids[v], mask, what, err);
	}
	return r;
}

int vm_pin_live(const struct vm_def *d, pid_t pid, struct vk_err *err)
{
	const char *aff = vm_def_get(d, "affinity"), *pins = vm_def_get(d, "vcpupin");
	uint64_t all;
	int r;

	r = aff ? mgmt_parse_cpulist(aff, &all, 64) : online_cpus(&all, err);
	if (r)
		return r < 0 && !err->code ? vk_fail(err, r, "affinity: '%s'", aff) : r;
	r = pin_all_threads(pid, all, err);
	if (!r && pins)
		r = pin_vcpus(d->name, pins, err);
	return r;
}
