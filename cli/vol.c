// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit vol: libvirt's vol-* commands on directory pools. A volume is named
 * "POOL NAME" or "POOL:NAME". Image work (resize, clone) is done by
 * `vmkit img`, so the two never disagree about formats.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vm-cli.h"
#include "vmkit/block.h"

static const char usage[] =
	"usage: vmkit vol create POOL NAME SIZE [--format qcow2|raw] [--backing POOL:VOL]\n"
	"       vmkit vol list POOL\n"
	"       vmkit vol info|path|delete|wipe VOL\n"
	"       vmkit vol resize VOL SIZE [--shrink]\n"
	"       vmkit vol clone VOL NEWNAME\n"
	"       vmkit vol upload VOL FILE | download VOL FILE\n"
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
	char ref[PATH_MAX], file[PATH_MAX], bfile[PATH_MAX];
	uint64_t size = 0;
	int used = vol_arg(argc, argv, ref, sizeof(ref)), i, ret;

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
	ret = vol_resolve(ref, false, file, err);
	if (!ret && backing)
		ret = vol_resolve(backing, true, bfile, err);
	if (!ret && backing && strcmp(format, "qcow2"))
		ret = vk_fail(err, -EINVAL, "vol create: --backing needs --format qcow2");
	if (!ret)
		ret = vol_create_file(file, format, size, backing ? bfile : NULL, NULL, err);
	if (!ret)
		printf("Vol %s created\n", ref);
	return ret;
}

static bool is_vol(const char *dir, const char *name, char *out)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (stat(p, &st) || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) ||
	    strlen(name) >= MGMT_NAME_MAX)
		return false;
	snprintf(out, MGMT_NAME_MAX, "%s", name);
	return true;
}

static int open_info(const char *file, struct vk_blk **bs, struct vk_blk_info *info,
		     struct vk_err *err)
{
	struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING };
	int ret = vk_blk_open(file, &o, bs, err);

	if (!ret)
		ret = vk_blk_get_info(*bs, info);
	return ret;
}

static int vol_list(int argc, char **argv, struct vk_err *err)
{
	struct pool_def p;
	char **names, **n;
	int ret;

	if (argc != 1)
		return vk_fail(err, -EINVAL, "vol list: expected POOL");
	ret = pool_load(argv[0], &p, err);
	if (!ret)
		ret = mgmt_list_dir(p.path, is_vol, &names, err);
	if (ret)
		return ret;
	printf("%-32s %-6s %12s  %s\n", "NAME", "FORMAT", "CAPACITY", "PATH");
	for (n = names; *n; n++) {
		char file[PATH_MAX];
		struct vk_blk_info info;
		struct vk_blk *bs;

		snprintf(file, sizeof(file), "%s/%s", p.path, *n);
		if (open_info(file, &bs, &info, NULL))
			continue;
		printf("%-32s %-6s %12llu  %s\n", *n, info.format,
		       (unsigned long long)info.virtual_size, file);
		vk_blk_close(bs);
	}
	mgmt_strv_free(names);
	return 0;
}

static int vol_info(const char *ref, const char *file, struct vk_err *err)
{
	struct vk_blk_info info;
	struct vk_blk *bs;
	int ret = open_info(file, &bs, &info, err);

	if (ret)
		return ret;
	printf("Name:           %s\nPath:           %s\nFormat:         %s\n", strchr(ref, ':') + 1,
	       file, info.format);
	printf("Capacity:       %llu bytes\n", (unsigned long long)info.virtual_size);
	printf("Allocation:     %lld bytes\n", (long long)info.actual_size);
	if (info.backing_file)
		printf("Backing:        %s\n", info.backing_file);
	vk_blk_close(bs);
	return 0;
}

/* Which VM's config names this volume? */
static bool vol_in_use(const char *ref, char *vm)
{
	char **names, **n;
	bool found = false;
	size_t len = strlen(ref);

	if (vm_list_names(&names, NULL))
		return false;
	for (n = names; *n && !found; n++) {
		struct vm_def d;
		unsigned int i;

		if (vm_load(*n, &d, NULL))
			continue;
		for (i = 0; i < d.n && !found; i++) {
			const char *v = d.kv[i].val;

			if (!strncmp(d.kv[i].key, "virtio", 6) && !strncmp(v, ref, len) &&
			    (!v[len] || v[len] == ',')) {
				found = true;
				snprintf(vm, MGMT_NAME_MAX, "%s", *n);
			}
		}
		vm_def_free(&d);
	}
	mgmt_strv_free(names);
	return found;
}

