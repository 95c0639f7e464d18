// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit run's resource options, checked against the host before anything
 * starts: hugepage sizes the kernel offers, NUMA nodes that exist, CPUs
 * that are online and allowed. The spelling follows QEMU's memory-backend
 * properties (prealloc, host-nodes, policy, merge) so that a libvirt
 * <memoryBacking>/<numatune> or Proxmox hugepages/numa setting maps onto it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "run-resources.h"
#include "vmkit/util.h"

#define HUGETLBFS_MAGIC 0x958458f6
#define CPU_ONLINE "/sys/devices/system/cpu/online"
#define NODE_ONLINE "/sys/devices/system/node/online"
#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
#define MAX_VCPU_INDEX 1024

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vk_vmsg(fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int switch_kv(const char *key, const char *val, enum vk_switch *out)
{
	if (!strcmp(val, "on") || !strcmp(val, "true") || !strcmp(val, "1"))
		*out = SWITCH_ON;
	else if (!strcmp(val, "off") || !strcmp(val, "false") || !strcmp(val, "0"))
		*out = SWITCH_OFF;
	else
		return bad("--memory: %s=%s: expected on or off", key, val);
	return 0;
}

/* The host's default hugepage size ("Hugepagesize:" in /proc/meminfo). */
static uint64_t default_hugepage_size(void)
{
	unsigned long kb = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 2 * MiB;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb ? kb * KiB : 2 * MiB;
}

static int hugepages_kv(struct mem_backing *m, const char *key, const char *val)
{
	enum vk_switch on;

	if (!strcmp(val, "on") || !strcmp(val, "off")) {
		switch_kv(key, val, &on);
		m->hugepage_size = on == SWITCH_ON ? default_hugepage_size() : 0;
		return 0;
	}
	if (vk_parse_size(val, 1, &m->hugepage_size) || m->hugepage_size < 4096 ||
	    (m->hugepage_size & (m->hugepage_size - 1)))
		return bad("--memory: %s=%s: expected a page size such as 2M or 1G", key, val);
	return 0;
}

static int policy_kv(struct mem_backing *m, const char *val)
{
	static const char *const names[] = {
		[MEM_POLICY_DEFAULT] = "default", [MEM_POLICY_BIND] = "bind",
		[MEM_POLICY_PREFERRED] = "preferred", [MEM_POLICY_INTERLEAVE] = "interleave",
	};
	unsigned int i;

	/* libvirt's numatune spells bind "strict". */
	if (!strcmp(val, "strict"))
		val = "bind";
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(val, names[i])) {
			m->policy = i;
			return 0;
		}
	return bad("--memory: policy=%s: expected bind, preferred, interleave or default", val);
}

static int memory_kv(void *opaque, const char *key, const char *val)
{
	struct mem_backing *m = opaque;
	enum vk_switch sw;
	int r;

	if (!strcmp(key, "hugepages") || !strcmp(key, "hugetlbsize"))
		return hugepages_kv(m, key, val);
	if (!strcmp(key, "mem-path")) {
		if (!*val)
			return bad("--memory: mem-path= needs a directory");
		m->mem_path = strdup(val);
		return 0;
	}
	if (!strcmp(key, "prealloc")) {
		r = switch_kv(key, val, &sw);
		m->prealloc = sw == SWITCH_ON;
		return r;
	}
	if (!strcmp(key, "thp"))
		return switch_kv(key, val, &m->thp);
	if (!strcmp(key, "merge"))
		return switch_kv(key, val, &m->merge);
	if (!strcmp(key, "policy"))
		return policy_kv(m, val);
	if (!strcmp(key, "host-nodes")) {
		r = vk_parse_list(val, m->host_nodes, VM_MAX_HOST_NODES);
		if (r)
			return bad("--memory: host-nodes=%s: %s", val,
				   r == -ERANGE ? "node number too large" :
				   "expected a node list such as 0 or 0-1");
		return 0;
	}
	return bad("--memory: unknown option '%s' (hugepages, mem-path, prealloc, thp, merge, policy, host-nodes)",
		   key);
}

int run_parse_memory_backing(struct vm_config *c, const char *arg, const char *opts)
{
	return vk_parse_kv(opts, memory_kv, &c->mem) ? -EINVAL : 0;
}

/* A comma-free copy of a list file, for messages. */
static const char *list_text(const char *path, char *buf, size_t len)
{
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	if (n <= 0)
		return "none";
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return buf;
}

