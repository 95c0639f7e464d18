// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit save NAME FILE / vmkit restore FILE (issue 15), as virsh's: save
 * asks the VM's monitor to write its RAM and state to FILE (QMP migrate
 * to file:, which pauses it), then to quit; restore reads the VM's name
 * from FILE and starts that VM from it (vmkit run --incoming file:FILE),
 * whose monitor checks the file against the definition before it builds
 * anything. The definition is not in the file: restore needs the VM it was
 * saved from, shut off and unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vmkit/mgmt-ops.h"
#include "vmkit/savestate.h"

#define HEADER_LEN	24		/* include/vmkit/vm-state.h's header */
#define STATE_MAX	(256u << 20)

/* FILE made absolute, in a directory that exists: checked before the VM is paused. */
static int absolute(const char *file, char *out, struct vk_err *err)
{
	char dir[PATH_MAX];
	const char *base = file, *slash = strrchr(file, '/');

	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - file), file);
		base = slash + 1;
	} else {
		strcpy(dir, ".");
	}
	if (!*base)
		return vk_fail(err, -EINVAL, "%s: not a file name", file);
	if (!realpath(dir[0] ? dir : "/", out))
		return vk_fail(err, -errno, "%s: %s", dir[0] ? dir : "/", strerror(errno));
	if (strlen(out) + strlen(base) + 2 > PATH_MAX)
		return vk_fail(err, -ENAMETOOLONG, "%s: path too long", file);
	if (strcmp(out, "/"))
		strcat(out, "/");
	strcat(out, base);
	return 0;
}

static char *migrate_args(const char *path)
{
	json_object *o = json_object_new_object();
	char uri[PATH_MAX + 8], *s;

	snprintf(uri, sizeof(uri), "file:%s", path);
	json_object_object_add(o, "uri", json_object_new_string(uri));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* The state's name in run/out: the monitor, in its own root, writes only there. */
#define SAVE_FILE "saved.state"

int vm_save_state(const char *name, const char *file, struct vk_err *err)
{
	char path[PATH_MAX], *args;
	struct vm_status st;
	int ret = vm_require_running(name, &st, err);

	if (!ret)
		ret = absolute(file, path, err);
	if (ret)
		return ret;
	args = migrate_args("out/" SAVE_FILE);	/* relative to its cwd, run/ */
	if (!args)
		return vk_fail(err, -ENOMEM, "out of memory");
	ret = vm_qmp_call(name, "migrate", args, NULL, err);
	free(args);
	if (ret)
		return ret;
	/* Saved and paused: the VM ends here, as virsh save ends the domain. */
	ret = vm_qmp_call(name, "quit", NULL, NULL, err);
	if (!ret && !vm_wait_stopped(name, 30))
		ret = vk_fail(err, -ETIMEDOUT, "VM %s is saved but its monitor did not quit", name);
	if (!ret)
		ret = vm_run_file_out(name, SAVE_FILE, path, 0600, err);	/* guest RAM: private */
	return ret;
}

/* The header and state stream of a saved VM, parsed (its own checks: structure, CRC). */
static int read_state(const char *file, struct ss_reader **r, struct vk_err *err)
{
	uint8_t h[HEADER_LEN], *state;
	uint64_t len;
	int fd = open(file, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return vk_fail(err, -errno, "%s: %s", file, strerror(errno));
	if (vk_read_full(fd, h, sizeof(h)) != sizeof(h) || memcmp(h, "VMKITSAV", 8)) {
		close(fd);
		return vk_fail(err, -EINVAL, "%s: not a vmkit saved VM (no VMKITSAV header)", file);
	}
	memcpy(&len, h + 16, 8);
	len = le64toh(len);
	state = len <= STATE_MAX ? malloc(len ? len : 1) : NULL;
	if (!state || vk_read_full(fd, state, len) != (ssize_t)len) {
		free(state);
		close(fd);
		return vk_fail(err, -EINVAL, "%s: damaged or truncated", file);
	}
	close(fd);
	ret = ss_parse(r, state, len, err);
	free(state);
	if (ret) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		vk_fail(err, ret, "%s: %s", file, msg);
	}
	return ret;
}

int vm_restore_state(const char *file, char *name, struct vk_err *err)
{
	const struct ss_section *s;
	char path[PATH_MAX];
	struct ss_reader *r;
	const uint8_t *n;
	size_t len;
	int ret = absolute(file, path, err);

	if (!ret)
		ret = read_state(path, &r, err);
	if (ret)
		return ret;
	s = ss_need(r, "vm", 0, err);
	ret = s ? ss_get_blob(s, "name", &n, &len, err) : err->code;
	if (!ret && (!len || len >= MGMT_NAME_MAX))
		ret = vk_fail(err, -EINVAL, "%s: saved from a VM without a name (vmkit run "
			      "--incoming file:%s starts it)", file, path);
	if (!ret) {
		memcpy(name, n, len);
		name[len] = 0;
	}
	ss_reader_free(r);
	if (!ret && !vm_exists(name))
		ret = vk_fail(err, -ENOENT, "%s: saved from VM '%s', which is not defined here", file,
			      name);
	if (!ret)
		ret = vm_require_shutoff(name, "restore", err);
	return ret ? ret : vm_start_incoming(name, path, err);
}
