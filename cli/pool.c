// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit pool: libvirt's pool-* commands for directory pools.
 *   define NAME --type dir --path DIR | list | info NAME | start NAME | stop NAME
 *   autostart NAME [--disable] | delete NAME | refresh NAME
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "vm-cli.h"

static const char usage[] =
	"usage: vmkit pool define NAME --type dir --path DIR\n"
	"       vmkit pool list | info NAME | start NAME | stop NAME | refresh NAME\n"
	"       vmkit pool autostart NAME [--disable] | delete NAME\n"
	"Storage pools: directories of volumes, named POOL:VOLUME in VM configs.\n"
	"The pool 'local' ($VMKIT_HOME/images) always exists.\n";

static int pool_define(int argc, char **argv, struct vk_err *err)
{
	struct pool_def p = { .type = "dir", .active = true };
	const char *type = NULL, *path = NULL;
	char real[PATH_MAX];
	struct stat st;
	int i, ret;

	if (argc < 2)
		return vk_fail(err, -EINVAL, "pool define: expected NAME --type dir --path DIR");
	for (i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--type"))
			type = argv[i + 1];
		else if (!strcmp(argv[i], "--path"))
			path = argv[i + 1];
		else
			break;
	}
	if (i != argc)
		return vk_fail(err, -EINVAL, "pool define: unexpected '%s'", argv[i]);
	if (!type || strcmp(type, "dir"))
		return vk_fail(err, -EINVAL, "pool define: --type %s: only 'dir' pools exist",
			       type ? type : "(missing)");
	if (!path)
		return vk_fail(err, -EINVAL, "pool define: --path DIR is required");
	ret = mgmt_check_name("pool", argv[1], err);
	if (ret)
		return ret;
	if (!realpath(path, real) || stat(real, &st) || !S_ISDIR(st.st_mode))
		return vk_fail(err, -ENOENT, "pool define: %s is not a directory", path);
	if (!pool_load(argv[1], &p, NULL))
		return vk_fail(err, -EEXIST, "pool '%s' already exists", argv[1]);
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", argv[1]);
	snprintf(p.type, sizeof(p.type), "dir");
	snprintf(p.path, sizeof(p.path), "%s", real);
	p.active = true;
	ret = pool_save(&p, err);
	if (!ret)
		printf("Pool %s defined (%s)\n", p.name, p.path);
	return ret;
}

static void count_vols(const char *dir, unsigned int *n, uint64_t *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];
	struct stat st;

	*n = 0;
	*bytes = 0;
	if (!d)
		return;
	while ((e = readdir(d))) {
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || stat(p, &st) || !S_ISREG(st.st_mode))
			continue;
		(*n)++;
		*bytes += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
}

static int pool_list(struct vk_err *err)
{
	char **names, **n;
	int ret = pool_list_names(&names, err);

	if (ret)
		return ret;
	printf("%-20s %-10s %-10s %s\n", "NAME", "STATE", "AUTOSTART", "PATH");
	for (n = names; *n; n++) {
		struct pool_def p;

		if (pool_load(*n, &p, NULL))
			continue;
		printf("%-20s %-10s %-10s %s\n", p.name, p.active ? "active" : "inactive",
		       p.autostart ? "yes" : "no", p.path);
	}
	mgmt_strv_free(names);
	return 0;
}

static int pool_info(const struct pool_def *p)
{
	struct statvfs vfs;
	unsigned int n;
	uint64_t used;

	count_vols(p->path, &n, &used);
	printf("Name:           %s\nType:           %s\nPath:           %s\n", p->name, p->type,
	       p->path);
	printf("State:          %s\nAutostart:      %s\nVolumes:        %u\n",
	       p->active ? "active" : "inactive", p->autostart ? "yes" : "no", n);
	printf("Allocation:     %.2f GiB\n", used / (double)GiB);
	if (!statvfs(p->path, &vfs)) {
		printf("Capacity:       %.2f GiB\n", (double)vfs.f_blocks * vfs.f_frsize / GiB);
		printf("Available:      %.2f GiB\n", (double)vfs.f_bavail * vfs.f_frsize / GiB);
	}
	return 0;
}

/* Is any VM's config naming a volume of this pool? */
static const char *pool_user(const char *pool, char *vm)
{
	char **names, **n, prefix[MGMT_NAME_MAX + 2];
	const char *found = NULL;

	snprintf(prefix, sizeof(prefix), "%s:", pool);
	if (vm_list_names(&names, NULL))
		return NULL;
	for (n = names; *n && !found; n++) {
		struct vm_def d;
		unsigned int i;

		if (vm_load(*n, &d, NULL))
			continue;
		for (i = 0; i < d.n && !found; i++)
			if (!strncmp(d.kv[i].key, "virtio", 6) &&
			    !strncmp(d.kv[i].val, prefix, strlen(prefix))) {
				snprintf(vm, MGMT_NAME_MAX, "%s", *n);
				found = vm;
			}
		vm_def_free(&d);
	}
	mgmt_strv_free(names);
	return found;
}

static int pool_change(const char *verb, struct pool_def *p, const char *arg,
		       struct vk_err *err)
{
	char vm[MGMT_NAME_MAX];

	if (!strcmp(verb, "start")) {
		p->active = true;
	} else if (!strcmp(verb, "stop")) {
		p->active = false;
	} else if (!strcmp(verb, "autostart")) {
		if (arg && strcmp(arg, "--disable"))
			return vk_fail(err, -EINVAL, "pool autostart: unknown option '%s'", arg);
		p->autostart = !arg;
	} else if (!strcmp(verb, "delete")) {
		if (!strcmp(p->name, "local"))
			return vk_fail(err, -EINVAL, "pool 'local' cannot be deleted");
		if (pool_user(p->name, vm))
			return vk_fail(err, -EBUSY, "pool '%s' holds volumes of VM '%s'", p->name, vm);
		/* As virsh pool-undefine: the directory and its files stay. */
		return pool_delete(p->name, err);
	} else {
		return vk_fail(err, -EINVAL, "pool: unknown command '%s' (see --help)", verb);
	}
	return pool_save(p, err);
}

int cmd_pool(int argc, char **argv)
{
	struct vk_err err = { 0 };
	struct pool_def p;
	int ret;

	if (argc < 2 || mgmt_want_help(2, argv, usage))
		return argc < 2 ? mgmt_usage("pool", "expected a command (see --help)") : 0;
	ret = mgmt_lock(&err);
	if (!ret)
		ret = pool_ensure_default(&err);
	if (ret)
		return mgmt_report(&err);
	if (!strcmp(argv[1], "define"))
		ret = pool_define(argc - 1, argv + 1, &err);
	else if (!strcmp(argv[1], "list"))
		ret = pool_list(&err);
	else if (argc < 3)
		ret = vk_fail(&err, -EINVAL, "pool %s: expected a pool NAME", argv[1]);
	else if ((ret = pool_load(argv[2], &p, &err)))
		;
	else if (!strcmp(argv[1], "info"))
		ret = pool_info(&p);
	else if (!strcmp(argv[1], "refresh"))
		ret = access(p.path, R_OK) ? vk_fail(&err, -ENOENT, "pool '%s': %s: %s", p.name,
						     p.path, strerror(errno)) : 0;
	else {
		ret = pool_change(argv[1], &p, argc > 3 ? argv[3] : NULL, &err);
		if (!ret)
			printf("Pool %s: %s done\n", argv[2], argv[1]);
	}
	return ret ? mgmt_report(&err) : 0;
}
