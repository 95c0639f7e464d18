// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit run --incoming file:PATH: see run-incoming.h. */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "run-incoming.h"
#include "vmkit/util.h"

int run_parse_incoming(struct vm_config *c, const char *arg)
{
	if (strncmp(arg, "file:", 5) || !arg[5]) {
		vk_msg("--incoming %s: only file:PATH is supported (tcp: is not done yet)", arg);
		return -EINVAL;
	}
	c->incoming = arg + 5;
	return 0;
}

int run_open_incoming(const struct vm_config *c, struct vm_state_file **out)
{
	struct vk_err err = { 0 };

	*out = NULL;
	if (!c->incoming)
		return 0;
	if (vm_state_open(out, c->incoming, c, &err)) {
		vk_msg("--incoming %s", err.msg);
		return -EINVAL;
	}
	return 0;
}

int run_restore_incoming(struct vm *vm, struct vm_state_file **f)
{
	struct vk_err err = { 0 };
	int r = vm_state_restore(vm, *f, &err);

	if (r)
		vk_msg("--incoming: %s", err.msg);
	vm_state_close(*f);
	*f = NULL;
	return r;
}
