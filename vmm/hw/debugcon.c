// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QEMU's isa-debugcon on port 0x402 (--debugcon file:PATH): every byte the
 * guest writes is appended to the file. SeaBIOS and OVMF's debug builds
 * write their log there; tests read the firmware's banner from it. A read
 * returns 0xe9, which is how SeaBIOS tells that the port is there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmkit/device.h"
#include "vmkit/vm.h"

#define DEBUGCON_PORT	0x402

const struct vm_device_class debugcon_class;

struct debugcon {
	int fd;
};

static void dc_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	memset(data, 0xe9, len);
}

static void dc_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct debugcon *d = dev;

	/* Best effort, as a log: a full disk must not stop the guest. */
	if (write(d->fd, data, 1) < 0)
		return;
}

static const struct io_ops dc_ops = { .read = dc_read, .write = dc_write };

static int debugcon_create(struct vm *vm, struct vk_err *err)
{
	const char *path = vm->cfg->debugcon_path;
	struct debugcon *d;

	if (!path)
		return 0;
	d = calloc(1, sizeof(*d));
	if (!d)
		return vk_fail(err, -ENOMEM, "out of memory");
	*vm_device_state(vm, &debugcon_class) = d;
	d->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (d->fd < 0)
		return vk_fail(err, -errno, "--debugcon %s: %s", path, strerror(errno));
	if (io_bus_register(&vm->pio, DEBUGCON_PORT, 1, &dc_ops, d))
		return vk_fail(err, -EBUSY, "--debugcon: port 0x402 is already in use");
	return 0;
}

static void debugcon_destroy(struct vm *vm)
{
	void **slot = vm_device_state(vm, &debugcon_class);
	struct debugcon *d = slot ? *slot : NULL;

	if (!d)
		return;
	io_bus_unregister(&vm->pio, DEBUGCON_PORT, d);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
	*slot = NULL;
}

const struct vm_device_class debugcon_class = {
	.name = "isa-debugcon", .create = debugcon_create, .destroy = debugcon_destroy,
	.stateless = true,	/* a write-only log port */
};
