// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Each VM in its own cgroup, "vmkit/NAME": CPU limit (cpulimit, a number of
 * CPUs, as Proxmox), CPU weight (cpuunits, Proxmox's scale where 1024 is
 * the default) and memory hard and soft limits (libvirt's memtune).
 *
 * Two backends behind one ops table: cgroup v2 (cpu.max, cpu.weight,
 * memory.max, memory.high) where the unified hierarchy has the cpu and
 * memory controllers, else v1 (cpu.cfs_quota_us, cpu.shares,
 * memory.limit_in_bytes, memory.soft_limit_in_bytes), which hybrid hosts
 * such as this project's CI still mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmkit/mgmt.h"

#define CFS_PERIOD_US	100000

/*
 * Where the cgroup file systems are mounted: /sys/fs/cgroup, or
 * $VMKIT_CGROUP_ROOT (a host or container that mounts them elsewhere, and
 * the unit test of the v2 backend on hosts, like this project's CI, whose
 * cpu and memory controllers sit in v1).
 */
static const char *cg_root(void)
{
	const char *r = getenv("VMKIT_CGROUP_ROOT");

	return r && *r ? r : "/sys/fs/cgroup";
}

struct cg_ops {
	const char *name;
	bool (*usable)(void);
	int (*setup)(const char *vm, const struct cg_limits *l, struct vk_err *err);
	int (*attach)(const char *vm, pid_t pid, struct vk_err *err);
	void (*remove)(const char *vm);
};

static int cg_write(const char *dir, const char *file, const char *val, struct vk_err *err)
{
	char p[PATH_MAX];
	int fd, ret = 0;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return vk_fail(err, -errno, "%s: %s", p, strerror(errno));
	if (write(fd, val, strlen(val)) < 0)
		ret = vk_fail(err, -errno, "%s: cannot write '%s': %s", p, val, strerror(errno));
	close(fd);
	return ret;
}

static int cg_mkdir(const char *p, struct vk_err *err)
{
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return vk_fail(err, -errno, "%s: %s", p, strerror(errno));
	return 0;
}

/* ---- v2 ---- */

static bool v2_usable(void)
{
	_cleanup_free_ char *c = NULL;
	char p[PATH_MAX];
	size_t len;

	snprintf(p, sizeof(p), "%s/cgroup.controllers", cg_root());
	if (vk_read_file(p, (void **)&c, &len, 4096))
		return false;
	return strstr(c, "cpu") && strstr(c, "memory");
}

static int v2_setup(const char *vm, const struct cg_limits *l, struct vk_err *err)
{
	char parent[PATH_MAX], dir[PATH_MAX], v[64];
	int ret;

	snprintf(parent, sizeof(parent), "%s/vmkit", cg_root());
	ret = cg_mkdir(parent, err);
	if (!ret)
		ret = cg_write(cg_root(), "cgroup.subtree_control", "+cpu +memory", err);
	if (!ret)
		ret = cg_write(parent, "cgroup.subtree_control", "+cpu +memory", err);
	snprintf(dir, sizeof(dir), "%s/%s", parent, vm);
	if (!ret)
		ret = cg_mkdir(dir, err);
	if (l->cpulimit > 0)
		snprintf(v, sizeof(v), "%llu %d",
			 (unsigned long long)(l->cpulimit * CFS_PERIOD_US), CFS_PERIOD_US);
	else
		snprintf(v, sizeof(v), "max %d", CFS_PERIOD_US);
	if (!ret)
		ret = cg_write(dir, "cpu.max", v, err);
	/* cpu.weight's default is 100 where Proxmox's cpuunits' is 1024: scale, so equal means equal. */
	snprintf(v, sizeof(v), "%u", MAX(1u, MIN(10000u, l->cpuunits * 100 / 1024)));
	if (!ret)
		ret = cg_write(dir, "cpu.weight", v, err);
	snprintf(v, sizeof(v), l->mem_hard ? "%llu" : "max", (unsigned long long)l->mem_hard);
	if (!ret)
		ret = cg_write(dir, "memory.max", v, err);
	snprintf(v, sizeof(v), l->mem_soft ? "%llu" : "max", (unsigned long long)l->mem_soft);
	if (!ret)
		ret = cg_write(dir, "memory.high", v, err);
	return ret;
}

static int v2_attach(const char *vm, pid_t pid, struct vk_err *err)
{
	char dir[PATH_MAX], v[32];

	snprintf(dir, sizeof(dir), "%s/vmkit/%s", cg_root(), vm);
	snprintf(v, sizeof(v), "%d", (int)pid);
	return cg_write(dir, "cgroup.procs", v, err);
}

static void v2_remove(const char *vm)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/vmkit/%s", cg_root(), vm);
	rmdir(dir);
}

