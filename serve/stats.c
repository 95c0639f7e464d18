// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Live figures, read from /proc as top and Proxmox's pvestatd do: a VM's
 * CPU use is its monitor process's (all vCPU threads) over the time since
 * the last look, memory its resident set, disk its storage I/O
 * (/proc/PID/io), network its tap devices' counters (the guest's receive
 * is the tap's transmit). No request to the monitor: listing 100 VMs
 * costs file reads only.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"

#define SEEN_MAX	256

/* The last look at each monitor, for CPU deltas. */
static struct {
	pid_t pid;
	unsigned long long ticks;
	uint64_t at_ns;
} seen[SEEN_MAX];

static unsigned long long proc_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	p = strrchr(buf, ')');	/* the name may hold spaces */
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
		return ut + st;
	return 0;
}

static double cpu_busy(pid_t pid, double uptime)
{
	unsigned long long t = proc_ticks(pid);
	uint64_t now = vk_now_ns();
	double hz = (double)sysconf(_SC_CLK_TCK), busy;
	unsigned int i, slot = (unsigned int)pid % SEEN_MAX;

	for (i = 0; i < SEEN_MAX && seen[slot].pid && seen[slot].pid != pid; i++)
		slot = (slot + 1) % SEEN_MAX;
	if (seen[slot].pid == pid && now > seen[slot].at_ns && t >= seen[slot].ticks)
		busy = (double)(t - seen[slot].ticks) / hz / ((double)(now - seen[slot].at_ns) / 1e9);
	else
		busy = uptime > 0 ? (double)t / hz / uptime : 0;
	seen[slot].pid = pid;
	seen[slot].ticks = t;
	seen[slot].at_ns = now;
	return busy;
}

/* A "Key:  value" number of a /proc file (kB lines scaled to bytes). */
static unsigned long long proc_field(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	unsigned long long v = 0;
	size_t n = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, n) || line[n] != ':')
			continue;
		v = strtoull(line + n + 1, NULL, 10);
		if (strstr(line, " kB"))
			v *= 1024;
		break;
	}
	fclose(f);
	return v;
}

static unsigned long long sys_counter(const char *ifname, const char *what)
{
	char path[128], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, what);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strtoull(buf, NULL, 10);
}

/* The monitor's taps (their fdinfo names them: "iff: vmtap0"). */
static void net_bytes(pid_t pid, unsigned long long *rx, unsigned long long *tx)
{
	char dir[64], path[320], line[128];
	struct dirent *e;
	DIR *d;

	*rx = *tx = 0;
	snprintf(dir, sizeof(dir), "/proc/%d/fdinfo", pid);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			char ifn[32];

			if (sscanf(line, "iff: %31s", ifn) == 1) {
				*rx += sys_counter(ifn, "tx_bytes");
				*tx += sys_counter(ifn, "rx_bytes");
			}
		}
		fclose(f);
	}
	closedir(d);
}

static void add_live(struct json_object *o, const struct vm_status *st, unsigned int vcpus)
{
	unsigned long long rx, tx;
	double busy;

	if (st->state != VM_RUNNING && st->state != VM_PAUSED)
		return;
	busy = cpu_busy(st->pid, st->uptime);
	json_object_object_add(o, "cpu", json_object_new_double(busy > vcpus ? vcpus : busy));
	json_object_object_add(o, "mem_bytes", json_object_new_int64(
		(int64_t)proc_field(st->pid, "status", "VmRSS")));
	json_object_object_add(o, "disk_read_bytes", json_object_new_int64(
		(int64_t)proc_field(st->pid, "io", "read_bytes")));
	json_object_object_add(o, "disk_write_bytes", json_object_new_int64(
		(int64_t)proc_field(st->pid, "io", "write_bytes")));
	net_bytes(st->pid, &rx, &tx);
	json_object_object_add(o, "net_rx_bytes", json_object_new_int64((int64_t)rx));
	json_object_object_add(o, "net_tx_bytes", json_object_new_int64((int64_t)tx));
}

