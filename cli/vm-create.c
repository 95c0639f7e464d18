// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * create: a new VM definition from options, like virt-install; makes new
 * disks on a pool when asked. Everything is validated before anything is
 * made; a volume made for a VM whose definition then cannot be written is
 * removed again.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "vm-cli.h"

#define MAX_NEW	16

static const char usage[] =
	"usage: vmkit create --name NAME --kernel FILE [--initrd FILE] [--cmdline STR]\n"
	"                    [--memory SIZE] [--cpus N] [--disk SPEC]... [--net SPEC]...\n"
	"                    [--balloon SIZE] [--console serial|virtio] [--autostart] [--start]\n"
	"Define a new VM (like virt-install).\n"
	"  --disk POOL:VOLUME[,OPTS] or /path[,OPTS]   an existing volume or file\n"
	"  --disk size=SIZE[,pool=POOL][,format=qcow2|raw][,backing=POOL:VOLUME][,OPTS]\n"
	"         a new volume NAME-diskN on POOL (default local); OPTS are the disk\n"
	"         options of 'vmkit run' (cache=, aio=, iothread=, discard=, ...) and shared=on\n"
	"  --net virtio[=MAC][,bridge=BR|,network=NAME|,tap=IF|,user][,queues=N]...\n"
	"  --memory takes MiB or a K/M/G suffix (default 512M); --cpus is the vCPU count.\n";

struct new_vol {
	char file[PATH_MAX];
	char format[8];
	uint64_t size;
	char backing[PATH_MAX];
};

struct create_ctx {
	struct vm_def d;
	struct new_vol vols[MAX_NEW];
	unsigned int nvols, ndisks, nnets;
	struct vk_err err;
};

/* Split a new-disk spec into the volume to make and the options for the config. */
struct disk_spec {
	struct create_ctx *c;
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
		       vk_fail(&s->c->err, -EINVAL, "--disk size=%s: not a size", val) : 0;
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

static int add_new_disk(struct create_ctx *c, const char *spec, char *key)
{
	struct disk_spec s = { .c = c, .pool = "local", .format = "qcow2" };
	char ref[PATH_MAX], val[PATH_MAX + 1100];
	struct new_vol *v = &c->vols[c->nvols];
	int ret = vk_parse_kv(spec, disk_spec_kv, &s);

	if (ret)
		return ret;
	if (!s.name[0])
		snprintf(s.name, sizeof(s.name), "%s-disk%u.%s", c->d.name, c->ndisks, s.format);
	if (strcmp(s.format, "qcow2") && strcmp(s.format, "raw"))
		return vk_fail(&c->err, -EINVAL, "--disk format=%s: expected qcow2 or raw", s.format);
	snprintf(ref, sizeof(ref), "%s:%s", s.pool, s.name);
	ret = mgmt_check_name("volume", s.name, &c->err);
	if (!ret)
		ret = vol_resolve(ref, false, v->file, &c->err);
	if (!ret && !access(v->file, F_OK))
		ret = vk_fail(&c->err, -EEXIST, "--disk: volume %s already exists", ref);
	if (!ret && s.backing[0])
		ret = vol_resolve(s.backing, true, v->backing, &c->err);
	if (ret)
		return ret;
	snprintf(v->format, sizeof(v->format), "%s", s.format);
	v->size = s.size;
	c->nvols++;
	snprintf(val, sizeof(val), "%s,format=%s%s", ref, s.format, s.opts);
	return vm_def_set(&c->d, key, val, &c->err);
}

static int add_disk(struct create_ctx *c, const char *spec)
{
	char key[16], ref[PATH_MAX], file[PATH_MAX];
	int ret;

	if (c->ndisks >= MAX_NEW)
		return vk_fail(&c->err, -EINVAL, "--disk: at most %d disks", MAX_NEW);
	snprintf(key, sizeof(key), "virtio%u", c->ndisks);
	if (!strncmp(spec, "size=", 5) || strstr(spec, ",size=")) {
		if (spec[0] == '/' || (strchr(spec, ':') && strchr(spec, ':') < strchr(spec, ',')))
			return vk_fail(&c->err, -EINVAL,
				       "--disk %s: size= makes a new volume; give pool= and name= instead of a path",
				       spec);
		ret = add_new_disk(c, spec, key);
		c->ndisks++;
		return ret;
	}
	snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(spec, ","), spec);
	if (vol_resolve(ref, true, file, &c->err))
		return mgmt_wrap(&c->err, "--disk");
	c->ndisks++;
	return vm_def_set(&c->d, key, spec, &c->err);
}

static int add_net(struct create_ctx *c, const char *spec)
{
	char key[16], val[1024];

	snprintf(key, sizeof(key), "net%u", c->nnets++);
	/* "bridge=br0" or "user" alone: the model is virtio, the only one there is. */
	if (strncmp(spec, "virtio", 6))
		snprintf(val, sizeof(val), "virtio,%s", spec);
	else
		snprintf(val, sizeof(val), "%s", spec);
	return vm_def_set(&c->d, key, val, &c->err);
}

