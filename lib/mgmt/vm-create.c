// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * create: a new VM definition from options, like virt-install; makes new
 * disks on a pool when asked. Everything is validated before anything is
 * made; a volume made for a VM whose definition then cannot be written is
 * removed again. Options are applied in the order given, as the CLI's
 * arguments: the first bad one is the one named.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmkit/block.h"
#include "vmkit/mgmt-ops.h"

#define MAX_NEW	16

struct new_vol {
	char file[PATH_MAX];
	char format[8];
	uint64_t size;
	char backing[PATH_MAX];
};

struct vm_creation {
	struct vm_def d;
	struct new_vol vols[MAX_NEW];
	unsigned int nvols, ndisks, nnets;
	bool took_lock;
	struct vk_err *err;		/* the current call's */
};

/* Split a new-disk spec into the volume to make and the options for the config. */
struct disk_spec {
	struct vm_creation *c;
	char pool[MGMT_NAME_MAX], name[MGMT_NAME_MAX], format[8], backing[PATH_MAX];
	uint64_t size;
	char opts[1024];
};

static int disk_spec_kv(void *opaque, const char *key, const char *val)
{
	struct disk_spec *s = opaque;
	size_t n = strlen(s->opts);

	if (!strcmp(key, "size"))
		return vk_parse_size(val, GiB, &s->size) || !s->size ?
		       vk_fail(s->c->err, -EINVAL, "--disk size=%s: not a size", val) : 0;
	if (!strcmp(key, "pool"))
		snprintf(s->pool, sizeof(s->pool), "%s", val);
	else if (!strcmp(key, "name"))
		snprintf(s->name, sizeof(s->name), "%s", val);
	else if (!strcmp(key, "backing"))
		snprintf(s->backing, sizeof(s->backing), "%s", val);
	else if (!strcmp(key, "format"))
		snprintf(s->format, sizeof(s->format), "%s", val);
	else
		snprintf(s->opts + n, sizeof(s->opts) - n, ",%s%s%s", key, *val ? "=" : "", val);
	return 0;
}

static int add_new_disk(struct vm_creation *c, const char *spec, char *key)
{
	struct disk_spec s = { .c = c, .pool = "local", .format = "qcow2" };
	char ref[PATH_MAX], val[PATH_MAX + 1100];
	struct new_vol *v = &c->vols[c->nvols];
	int ret = vk_parse_kv(spec, disk_spec_kv, &s);

	if (ret)
		return ret;
	if (!s.name[0])
		snprintf(s.name, sizeof(s.name), "%s-disk%u.%s", c->d.name, c->ndisks, s.format);
	if (!vk_blk_format_creatable(s.format))
		return vk_fail(c->err, -EINVAL, "--disk format=%s: expected %s", s.format,
			       vk_blk_creatable_formats());
	snprintf(ref, sizeof(ref), "%s:%s", s.pool, s.name);
	ret = mgmt_check_name("volume", s.name, c->err);
	if (!ret)
		ret = vol_resolve(ref, false, v->file, c->err);
	if (!ret && !access(v->file, F_OK))
		ret = vk_fail(c->err, -EEXIST, "--disk: volume %s already exists", ref);
	if (!ret && s.backing[0])
		ret = vol_resolve(s.backing, true, v->backing, c->err);
	if (ret)
		return ret;
	snprintf(v->format, sizeof(v->format), "%s", s.format);
	v->size = s.size;
	c->nvols++;
	snprintf(val, sizeof(val), "%s,format=%s%s", ref, s.format, s.opts);
	return vm_def_set(&c->d, key, val, c->err);
}

static int add_disk(struct vm_creation *c, const char *spec)
{
	char key[16], ref[PATH_MAX], file[PATH_MAX];
	int ret;

	if (c->ndisks >= MAX_NEW)
		return vk_fail(c->err, -EINVAL, "--disk: at most %d disks", MAX_NEW);
	snprintf(key, sizeof(key), "virtio%u", c->ndisks);
	if (!strncmp(spec, "size=", 5) || strstr(spec, ",size=")) {
		if (spec[0] == '/' || (strchr(spec, ':') && strchr(spec, ':') < strchr(spec, ',')))
			return vk_fail(c->err, -EINVAL,
				       "--disk %s: size= makes a new volume; give pool= and name= instead of a path",
				       spec);
		ret = add_new_disk(c, spec, key);
		c->ndisks++;
		return ret;
	}
	snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(spec, ","), spec);
	if (vol_resolve(ref, true, file, c->err))
		return mgmt_wrap(c->err, "--disk");
	c->ndisks++;
	return vm_def_set(&c->d, key, spec, c->err);
}

