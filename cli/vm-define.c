// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Definitions: define, dumpconfig, set, edit, rename, delete, autostart.
 * Every change is made on a copy in memory, validated whole, then written
 * atomically under the state lock: a bad value changes nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "vm-cli.h"

#define CONFIG_MAX	(256 * 1024)

static int load_locked(const char *name, struct vm_def *d, struct vk_err *err)
{
	int ret = mgmt_lock(err);

	return ret ? ret : vm_load(name, d, err);
}

int cmd_define(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit define FILE\n"
		"Define a VM from a config file (as written by vmkit dumpconfig); replaces the\n"
		"definition of a VM of the same name.\n";
	_cleanup_free_ char *text = NULL;
	struct vk_err err = { 0 };
	struct vm_def d;
	size_t len;
	int ret;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("define", "expected one FILE (see --help)");
	ret = vk_read_file(argv[1], (void **)&text, &len, CONFIG_MAX);
	if (ret)
		return mgmt_usage("define", "%s: %s", argv[1], strerror(-ret));
	if (strlen(text) != len)
		return mgmt_usage("define", "%s: not a text file", argv[1]);
	ret = mgmt_lock(&err);
	if (!ret)
		ret = vm_def_parse(text, argv[1], &d, &err);
	if (ret)
		return mgmt_report(&err);
	ret = vm_save(&d, &err);
	if (!ret)
		printf("VM %s defined from %s\n", d.name, argv[1]);
	vm_def_free(&d);
	return ret ? mgmt_report(&err) : 0;
}

int cmd_dumpconfig(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit dumpconfig NAME\nPrint a VM's config.\n";
	struct vk_err err = { 0 };
	struct vm_def d;
	char *text;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("dumpconfig", "expected one VM NAME");
	if (vm_load(argv[1], &d, &err))
		return mgmt_report(&err);
	text = vm_def_format(&d);
	if (text)
		fputs(text, stdout);
	free(text);
	vm_def_free(&d);
	return 0;
}

/* Settings a running VM takes at once: its cgroup, and its threads' CPUs. */
static int apply_live(const struct vm_def *d, pid_t pid, struct vk_err *err);

int cmd_set(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit set NAME KEY=VALUE... (KEY= deletes KEY)\n"
		"Change keys of a VM's config (like qm set). cpulimit, cpuunits, memtune,\n"
		"affinity and vcpupin apply to a running VM at once; the others at its next start.\n";
	struct vk_err err = { 0 };
	struct vm_status st;
	struct vm_def d;
	int i, ret;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc < 3)
		return mgmt_usage("set", "expected NAME KEY=VALUE...");
	for (i = 2; i < argc; i++)
		if (!strchr(argv[i], '='))
			return mgmt_usage("set", "'%s': expected KEY=VALUE", argv[i]);
	if (load_locked(argv[1], &d, &err))
		return mgmt_report(&err);
	ret = vm_refuse_template(&d, "changed", &err);
	for (i = 2; i < argc && !ret; i++) {
		char *eq = strchr(argv[i], '=');

		*eq = 0;
		if (!strcmp(argv[i], "name"))
			ret = vk_fail(&err, -EINVAL, "name: use 'vmkit rename'");
		else
			ret = vm_def_set(&d, argv[i], eq[1] ? eq + 1 : NULL, &err);
	}
	if (!ret)
		ret = vm_def_check(&d, &err);
	if (!ret)
		ret = vm_save(&d, &err);
	if (!ret && !vm_status_get(d.name, &st) && st.pid)
		ret = apply_live(&d, st.pid, &err);
	vm_def_free(&d);
	return ret ? mgmt_report(&err) : 0;
}

int vm_cg_limits(const struct vm_def *d, struct cg_limits *l)
{
	const char *v = vm_def_get(d, "memtune"), *p;

	memset(l, 0, sizeof(*l));
	l->cpuunits = 1024;
	if ((p = vm_def_get(d, "cpulimit")))
		l->cpulimit = strtod(p, NULL);
	if ((p = vm_def_get(d, "cpuunits")))
		l->cpuunits = atoi(p);
	if (v && (p = strstr(v, "hard_limit=")))
		vk_parse_size(strndupa(p + 11, strcspn(p + 11, ",")), 1, &l->mem_hard);
	if (v && (p = strstr(v, "soft_limit=")))
		vk_parse_size(strndupa(p + 11, strcspn(p + 11, ",")), 1, &l->mem_soft);
	return 0;
}

