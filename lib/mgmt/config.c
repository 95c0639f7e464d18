// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VM definitions: `key: value` lines in the style of Proxmox's qm config,
 * read, validated, written back atomically, listed. The VM's name is its
 * directory under vms/ and also the config's `name:` line.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmkit/mgmt.h"

#define CONFIG_MAX	(256 * 1024)

void vm_def_free(struct vm_def *d)
{
	unsigned int i;

	for (i = 0; i < d->n; i++) {
		free(d->kv[i].key);
		free(d->kv[i].val);
	}
	free(d->kv);
	d->kv = NULL;
	d->n = 0;
}

/* name followed by digits only, as Proxmox numbers its drive keys. */
static bool numbered(const char *key, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(key, name, n) && key[n] && strspn(key + n, "0123456789") == strlen(key + n);
}

bool vm_drive_key(const char *key)
{
	return numbered(key, "virtio") || numbered(key, "scsi") || numbered(key, "sata") ||
	       numbered(key, "ide");
}

bool vm_disk_entry(const char *key, const char *val)
{
	const char *p;

	if (!vm_drive_key(key))
		return false;
	for (p = strchr(val, ','); p; p = strchr(p + 1, ','))
		if (!strncmp(p + 1, "media=cdrom", 11) && (!p[12] || p[12] == ','))
			return false;
	return true;
}

const char *vm_def_get(const struct vm_def *d, const char *key)
{
	unsigned int i;

	for (i = 0; i < d->n; i++)
		if (!strcmp(d->kv[i].key, key))
			return d->kv[i].val;
	return NULL;
}

