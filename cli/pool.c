// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit pool: libvirt's pool-* commands for directory pools.
 *   define NAME --type dir --path DIR | list | info NAME | start NAME | stop NAME
 *   autostart NAME [--disable] | delete NAME | refresh NAME
 * The argument parsing and messages around lib/mgmt/pool-ops.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm-cli.h"

static const char usage[] =
	"usage: vmkit pool define NAME --type dir --path DIR\n"
	"       vmkit pool list | info NAME | start NAME | stop NAME | refresh NAME\n"
	"       vmkit pool autostart NAME [--disable] | delete NAME\n"
	"Storage pools: directories of volumes, named POOL:VOLUME in VM configs.\n"
	"The pool 'local' ($VMKIT_HOME/images) always exists.\n";

static int define(int argc, char **argv, struct vk_err *err)
{
	const char *type = NULL, *path = NULL;
	struct pool_def p;
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
	ret = pool_define(argv[1], type, path, err);
	if (!ret && !pool_load(argv[1], &p, NULL))
		printf("Pool %s defined (%s)\n", p.name, p.path);
	return ret;
}

static int list(struct vk_err *err)
{
	struct pool_info *pools;
	unsigned int n, i;
	int ret = pool_list(&pools, &n, err);

	if (ret)
		return ret;
	printf("%-20s %-10s %-10s %s\n", "NAME", "STATE", "AUTOSTART", "PATH");
	for (i = 0; i < n; i++) {
		const struct pool_def *p = &pools[i].def;

		printf("%-20s %-10s %-10s %s\n", p->name, p->active ? "active" : "inactive",
		       p->autostart ? "yes" : "no", p->path);
	}
	free(pools);
	return 0;
}

static int info(const char *name, struct vk_err *err)
{
	const struct pool_def *p;
	struct pool_info in;
	int ret = pool_get_info(name, &in, err);

	if (ret)
		return ret;
	p = &in.def;
	printf("Name:           %s\nType:           %s\nPath:           %s\n", p->name, p->type,
	       p->path);
	printf("State:          %s\nAutostart:      %s\nVolumes:        %u\n",
	       p->active ? "active" : "inactive", p->autostart ? "yes" : "no", in.volumes);
	printf("Allocation:     %.2f GiB\n", in.allocation / (double)GiB);
	if (in.have_fs) {
		printf("Capacity:       %.2f GiB\n", in.capacity / (double)GiB);
		printf("Available:      %.2f GiB\n", in.available / (double)GiB);
	}
	return 0;
}

static int change(const char *verb, const char *name, const char *arg, struct vk_err *err)
{
	int ret;

	if (!strcmp(verb, "start")) {
		ret = pool_start(name, err);
	} else if (!strcmp(verb, "stop")) {
		ret = pool_stop(name, err);
	} else if (!strcmp(verb, "autostart")) {
		if (arg && strcmp(arg, "--disable"))
			return vk_fail(err, -EINVAL, "pool autostart: unknown option '%s'", arg);
		ret = pool_set_autostart(name, !arg, err);
	} else if (!strcmp(verb, "delete")) {
		ret = pool_undefine(name, err);
	} else {
		return vk_fail(err, -EINVAL, "pool: unknown command '%s' (see --help)", verb);
	}
	if (!ret)
		printf("Pool %s: %s done\n", name, verb);
	return ret;
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
		ret = define(argc - 1, argv + 1, &err);
	else if (!strcmp(argv[1], "list"))
		ret = list(&err);
	else if (argc < 3)
		ret = vk_fail(&err, -EINVAL, "pool %s: expected a pool NAME", argv[1]);
	/* The pool is named before the command: a missing pool is what is reported. */
	else if ((ret = pool_load(argv[2], &p, &err)))
		;
	else if (!strcmp(argv[1], "info"))
		ret = info(argv[2], &err);
	else if (!strcmp(argv[1], "refresh"))
		ret = pool_refresh(argv[2], &err);
	else
		ret = change(argv[1], argv[2], argc > 3 ? argv[3] : NULL, &err);
	return ret ? mgmt_report(&err) : 0;
}