static int check_nodes(const struct mem_backing *m, const char *arg)
{
	unsigned long online[VM_MAX_HOST_NODES / VK_BITS_PER_LONG] = { 0 };
	unsigned int n, count = 0;
	char text[256];

	if (m->policy == MEM_POLICY_DEFAULT) {
		for (n = 0; n < VM_MAX_HOST_NODES; n++)
			count += vk_bit_test(m->host_nodes, n);
		return count ? bad("--memory %s: host-nodes= needs policy=bind, preferred or interleave",
				   arg) : 0;
	}
	if (vk_read_list_file(NODE_ONLINE, online, VM_MAX_HOST_NODES))
		return bad("--memory %s: the host kernel has no NUMA support (%s)", arg, NODE_ONLINE);
	for (n = 0; n < VM_MAX_HOST_NODES; n++) {
		if (!vk_bit_test(m->host_nodes, n))
			continue;
		count++;
		if (!vk_bit_test(online, n))
			return bad("--memory %s: host node %u does not exist (online nodes: %s)", arg, n,
				   list_text(NODE_ONLINE, text, sizeof(text)));
	}
	return count ? 0 : bad("--memory %s: policy= needs host-nodes=LIST", arg);
}

/* The page size of a hugetlbfs mem-path (0 on other file systems), checked against hugepages=. */
static int check_mem_path(struct mem_backing *m, const char *arg)
{
	struct statfs sf;
	struct stat st;

	if (stat(m->mem_path, &st) < 0)
		return bad("--memory %s: mem-path=%s: %s", arg, m->mem_path, strerror(errno));
	if (!S_ISDIR(st.st_mode) || statfs(m->mem_path, &sf) < 0)
		return bad("--memory %s: mem-path=%s: not a directory", arg, m->mem_path);
	if (sf.f_type != HUGETLBFS_MAGIC)
		return m->hugepage_size ?
		       bad("--memory %s: mem-path=%s: not a hugetlbfs mount", arg, m->mem_path) : 0;
	if (m->hugepage_size && m->hugepage_size != (uint64_t)sf.f_bsize)
		return bad("--memory %s: mem-path=%s is a hugetlbfs mount of %llu kB pages, not %llu kB",
			   arg, m->mem_path, (unsigned long long)sf.f_bsize / KiB,
			   (unsigned long long)(m->hugepage_size / KiB));
	m->hugepage_size = sf.f_bsize;
	return 0;
}

static int check_hugepages(const struct mem_backing *m, uint64_t size, const char *arg)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%llukB",
		 (unsigned long long)(m->hugepage_size / KiB));
	if (access(path, F_OK))
		return bad("--memory %s: the host has no %llu kB hugepages (no %s)", arg,
			   (unsigned long long)(m->hugepage_size / KiB), path);
	if (size % m->hugepage_size)
		return bad("--memory %s: the size is not a multiple of the %llu kB hugepage size", arg,
			   (unsigned long long)(m->hugepage_size / KiB));
	if (m->thp == SWITCH_ON)
		return bad("--memory %s: thp=on has no meaning on hugetlb pages", arg);
	return 0;
}

static bool thp_disabled(void)
{
	char buf[128];
	const char *t = list_text(THP_ENABLED, buf, sizeof(buf));

	return !strcmp(t, "none") || strstr(t, "[never]");
}

int run_check_memory_backing(struct vm_config *c, uint64_t size, const char *arg)
{
	struct mem_backing *m = &c->mem;

	if (m->mem_path && check_mem_path(m, arg))
		return -EINVAL;
	if (m->hugepage_size && check_hugepages(m, size, arg))
		return -EINVAL;
	/* KSM only merges anonymous private memory: say so rather than do nothing. */
	if (m->merge == SWITCH_ON && (m->hugepage_size || m->mem_path))
		return bad("--memory %s: merge=on: KSM cannot merge hugetlb or file-backed memory", arg);
	if (m->thp == SWITCH_ON && !m->mem_path && thp_disabled())
		return bad("--memory %s: thp=on, but transparent hugepages are disabled on this host (%s: never)",
			   arg, THP_ENABLED);
	return check_nodes(m, arg);
}

/* A CPU list into a new cpu_set_t, every CPU online and allowed for this process. */
static int parse_cpus(const char *opt, const char *list, cpu_set_t *set)
{
	unsigned long bits[CPU_SETSIZE / VK_BITS_PER_LONG] = { 0 };
	unsigned long online[CPU_SETSIZE / VK_BITS_PER_LONG] = { 0 };
	cpu_set_t allowed;
	char text[256];
	unsigned int i;
	int r;

	r = vk_parse_list(list, bits, CPU_SETSIZE);
	if (r)
		return bad("%s%s: %s", opt, list, r == -ERANGE ? "CPU number too large" :
			   "expected a CPU list such as 0-3,6");
	if (vk_read_list_file(CPU_ONLINE, online, CPU_SETSIZE))
		return bad("%s%s: cannot read %s", opt, list, CPU_ONLINE);
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		CPU_ZERO(&allowed);
	CPU_ZERO(set);
	for (i = 0; i < CPU_SETSIZE; i++) {
		if (!vk_bit_test(bits, i))
			continue;
		if (!vk_bit_test(online, i))
			return bad("%s%s: CPU %u is not online on this host (online: %s)", opt, list,
				   i, list_text(CPU_ONLINE, text, sizeof(text)));
		if (!CPU_ISSET(i, &allowed))
			return bad("%s%s: CPU %u is not in this process's allowed CPUs (cpuset)",
				   opt, list, i);
		CPU_SET(i, set);
	}
	return 0;
}