static int apply_live(const struct vm_def *d, pid_t pid, struct vk_err *err)
{
	struct cg_limits l;
	int r;

	r = vm_pin_live(d, pid, err);
	if (r)
		return r;
	vm_cg_limits(d, &l);
	return cg_setup(d->name, &l, err);
}

static int run_editor(const char *file)
{
	const char *ed = getenv("VISUAL");
	char cmd[PATH_MAX + 256];
	int status;

	if (!ed || !*ed)
		ed = getenv("EDITOR");
	if (!ed || !*ed)
		ed = "vi";
	snprintf(cmd, sizeof(cmd), "%s '%s'", ed, file);
	status = system(cmd);
	return status == -1 || !WIFEXITED(status) ? -1 : WEXITSTATUS(status);
}

int cmd_edit(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit edit NAME\n"
		"Edit a VM's config with $VISUAL or $EDITOR (a copy, validated before it\n"
		"replaces the config; an invalid edit changes nothing).\n";
	_cleanup_free_ char *text = NULL, *edited = NULL;
	char tmp[] = "/tmp/vmkit-edit-XXXXXX";
	struct vk_err err = { 0 };
	struct vm_def d, nd;
	size_t len;
	int fd, ret;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("edit", "expected one VM NAME");
	if (load_locked(argv[1], &d, &err))
		return mgmt_report(&err);
	if (vm_refuse_template(&d, "changed", &err)) {
		vm_def_free(&d);
		return mgmt_report(&err);
	}
	text = vm_def_format(&d);
	fd = mkstemp(tmp);
	if (fd < 0 || !text || vk_write_full(fd, text, strlen(text)) < 0) {
		vm_def_free(&d);
		return mgmt_usage("edit", "cannot write a temporary copy: %s", strerror(errno));
	}
	close(fd);
	if (run_editor(tmp)) {
		unlink(tmp);
		vm_def_free(&d);
		return mgmt_usage("edit", "the editor failed; nothing changed");
	}
	ret = vk_read_file(tmp, (void **)&edited, &len, CONFIG_MAX);
	if (!ret)
		ret = vm_def_parse(edited, tmp, &nd, &err);
	else
		vk_fail(&err, ret, "%s: %s", tmp, strerror(-ret));
	if (!ret && strcmp(nd.name, d.name)) {
		ret = vk_fail(&err, -EINVAL, "name: cannot change in edit (use 'vmkit rename')");
		vm_def_free(&nd);
	}
	if (!ret) {
		ret = vm_save(&nd, &err);
		vm_def_free(&nd);
	}
	vm_def_free(&d);
	if (ret) {
		mgmt_report(&err);
		fprintf(stderr, "vmkit edit: nothing changed; your edit is kept in %s\n", tmp);
		return EXIT_USAGE;
	}
	unlink(tmp);
	printf("VM %s config updated\n", argv[1]);
	return 0;
}

int cmd_rename(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit rename NAME NEWNAME\nRename a shut-off VM.\n";
	char oldp[PATH_MAX], newp[PATH_MAX];
	struct vk_err err = { 0 };
	struct vm_def d;
	int ret;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 3)
		return mgmt_usage("rename", "expected NAME NEWNAME");
	if (load_locked(argv[1], &d, &err))
		return mgmt_report(&err);
	ret = vm_require_shutoff(argv[1], "rename", &err);
	if (!ret && vm_exists(argv[2]))
		ret = vk_fail(&err, -EEXIST, "VM '%s' already exists", argv[2]);
	if (!ret)
		ret = vm_def_set(&d, "name", argv[2], &err);
	/* New directory and config first: a crash part-way leaves two definitions, never none. */
	if (!ret)
		ret = vm_save(&d, &err);
	if (!ret) {
		mgmt_rm_rf(mgmt_path(oldp, "vms/%s", argv[1]));
		mgmt_path(newp, "vms/%s", argv[2]);
		cg_remove(argv[1]);
		printf("VM %s renamed to %s\n", argv[1], argv[2]);
	}
	vm_def_free(&d);
	return ret ? mgmt_report(&err) : 0;
}

