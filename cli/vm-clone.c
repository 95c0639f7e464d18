// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * clone (a full copy, or --linked: qcow2 overlays on the source's images,
 * seed 003's linked clones) and snapshot (internal qcow2 snapshots of every
 * disk, through `vmkit img snapshot`).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"
#include "vmkit/block.h"

struct cloned {
	char files[16][PATH_MAX];
	unsigned int n;
};

static void undo(struct cloned *c)
{
	while (c->n)
		unlink(c->files[--c->n]);
}

/* One disk: new volume NEW-diskN in the source volume's pool (or next to a path). */
static int clone_disk(struct vm_def *nd, unsigned int i, unsigned int idx, bool linked,
		      struct cloned *c, struct vk_err *err)
{
	const char *val = nd->kv[i].val, *opts = strchr(val, ',');
	char ref[PATH_MAX], file[PATH_MAX], nref[PATH_MAX], nfile[PATH_MAX], nval[PATH_MAX + 1024];
	struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING };
	struct vk_blk_info info;
	struct vk_blk *bs;
	const char *fmt;
	int ret;

	snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(val, ","), val);
	ret = vol_resolve(ref, true, file, err);
	if (!ret)
		ret = vk_blk_open(file, &o, &bs, err);
	if (ret)
		return ret;
	vk_blk_get_info(bs, &info);
	fmt = linked || !strcmp(info.format, "qcow2") ? "qcow2" : "raw";
	if (ref[0] == '/')
		snprintf(nref, sizeof(nref), "%.*s/%s-disk%u.%s",
			 (int)(strrchr(ref, '/') - ref), ref, nd->name, idx, fmt);
	else
		snprintf(nref, sizeof(nref), "%.*s:%s-disk%u.%s", (int)strcspn(ref, ":"), ref,
			 nd->name, idx, fmt);
	ret = vol_resolve(nref, false, nfile, err);
	if (!ret && !access(nfile, F_OK))
		ret = vk_fail(err, -EEXIST, "volume %s already exists", nref);
	if (!ret && linked) {
		ret = vol_create_file(nfile, "qcow2", info.virtual_size, file, info.format, err);
	} else if (!ret) {
		const char *args[] = { "convert", "-O", fmt, file, nfile, NULL };

		if (run_img(args))
			ret = vk_fail(err, -EIO, "copying %s to %s failed", ref, nref);
	}
	vk_blk_close(bs);
	if (ret)
		return ret;
	snprintf(c->files[c->n++], PATH_MAX, "%s", nfile);
	/* The copy's format may differ from the source's (linked: always qcow2). */
	snprintf(nval, sizeof(nval), "%s,format=%s", nref, fmt);
	if (opts) {
		char *p, buf[1024];

		snprintf(buf, sizeof(buf), "%s", opts);
		p = strstr(buf, ",format=");
		if (p)
			memmove(p, p + 8 + strcspn(p + 8, ","), strlen(p + 8 + strcspn(p + 8, ",")) + 1);
		strncat(nval, buf, sizeof(nval) - strlen(nval) - 1);
	}
	return vm_def_set(nd, nd->kv[i].key, nval, err);
}

/* A MAC written in the source's config must not be shared by the clone. */
static int new_macs(struct vm_def *nd, struct vk_err *err)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < nd->n && !ret; i++) {
		const char *v = nd->kv[i].val;
		char nv[1024];

		if (strncmp(nd->kv[i].key, "net", 3) || strncmp(v, "virtio=", 7))
			continue;
		/* Without a MAC the monitor derives one from the (new) name. */
		snprintf(nv, sizeof(nv), "virtio%s", v + 7 + strcspn(v + 7, ","));
		ret = vm_def_set(nd, nd->kv[i].key, nv, err);
	}
	return ret;
}

