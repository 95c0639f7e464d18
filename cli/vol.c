// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit vol: libvirt's vol-* commands on directory pools. A volume is named
 * "POOL NAME" or "POOL:NAME". The argument parsing and messages around
 * lib/mgmt/vol-ops.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm-cli.h"

static const char usage[] =
	"usage: vmkit vol create POOL NAME SIZE [--format qcow2|raw] [--backing POOL:VOL]\n"
	"       vmkit vol list POOL\n"
	"       vmkit vol info|path|delete|wipe VOL\n"
	"       vmkit vol resize VOL SIZE [--shrink]\n"
	"       vmkit vol clone VOL NEWNAME\n"
	"       vmkit vol upload VOL FILE | upload POOL FILE | download VOL FILE\n"
	"VOL is POOL:NAME (or POOL NAME). Sizes take K/M/G/T suffixes (bytes without).\n";

/* "POOL:NAME" or "POOL" "NAME": the ref, and how many arguments it took. */
static int vol_arg(int argc, char **argv, char *ref, size_t n)
{
	if (argc >= 1 && strchr(argv[0], ':')) {
		snprintf(ref, n, "%s", argv[0]);
		return 1;
	}
	if (argc >= 2) {
		snprintf(ref, n, "%s:%s", argv[0], argv[1]);
		return 2;
	}
	return 0;
}

static int vol_new(int argc, char **argv, struct vk_err *err)
{
	const char *format = "qcow2", *backing = NULL;
	char ref[PATH_MAX];
	uint64_t size = 0;
	int used = vol_arg(argc, argv, ref, sizeof(ref)), i, ret;
	size_t colon;

	if (!used || used >= argc)
		return vk_fail(err, -EINVAL, "vol create: expected POOL NAME SIZE");
	if (vk_parse_size(argv[used], 1, &size))
		return vk_fail(err, -EINVAL, "vol create: '%s' is not a size", argv[used]);
	for (i = used + 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			return vk_fail(err, -EINVAL, "vol create: %s needs a value", argv[i]);
		if (!strcmp(argv[i], "--format"))
			format = argv[i + 1];
		else if (!strcmp(argv[i], "--backing"))
			backing = argv[i + 1];
		else
			return vk_fail(err, -EINVAL, "vol create: unknown option '%s'", argv[i]);
	}
	colon = strcspn(ref, ":");
	ref[colon] = 0;
	ret = vol_create(ref, ref + colon + 1, format, size, backing, err);
	ref[colon] = ':';
	if (!ret)
		printf("Vol %s created\n", ref);
	return ret;
}

static int list(int argc, char **argv, struct vk_err *err)
{
	struct vol_info *vols;
	unsigned int n, i;
	int ret;

	if (argc != 1)
		return vk_fail(err, -EINVAL, "vol list: expected POOL");
	ret = vol_list(argv[0], &vols, &n, err);
	if (ret)
		return ret;
	printf("%-32s %-6s %12s  %s\n", "NAME", "FORMAT", "CAPACITY", "PATH");
	for (i = 0; i < n; i++)
		printf("%-32s %-6s %12llu  %s\n", vols[i].name, vols[i].format,
		       (unsigned long long)vols[i].virtual_size, vols[i].path);
	free(vols);
	return 0;
}

static int info(const char *ref, struct vk_err *err)
{
	struct vol_info v;
	int ret = vol_get_info(ref, &v, err);

	if (ret)
		return ret;
	printf("Name:           %s\nPath:           %s\nFormat:         %s\n", v.name, v.path,
	       v.format);
	printf("Capacity:       %llu bytes\n", (unsigned long long)v.virtual_size);
	printf("Allocation:     %lld bytes\n", (long long)v.allocation);
	if (v.backing[0])
		printf("Backing:        %s\n", v.backing);
	return 0;
}

static bool is_change(const char *op)
{
	return !strcmp(op, "delete") || !strcmp(op, "wipe") || !strcmp(op, "upload") ||
	       !strcmp(op, "resize");
}

