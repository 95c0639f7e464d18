// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * clone, snapshot and template: the argument parsing and messages around
 * vm_clone, vm_snapshot_* and vm_template (lib/mgmt).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "img.h"
#include "vm-cli.h"

int cmd_clone(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit clone NAME NEWNAME [--linked]\n"
		"Copy a shut-off VM: its config (new name, new MACs) and its disks, fully or,\n"
		"with --linked, as qcow2 overlays on the source's images (which must then stay).\n";
	bool linked = argc == 4 && !strcmp(argv[3], "--linked");
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 3 && !linked)
		return mgmt_usage("clone", "expected NAME NEWNAME [--linked]");
	if (mgmt_lock(&err) || vm_clone(argv[1], argv[2], linked, &err))
		return mgmt_report(&err);
	printf("VM %s cloned to %s%s\n", argv[1], argv[2], linked ? " (linked)" : "");
	return 0;
}

/* qemu-img's table of each disk's snapshots, under "virtioN (REF):". */
static int snapshot_list(const char *name)
{
	struct vk_err err = { 0 };
	struct vm_def d;
	unsigned int i;
	int rc = 0;

	if (mgmt_lock(&err) || vm_load(name, &d, &err))
		return mgmt_report(&err);
	for (i = 0; i < d.n && !rc; i++) {
		struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING };
		char ref[PATH_MAX], file[PATH_MAX];
		const char *v = d.kv[i].val;
		struct vk_blk *bs;

		if (!vm_disk_entry(d.kv[i].key, v))
			continue;
		snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(v, ","), v);
		if (vol_resolve(ref, true, file, &err) || vk_blk_open(file, &o, &bs, &err)) {
			rc = mgmt_report(&err);
			break;
		}
		printf("%s (%s):\n", d.kv[i].key, ref);
		img_print_snapshots(bs);
		vk_blk_close(bs);
	}
	vm_def_free(&d);
	return rc;
}

int cmd_snapshot(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit snapshot create NAME SNAPSHOT [--memory]\n"
		"       vmkit snapshot revert|delete NAME SNAPSHOT\n"
		"       vmkit snapshot list NAME\n"
		"Internal snapshots of every qcow2 disk (qemu-img snapshot). Of a running VM its\n"
		"monitor takes them, paused for the moment; --memory also keeps its RAM, and a\n"
		"revert of that snapshot starts the VM from it. Revert and delete: shut off.\n";
	static const struct {
		const char *verb;
		int (*op)(const char *name, const char *snap, struct vk_err *err);
	} ops[] = {
		{ "create", vm_snapshot_create }, { "revert", vm_snapshot_revert },
		{ "delete", vm_snapshot_delete }, { "list", NULL },
	};
	bool list = argc == 3 && !strcmp(argv[1], "list"), memory = false;
	struct vk_err err = { 0 };
	unsigned int i, op = ARRAY_SIZE(ops);

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc == 5 && !strcmp(argv[1], "create") && !strcmp(argv[4], "--memory")) {
		memory = true;
		argc--;
	}
	for (i = 0; argc > 1 && i < ARRAY_SIZE(ops); i++)
		if (!strcmp(argv[1], ops[i].verb))
			op = i;
	/* "list NAME X" once ran `img snapshot -l X FILE`, which failed: now a usage error. */
	if (op == ARRAY_SIZE(ops) || (argc != 4 && !list) || (!list && !ops[op].op))
		return mgmt_usage("snapshot", "expected create|revert|delete NAME SNAPSHOT or list NAME");
	if (list)
		return snapshot_list(argv[2]);
	if (mgmt_lock(&err) || (memory ? vm_snapshot_create_with(argv[2], argv[3], true, &err) :
				ops[op].op(argv[2], argv[3], &err)))
		/* An empty message: `vmkit img snapshot` has printed why, and exited 1. */
		return err.msg[0] ? mgmt_report(&err) : 1;
	printf("VM %s: snapshot %s %s done\n", argv[2], argv[3], argv[1]);
	return 0;
}

int cmd_template(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit template NAME\n"
		"Turn a shut-off VM into a template (qm template): its disks become read-only\n"
		"bases for 'vmkit clone NAME NEW --linked'; it can no longer be started or changed.\n";
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("template", "expected one VM NAME");
	if (mgmt_lock(&err) || vm_template(argv[1], &err))
		return mgmt_report(&err);
	printf("VM %s is now a template\n", argv[1]);
	return 0;
}