/* --cdrom FILE|POOL:VOLUME (virt-install's): ide2, a CD-ROM on SATA, as Proxmox names it. */
static int add_cdrom(struct vm_creation *c, const char *spec)
{
	char val[PATH_MAX + 32], file[PATH_MAX];

	if (vm_def_get(&c->d, "ide2"))
		return vk_fail(c->err, -EINVAL, "--cdrom: one CD-ROM (ide2) at most");
	if (strcmp(spec, "none") && vol_resolve(spec, true, file, c->err))
		return mgmt_wrap(c->err, "--cdrom");
	/* As vmkit run would at start: an installer that is not an ISO is said now. */
	if (strcmp(spec, "none") && vk_blk_iso_check(file, c->err))
		return mgmt_wrap(c->err, "--cdrom");
	snprintf(val, sizeof(val), "%s,media=cdrom", spec);
	return vm_def_set(&c->d, "ide2", val, c->err);
}

static int add_net(struct vm_creation *c, const char *spec)
{
	char key[16], val[1024];

	snprintf(key, sizeof(key), "net%u", c->nnets++);
	/* "bridge=br0" or "user" alone: the model is virtio, the only one there is. */
	if (strncmp(spec, "virtio", 6))
		snprintf(val, sizeof(val), "virtio,%s", spec);
	else
		snprintf(val, sizeof(val), "%s", spec);
	return vm_def_set(&c->d, key, val, c->err);
}

static int abs_path(struct vm_creation *c, const char *key, const char *file)
{
	char real[PATH_MAX];

	if (!realpath(file, real))
		return vk_fail(c->err, -ENOENT, "--%s %s: %s", key, file, strerror(errno));
	return vm_def_set(&c->d, key, real, c->err);
}

static int make_volumes(struct vm_creation *c)
{
	unsigned int i;
	int ret;

	for (i = 0; i < c->nvols; i++) {
		struct new_vol *v = &c->vols[i];

		ret = vol_create_file(v->file, v->format, v->size, v->backing[0] ? v->backing : NULL,
				      NULL, c->err);
		if (ret) {
			while (i--)
				unlink(c->vols[i].file);
			return ret;
		}
	}
	return 0;
}

static const char *const simple_keys[][2] = {
	{ "memory", "memory" }, { "cpus", "cores" }, { "cmdline", "cmdline" },
	{ "balloon", "balloon" }, { "console", "console" },
};

int vm_creation_add(struct vm_creation *c, const char *opt, const char *val, struct vk_err *err)
{
	unsigned int i;

	c->err = err;
	for (i = 0; i < ARRAY_SIZE(simple_keys); i++)
		if (!strcmp(opt, simple_keys[i][0]))
			return vm_def_set(&c->d, simple_keys[i][1], val, err);
	if (!strcmp(opt, "disk"))
		return add_disk(c, val);
	if (!strcmp(opt, "net"))
		return add_net(c, val);
	if (!strcmp(opt, "cdrom"))
		return add_cdrom(c, val);
	if (!strcmp(opt, "kernel") || !strcmp(opt, "initrd"))
		return abs_path(c, opt, val);
	if (!strcmp(opt, "autostart"))
		return vm_def_set(&c->d, "onboot", "1", err);
	/* virt-install's --boot uefi, Proxmox's bios key. */
	if (!strcmp(opt, "firmware")) {
		if (strcmp(val, "bios") && strcmp(val, "uefi") && strcmp(val, "seabios") &&
		    strcmp(val, "ovmf"))
			return vk_fail(err, -EINVAL, "--firmware %s: expected bios or uefi", val);
		return vm_def_set(&c->d, "bios", !strcmp(val, "uefi") || !strcmp(val, "ovmf") ?
				  "ovmf" : "seabios", err);
	}
	if (!strcmp(opt, "boot"))
		return vm_def_set(&c->d, "boot", val, err);
	if (!strncmp(opt, "key:", 4) && strcmp(opt + 4, "name"))
		return vm_def_set(&c->d, opt + 4, val, err);
	return vk_fail(err, -EINVAL, "create: unknown option '%s'", opt);
}

static void creation_free(struct vm_creation *c)
{
	mgmt_op_unlock(c->took_lock);
	vm_def_free(&c->d);
	free(c);
}

void vm_creation_abort(struct vm_creation *c)
{
	if (c)
		creation_free(c);
}

/* The name first: new disks are named after it. Then the defaults. */
int vm_creation_new(const char *name, struct vm_creation **out, struct vk_err *err)
{
	struct vm_creation *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return vk_fail(err, -ENOMEM, "out of memory");
	c->err = err;
	ret = mgmt_op_lock(&c->took_lock, err);
	if (!ret)
		ret = vm_def_set(&c->d, "name", name, err);
	if (!ret && vm_exists(name))
		ret = vk_fail(err, -EEXIST, "VM '%s' already exists", name);
	if (!ret)
		ret = vm_def_set(&c->d, "memory", "512", err);
	if (!ret)
		ret = vm_def_set(&c->d, "cores", "1", err);
	if (ret) {
		creation_free(c);
		return ret;
	}
	*out = c;
	return 0;
}

