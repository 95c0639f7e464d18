// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The private root of a monitor under --runas (vmkit run as root): every
 * file the VM opens again at each build (a guest reset builds the VM anew)
 * bound into an empty root at its own path, read-only unless the VM writes
 * it. Built from the configuration before the drop:
 *
 * - the kernel and initrd, the entropy source;
 * - each disk, and every file of its backing chain (read-only: the monitor
 *   opens the whole chain at each build; found with a firmware VM on a
 *   linked clone, whose base was not there);
 * - under firmware its code and variable store (or the store's template),
 *   the VGA BIOS and SeaBIOS's linuxboot ROM;
 * - /dev/kvm, /dev/vhost-net, /dev/net/tun, the --debugcon file (opened
 *   for appending at each build; the --console file is opened once, before);
 * - the mem-path= directory (a hugetlbfs mount), read-write, and with
 *   hugepages sysfs' pool counters, read-only;
 * - the --outdir directory, read-write: where the monitor may write what
 *   it is asked to (a screendump, a saved state). `vmkit start` gives each
 *   VM its run/out, owned by the --runas user.
 *
 * A missing file is skipped (sandbox_drop's bind_file): what the VM needs
 * and does not find then fails at its open, with its name. Relative paths
 * are made absolute first: after the pivot the working directory is "/".
 * With --chroot DIR nothing is bound: DIR must hold the files.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/firmware.h"
#include "vmkit/vmm-sandbox.h"

struct list {
	char **v;
	unsigned int n, cap;
};

static int add(struct list *l, const char *path)
{
	char abs[PATH_MAX], **nv;

	if (!path || !*path)
		return 0;
	if (path[0] != '/') {
		if (!realpath(path, abs))
			return 0;	/* missing: the VM's own open names it */
		path = abs;
	}
	if (l->n + 2 > l->cap) {
		nv = realloc(l->v, (l->cap + 16) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap += 16;
	}
	l->v[l->n] = strdup(path);
	if (!l->v[l->n])
		return -ENOMEM;
	l->v[++l->n] = NULL;
	return 0;
}

static void list_free(struct list *l)
{
	unsigned int i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int add_file(void *ro, const char *file)
{
	return add(ro, file);
}

/* The other files an image reads (backing chain, vmdk extents), opened only to read their names. */
static int add_backing(struct list *ro, const struct disk_config *d)
{
	struct vk_blk_opts o = { .format = d->format[0] ? d->format : NULL,
				 .flags = VK_BLK_NO_LOCK };
	struct vk_blk *bs = NULL;
	int r;

	if (vk_blk_format_plain(d->format) || vk_blk_open(d->path, &o, &bs, NULL))
		return 0;	/* not an image, or not openable: the VM's open says why */
	r = vk_blk_each_file_under(bs, add_file, ro);
	vk_blk_close(bs);
	return r;
}

static int add_firmware(struct list *ro, struct list *rw, const struct vm_config *cfg)
{
	char buf[PATH_MAX];
	int r;

	if (cfg->firmware == FIRMWARE_NONE)
		return 0;
	r = add(ro, cfg->firmware_code);
	if (!r && cfg->firmware_vars)
		r = add(rw, cfg->firmware_vars);
	if (!r && !cfg->firmware_vars && cfg->firmware == FIRMWARE_UEFI)
		r = add(ro, fw_image_path(FW_OVMF_VARS, buf, sizeof(buf)));
	if (!r)
		r = add(ro, fw_image_path(FW_VGA_BIOS_IMAGE, buf, sizeof(buf)));
	if (!r)
		r = add(ro, FW_LINUXBOOT_ROM);
	return r;
}

static int build(struct list *ro, struct list *rw, const struct vm_config *cfg)
{
	static const char *const devices[] = { "/dev/kvm", "/dev/vhost-net", "/dev/net/tun" };
	unsigned int i;
	int r = 0;

	for (i = 0; i < ARRAY_SIZE(devices) && !r; i++)
		r = add(rw, devices[i]);
	if (!r)
		r = add(ro, cfg->kernel);
	if (!r)
		r = add(ro, cfg->initrd);
	if (!r)
		r = add(ro, cfg->rng_source);
	if (!r)
		r = add(rw, cfg->debugcon_path);
	if (!r)
		r = add(rw, cfg->mem.mem_path);	/* RAM's file is made there at each build */
	/* The hugepage pool's counters, read at each build to say how short it is. */
	if (!r && (cfg->mem.hugepage_size || cfg->mem.mem_path))
		r = add(ro, "/sys/kernel/mm/hugepages");
	if (!r && (cfg->mem.hugepage_size || cfg->mem.mem_path) &&
	    cfg->mem.policy == MEM_POLICY_BIND)
		r = add(ro, "/sys/devices/system/node");
	for (i = 0; i < cfg->nr_disks && !r; i++) {
		const struct disk_config *d = &cfg->disks[i];

		if (!d->path)
			continue;	/* an empty CD-ROM drive */
		r = add(d->readonly ? ro : rw, d->path);
		if (!r)
			r = add_backing(ro, d);
	}
	return r ? r : add_firmware(ro, rw, cfg);
}

int vmm_sandbox_drop(const struct vm_config *cfg, struct vk_err *err)
{
	struct list ro = { 0 }, rw = { 0 };
	struct sandbox_jail jail = { .user = cfg->runas, .root = cfg->chroot_dir };
	bool dropped;
	int r;

	if (!cfg->runas && !cfg->chroot_dir)
		return 0;
	/* With --chroot DIR the paths are DIR's own: nothing is bound in. */
	if (!cfg->chroot_dir) {
		r = build(&ro, &rw, cfg);
		if (!r)
			r = add(&rw, cfg->outdir);
		if (r) {
			list_free(&ro);
			list_free(&rw);
			return vk_fail(err, r, "sandbox: %s", strerror(-r));
		}
		jail.files = (const char *const *)ro.v;
		jail.rw_files = (const char *const *)rw.v;
	}
	r = sandbox_drop(&jail, &dropped, err);
	list_free(&ro);
	list_free(&rw);
	return r;
}