/* ---- v1 ---- */

static bool v1_usable(void)
{
	char cpu[PATH_MAX], mem[PATH_MAX];

	snprintf(cpu, sizeof(cpu), "%s/cpu/cpu.shares", cg_root());
	snprintf(mem, sizeof(mem), "%s/memory/memory.limit_in_bytes", cg_root());
	return !access(cpu, F_OK) && !access(mem, F_OK);
}

static int v1_dir(const char *ctrl, const char *vm, char *dir, struct vk_err *err)
{
	char parent[PATH_MAX];
	int ret;

	snprintf(parent, sizeof(parent), "%s/%s/vmkit", cg_root(), ctrl);
	snprintf(dir, PATH_MAX, "%s/%s", parent, vm);
	ret = cg_mkdir(parent, err);
	return ret ? ret : cg_mkdir(dir, err);
}

static int v1_setup(const char *vm, const struct cg_limits *l, struct vk_err *err)
{
	char cpu[PATH_MAX], mem[PATH_MAX], v[64];
	int ret;

	ret = v1_dir("cpu", vm, cpu, err);
	if (!ret)
		ret = v1_dir("memory", vm, mem, err);
	snprintf(v, sizeof(v), "%d", CFS_PERIOD_US);
	if (!ret)
		ret = cg_write(cpu, "cpu.cfs_period_us", v, err);
	if (l->cpulimit > 0)
		snprintf(v, sizeof(v), "%llu", (unsigned long long)(l->cpulimit * CFS_PERIOD_US));
	else
		snprintf(v, sizeof(v), "-1");
	if (!ret)
		ret = cg_write(cpu, "cpu.cfs_quota_us", v, err);
	/* v1's shares default to 1024, the same scale as cpuunits. */
	snprintf(v, sizeof(v), "%u", MAX(2u, l->cpuunits));
	if (!ret)
		ret = cg_write(cpu, "cpu.shares", v, err);
	snprintf(v, sizeof(v), l->mem_hard ? "%llu" : "-1", (unsigned long long)l->mem_hard);
	if (!ret)
		ret = cg_write(mem, "memory.limit_in_bytes", v, err);
	snprintf(v, sizeof(v), l->mem_soft ? "%llu" : "-1", (unsigned long long)l->mem_soft);
	if (!ret)
		ret = cg_write(mem, "memory.soft_limit_in_bytes", v, err);
	return ret;
}

static int v1_attach(const char *vm, pid_t pid, struct vk_err *err)
{
	static const char *const ctrls[] = { "cpu", "memory" };
	char dir[PATH_MAX], v[32];
	unsigned int i;
	int ret = 0;

	snprintf(v, sizeof(v), "%d", (int)pid);
	for (i = 0; i < ARRAY_SIZE(ctrls) && !ret; i++) {
		snprintf(dir, sizeof(dir), "%s/%s/vmkit/%s", cg_root(), ctrls[i], vm);
		ret = cg_write(dir, "cgroup.procs", v, err);
	}
	return ret;
}

static void v1_remove(const char *vm)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/cpu/vmkit/%s", cg_root(), vm);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/memory/vmkit/%s", cg_root(), vm);
	rmdir(dir);
}

static const struct cg_ops cg_backends[] = {
	{ "v2", v2_usable, v2_setup, v2_attach, v2_remove },
	{ "v1", v1_usable, v1_setup, v1_attach, v1_remove },
};

static const struct cg_ops *cg_backend(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cg_backends); i++)
		if (cg_backends[i].usable())
			return &cg_backends[i];
	return NULL;
}

const char *cg_version(void)
{
	const struct cg_ops *o = cg_backend();

	return o ? o->name : "none";
}

int cg_setup(const char *vm, const struct cg_limits *l, struct vk_err *err)
{
	const struct cg_ops *o = cg_backend();

	if (!o)
		return vk_fail(err, -ENOTSUP,
			       "no cgroup with the cpu and memory controllers under %s", cg_root());
	return o->setup(vm, l, err);
}

int cg_attach(const char *vm, pid_t pid, struct vk_err *err)
{
	const struct cg_ops *o = cg_backend();

	return o ? o->attach(vm, pid, err) : vk_fail(err, -ENOTSUP, "no usable cgroup");
}

void cg_remove(const char *vm)
{
	const struct cg_ops *o = cg_backend();

	if (o)
		o->remove(vm);
}
