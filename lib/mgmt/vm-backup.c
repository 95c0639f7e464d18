// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit backup NAME DIR|POOL (Proxmox's vzdump, issue 15): every disk of
 * the VM as it was at one moment, with its definition, into a directory of
 * its own:
 *
 *   DIR/vzdump-vmkit-NAME-YYYY_MM_DD-HH_MM_SS/
 *       vm.conf                the definition
 *       drive-KEY.qcow2        each disk (KEY: virtio0, scsi0, ...), zstd-compressed
 *       index.json             what the backup holds (format, mode, parent, disks)
 *
 * It is made as DIR/.NAME.tmp and renamed into place once complete and
 * synced: a directory with the final name is always a whole backup.
 *
 * A running VM's monitor copies its disks itself while the guest runs
 * (QMP x-vmkit-backup: copy-before-write, vmm/block/backup.c) into its
 * run/out directory, from where they are copied here; a shut-off VM's
 * disks are read here through the block library.
 *
 * Incremental: a qcow2 disk keeps a persistent dirty bitmap, vmkit-backup,
 * that each backup empties at its moment. The next backup into the same
 * directory copies only what it has set, into an image whose backing file
 * is the previous backup's (../vzdump-.../drive-KEY.qcow2), so the newest
 * directory with the ones before it reads as the whole disk. A raw disk,
 * a bitmap that is missing or was left in use (a crash), another target
 * directory, or a chain already MAX_CHAIN long make a full backup instead.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vmkit/block.h"
#include "vmkit/mgmt-ops.h"

#define BITMAP		"vmkit-backup"
#define CHUNK		(64u << 10)	/* the monitor's copy unit and the targets' cluster */
#define MAX_DISKS	32
#define MAX_CHAIN	14		/* incrementals over one full: the library opens 16 deep */
#define LAST_FILE	"backup.last"	/* vms/NAME/: the newest backup's directory */

struct bdisk {
	char key[32];
	char file[PATH_MAX];		/* the disk's image */
	bool qcow2;
	bool incremental;
	uint64_t size, copied;
	char device[64];		/* QMP's name, running VMs */
};

struct bjob {
	const char *name;
	const struct vm_backup_opts *o;
	char dir[PATH_MAX];		/* where backups go */
	char final[PATH_MAX], tmp[PATH_MAX];
	char parent[PATH_MAX];		/* the previous backup's directory name, or "" */
	unsigned int depth;		/* incrementals since the last full */
	struct bdisk d[MAX_DISKS];
	unsigned int n;
};

/* ---- where and what ---- */

static int target_dir(const char *where, char *out, struct vk_err *err)
{
	struct pool_def p;
	struct stat st;
	char path[PATH_MAX];

	/* A pool by name (no slash): its dump/ directory, as Proxmox's storage keeps them. */
	if (!strchr(where, '/') && stat(where, &st) < 0) {
		int r = pool_load(where, &p, err);

		if (r)
			return vk_fail(err, r, "%s: neither a directory nor a storage pool", where);
		snprintf(path, sizeof(path), "%s/dump", p.path);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return vk_fail(err, -errno, "%s: %s", path, strerror(errno));
		where = path;
	}
	if (!realpath(where, out))
		return vk_fail(err, -errno, "%s: %s", where, strerror(errno));
	if (stat(out, &st) < 0 || !S_ISDIR(st.st_mode))
		return vk_fail(err, -ENOTDIR, "%s: not a directory", where);
	return 0;
}

static int collect_disks(struct bjob *j, const struct vm_def *d, struct vk_err *err)
{
	unsigned int i;
	int r;

	for (i = 0; i < d->n; i++) {
		struct vk_blk_opts o = { .flags = VK_BLK_FORCE_SHARE | VK_BLK_NO_BACKING };
		struct vk_blk_info info;
		struct vk_blk *bs;
		struct bdisk *b;
		char ref[PATH_MAX];

		if (!vm_disk_entry(d->kv[i].key, d->kv[i].val))
			continue;
		if (j->n == MAX_DISKS)
			return vk_fail(err, -E2BIG, "VM '%s' has more than %d disks", j->name,
				       MAX_DISKS);
		b = &j->d[j->n++];
		snprintf(b->key, sizeof(b->key), "%s", d->kv[i].key);
		snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(d->kv[i].val, ","), d->kv[i].val);
		r = vol_resolve(ref, true, b->file, err);
		if (!r)
			r = vk_blk_open(b->file, &o, &bs, err);
		if (r)
			return mgmt_wrap(err, b->key);
		vk_blk_get_info(bs, &info);
		b->qcow2 = !strcmp(info.format, "qcow2");
		b->size = vk_blk_length(bs);
		vk_blk_close(bs);
	}
	if (!j->n)
		return vk_fail(err, -ENOENT, "VM '%s' has no disks to back up", j->name);
	return 0;
}