enum { O_NAME = 256, O_MEMORY, O_CPUS, O_DISK, O_KERNEL, O_INITRD, O_CMDLINE, O_NET,
       O_AUTOSTART, O_BALLOON, O_CONSOLE, O_START };

static const struct option opts[] = {
	{ "name", required_argument, NULL, O_NAME },
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "vcpus", required_argument, NULL, O_CPUS },
	{ "disk", required_argument, NULL, O_DISK },
	{ "kernel", required_argument, NULL, O_KERNEL },
	{ "initrd", required_argument, NULL, O_INITRD },
	{ "cmdline", required_argument, NULL, O_CMDLINE },
	{ "net", required_argument, NULL, O_NET },
	{ "network", required_argument, NULL, O_NET },
	{ "balloon", required_argument, NULL, O_BALLOON },
	{ "console", required_argument, NULL, O_CONSOLE },
	{ "autostart", no_argument, NULL, O_AUTOSTART },
	{ "start", no_argument, NULL, O_START },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int abs_path(struct create_ctx *c, const char *key, const char *file)
{
	char real[PATH_MAX];

	if (!realpath(file, real))
		return vk_fail(&c->err, -ENOENT, "--%s %s: %s", key, file, strerror(errno));
	return vm_def_set(&c->d, key, real, &c->err);
}

static int apply_opt(struct create_ctx *c, int o, const char *arg)
{
	switch (o) {
	case O_MEMORY: return vm_def_set(&c->d, "memory", arg, &c->err);
	case O_CPUS: return vm_def_set(&c->d, "cores", arg, &c->err);
	case O_DISK: return add_disk(c, arg);
	case O_KERNEL: return abs_path(c, "kernel", arg);
	case O_INITRD: return abs_path(c, "initrd", arg);
	case O_CMDLINE: return vm_def_set(&c->d, "cmdline", arg, &c->err);
	case O_NET: return add_net(c, arg);
	case O_BALLOON: return vm_def_set(&c->d, "balloon", arg, &c->err);
	case O_CONSOLE: return vm_def_set(&c->d, "console", arg, &c->err);
	case O_AUTOSTART: return vm_def_set(&c->d, "onboot", "1", &c->err);
	}
	return 0;
}

/* The name first: new disks are named after it. */
static const char *find_name(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--name") && i + 1 < argc)
			return argv[i + 1];
		if (!strncmp(argv[i], "--name=", 7))
			return argv[i] + 7;
	}
	return NULL;
}

static int make_volumes(struct create_ctx *c)
{
	unsigned int i;
	int ret;

	for (i = 0; i < c->nvols; i++) {
		struct new_vol *v = &c->vols[i];

		ret = vol_create_file(v->file, v->format, v->size, v->backing[0] ? v->backing : NULL,
				      NULL, &c->err);
		if (ret) {
			while (i--)
				unlink(c->vols[i].file);
			return ret;
		}
	}
	return 0;
}

int cmd_create(int argc, char **argv)
{
	struct create_ctx *c = calloc(1, sizeof(*c));
	const char *name = find_name(argc, argv);
	bool start = false;
	unsigned int i;
	int o, ret = 0;

	if (!c)
		return 1;
	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (!name)
		return mgmt_usage("create", "--name is required");
	ret = mgmt_lock(&c->err);
	if (!ret)
		ret = vm_def_set(&c->d, "name", name, &c->err);
	if (!ret && vm_exists(name))
		ret = vk_fail(&c->err, -EEXIST, "VM '%s' already exists", name);
	if (!ret)
		ret = vm_def_set(&c->d, "memory", "512", &c->err);
	if (!ret)
		ret = vm_def_set(&c->d, "cores", "1", &c->err);
	while (!ret && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (o == '?' || o == 'h')
			return mgmt_usage("create", "bad option (see --help)");
		if (o == O_START)
			start = true;
		else
			ret = apply_opt(c, o, optarg);
	}
	if (!ret && optind < argc)
		ret = vk_fail(&c->err, -EINVAL, "unexpected argument '%s'", argv[optind]);
	if (!ret && !vm_def_get(&c->d, "kernel"))
		ret = vk_fail(&c->err, -EINVAL, "--kernel is required");
	if (!ret)
		ret = vm_def_check(&c->d, &c->err);
	if (!ret)
		ret = make_volumes(c);
	if (!ret) {
		ret = vm_save(&c->d, &c->err);
		for (i = 0; ret && i < c->nvols; i++)
			unlink(c->vols[i].file);
	}
	if (ret)
		return mgmt_report(&c->err);
	printf("VM %s created\n", name);
	if (start) {
		if (vm_start(name, &c->err))
			return mgmt_report(&c->err);
		printf("VM %s started\n", name);
	}
	vm_def_free(&c->d);
	free(c);
	return 0;
}
