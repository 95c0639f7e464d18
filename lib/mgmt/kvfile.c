// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The "key: value" definition files of the state directory (pools,
 * networks): read whole, one key per line, blank lines and '#' comments
 * skipped; every error names the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/mgmt.h"

int mgmt_load_kv(const char *path, const char *what, const char *name, mgmt_kv_fn set,
		 void *ctx, struct vk_err *err)
{
	_cleanup_free_ char *text = NULL;
	char *line, *next, *colon, *val;
	size_t len;
	int ret;

	ret = vk_read_file(path, (void **)&text, &len, 65536);
	if (ret == -ENOENT)
		return vk_fail(err, ret, "%s '%s' does not exist", what, name);
	if (ret)
		return vk_fail(err, ret, "%s: %s", path, strerror(-ret));
	for (line = text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!*line || *line == '#')
			continue;
		colon = strchr(line, ':');
		if (!colon) {
			vk_fail(err, -EINVAL, "expected 'key: value', got '%s'", line);
			return mgmt_wrap(err, path);
		}
		*colon = 0;
		for (val = colon + 1; *val == ' '; val++)
			;
		ret = set(ctx, line, val, err);
		if (ret)
			return mgmt_wrap(err, path);
	}
	return 0;
}