/* The index of a backup directory (absolute), parsed; NULL with err set. */
static json_object *read_index(const char *dir, struct vk_err *err)
{
	char path[PATH_MAX];
	json_object *o, *v;

	snprintf(path, sizeof(path), "%s/index.json", dir);
	o = json_object_from_file(path);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		vk_fail(err, -EINVAL, "%s: missing or not JSON", path);
		return NULL;
	}
	if (!json_object_object_get_ex(o, "format", &v) ||
	    strcmp(json_object_get_string(v), "vmkit-backup") ||
	    !json_object_object_get_ex(o, "version", &v) || json_object_get_int(v) != 1 ||
	    !json_object_object_get_ex(o, "disks", &v) ||
	    !json_object_is_type(v, json_type_array)) {
		json_object_put(o);
		vk_fail(err, -EINVAL, "%s: not a vmkit backup index (version 1)", path);
		return NULL;
	}
	return o;
}

/*
 * Whether this backup can build on the VM's last one: same directory, still
 * there, the same disks, a chain not too long. Why not goes to why.
 */
static bool find_parent(struct bjob *j, char *why, size_t n)
{
	char path[PATH_MAX], last[PATH_MAX] = "", *slash;
	struct vk_err e = { 0 };
	json_object *idx, *disks, *v;
	unsigned int i;
	FILE *f = fopen(mgmt_path(path, "vms/%s/%s", j->name, LAST_FILE), "r");
	bool ok = false;

	if (f) {
		if (!fgets(last, sizeof(last), f))
			last[0] = 0;
		fclose(f);
	}
	last[strcspn(last, "\n")] = 0;
	slash = strrchr(last, '/');
	if (!slash) {
		snprintf(why, n, "no earlier backup");
		return false;
	}
	*slash = 0;
	if (strcmp(last, j->dir)) {
		snprintf(why, n, "the last backup is in %s", last);
		return false;
	}
	*slash = '/';
	idx = read_index(last, &e);
	if (!idx) {
		snprintf(why, n, "the last backup, %s, is gone or damaged", last);
		return false;
	}
	disks = json_object_object_get(idx, "disks");
	if (json_object_array_length(disks) != j->n) {
		snprintf(why, n, "the VM's disks changed");
		goto out;
	}
	for (i = 0; i < j->n; i++) {
		json_object *k = json_object_object_get(json_object_array_get_idx(disks, i), "key");

		if (!k || strcmp(json_object_get_string(k), j->d[i].key)) {
			snprintf(why, n, "the VM's disks changed");
			goto out;
		}
	}
	j->depth = json_object_object_get_ex(idx, "depth", &v) ? json_object_get_int(v) + 1 : 1;
	if (j->depth > MAX_CHAIN) {
		snprintf(why, n, "%d incremental backups since the last full one", MAX_CHAIN);
		goto out;
	}
	snprintf(j->parent, sizeof(j->parent), "%s", slash + 1);
	ok = true;
out:
	json_object_put(idx);
	return ok;
}

/* ---- the copy of a shut-off VM's disk ---- */

struct dirty_ctx {
	struct vk_blk *src, *dst;
	struct bdisk *b;
	uint8_t *buf;
	bool compress;
	struct vk_err *err;
};

static int copy_range(void *opaque, uint64_t off, uint64_t len)
{
	struct dirty_ctx *c = opaque;
	uint64_t end = off + len, n;
	int r = 0;

	/* Whole chunks: a compressed cluster is written once, all of it. */
	for (off -= off % CHUNK; !r && off < end && off < c->b->size; off += n) {
		n = MIN((uint64_t)CHUNK, c->b->size - off);
		r = vk_blk_pread(c->src, c->buf, off, n, c->err);
		if (!r)
			r = vk_blk_backup_write(c->dst, off, c->buf, n, c->b->incremental,
						c->compress, c->err);
		c->b->copied += n;
	}
	return r;
}

/* The bitmap reset: it tracks from this backup on (a full one makes it if missing). */
static int reset_bitmap(struct vk_blk *bs, struct vk_err *err)
{
	int r = vk_blk_bitmap_clear(bs, BITMAP, err);

	if (r == -ENOENT)
		r = vk_blk_bitmap_add(bs, BITMAP, CHUNK, err);
	return r;
}

