// SPDX-License-Identifier: GPL-2.0-or-later
/* vmkit run --incoming file:PATH | tcp:ADDR:PORT: see run-incoming.h. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "run-incoming.h"
#include "vmkit/migrate.h"
#include "vmkit/util.h"
#include "vmkit/vm.h"

int run_parse_incoming(struct vm_config *c, const char *arg)
{
	struct sockaddr_storage sa;
	struct vk_err err = { 0 };
	unsigned int len;

	if (!strncmp(arg, "tcp:", 4)) {
		if (migrate_parse_tcp(arg, &sa, &len, &err)) {
			vk_msg("--incoming %s", err.msg);
			return -EINVAL;
		}
		c->incoming_tcp = arg;
		return 0;
	}
	if (strncmp(arg, "file:", 5) || !arg[5]) {
		vk_msg("--incoming %s: give file:PATH (a saved VM) or tcp:ADDR:PORT (a live "
		       "migration)", arg);
		return -EINVAL;
	}
	c->incoming = arg + 5;
	return 0;
}

static int listen_tcp(const char *uri, int *out)
{
	struct sockaddr_storage sa;
	struct vk_err err = { 0 };
	unsigned int len;
	int fd, one = 1;

	if (migrate_parse_tcp(uri, &sa, &len, &err)) {
		vk_msg("--incoming %s", err.msg);
		return -EINVAL;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 1) < 0) {
		vk_msg("--incoming %s: %s", uri, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	*out = fd;
	return 0;
}

int run_open_incoming(struct vm_config *c, struct run_incoming *in)
{
	struct vk_err err = { 0 };
	unsigned int i;

	in->file = NULL;
	in->listen_fd = -1;
	if (c->tls_dir && migrate_tls_load(c->tls_dir, &c->tls, &err)) {
		vk_msg("--tls-creds %s", err.msg);
		return -EINVAL;
	}
	if (c->incoming_tcp) {
		/* The source writes them until it hands them over: read, not written, not locked. */
		for (i = 0; i < c->nr_disks; i++)
			c->disks[i].inactive = true;
		return listen_tcp(c->incoming_tcp, &in->listen_fd);
	}
	if (!c->incoming)
		return 0;
	if (vm_state_open(&in->file, c->incoming, c, &err)) {
		vk_msg("--incoming %s", err.msg);
		return -EINVAL;
	}
	return 0;
}

/* The first source to connect; one that fails is not waited for again (the source resumes). */
static int receive_tcp(struct vm *vm, struct run_incoming *in)
{
	struct vk_err err = { 0 };
	int fd, r;

	do
		fd = accept4(in->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	close(in->listen_fd);
	in->listen_fd = -1;
	if (fd < 0) {
		vk_msg("--incoming %s: %s", vm->cfg->incoming_tcp, strerror(errno));
		return -errno;
	}
	r = vm_migrate_receive(vm, fd, vm->cfg->tls, &err);
	close(fd);
	if (r)
		vk_msg("--incoming %s: %s", vm->cfg->incoming_tcp, err.msg);
	return r;
}

int run_restore_incoming(struct vm *vm, struct run_incoming *in)
{
	struct vk_err err = { 0 };
	int r;

	if (in->listen_fd >= 0)
		return receive_tcp(vm, in);
	r = vm_state_restore(vm, in->file, &err);
	if (r)
		vk_msg("--incoming: %s", err.msg);
	vm_state_close(in->file);
	in->file = NULL;
	return r;
}

bool run_incoming_pending(const struct run_incoming *in)
{
	return in->file || in->listen_fd >= 0;
}

void run_close_incoming(struct run_incoming *in)
{
	vm_state_close(in->file);
	in->file = NULL;
	if (in->listen_fd >= 0)
		close(in->listen_fd);
	in->listen_fd = -1;
}
