// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * screenshot and vnc: a running VM's screen, through its QMP socket
 * (screendump, query-vnc), as virsh screenshot and virsh vncdisplay.
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm-cli.h"

/* FILE made absolute, for the message. */
static int absolute(const char *file, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (file[0] == '/')
		return snprintf(out, len, "%s", file) < (int)len ? 0 : -ENAMETOOLONG;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return snprintf(out, len, "%s/%s", cwd, file) < (int)len ? 0 : -ENAMETOOLONG;
}

int cmd_screenshot(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit screenshot NAME FILE\n"
		"Save the VM's screen to FILE: PNG when FILE ends in .png, else PPM (QMP screendump).\n";
	struct vk_err err = { 0 };
	char path[PATH_MAX], tmp[32], rel[40];
	json_object *args;
	char *ret = NULL;
	bool png;
	size_t n;
	int r;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 3)
		return mgmt_usage("screenshot", "expected NAME FILE");
	if (absolute(argv[2], path, sizeof(path)))
		return mgmt_usage("screenshot", "%s: path too long", argv[2]);
	n = strlen(path);
	png = n > 4 && !strcasecmp(path + n - 4, ".png");
	/*
	 * Into the VM's run/out (under --runas the one directory of the host's
	 * it can write), then copied to FILE.
	 */
	snprintf(tmp, sizeof(tmp), "screendump-%d", (int)getpid());	/* one per caller */
	args = json_object_new_object();
	snprintf(rel, sizeof(rel), "out/%s", tmp);	/* the monitor's cwd is run/ */
	json_object_object_add(args, "filename", json_object_new_string(rel));
	json_object_object_add(args, "format", json_object_new_string(png ? "png" : "ppm"));
	r = vm_qmp_call(argv[1], "screendump", json_object_to_json_string(args), &ret, &err);
	json_object_put(args);
	free(ret);
	if (!r)
		r = vm_run_file_out(argv[1], tmp, path, 0644, &err);
	if (r)
		return mgmt_report(&err);
	printf("VM %s: screen saved to %s\n", argv[1], path);
	return 0;
}

static const char *field(json_object *o, const char *key)
{
	json_object *v = json_object_object_get(o, key);

	return v ? json_object_get_string(v) : "";
}

int cmd_vnc(int argc, char **argv)
{
	static const char usage[] = "usage: vmkit vnc NAME\n"
		"Print where the VM's VNC server listens (as virsh vncdisplay): HOST:DISPLAY,\n"
		"or unix:PATH.\n";
	struct vk_err err = { 0 };
	json_object *o;
	char *ret = NULL;
	int port, rc = 0;

	if (mgmt_want_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return mgmt_usage("vnc", "expected one VM NAME");
	if (vm_qmp_call(argv[1], "query-vnc", NULL, &ret, &err))
		return mgmt_report(&err);
	o = json_tokener_parse(ret);
	if (!o || !json_object_get_boolean(json_object_object_get(o, "enabled"))) {
		vk_msg("VM %s has no VNC server (vnc: in its definition, or --vnc)", argv[1]);
		rc = 1;
	} else if (!strcmp(field(o, "family"), "unix")) {
		printf("unix:%s\n", field(o, "host"));
	} else {
		port = atoi(field(o, "service"));
		printf("%s:%d\n", field(o, "host"), port - 5900);
	}
	json_object_put(o);
	free(ret);
	return rc;
}
