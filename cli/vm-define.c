// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Definitions: define, dumpconfig, set, edit, rename, delete, autostart:
 * the argument parsing and messages around lib/mgmt/vm-edit.c. edit is the
 * CLI's own: it runs the user's editor on a copy.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
	char name[MGMT_NAME_MAX];
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
	if (mgmt_lock(&err) || vm_define(text, argv[1], name, &err))
		return mgmt_report(&err);
	printf("VM %s defined from %s\n", name, argv[1]);
	return 0;
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

int cmd_set(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit set NAME KEY=VALUE... (KEY= deletes KEY)\n"
		"Change keys of a VM's config (like qm set). cpulimit, cpuunits, memtune,\n"
		"affinity and vcpupin apply to a running VM at once; the others at its next start.\n";
	struct vk_err err = { 0 };
	struct vm_kv *kv;
	int i, ret;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc < 3)
		return mgmt_usage("set", "expected NAME KEY=VALUE...");
	for (i = 2; i < argc; i++)
		if (!strchr(argv[i], '='))
			return mgmt_usage("set", "'%s': expected KEY=VALUE", argv[i]);
	kv = calloc(argc - 2, sizeof(*kv));
	if (!kv)
		return 1;
	for (i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		*eq = 0;
		kv[i - 2].key = argv[i];
		kv[i - 2].val = eq[1] ? eq + 1 : NULL;
	}
	ret = mgmt_lock(&err);
	if (!ret)
		ret = vm_set_keys(argv[1], kv, argc - 2, &err);
	free(kv);
	return ret ? mgmt_report(&err) : 0;
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
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 3)
		return mgmt_usage("rename", "expected NAME NEWNAME");
	if (mgmt_lock(&err) || vm_rename(argv[1], argv[2], &err))
		return mgmt_report(&err);
	printf("VM %s renamed to %s\n", argv[1], argv[2]);
	return 0;
}

static void print_removed(const char *ref)
{
	printf("removed volume %s\n", ref);
}

int cmd_delete(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit delete NAME [--purge]\n"
		"Undefine a shut-off VM; --purge also removes its pool volumes.\n";
	bool purge = argc == 3 && !strcmp(argv[2], "--purge");
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2 && !purge)
		return mgmt_usage("delete", "expected NAME [--purge]");
	if (mgmt_lock(&err) || vm_delete_report(argv[1], purge, print_removed, &err))
		return mgmt_report(&err);
	printf("VM %s deleted\n", argv[1]);
	return 0;
}

int cmd_autostart(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit autostart NAME [--disable]\n"
		"Start the VM at boot ('vmkit start --autostart', see contrib/vmkit-autostart.service).\n";
	bool disable = argc == 3 && !strcmp(argv[2], "--disable");
	struct vk_err err = { 0 };

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2 && !disable)
		return mgmt_usage("autostart", "expected NAME [--disable]");
	if (mgmt_lock(&err) || vm_set_autostart(argv[1], !disable, &err))
		return mgmt_report(&err);
	printf("VM %s %s\n", argv[1], disable ? "unmarked as autostarted" : "marked as autostarted");
	return 0;
}
