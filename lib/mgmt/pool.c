// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Storage pools, as libvirt's dir pools: a directory holding volumes (image
 * files), defined in pools/NAME.conf. "local" ($VMKIT_HOME/images) always
 * exists. Volumes are named POOL:VOLUME in VM configs.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmkit/mgmt.h"

static int pool_set(void *ctx, const char *key, const char *val, struct vk_err *err)
{
	struct pool_def *p = ctx;

	if (!strcmp(key, "type"))
		snprintf(p->type, sizeof(p->type), "%s", val);
	else if (!strcmp(key, "path"))
		snprintf(p->path, sizeof(p->path), "%s", val);
	else if (!strcmp(key, "autostart"))
		p->autostart = !strcmp(val, "1");
	else if (!strcmp(key, "active"))
		p->active = !strcmp(val, "1");
	else
		return vk_fail(err, -EINVAL, "unknown key '%s'", key);
	return 0;
}

int pool_load(const char *name, struct pool_def *p, struct vk_err *err)
{
	char path[PATH_MAX];
	int ret;

	ret = mgmt_check_name("pool", name, err);
	if (ret)
		return ret;
	if (!strcmp(name, "local")) {
		ret = pool_ensure_default(err);
		if (ret)
			return ret;
	}
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	ret = mgmt_load_kv(mgmt_path(path, "pools/%s.conf", name), "pool", name, pool_set, p, err);
	if (ret)
		return ret;
	if (strcmp(p->type, "dir") || p->path[0] != '/')
		return vk_fail(err, -EINVAL, "%s: needs 'type: dir' and an absolute 'path:'", path);
	return 0;
}

int pool_save(const struct pool_def *p, struct vk_err *err)
{
	char path[PATH_MAX], text[PATH_MAX + 128];
	int n;

	n = snprintf(text, sizeof(text), "type: %s\npath: %s\nautostart: %d\nactive: %d\n", p->type,
		     p->path, p->autostart, p->active);
	return mgmt_write_atomic(mgmt_path(path, "pools/%s.conf", p->name), text, n, 0600, err);
}

int pool_delete(const char *name, struct vk_err *err)
{
	char path[PATH_MAX];

	if (unlink(mgmt_path(path, "pools/%s.conf", name)) < 0)
		return vk_fail(err, -errno, "pool '%s': %s", name, strerror(errno));
	return 0;
}

static bool is_pool_conf(const char *dir, const char *name, char *out)
{
	size_t n = strlen(name);

	if (n < 6 || n - 5 >= MGMT_NAME_MAX || strcmp(name + n - 5, ".conf"))
		return false;
	snprintf(out, MGMT_NAME_MAX, "%.*s", (int)(n - 5), name);
	return !mgmt_check_name("pool", out, NULL);
}

int pool_list_names(char ***names, struct vk_err *err)
{
	char p[PATH_MAX];
	int ret = pool_ensure_default(err);

	return ret ? ret : mgmt_list_dir(mgmt_path(p, "pools"), is_pool_conf, names, err);
}

int pool_ensure_default(struct vk_err *err)
{
	struct pool_def p = { .name = "local", .type = "dir", .autostart = true, .active = true };
	char conf[PATH_MAX];
	int ret = mgmt_home_init(err);

	if (ret || !access(mgmt_path(conf, "pools/local.conf"), F_OK))
		return ret;
	mgmt_path(p.path, "images");
	return pool_save(&p, err);
}

int vol_resolve(const char *ref, bool must_exist, char *out, struct vk_err *err)
{
	char pool[MGMT_NAME_MAX];
	const char *colon = strchr(ref, ':');
	struct pool_def p;
	int ret;

	if (ref[0] == '/') {
		snprintf(out, PATH_MAX, "%s", ref);
	} else {
		if (!colon || (size_t)(colon - ref) >= sizeof(pool))
			return vk_fail(err, -EINVAL, "'%s' is not POOL:VOLUME", ref);
		snprintf(pool, sizeof(pool), "%.*s", (int)(colon - ref), ref);
		ret = pool_load(pool, &p, err);
		if (!ret)
			ret = mgmt_check_name("volume", colon + 1, err);
		if (ret)
			return ret;
		if (!p.active)
			return vk_fail(err, -EINVAL, "pool '%s' is not active (vmkit pool start %s)",
				       pool, pool);
		if (snprintf(out, PATH_MAX, "%s/%s", p.path, colon + 1) >= PATH_MAX)
			return vk_fail(err, -ENAMETOOLONG, "volume %s: path too long", ref);
	}
	if (must_exist && access(out, F_OK))
		return vk_fail(err, -ENOENT, "volume %s: %s does not exist", ref, out);
	return 0;
}
