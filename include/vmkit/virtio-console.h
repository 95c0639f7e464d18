/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-console: one port (hvc0) on the console backend. */
#ifndef VMKIT_VIRTIO_CONSOLE_H
#define VMKIT_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;
struct console;
struct virtio_console;

int virtio_console_create(struct vm *vm, struct console *con, struct virtio_console **out,
			  struct vk_err *err);
void virtio_console_destroy(struct virtio_console *c);
/* Bytes typed on the console, from the event loop's thread. */
size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len);

#endif