#define MAX_PURGE 64	/* disks of one VM (virtio0..) */

/* The pool volumes that are the VM's own (disks given by path are not). */
static unsigned int own_volumes(const struct vm_def *d, char (*files)[PATH_MAX],
				char (*refs)[PATH_MAX], unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < d->n && n < max; i++) {
		const char *v = d->kv[i].val;

		if (strncmp(d->kv[i].key, "virtio", 6) || v[0] == '/')
			continue;
		snprintf(refs[n], PATH_MAX, "%.*s", (int)strcspn(v, ","), v);
		if (!vol_resolve(refs[n], true, files[n], NULL))
			n++;
	}
	return n;
}

/*
 * --purge removes the VM's volumes, but never one that another image is
 * built on (a linked clone's base): the whole delete is refused, naming it,
 * before anything is removed. The VM's own other volumes do not count.
 */
static int check_purge(const struct vm_def *d, char (*files)[PATH_MAX], char (*refs)[PATH_MAX],
		       unsigned int n, struct vk_err *err)
{
	const char *skip[MAX_PURGE + 1];
	char who[PATH_MAX + 64];
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++)
		skip[i] = files[i];
	skip[n] = NULL;
	for (i = 0; i < n; i++) {
		ret = vol_find_overlay(files[i], skip, who, sizeof(who), err);
		if (ret > 0)
			return vk_fail(err, -EBUSY,
				       "delete --purge: volume %s of VM '%s' is the backing file of %s; delete that first",
				       refs[i], d->name, who);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void purge_volumes(char (*files)[PATH_MAX], char (*refs)[PATH_MAX], unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!unlink(files[i]))
			printf("removed volume %s\n", refs[i]);
}

int cmd_delete(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit delete NAME [--purge]\n"
		"Undefine a shut-off VM; --purge also removes its pool volumes.\n";
	struct vk_err err = { 0 };
	char p[PATH_MAX];
	struct vm_def d;
	bool purge = argc == 3 && !strcmp(argv[2], "--purge");
	char (*files)[PATH_MAX] = NULL, (*refs)[PATH_MAX] = NULL;
	unsigned int npurge = 0;
	int ret;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2 && !purge)
		return mgmt_usage("delete", "expected NAME [--purge]");
	if (load_locked(argv[1], &d, &err))
		return mgmt_report(&err);
	ret = vm_require_shutoff(argv[1], "delete", &err);
	if (!ret)
		ret = vm_template_in_use(&d, &err);
	if (!ret && purge) {
		files = calloc(MAX_PURGE, sizeof(*files));
		refs = calloc(MAX_PURGE, sizeof(*refs));
		ret = files && refs ? 0 : vk_fail(&err, -ENOMEM, "out of memory");
		if (!ret)
			npurge = own_volumes(&d, files, refs, MAX_PURGE);
		if (!ret)
			ret = check_purge(&d, files, refs, npurge, &err);
	}
	if (!ret) {
		if (purge)
			purge_volumes(files, refs, npurge);
		/* The config goes first, so a crash never leaves a half-removed VM that looks defined. */
		unlink(mgmt_path(p, "vms/%s/config", argv[1]));
		mgmt_rm_rf(mgmt_path(p, "vms/%s", argv[1]));
		cg_remove(argv[1]);
		printf("VM %s deleted\n", argv[1]);
	}
	free(files);
	free(refs);
	vm_def_free(&d);
	return ret ? mgmt_report(&err) : 0;
}

int cmd_autostart(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit autostart NAME [--disable]\n"
		"Start the VM at boot ('vmkit start --autostart', see contrib/vmkit-autostart.service).\n";
	bool disable = argc == 3 && !strcmp(argv[2], "--disable");
	struct vk_err err = { 0 };
	struct vm_def d;
	int ret;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2 && !disable)
		return mgmt_usage("autostart", "expected NAME [--disable]");
	if (load_locked(argv[1], &d, &err))
		return mgmt_report(&err);
	ret = vm_def_set(&d, "onboot", disable ? "0" : "1", &err);
	if (!ret)
		ret = vm_save(&d, &err);
	if (!ret)
		printf("VM %s %s\n", d.name, disable ? "unmarked as autostarted" :
		       "marked as autostarted");
	vm_def_free(&d);
	return ret ? mgmt_report(&err) : 0;
}