const char *stats_state(enum vm_state s)
{
	/* One word, as API.md promises (the CLI prints virsh's "shut off"). */
	return s == VM_SHUTOFF ? "shutoff" : vm_state_name(s);
}

static bool def_flag(const struct vm_def *d, const char *key)
{
	const char *v = vm_def_get(d, key);

	return v && (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "true"));
}

struct json_object *stats_vm(const char *name)
{
	struct json_object *o = json_object_new_object();
	struct vk_err err = { 0 };
	struct vm_status st;
	struct vm_def d = { 0 };
	const char *desc;

	json_object_object_add(o, "name", json_object_new_string(name));
	if (vm_load(name, &d, &err)) {
		/* A definition that does not parse is listed, marked, never dropped. */
		json_object_object_add(o, "state", json_object_new_string("broken"));
		json_object_object_add(o, "error", json_object_new_string(err.msg));
		return o;
	}
	vm_status_get(name, &st);
	json_object_object_add(o, "state", json_object_new_string(stats_state(st.state)));
	json_object_object_add(o, "pid", st.pid ? json_object_new_int(st.pid) : NULL);
	json_object_object_add(o, "uptime", st.pid ? json_object_new_double(st.uptime) : NULL);
	json_object_object_add(o, "vcpus", json_object_new_int((int)vm_def_vcpus(&d)));
	json_object_object_add(o, "memory_mib", json_object_new_int64((int64_t)vm_def_memory_mib(&d)));
	json_object_object_add(o, "template", json_object_new_boolean(def_flag(&d, "template")));
	json_object_object_add(o, "onboot", json_object_new_boolean(def_flag(&d, "onboot")));
	desc = vm_def_get(&d, "description");
	json_object_object_add(o, "description", json_object_new_string(desc ? desc : ""));
	if (st.reason[0])
		json_object_object_add(o, "reason", json_object_new_string(st.reason));
	add_live(o, &st, vm_def_vcpus(&d));
	vm_def_free(&d);
	return o;
}

/* Busy fraction of all CPUs since the last call (the first: since boot). */
static double host_busy(void)
{
	static unsigned long long last_total, last_idle;
	unsigned long long v[8] = { 0 }, total = 0, idle;
	double busy = 0;
	FILE *f = fopen("/proc/stat", "re");
	int i;

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) != 8)
		v[0] = 0;
	fclose(f);
	for (i = 0; i < 8; i++)
		total += v[i];
	idle = v[3] + v[4];
	if (total > last_total)
		busy = 1.0 - (double)(idle - last_idle) / (double)(total - last_total);
	last_total = total;
	last_idle = idle;
	return busy < 0 ? 0 : busy;
}

struct json_object *stats_node(void)
{
	struct json_object *o = json_object_new_object(), *mem = json_object_new_object();
	struct json_object *load = json_object_new_array();
	struct sysinfo si;
	struct utsname u;
	char host[256] = "";
	int i;

	gethostname(host, sizeof(host) - 1);
	uname(&u);
	sysinfo(&si);
	json_object_object_add(o, "hostname", json_object_new_string(host));
	json_object_object_add(o, "kernel", json_object_new_string(u.release));
	json_object_object_add(o, "cpus", json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_object_add(o, "cpu", json_object_new_double(host_busy()));
	for (i = 0; i < 3; i++)
		json_object_array_add(load, json_object_new_double(si.loads[i] / 65536.0));
	json_object_object_add(o, "loadavg", load);
	json_object_object_add(mem, "total", json_object_new_int64((int64_t)si.totalram * si.mem_unit));
	json_object_object_add(mem, "free", json_object_new_int64((int64_t)si.freeram * si.mem_unit));
	json_object_object_add(mem, "used", json_object_new_int64(
		(int64_t)(si.totalram - si.freeram - si.bufferram) * si.mem_unit));
	json_object_object_add(o, "memory", mem);
	json_object_object_add(o, "uptime", json_object_new_int64(si.uptime));
	json_object_object_add(o, "kvm", json_object_new_boolean(access("/dev/kvm", R_OK | W_OK) == 0));
	json_object_object_add(o, "version", json_object_new_string(VMKIT_VERSION));
	return o;
}
