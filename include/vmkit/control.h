/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitor's control socket: a unix socket speaking QMP (QEMU Machine
 * Protocol) served by a thread of its own. It outlives the VM it controls:
 * a guest reset builds a new struct vm, which is attached in place of the
 * old one, so clients stay connected across resets.
 */
#ifndef VMKIT_CONTROL_H
#define VMKIT_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"
#include "vmkit/vm.h"

struct control;

/*
 * Parse a --qmp argument: PATH, unix:PATH, and QEMU's trailing options
 * server=on|off, wait=on|off, server, nowait (we are always the server and
 * never wait). *path points into a malloc'd copy. -EINVAL with err filled.
 */
int control_parse_spec(const char *spec, char **path, struct vk_err *err);

/* Bind the socket at path (mode 0600, atomically) and start serving it. */
int control_open(struct control **out, const char *path, const struct vm_config *cfg,
		 const char *version, struct vk_err *err);
/*
 * The same in two steps: bind while the path can be reached, start the
 * serving thread once the process has its final root (vmkit run drops
 * privileges in between: a thread started before would keep the host's
 * mount namespace, as unshare(CLONE_NEWNS) moves only its caller).
 */
int control_bind(struct control **out, const char *path, const struct vm_config *cfg,
		 const char *version, struct vk_err *err);
int control_start(struct control *c, struct vk_err *err);
/* The socket's path, as bound. */
const char *control_path(const struct control *c);

/* A freshly built VM, not yet running: commands act on it from now on. */
void control_attach(struct control *c, struct vm *vm);
/*
 * vm_run returned why: stop acting on the VM and emit SHUTDOWN, or RESET if
 * the VM is to boot again (rebooting). Returns rebooting, or false when a
 * client's quit came while the VM was already stopping for a reset.
 */
bool control_detach(struct control *c, enum vm_stop why, bool rebooting);

/* Flush what clients are owed (the last events), close them, unlink the socket. */
void control_close(struct control *c);

/* Called from any thread by devices (through the VM's event hook). */
void control_event_balloon(struct control *c, uint64_t actual);

#endif
