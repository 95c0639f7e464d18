// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Volumes of directory pools, as libvirt's vol-* commands: create, list,
 * info, delete, wipe, resize, clone, upload, download. A volume is named
 * "POOL:NAME". Resize and clone are done by `vmkit img`, so the two never
 * disagree about formats. Each takes the state lock and makes sure the
 * pool 'local' exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmkit/block.h"
#include "vmkit/mgmt-ops.h"

int vol_create_file(const char *path, const char *format, uint64_t size, const char *backing,
		    const char *backing_fmt, struct vk_err *err)
{
	struct vk_blk_create_opts o = {
		.size = size, .backing_file = backing, .backing_fmt = backing_fmt,
	};

	if (!access(path, F_OK))
		return vk_fail(err, -EEXIST, "%s already exists", path);
	if (!vk_blk_format_creatable(format))
		return vk_fail(err, -EINVAL, "format '%s': expected %s", format,
			       vk_blk_creatable_formats());
	return vk_blk_create(format, path, &o, err);
}

static int create_locked(const char *ref, const char *format, uint64_t size,
			 const char *backing, struct vk_err *err)
{
	char file[PATH_MAX], bfile[PATH_MAX];
	int ret = vol_resolve(ref, false, file, err);

	if (!ret && backing)
		ret = vol_resolve(backing, true, bfile, err);
	if (!ret && backing && !vk_blk_format_has_backing(format))
		ret = vk_fail(err, -EINVAL, "vol create: --backing needs a format with backing files "
			      "(--format qcow2), not %s", format);
	if (!ret)
		ret = vol_create_file(file, format, size, backing ? bfile : NULL, NULL, err);
	return ret;
}