static int def_put(struct vm_def *d, const char *key, const char *val)
{
	struct vm_kv *kv;
	unsigned int i;
	char *v;

	for (i = 0; i < d->n; i++) {
		if (strcmp(d->kv[i].key, key))
			continue;
		v = strdup(val);
		if (!v)
			return -ENOMEM;
		free(d->kv[i].val);
		d->kv[i].val = v;
		return 0;
	}
	kv = realloc(d->kv, (d->n + 1) * sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	d->kv = kv;
	kv[d->n].key = strdup(key);
	kv[d->n].val = strdup(val);
	if (!kv[d->n].key || !kv[d->n].val) {
		free(kv[d->n].key);
		free(kv[d->n].val);
		return -ENOMEM;
	}
	d->n++;
	return 0;
}

static void def_del(struct vm_def *d, const char *key)
{
	unsigned int i;

	for (i = 0; i < d->n; i++) {
		if (strcmp(d->kv[i].key, key))
			continue;
		free(d->kv[i].key);
		free(d->kv[i].val);
		memmove(&d->kv[i], &d->kv[i + 1], (d->n - i - 1) * sizeof(d->kv[0]));
		d->n--;
		return;
	}
}

int vm_def_set(struct vm_def *d, const char *key, const char *val, struct vk_err *err)
{
	int ret;

	if (!strcmp(key, "name")) {
		if (!val)
			return vk_fail(err, -EINVAL, "name: cannot be deleted");
		ret = mgmt_check_name("VM", val, err);
		if (!ret)
			snprintf(d->name, sizeof(d->name), "%s", val);
		return ret;
	}
	if (!val) {
		if (!vm_def_get(d, key))
			return vk_fail(err, -ENOENT, "%s: not set", key);
		def_del(d, key);
		return 0;
	}
	ret = vm_key_validate(key, val, err);
	if (ret)
		return ret;
	if (def_put(d, key, val))
		return vk_fail(err, -ENOMEM, "out of memory");
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

static int parse_line(struct vm_def *d, char *line, const char *where, unsigned int lineno,
		      struct vk_err *err)
{
	char *colon, *key, *val;
	int ret;

	line = trim(line);
	if (!*line || *line == '#')
		return 0;
	colon = strchr(line, ':');
	if (!colon)
		return vk_fail(err, -EINVAL, "%s:%u: expected 'key: value'", where, lineno);
	*colon = 0;
	key = trim(line);
	val = trim(colon + 1);
	if (strcmp(key, "name") && vm_def_get(d, key))
		return vk_fail(err, -EINVAL, "%s:%u: %s: given twice", where, lineno, key);
	ret = vm_def_set(d, key, val, err);
	if (ret) {
		char what[PATH_MAX + 16];

		snprintf(what, sizeof(what), "%s:%u", where, lineno);
		return mgmt_wrap(err, what);
	}
	return 0;
}

int vm_def_parse(const char *text, const char *where, struct vm_def *d, struct vk_err *err)
{
	char *copy = strdup(text), *line, *save = NULL;
	unsigned int lineno = 0;
	int ret = 0;

	memset(d, 0, sizeof(*d));
	if (!copy)
		return vk_fail(err, -ENOMEM, "out of memory");
	/* strtok_r would skip empty lines and so miscount them. */
	for (line = copy; line && !ret; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = 0;
		lineno++;
		ret = parse_line(d, line, where, lineno, err);
	}
	free(copy);
	if (!ret && !d->name[0])
		ret = vk_fail(err, -EINVAL, "%s: no 'name:' line", where);
	if (!ret)
		ret = vm_def_check(d, err);
	if (ret)
		vm_def_free(d);
	return ret;
}

char *vm_def_format(const struct vm_def *d)
{
	size_t len = strlen(d->name) + 8, off;
	unsigned int i;
	char *s;

	for (i = 0; i < d->n; i++)
		len += strlen(d->kv[i].key) + strlen(d->kv[i].val) + 3;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	off = sprintf(s, "name: %s\n", d->name);
	for (i = 0; i < d->n; i++)
		off += sprintf(s + off, "%s: %s\n", d->kv[i].key, d->kv[i].val);
	return s;
}

unsigned int vm_def_vcpus(const struct vm_def *d)
{
	const char *c = vm_def_get(d, "cores"), *s = vm_def_get(d, "sockets");

	return (c ? atoi(c) : 1) * (s ? atoi(s) : 1);
}

uint64_t vm_def_memory_mib(const struct vm_def *d)
{
	const char *m = vm_def_get(d, "memory");
	uint64_t v = 512 * MiB;

	if (m)
		vk_parse_size(m, MiB, &v);
	return v / MiB;
}

int vm_def_check(const struct vm_def *d, struct vk_err *err)
{
	long host = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int vcpus = vm_def_vcpus(d);
	const char *b = vm_def_get(d, "balloon"), *pin;
	uint64_t bal;

	/* Proxmox refuses more vCPUs than the host has: they could never all run. */
	if (vcpus > (unsigned long)host)
		return vk_fail(err, -EINVAL, "cores x sockets = %u vCPUs, but this host has only %ld CPUs",
			       vcpus, host);
	/* vcpupin names vCPUs by number: each must be one of this VM's. */
	for (pin = vm_def_get(d, "vcpupin"); pin && *pin; pin += strcspn(pin, " "),
	     pin += strspn(pin, " "))
		if (strtoul(pin, NULL, 10) >= vcpus)
			return vk_fail(err, -EINVAL, "vcpupin: vCPU %lu, but the VM has %u vCPUs (0-%u)",
				       strtoul(pin, NULL, 10), vcpus, vcpus - 1);
	if (b && !vk_parse_size(b, MiB, &bal) && bal / MiB > vm_def_memory_mib(d))
		return vk_fail(err, -EINVAL, "balloon: %s is more than memory (%llu MiB)", b,
			       (unsigned long long)vm_def_memory_mib(d));
	return 0;
}

bool vm_exists(const char *name)
{
	char p[PATH_MAX];

	return !mgmt_check_name("VM", name, NULL) &&
	       !access(mgmt_path(p, "vms/%s/config", name), F_OK);
}

int vm_load(const char *name, struct vm_def *d, struct vk_err *err)
{
	_cleanup_free_ char *text = NULL;
	char p[PATH_MAX];
	size_t len;
	int ret;

	ret = mgmt_check_name("VM", name, err);
	if (ret)
		return ret;
	ret = vk_read_file(mgmt_path(p, "vms/%s/config", name), (void **)&text, &len, CONFIG_MAX);
	if (ret == -ENOENT)
		return vk_fail(err, ret, "VM '%s' does not exist", name);
	if (ret)
		return vk_fail(err, ret, "%s: %s", p, strerror(-ret));
	if (strlen(text) != len)
		return vk_fail(err, -EINVAL, "%s: holds a NUL byte", p);
	ret = vm_def_parse(text, p, d, err);
	if (!ret && strcmp(d->name, name)) {
		vm_def_free(d);
		return vk_fail(err, -EINVAL, "%s: name '%s' does not match its directory", p,
			       d->name);
	}
	return ret;
}

int vm_save(const struct vm_def *d, struct vk_err *err)
{
	_cleanup_free_ char *text = vm_def_format(d);
	char p[PATH_MAX];

	if (!text)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (mkdir(mgmt_path(p, "vms/%s", d->name), 0700) < 0 && errno != EEXIST)
		return vk_fail(err, -errno, "%s: %s", p, strerror(errno));
	return mgmt_write_atomic(mgmt_path(p, "vms/%s/config", d->name), text, strlen(text), 0600,
				 err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the entries of dir for which keep() holds, sorted. */
int mgmt_list_dir(const char *dir, bool (*keep)(const char *dir, const char *name, char *out),
		  char ***names, struct vk_err *err)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	char **v = NULL, **nv, name[MGMT_NAME_MAX];
	size_t n = 0;

	if (!dh && errno == ENOENT) {
		*names = calloc(1, sizeof(char *));
		return *names ? 0 : vk_fail(err, -ENOMEM, "out of memory");
	}
	if (!dh)
		return vk_fail(err, -errno, "%s: %s", dir, strerror(errno));
	while ((e = readdir(dh))) {
		if (e->d_name[0] == '.' || !keep(dir, e->d_name, name))
			continue;
		nv = realloc(v, (n + 2) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n++] = strdup(name);
		v[n] = NULL;
	}
	closedir(dh);
	if (!v)
		v = calloc(1, sizeof(char *));
	if (!v)
		return vk_fail(err, -ENOMEM, "out of memory");
	qsort(v, n, sizeof(*v), cmp_str);
	*names = v;
	return 0;
}

static bool is_vm_dir(const char *dir, const char *name, char *out)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s/config", dir, name);
	if (mgmt_check_name("VM", name, NULL) || access(p, F_OK))
		return false;
	snprintf(out, MGMT_NAME_MAX, "%s", name);
	return true;
}

int vm_list_names(char ***names, struct vk_err *err)
{
	char p[PATH_MAX];

	return mgmt_list_dir(mgmt_path(p, "vms"), is_vm_dir, names, err);
}
