/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmkit run --incoming (issue 15): start from a saved VM (file:PATH) or
 * from one migrating here live (tcp:ADDR:PORT). The file is read and
 * checked against the options before /dev/kvm is opened, and the port
 * bound then too; bad input prints one line naming the option and the
 * problem.
 */
#ifndef VMKIT_CLI_RUN_INCOMING_H
#define VMKIT_CLI_RUN_INCOMING_H

#include "vmkit/config.h"
#include "vmkit/vm-state.h"

struct vm;

struct run_incoming {
	struct vm_state_file *file;	/* file:PATH, opened and checked */
	int listen_fd;			/* tcp:ADDR:PORT, listening; -1 */
};

int run_parse_incoming(struct vm_config *c, const char *arg);
/*
 * With --incoming: open and check the saved VM, or listen and mark the
 * disks inactive until the migration hands them over (in stays empty
 * without it).
 */
int run_open_incoming(struct vm_config *c, struct run_incoming *in);
/*
 * Into the VM just built: RAM, devices, vCPUs, from the file or from the
 * first source to connect. Empties in either way: a VM built after a
 * reset boots.
 */
int run_restore_incoming(struct vm *vm, struct run_incoming *in);
bool run_incoming_pending(const struct run_incoming *in);
void run_close_incoming(struct run_incoming *in);

#endif