static int vol_op(const char *op, int argc, char **argv, struct vk_err *err)
{
	char ref[PATH_MAX], file[PATH_MAX];
	int used = vol_arg(argc, argv, ref, sizeof(ref)), ret;
	char **rest = argv + used;
	int nrest = argc - used;

	/* upload POOL FILE: a new volume named as the file (an ISO brought to the pool). */
	if (!strcmp(op, "upload") && argc == 2 && !strchr(argv[0], ':')) {
		const char *base = strrchr(argv[1], '/');

		snprintf(ref, sizeof(ref), "%s:%s", argv[0], base ? base + 1 : argv[1]);
		return vol_upload(ref, argv[1], err);
	}
	if (!used)
		return vk_fail(err, -EINVAL, "vol %s: expected POOL:NAME", op);
	/* upload POOL:NAME FILE may make the volume. */
	if (!strcmp(op, "upload") && nrest == 1)
		return vol_upload(ref, rest[0], err);
	ret = vol_resolve(ref, true, file, err);
	if (ret)
		return ret;
	if (!strcmp(op, "path") && !nrest) {
		printf("%s\n", file);
		return 0;
	}
	if (!strcmp(op, "info") && !nrest)
		return info(ref, err);
	if (!strcmp(op, "delete") && !nrest)
		return vol_delete(ref, err);
	if (!strcmp(op, "wipe") && !nrest)
		return vol_wipe(ref, err);
	if (!strcmp(op, "upload") && nrest == 1)
		return vol_upload(ref, rest[0], err);
	if (!strcmp(op, "download") && nrest == 1)
		return vol_download(ref, rest[0], err);
	if (!strcmp(op, "resize") && (nrest == 1 || (nrest == 2 && !strcmp(rest[1], "--shrink"))))
		return vol_resize(ref, rest[0], nrest == 2, err);
	if (!strcmp(op, "clone") && nrest == 1)
		return vol_clone(ref, rest[0], err);
	/* Wrong arguments; but a volume in use (or a base) is what is reported first. */
	if (is_change(op)) {
		ret = vol_check_change(ref, op, file, err);
		if (ret)
			return ret;
	}
	if (!strcmp(op, "resize") && nrest == 2)
		return vk_fail(err, -EINVAL, "vol resize: unknown option '%s'", rest[1]);
	return vk_fail(err, -EINVAL, "vol %s: wrong arguments (see vmkit vol --help)", op);
}

static bool is_op(const char *op)
{
	static const char *const ops[] = { "info", "path", "delete", "wipe", "resize", "clone",
					   "upload", "download" };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ops); i++)
		if (!strcmp(op, ops[i]))
			return true;
	return false;
}

int cmd_vol(int argc, char **argv)
{
	struct vk_err err = { 0 };
	int ret;

	if (argc < 2 || mgmt_want_help(2, argv, usage))
		return argc < 2 ? mgmt_usage("vol", "expected a command (see --help)") : 0;
	ret = mgmt_lock(&err);
	if (!ret)
		ret = pool_ensure_default(&err);
	if (ret)
		return mgmt_report(&err);
	if (!strcmp(argv[1], "create"))
		ret = vol_new(argc - 2, argv + 2, &err);
	else if (!strcmp(argv[1], "list"))
		ret = list(argc - 2, argv + 2, &err);
	else if (is_op(argv[1]))
		ret = vol_op(argv[1], argc - 2, argv + 2, &err);
	else
		ret = vk_fail(&err, -EINVAL, "vol: unknown command '%s' (see --help)", argv[1]);
	if (!ret && strcmp(argv[1], "list") && strcmp(argv[1], "info") && strcmp(argv[1], "path") &&
	    strcmp(argv[1], "create"))
		printf("Vol %s: %s done\n", argc > 2 ? argv[2] : "", argv[1]);
	return ret ? mgmt_report(&err) : 0;
}