static int parse_cpu_set(const char *opt, const char *arg, cpu_set_t **out)
{
	cpu_set_t *set = *out ? *out : malloc(sizeof(*set));

	if (!set)
		return bad("%sout of memory", opt);
	*out = set;
	return parse_cpus(opt, arg, set);
}

int run_parse_cpu_affinity(struct vm_config *c, const char *arg)
{
	return parse_cpu_set("--cpu-affinity ", arg, &c->cpu_affinity);
}

int run_parse_io_affinity(struct vm_config *c, const char *arg)
{
	return parse_cpu_set("--io-affinity ", arg, &c->io_affinity);
}

/* Room for vCPU index i in c->vcpu_affinity; new entries are empty (not pinned). */
static int grow_vcpu_sets(struct vm_config *c, unsigned int i)
{
	cpu_set_t *p;

	if (i < c->nr_vcpu_affinity)
		return 0;
	p = realloc(c->vcpu_affinity, (i + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + c->nr_vcpu_affinity, 0, (i + 1 - c->nr_vcpu_affinity) * sizeof(*p));
	c->vcpu_affinity = p;
	c->nr_vcpu_affinity = i + 1;
	return 0;
}

/* One "VCPU=CPUS" assignment; CPUS is the text up to the next "N=" item. */
static int vcpu_assign(struct vm_config *c, const char *arg, const char *item, size_t len)
{
	char buf[512], opt[48];
	const char *eq;
	cpu_set_t set;
	uint64_t v;

	if (len >= sizeof(buf))
		return bad("--vcpu-affinity %s: too long", arg);
	memcpy(buf, item, len);
	buf[len] = '\0';
	eq = strchr(buf, '=');
	if (!eq)
		return bad("--vcpu-affinity %s: '%s' has no vCPU number and '='", arg, buf);
	buf[eq - buf] = '\0';
	if (vk_parse_uint(buf, 0, MAX_VCPU_INDEX - 1, &v))
		return bad("--vcpu-affinity %s: '%s' is not a vCPU number", arg, buf);
	snprintf(opt, sizeof(opt), "--vcpu-affinity %.16s=", buf);
	if (parse_cpus(opt, eq + 1, &set))
		return -EINVAL;
	if (grow_vcpu_sets(c, v))
		return bad("--vcpu-affinity: out of memory");
	c->vcpu_affinity[v] = set;
	return 0;
}

/*
 * "0=0-1,1=1" or, since CPU lists have commas of their own, "0=0,2,1=3":
 * an item without '=' continues the previous vCPU's list.
 */
int run_parse_vcpu_affinity(struct vm_config *c, const char *arg)
{
	const char *start = arg, *p, *next;

	if (!strchr(arg, '='))
		return bad("--vcpu-affinity %s: expected VCPU=CPUS[,VCPU=CPUS...] (e.g. 0=0-1,1=1)",
			   arg);
	for (p = arg;; p = next) {
		/* Find the end of this assignment: a comma followed by an item with '='. */
		next = strchr(p, ',');
		while (next && !memchr(next + 1, '=', strcspn(next + 1, ",")))
			next = strchr(next + 1, ',');
		if (vcpu_assign(c, arg, start, next ? (size_t)(next - start) : strlen(start)))
			return -EINVAL;
		if (!next)
			return 0;
		start = ++next;
	}
}

int run_check_affinity(const struct vm_config *c)
{
	unsigned int i;

	for (i = c->cpus; i < c->nr_vcpu_affinity; i++)
		if (CPU_COUNT(&c->vcpu_affinity[i]))
			return bad("--vcpu-affinity: vCPU %u does not exist (the VM has %u vCPU%s)", i,
				   c->cpus, c->cpus == 1 ? "" : "s");
	return 0;
}

int run_apply_io_affinity(struct vm_config *c)
{
	static cpu_set_t own;

	if (!c->io_affinity)
		return 0;
	/* Threads inherit the main thread's mask: vCPUs without a pin keep the original one. */
	if (sched_getaffinity(0, sizeof(own), &own) == 0 && !c->cpu_affinity)
		c->cpu_affinity = &own;
	if (sched_setaffinity(0, sizeof(*c->io_affinity), c->io_affinity))
		return bad("--io-affinity: sched_setaffinity: %s", strerror(errno));
	return 0;
}