int cmd_clone(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit clone NAME NEWNAME [--linked]\n"
		"Copy a shut-off VM: its config (new name, new MACs) and its disks, fully or,\n"
		"with --linked, as qcow2 overlays on the source's images (which must then stay).\n";
	bool linked = argc == 4 && !strcmp(argv[3], "--linked");
	struct vk_err err = { 0 };
	struct cloned c = { .n = 0 };
	struct vm_def nd;
	unsigned int i, idx = 0;
	int ret;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 3 && !linked)
		return mgmt_usage("clone", "expected NAME NEWNAME [--linked]");
	ret = mgmt_lock(&err);
	if (!ret)
		ret = vm_load(argv[1], &nd, &err);
	if (ret)
		return mgmt_report(&err);
	ret = vm_require_shutoff(argv[1], "clone", &err);
	if (!ret && vm_exists(argv[2]))
		ret = vk_fail(&err, -EEXIST, "VM '%s' already exists", argv[2]);
	if (!ret)
		ret = vm_def_set(&nd, "name", argv[2], &err);
	for (i = 0; i < nd.n && !ret; i++)
		if (!strncmp(nd.kv[i].key, "virtio", 6))
			ret = clone_disk(&nd, i, idx++, linked, &c, &err);
	if (!ret)
		ret = new_macs(&nd, &err);
	if (!ret)
		ret = vm_def_set(&nd, "onboot", "0", &err);
	if (!ret && vm_def_get(&nd, "template"))
		ret = vm_def_set(&nd, "template", NULL, &err);	/* a clone is a VM */
	if (!ret)
		ret = vm_save(&nd, &err);
	vm_def_free(&nd);
	if (ret) {
		undo(&c);
		return mgmt_report(&err);
	}
	printf("VM %s cloned to %s%s\n", argv[1], argv[2], linked ? " (linked)" : "");
	return 0;
}

/* Reverting a disk that a linked clone reads through would change the clone's data. */
static int refuse_revert_base(const struct vm_def *d, struct vk_err *err)
{
	char ref[PATH_MAX], who[PATH_MAX + 64];
	int ret = vm_disk_overlay(d, ref, who, sizeof(who), err);

	if (ret > 0)
		return vk_fail(err, -EBUSY,
			       "snapshot revert: disk %s of VM '%s' is the backing file of %s",
			       ref, d->name, who);
	return ret;
}

int cmd_snapshot(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit snapshot create|revert|delete NAME SNAPSHOT\n"
		"       vmkit snapshot list NAME\n"
		"Internal snapshots of every qcow2 disk of a shut-off VM (qemu-img snapshot).\n";
	static const char *const ops[][2] = {
		{ "create", "-c" }, { "revert", "-a" }, { "delete", "-d" }, { "list", "-l" },
	};
	bool list = argc == 3 && !strcmp(argv[1], "list");
	struct vk_err err = { 0 };
	const char *flag = NULL;
	static char done[16][PATH_MAX];
	unsigned int i, ndone = 0;
	struct vm_def d;
	int ret, rc = 0;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	for (i = 0; argc > 1 && i < ARRAY_SIZE(ops); i++)
		if (!strcmp(argv[1], ops[i][0]))
			flag = ops[i][1];
	if (!flag || (argc != 4 && !list))
		return mgmt_usage("snapshot", "expected create|revert|delete NAME SNAPSHOT or list NAME");
	ret = mgmt_lock(&err);
	if (!ret)
		ret = vm_load(argv[2], &d, &err);
	if (ret)
		return mgmt_report(&err);
	if ((!list && vm_require_shutoff(argv[2], "a disk snapshot", &err)) ||
	    (!list && vm_refuse_template(&d, "snapshotted or reverted", &err)) ||
	    (!strcmp(argv[1], "revert") && refuse_revert_base(&d, &err))) {
		vm_def_free(&d);
		return mgmt_report(&err);
	}
	for (i = 0; i < d.n && !rc; i++) {
		char ref[PATH_MAX], file[PATH_MAX];
		const char *v = d.kv[i].val;

		if (strncmp(d.kv[i].key, "virtio", 6))
			continue;
		snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(v, ","), v);
		if (vol_resolve(ref, true, file, &err)) {
			rc = mgmt_report(&err);
			break;
		}
		if (list) {
			const char *args[] = { "snapshot", "-U", "-l", file, NULL };

			printf("%s (%s):\n", d.kv[i].key, ref);
			rc = run_img(args);
		} else {
			const char *args[] = { "snapshot", flag, argv[3], file, NULL };

			rc = run_img(args);
			if (!rc)
				snprintf(done[ndone++], PATH_MAX, "%s", file);
		}
	}
	/* A snapshot is of every disk or of none: take back the ones made. */
	if (rc && !strcmp(argv[1], "create"))
		while (ndone--) {
			const char *args[] = { "snapshot", "-d", argv[3], done[ndone], NULL };

			run_img(args);
		}
	vm_def_free(&d);
	if (!rc && !list)
		printf("VM %s: snapshot %s %s done\n", argv[2], argv[3], argv[1]);
	return rc;
}
