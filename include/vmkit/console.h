/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Character backend of the guest console: stdio (raw tty, Ctrl-A x quits),
 * none, file:PATH (output only), socket:PATH (a unix socket a client
 * connects to). It outlives a VM reset, so the terminal stays as it is.
 */
#ifndef VMKIT_CONSOLE_H
#define VMKIT_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "vmkit/config.h"
#include "vmkit/util.h"

struct console;
struct evloop;

struct console_sink {
	/*
	 * Hand typed input to the guest's device; returns how many bytes it took.
	 * What it cannot take yet (a full UART FIFO) waits in the console, which
	 * stops reading its input until the device takes it (QEMU's can_read), so
	 * pasted text is not lost the way a real UART overruns.
	 */
	size_t (*input)(void *opaque, const uint8_t *buf, size_t len);
	void (*quit)(void *opaque);	/* the user typed Ctrl-A x */
	void *opaque;
};

int console_open(struct console **out, enum console_kind kind, const char *path,
		 struct vk_err *err);
/* Deliver input from the console to sink, from the event loop's thread. */
int console_attach(struct console *c, struct evloop *l, const struct console_sink *sink);
void console_detach(struct console *c, struct evloop *l);
/* Guest output; called from vCPU threads. */
void console_write(struct console *c, const void *buf, size_t len);
void console_close(struct console *c);

#endif