/*
 * bios: ovmf: the VM's own copy of Debian's OVMF_VARS_4M.fd template (the
 * directory in $VMKIT_FIRMWARE_DIR instead of /usr/share), beside its
 * definition, as Proxmox's efidisk0: the guest's boot entries live there.
 */
static int make_efidisk(struct vm_creation *c)
{
	const char *dir = getenv("VMKIT_FIRMWARE_DIR");
	_cleanup_free_ void *buf = NULL;
	char tmpl[PATH_MAX], p[PATH_MAX];
	size_t len;
	int ret;

	if (!vm_def_get(&c->d, "bios") || strcmp(vm_def_get(&c->d, "bios"), "ovmf") ||
	    vm_def_get(&c->d, "efidisk0"))
		return 0;
	snprintf(tmpl, sizeof(tmpl), "%s/OVMF/OVMF_VARS_4M.fd", dir && *dir ? dir : "/usr/share");
	ret = vk_read_file(tmpl, &buf, &len, 64 << 20);
	if (ret)
		return vk_fail(c->err, ret, "bios=ovmf: %s: %s (install Debian's ovmf)", tmpl,
			       strerror(-ret));
	if (mkdir(mgmt_path(p, "vms/%s", c->d.name), 0700) < 0 && errno != EEXIST)
		return vk_fail(c->err, -errno, "%s: %s", p, strerror(errno));
	return mgmt_write_atomic(mgmt_path(p, "vms/%s/efivars.fd", c->d.name),
				 buf, len, 0600, c->err);
}

int vm_creation_commit(struct vm_creation *c, struct vk_err *err)
{
	unsigned int i;
	int ret = 0;

	c->err = err;
	if (!vm_def_get(&c->d, "kernel") && !vm_def_get(&c->d, "bios"))
		ret = vk_fail(err, -EINVAL, "--kernel is required (or a firmware: bios=seabios|ovmf)");
	/*
	 * A VM that boots through firmware (an installer, a disk's own loader)
	 * gets a screen unless told otherwise, as Proxmox's vga defaults to std.
	 */
	if (!ret && vm_def_get(&c->d, "bios") && !vm_def_get(&c->d, "vga"))
		ret = vm_def_set(&c->d, "vga", "std", err);
	if (!ret)
		ret = vm_def_check(&c->d, err);
	if (!ret)
		ret = make_volumes(c);
	if (!ret)
		ret = make_efidisk(c);
	if (!ret) {
		ret = vm_save(&c->d, err);
		for (i = 0; ret && i < c->nvols; i++)
			unlink(c->vols[i].file);
	}
	creation_free(c);
	return ret;
}

static int add_list(struct vm_creation *c, const char *opt, const char *const *v,
		    struct vk_err *err)
{
	int ret = 0;

	for (; v && *v && !ret; v++)
		ret = vm_creation_add(c, opt, *v, err);
	return ret;
}

/* In the order of `vmkit create`'s usage line. */
static int add_req(struct vm_creation *c, const struct vm_create_req *r, struct vk_err *err)
{
	const char *const strs[][2] = {
		{ "kernel", r->kernel }, { "initrd", r->initrd }, { "cmdline", r->cmdline },
		{ "memory", r->memory },
	};
	char cpus[16];
	unsigned int i;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(strs) && !ret; i++)
		if (strs[i][1])
			ret = vm_creation_add(c, strs[i][0], strs[i][1], err);
	snprintf(cpus, sizeof(cpus), "%u", r->cpus);
	if (!ret && r->cpus)
		ret = vm_creation_add(c, "cpus", cpus, err);
	if (!ret)
		ret = add_list(c, "disk", r->disks, err);
	if (!ret)
		ret = add_list(c, "net", r->nets, err);
	if (!ret && r->balloon)
		ret = vm_creation_add(c, "balloon", r->balloon, err);
	if (!ret && r->console)
		ret = vm_creation_add(c, "console", r->console, err);
	if (!ret && r->autostart)
		ret = vm_creation_add(c, "autostart", NULL, err);
	for (i = 0; i < r->n_extra && !ret; i++) {
		if (!strcmp(r->extra[i].key, "name"))
			return vk_fail(err, -EINVAL, "name: give it as the VM's name");
		ret = vm_def_set(&c->d, r->extra[i].key, r->extra[i].val, err);
	}
	return ret;
}

int mgmt_vm_create(const struct vm_create_req *r, struct vk_err *err)
{
	struct vm_creation *c;
	int ret;

	if (!r->name)
		return vk_fail(err, -EINVAL, "--name is required");
	ret = vm_creation_new(r->name, &c, err);
	if (ret)
		return ret;
	ret = add_req(c, r, err);
	if (ret) {
		vm_creation_abort(c);
		return ret;
	}
	return vm_creation_commit(c, err);
}