static int offline_disk(struct bjob *j, struct bdisk *b, const char *target, struct vk_err *err)
{
	struct vk_blk_opts so = { .flags = b->qcow2 ? VK_BLK_RDWR : 0 };
	struct vk_blk_opts to = { .format = "qcow2", .flags = VK_BLK_RDWR | VK_BLK_NO_BACKING };
	struct vk_blk_create_opts co = { .size = b->size, .cluster_size = CHUNK, .compat = 3,
					 .compression_type = j->o->compress ? 1 : 0 };
	struct dirty_ctx c = { .b = b, .compress = j->o->compress, .err = err };
	int r;

	r = vk_blk_open(b->file, &so, &c.src, err);
	if (r)
		return mgmt_wrap(err, b->key);
	c.buf = malloc(CHUNK);
	r = c.buf ? vk_blk_create("qcow2", target, &co, err) : vk_fail(err, -ENOMEM, "out of memory");
	if (!r)
		r = vk_blk_open(target, &to, &c.dst, err);
	if (!r && b->incremental) {
		r = vk_blk_bitmap_dirty_each(c.src, BITMAP, copy_range, &c, err);
		if (r == -ENOENT || r == -EINVAL)
			b->incremental = false;		/* no usable bitmap: the caller goes full */
	} else if (!r) {
		r = copy_range(&c, 0, b->size);
	}
	if (!r && j->o->compress)
		r = vk_blk_pwrite_compressed(c.dst, 0, NULL, 0, NULL, 0, err);
	if (!r)
		r = vk_blk_flush(c.dst, err);
	/* Only once the copy is whole: the bitmap then starts over from this moment. */
	if (!r && b->qcow2)
		r = reset_bitmap(c.src, err);
	if (c.dst)
		vk_blk_close(c.dst);
	vk_blk_close(c.src);
	free(c.buf);
	return r ? mgmt_wrap(err, b->key) : 0;
}

/* ---- the copy of a running VM's disks, by its monitor ---- */

/* QMP's name for each disk: query-block lists the files the monitor opened. */
static int map_devices(struct bjob *j, struct vk_err *err)
{
	char *ret = NULL;
	json_object *arr;
	unsigned int i;
	size_t k;
	int r = vm_qmp_call(j->name, "query-block", NULL, &ret, err);

	if (r)
		return r;
	arr = json_tokener_parse(ret);
	free(ret);
	for (i = 0; i < j->n; i++) {
		for (k = 0; k < json_object_array_length(arr); k++) {
			json_object *e = json_object_array_get_idx(arr, k), *ins, *f;

			if (json_object_object_get_ex(e, "inserted", &ins) &&
			    json_object_object_get_ex(ins, "file", &f) &&
			    !strcmp(json_object_get_string(f), j->d[i].file))
				snprintf(j->d[i].device, sizeof(j->d[i].device), "%s",
					 json_object_get_string(json_object_object_get(e, "device")));
		}
		if (!j->d[i].device[0]) {
			json_object_put(arr);
			return vk_fail(err, -ENOENT, "%s: the running VM has no disk %s", j->d[i].key,
				       j->d[i].file);
		}
	}
	json_object_put(arr);
	return 0;
}