int vol_create(const char *pool, const char *name, const char *format, uint64_t size,
	       const char *backing, struct vk_err *err)
{
	char ref[PATH_MAX];
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	snprintf(ref, sizeof(ref), "%s:%s", pool, name);
	if (!ret)
		ret = create_locked(ref, format ? format : "qcow2", size, backing, err);
	mgmt_op_unlock(took);
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

/* Which VM's config names this volume? */
bool vol_in_use(const char *ref, char *vm)
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

			if (vm_drive_key(d.kv[i].key) && !strncmp(v, ref, len) &&
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

/* What vol list and info show of one volume file; ref is POOL:NAME. */
static int fill_info(const char *ref, const char *file, struct vol_info *v, struct vk_err *err)
{
	struct vk_blk_info info;
	struct vk_blk *bs;
	int ret = open_info(file, &bs, &info, err);

	if (ret)
		return ret;
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", strchr(ref, ':') ? strchr(ref, ':') + 1 : ref);
	snprintf(v->path, sizeof(v->path), "%s", file);
	snprintf(v->format, sizeof(v->format), "%s", info.format);
	v->virtual_size = info.virtual_size;
	v->allocation = info.actual_size;
	if (info.backing_file)
		snprintf(v->backing, sizeof(v->backing), "%s", info.backing_file);
	vk_blk_close(bs);
	vol_in_use(ref, v->used_by);
	return 0;
}

static int list_locked(const char *pool, struct vol_info **out, unsigned int *count,
		       struct vk_err *err)
{
	struct vol_info *list;
	struct pool_def p;
	char **names, **n;
	unsigned int k = 0;
	int ret = pool_load(pool, &p, err);

	if (!ret)
		ret = mgmt_list_dir(p.path, is_vol, &names, err);
	if (ret)
		return ret;
	for (n = names; *n; n++)
		;
	list = calloc(n - names + 1, sizeof(*list));
	for (n = names; list && *n; n++) {
		char file[PATH_MAX], ref[PATH_MAX];

		snprintf(file, sizeof(file), "%s/%s", p.path, *n);
		snprintf(ref, sizeof(ref), "%s:%s", pool, *n);
		if (!fill_info(ref, file, &list[k], NULL))
			k++;
	}
	mgmt_strv_free(names);
	if (!list)
		return vk_fail(err, -ENOMEM, "out of memory");
	*out = list;
	*count = k;
	return 0;
}

int vol_list(const char *pool, struct vol_info **out, unsigned int *n, struct vk_err *err)
{
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = list_locked(pool, out, n, err);
	mgmt_op_unlock(took);
	return ret;
}

int vol_get_info(const char *ref, struct vol_info *info, struct vk_err *err)
{
	char file[PATH_MAX];
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = vol_resolve(ref, true, file, err);
	if (!ret)
		ret = fill_info(ref, file, info, err);
	mgmt_op_unlock(took);
	return ret;
}

static int copy_file(const char *from, const char *to, bool create, mode_t mode,
		     struct vk_err *err)
{
	char buf[1 << 16];
	int in, out, ret = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return vk_fail(err, -errno, "%s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), mode);
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
static int upload_file(const char *file, const char *src, struct vk_err *err)
{
	char tmp[PATH_MAX];
	int ret;

	snprintf(tmp, sizeof(tmp), "%s.upload.%d", file, (int)getpid());
	/* 0644: readable by the user VMs run as (vmkit), as volumes vmkit img makes are. */
	ret = copy_file(src, tmp, true, 0644, err);
	if (!ret && rename(tmp, file) < 0)
		ret = vk_fail(err, -errno, "%s: %s", file, strerror(errno));
	if (ret)
		unlink(tmp);
	return ret;
}

/* wipe: the data goes; a qcow2 volume becomes an empty image of the same size. */
static int wipe_file(const char *file, struct vk_err *err)
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

int vol_check_change(const char *ref, const char *op, char file[PATH_MAX], struct vk_err *err)
{
	char vm[MGMT_NAME_MAX];
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = vol_resolve(ref, true, file, err);
	if (!ret && vol_in_use(ref, vm))
		ret = vk_fail(err, -EBUSY, "volume %s is used by VM '%s'", ref, vm);
	if (!ret && strcmp(op, "resize"))
		ret = refuse_base(ref, file, op, err);
	mgmt_op_unlock(took);
	return ret;
}

/* The checks of op, then do(file, arg) under the lock. */
static int change(const char *ref, const char *op, const char *arg,
		  int (*fn)(const char *ref, const char *file, const char *arg, struct vk_err *err),
		  struct vk_err *err)
{
	char file[PATH_MAX];
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = vol_check_change(ref, op, file, err);
	if (!ret)
		ret = fn(ref, file, arg, err);
	mgmt_op_unlock(took);
	return ret;
}

static int do_delete(const char *ref, const char *file, const char *arg, struct vk_err *err)
{
	(void)ref;
	(void)arg;
	return unlink(file) ? vk_fail(err, -errno, "%s: %s", file, strerror(errno)) : 0;
}

static int do_wipe(const char *ref, const char *file, const char *arg, struct vk_err *err)
{
	(void)ref;
	(void)arg;
	return wipe_file(file, err);
}

static int do_upload(const char *ref, const char *file, const char *src, struct vk_err *err)
{
	(void)ref;
	return upload_file(file, src, err);
}

/* SIZE, +SIZE or -SIZE against cur (bytes unless suffixed, as `vmkit img resize`). */
static int new_size(const char *ref, const char *arg, uint64_t cur, uint64_t *out,
		    struct vk_err *err)
{
	int sign = arg[0] == '+' ? 1 : arg[0] == '-' ? -1 : 0;
	uint64_t v;

	if (vk_parse_size(arg + (sign != 0), 1, &v) < 0 || (v >> 63))
		return vk_fail(err, -EINVAL, "vol resize %s: '%s' is not a size", ref, arg);
	if (sign > 0)
		v = cur + v < cur ? UINT64_MAX : cur + v;
	else if (sign < 0)
		v = v >= cur ? 0 : cur - v;
	if (!v || (v >> 63))
		return vk_fail(err, -EINVAL, "vol resize %s: the new size must be positive", ref);
	*out = v;
	return 0;
}

/* Through the image library, with the image's own lock held while it changes. */
static int resize(const char *ref, const char *file, const char *arg, bool shrink,
		  struct vk_err *err)
{
	struct vk_blk_opts o = { .flags = VK_BLK_RDWR };
	struct vk_err e = { 0 };
	struct vk_blk *bs;
	uint64_t size = 0;
	int ret = vk_blk_open(file, &o, &bs, &e);

	if (ret)
		return vk_fail(err, ret, "vol resize %s: %s", ref, e.msg);
	ret = new_size(ref, arg, vk_blk_length(bs), &size, err);
	if (!ret && size < vk_blk_length(bs) && !shrink)
		ret = vk_fail(err, -EINVAL, "vol resize %s: %s is smaller than the volume: shrinking "
			      "deletes the data past the new end, say --shrink to do it", ref, arg);
	if (!ret && vk_blk_truncate(bs, size, VK_PREALLOC_OFF, &e) < 0)
		ret = vk_fail(err, -EIO, "vol resize %s: %s", ref, e.msg);
	vk_blk_close(bs);
	return ret;
}

static int do_grow(const char *ref, const char *file, const char *size, struct vk_err *err)
{
	return resize(ref, file, size, false, err);
}

static int do_shrink(const char *ref, const char *file, const char *size, struct vk_err *err)
{
	return resize(ref, file, size, true, err);
}

int vol_delete(const char *ref, struct vk_err *err)
{
	return change(ref, "delete", NULL, do_delete, err);
}

int vol_wipe(const char *ref, struct vk_err *err)
{
	return change(ref, "wipe", NULL, do_wipe, err);
}

/*
 * Into an existing volume (after the in-use and base checks), or a new one:
 * an ISO or an image brought to the pool, as Proxmox's upload makes one.
 */
int vol_upload(const char *ref, const char *src, struct vk_err *err)
{
	char file[PATH_MAX];
	bool took;
	int ret;

	if (vol_resolve(ref, true, file, NULL))
		ret = mgmt_op_lock_pools(&took, err);
	else
		return change(ref, "upload", src, do_upload, err);
	if (!ret)
		ret = mgmt_check_name("volume", ref + strcspn(ref, ":") + (strchr(ref, ':') != NULL), err);
	if (!ret)
		ret = vol_resolve(ref, false, file, err);
	if (!ret)
		ret = upload_file(file, src, err);
	mgmt_op_unlock(took);
	return ret;
}

int vol_resize(const char *ref, const char *size, bool shrink, struct vk_err *err)
{
	return change(ref, "resize", size, shrink ? do_shrink : do_grow, err);
}

int vol_download(const char *ref, const char *dst, struct vk_err *err)
{
	char file[PATH_MAX];
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = vol_resolve(ref, true, file, err);
	if (!ret)
		ret = copy_file(file, dst, true, 0600, err);
	mgmt_op_unlock(took);
	return ret;
}

static int clone_locked(const char *ref, const char *newname, struct vk_err *err)
{
	char file[PATH_MAX], nref[PATH_MAX], nfile[PATH_MAX];
	struct vk_err e = { 0 };
	struct vk_blk_info info;
	const char *fmt;
	struct vk_blk *bs;
	int ret = vol_resolve(ref, true, file, err);

	snprintf(nref, sizeof(nref), "%.*s:%s", (int)strcspn(ref, ":"), ref, newname);
	if (!ret)
		ret = vol_resolve(nref, false, nfile, err);
	if (!ret && !access(nfile, F_OK))
		ret = vk_fail(err, -EEXIST, "volume %s already exists", nref);
	if (!ret)
		ret = open_info(file, &bs, &info, err);
	if (ret)
		return ret;
	/* A format vmkit only reads (vmdk, vdi, ...) is copied to raw. */
	fmt = vk_blk_format_creatable(info.format) ? info.format : "raw";
	vk_blk_close(bs);
	ret = vk_blk_copy_new(file, nfile, fmt, &e);
	if (ret)
		return vk_fail(err, ret, "vol clone %s failed: %s", ref, e.msg);
	return 0;
}

int vol_clone(const char *ref, const char *newname, struct vk_err *err)
{
	bool took;
	int ret = mgmt_op_lock_pools(&took, err);

	if (!ret)
		ret = clone_locked(ref, newname, err);
	mgmt_op_unlock(took);
	return ret;
}