static int copy_file(const char *from, const char *to, bool create, struct vk_err *err)
{
	char buf[1 << 16];
	int in, out, ret = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return vk_fail(err, -errno, "%s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
	if (out < 0) {
		ret = vk_fail(err, -errno, "%s: %s", to, strerror(errno));
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0 && !ret)
		if (vk_write_full(out, buf, n) < 0)
			ret = vk_fail(err, -errno, "%s: %s", to, strerror(errno));
	if (n < 0 && !ret)
		ret = vk_fail(err, -errno, "%s: %s", from, strerror(errno));
	if (!ret && fsync(out) < 0)
		ret = vk_fail(err, -errno, "%s: %s", to, strerror(errno));
	close(in);
	close(out);
	return ret;
}

/* upload: a whole file becomes the volume's content, through a temp file and rename. */
static int vol_upload(const char *file, const char *src, struct vk_err *err)
{
	char tmp[PATH_MAX];
	int ret;

	snprintf(tmp, sizeof(tmp), "%s.upload.%d", file, (int)getpid());
	ret = copy_file(src, tmp, true, err);
	if (!ret && rename(tmp, file) < 0)
		ret = vk_fail(err, -errno, "%s: %s", file, strerror(errno));
	if (ret)
		unlink(tmp);
	return ret;
}

/* wipe: the data goes; a qcow2 volume becomes an empty image of the same size. */
static int vol_wipe(const char *file, struct vk_err *err)
{
	struct vk_blk_info info;
	struct vk_blk *bs;
	char tmp[PATH_MAX], fmt[8];
	uint64_t size;
	int ret = open_info(file, &bs, &info, err);

	if (ret)
		return ret;
	size = info.virtual_size;
	snprintf(fmt, sizeof(fmt), "%s", info.format);
	vk_blk_close(bs);
	snprintf(tmp, sizeof(tmp), "%s.wipe.%d", file, (int)getpid());
	ret = vol_create_file(tmp, fmt, size, NULL, NULL, err);
	if (!ret && rename(tmp, file) < 0)
		ret = vk_fail(err, -errno, "%s: %s", file, strerror(errno));
	if (ret)
		unlink(tmp);
	return ret;
}

/* An overlay reads through this volume: deleting or rewriting it would break the overlay. */
static int refuse_base(const char *ref, const char *file, const char *op, struct vk_err *err)
{
	char who[PATH_MAX + 64];
	int ret = vol_find_overlay(file, NULL, who, sizeof(who), err);

	if (ret > 0)
		return vk_fail(err, -EBUSY, "vol %s: volume %s is the backing file of %s", op, ref,
			       who);
	return ret;
}

static int vol_op(const char *op, int argc, char **argv, struct vk_err *err)
{
	char ref[PATH_MAX], file[PATH_MAX], vm[MGMT_NAME_MAX];
	int used = vol_arg(argc, argv, ref, sizeof(ref)), ret;
	char **rest = argv + used;
	int nrest = argc - used;

	if (!used)
		return vk_fail(err, -EINVAL, "vol %s: expected POOL:NAME", op);
	ret = vol_resolve(ref, true, file, err);
	if (ret)
		return ret;
	if (!strcmp(op, "path") && !nrest) {
		printf("%s\n", file);
		return 0;
	}
	if (!strcmp(op, "info") && !nrest)
		return vol_info(ref, file, err);
	if ((!strcmp(op, "delete") || !strcmp(op, "wipe") || !strcmp(op, "upload") ||
	     !strcmp(op, "resize")) && vol_in_use(ref, vm))
		return vk_fail(err, -EBUSY, "volume %s is used by VM '%s'", ref, vm);
	if (!strcmp(op, "delete") || !strcmp(op, "wipe") || !strcmp(op, "upload")) {
		ret = refuse_base(ref, file, op, err);
		if (ret)
			return ret;
	}
	if (!strcmp(op, "delete") && !nrest)
		return unlink(file) ? vk_fail(err, -errno, "%s: %s", file, strerror(errno)) : 0;
	if (!strcmp(op, "wipe") && !nrest)
		return vol_wipe(file, err);
	if (!strcmp(op, "upload") && nrest == 1)
		return vol_upload(file, rest[0], err);
	if (!strcmp(op, "download") && nrest == 1)
		return copy_file(file, rest[0], true, err);
	if (!strcmp(op, "resize") && (nrest == 1 || nrest == 2)) {
		const char *grow[] = { "resize", file, rest[0], NULL };
		const char *shrink[] = { "resize", "--shrink", file, rest[0], NULL };

		if (nrest == 2 && strcmp(rest[1], "--shrink"))
			return vk_fail(err, -EINVAL, "vol resize: unknown option '%s'", rest[1]);
		return run_img(nrest == 2 ? shrink : grow) ?
		       vk_fail(err, -EIO, "vol resize %s failed", ref) : 0;
	}
	if (!strcmp(op, "clone") && nrest == 1) {
		char nref[PATH_MAX], nfile[PATH_MAX], pool[MGMT_NAME_MAX];
		const char *args[] = { "convert", "-O", NULL, file, nfile, NULL };
		struct vk_blk_info info;
		struct vk_blk *bs;

		snprintf(pool, sizeof(pool), "%.*s", (int)strcspn(ref, ":"), ref);
		snprintf(nref, sizeof(nref), "%s:%s", pool, rest[0]);
		ret = vol_resolve(nref, false, nfile, err);
		if (!ret && !access(nfile, F_OK))
			ret = vk_fail(err, -EEXIST, "volume %s already exists", nref);
		if (!ret)
			ret = open_info(file, &bs, &info, err);
		if (ret)
			return ret;
		args[2] = strcmp(info.format, "qcow2") ? "raw" : "qcow2";
		vk_blk_close(bs);
		return run_img(args) ? vk_fail(err, -EIO, "vol clone %s failed", ref) : 0;
	}
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
		ret = vol_list(argc - 2, argv + 2, &err);
	else if (is_op(argv[1]))
		ret = vol_op(argv[1], argc - 2, argv + 2, &err);
	else
		ret = vk_fail(&err, -EINVAL, "vol: unknown command '%s' (see --help)", argv[1]);
	if (!ret && strcmp(argv[1], "list") && strcmp(argv[1], "info") && strcmp(argv[1], "path") &&
	    strcmp(argv[1], "create"))
		printf("Vol %s: %s done\n", argc > 2 ? argv[2] : "", argv[1]);
	return ret ? mgmt_report(&err) : 0;
}