static char *backup_args(struct bjob *j)
{
	json_object *o = json_object_new_object(), *disks = json_object_new_array();
	char target[128], *s;
	unsigned int i;

	for (i = 0; i < j->n; i++) {
		json_object *d = json_object_new_object();

		snprintf(target, sizeof(target), "out/backup-%s.qcow2", j->d[i].key);
		json_object_object_add(d, "device", json_object_new_string(j->d[i].device));
		json_object_object_add(d, "target", json_object_new_string(target));
		json_object_object_add(d, "sync", json_object_new_string(
			j->d[i].incremental ? "incremental" : "full"));
		if (j->d[i].qcow2)
			json_object_object_add(d, "bitmap", json_object_new_string(BITMAP));
		json_object_array_add(disks, d);
	}
	json_object_object_add(o, "job-id", json_object_new_string("vmkit-backup"));
	json_object_object_add(o, "compress", json_object_new_boolean(j->o->compress));
	if (j->o->bwlimit)
		json_object_object_add(o, "speed", json_object_new_int64((int64_t)j->o->bwlimit));
	json_object_object_add(o, "disks", disks);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* Until the job ends: its error, if it had one, becomes ours. */
static int follow_job(struct bjob *j, struct vk_err *err)
{
	for (;;) {
		char *ret = NULL;
		json_object *arr, *job, *v;
		int r = vm_qmp_call(j->name, "query-block-jobs", NULL, &ret, err);

		if (r)
			return vk_fail(err, r, "the VM's monitor went away during the backup (%s)",
				       err->msg);
		arr = json_tokener_parse(ret);
		free(ret);
		job = json_object_array_length(arr) ? json_object_array_get_idx(arr, 0) : NULL;
		if (!job) {
			json_object_put(arr);
			return vk_fail(err, -EIO, "the backup job is gone (the VM stopped?)");
		}
		if (strcmp(json_object_get_string(json_object_object_get(job, "status")),
			   "concluded")) {
			json_object_put(arr);
			usleep(100 * 1000);
			continue;
		}
		r = json_object_object_get_ex(job, "error", &v) ?
			vk_fail(err, -EIO, "%s", json_object_get_string(v)) : 0;
		json_object_put(arr);
		vm_qmp_call(j->name, "job-dismiss", "{\"id\":\"vmkit-backup\"}", NULL, NULL);
		return r;
	}
}

static int online(struct bjob *j, struct vk_err *err)
{
	char path[PATH_MAX], src[64], dst[PATH_MAX], *args;
	unsigned int i;
	int r = map_devices(j, err);

	for (i = 0; i < j->n && !r; i++)	/* left by a backup that died halfway */
		unlink(mgmt_path(path, "vms/%s/run/out/backup-%s.qcow2", j->name, j->d[i].key));
	if (r)
		return r;
	args = backup_args(j);
	if (!args)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = vm_qmp_call(j->name, "x-vmkit-backup", args, NULL, err);
	free(args);
	if (r)
		return r;
	r = follow_job(j, err);
	for (i = 0; i < j->n && !r; i++) {
		snprintf(src, sizeof(src), "backup-%s.qcow2", j->d[i].key);
		snprintf(dst, sizeof(dst), "%s/drive-%s.qcow2", j->tmp, j->d[i].key);
		r = vm_run_file_out(j->name, src, dst, 0600, err);
	}
	return r;
}

/* ---- the backup directory ---- */

static int link_parent(struct bjob *j, struct bdisk *b, struct vk_err *err)
{
	struct vk_blk_opts o = { .format = "qcow2", .flags = VK_BLK_RDWR | VK_BLK_NO_BACKING };
	char path[PATH_MAX], backing[PATH_MAX];
	struct vk_blk *bs;
	int r;

	snprintf(path, sizeof(path), "%s/drive-%s.qcow2", j->tmp, b->key);
	snprintf(backing, sizeof(backing), "../%s/drive-%s.qcow2", j->parent, b->key);
	r = vk_blk_open(path, &o, &bs, err);
	if (r)
		return r;
	r = vk_blk_set_backing(bs, backing, "qcow2", err);
	if (!r)
		r = vk_blk_flush(bs, err);
	vk_blk_close(bs);
	return r;
}

static int write_meta(struct bjob *j, const struct vm_def *d, time_t now, struct vk_err *err)
{
	json_object *o = json_object_new_object(), *disks = json_object_new_array();
	char path[PATH_MAX], *conf = vm_def_format(d);
	bool inc = false;
	unsigned int i;
	int r;

	if (!conf)
		return vk_fail(err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/vm.conf", j->tmp);
	r = mgmt_write_atomic(path, conf, strlen(conf), 0600, err);
	free(conf);
	for (i = 0; i < j->n; i++) {
		json_object *e = json_object_new_object();
		char file[64];

		snprintf(file, sizeof(file), "drive-%s.qcow2", j->d[i].key);
		json_object_object_add(e, "key", json_object_new_string(j->d[i].key));
		json_object_object_add(e, "file", json_object_new_string(file));
		json_object_object_add(e, "size", json_object_new_int64((int64_t)j->d[i].size));
		json_object_object_add(e, "incremental", json_object_new_boolean(j->d[i].incremental));
		json_object_array_add(disks, e);
		inc |= j->d[i].incremental;
	}
	json_object_object_add(o, "format", json_object_new_string("vmkit-backup"));
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "vm", json_object_new_string(j->name));
	json_object_object_add(o, "time", json_object_new_int64((int64_t)now));
	json_object_object_add(o, "mode", json_object_new_string(inc ? "incremental" : "full"));
	json_object_object_add(o, "depth", json_object_new_int(inc ? (int)j->depth : 0));
	if (inc)
		json_object_object_add(o, "parent", json_object_new_string(j->parent));
	json_object_object_add(o, "compress", json_object_new_string(j->o->compress ? "zstd"
										     : "none"));
	json_object_object_add(o, "disks", disks);
	if (!r) {
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);

		snprintf(path, sizeof(path), "%s/index.json", j->tmp);
		r = mgmt_write_atomic(path, s, strlen(s), 0600, err);
	}
	json_object_put(o);
	return r;
}

/* Every file of the directory on disk before its name says it is whole. */
static int sync_dir_files(const char *dir, struct vk_err *err)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dp = opendir(dir);
	int fd, r = 0;

	if (!dp)
		return vk_fail(err, -errno, "%s: %s", dir, strerror(errno));
	while (!r && (e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0)
			r = vk_fail(err, -errno, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	closedir(dp);
	fd = r ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return r;
}

static int name_it(struct bjob *j, time_t now, struct vk_err *err)
{
	char stamp[32];
	struct tm tm;
	unsigned int k;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y_%m_%d-%H_%M_%S", &tm);
	for (k = 0; k < 100; k++) {
		snprintf(j->final, sizeof(j->final), "%s/vzdump-vmkit-%s-%s%s%.0u", j->dir, j->name,
			 stamp, k ? "-" : "", k);
		if (access(j->final, F_OK))
			break;
	}
	snprintf(j->tmp, sizeof(j->tmp), "%s/.vzdump-vmkit-%s.tmp", j->dir, j->name);
	mgmt_rm_rf(j->tmp);		/* what a backup that died halfway left */
	if (mkdir(j->tmp, 0700) < 0)
		return vk_fail(err, -errno, "%s: %s", j->tmp, strerror(errno));
	return 0;
}

static int run_backup(struct bjob *j, const struct vm_def *d, bool running, struct vk_err *err)
{
	char path[PATH_MAX];
	unsigned int i;
	int r = 0;

	if (running) {
		r = online(j, err);
	} else {
		for (i = 0; i < j->n && !r; i++) {
			snprintf(path, sizeof(path), "%s/drive-%s.qcow2", j->tmp, j->d[i].key);
			r = offline_disk(j, &j->d[i], path, err);
		}
	}
	return r;
}

int vm_backup(const char *name, const char *where, const struct vm_backup_opts *o,
	      char *out, struct vk_err *err)
{
	struct bjob *j = calloc(1, sizeof(*j));
	char why[PATH_MAX + 64] = "", path[PATH_MAX];
	struct vm_status st;
	struct vm_def d;
	bool running, inc = false;
	time_t now = time(NULL);
	unsigned int i;
	int r;

	if (!j)
		return vk_fail(err, -ENOMEM, "out of memory");
	j->name = name;
	j->o = o;
	r = vm_load(name, &d, err);
	if (r) {
		free(j);
		return r;
	}
	r = target_dir(where, j->dir, err);
	if (!r)
		r = collect_disks(j, &d, err);
	if (!r && o->mode != VM_BACKUP_FULL) {
		inc = find_parent(j, why, sizeof(why));
		if (!inc && o->mode == VM_BACKUP_INCREMENTAL)
			r = vk_fail(err, -ENOENT, "no incremental backup of VM '%s' into %s: %s", name,
				    j->dir, why);
	}
	for (i = 0; i < j->n; i++)
		j->d[i].incremental = inc && j->d[i].qcow2;
	vm_status_get(name, &st);
	running = st.state == VM_RUNNING || st.state == VM_PAUSED;
	if (!r)
		r = name_it(j, now, err);
	if (!r) {
		r = run_backup(j, &d, running, err);
		/* A bitmap that is missing or was in use: no incremental after all, a full one. */
		if (r && inc && o->mode == VM_BACKUP_AUTO && strcasestr(err->msg, "bitmap")) {
			snprintf(why, sizeof(why), "%s", err->msg);
			mgmt_rm_rf(j->tmp);
			mkdir(j->tmp, 0700);
			for (i = 0; i < j->n; i++)
				j->d[i].incremental = false;
			*err = (struct vk_err){ 0 };
			r = run_backup(j, &d, running, err);
		}
	}
	for (i = 0; i < j->n && !r; i++)
		if (j->d[i].incremental)
			r = link_parent(j, &j->d[i], err);
	if (!r)
		r = write_meta(j, &d, now, err);
	if (!r)
		r = sync_dir_files(j->tmp, err);
	if (!r && rename(j->tmp, j->final) < 0)
		r = vk_fail(err, -errno, "%s: %s", j->final, strerror(errno));
	if (r) {
		mgmt_rm_rf(j->tmp);
	} else {
		snprintf(out, PATH_MAX, "%s", j->final);
		mgmt_write_atomic(mgmt_path(path, "vms/%s/%s", name, LAST_FILE), j->final,
				  strlen(j->final), 0600, err);
	}
	vm_def_free(&d);
	free(j);
	return r;
}
