/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmkit run --incoming file:PATH (issue 15): start from a saved VM. The
 * file is read and checked against the options before /dev/kvm is opened;
 * bad input prints one line naming the option and the problem.
 */
#ifndef VMKIT_CLI_RUN_INCOMING_H
#define VMKIT_CLI_RUN_INCOMING_H

#include "vmkit/config.h"
#include "vmkit/vm-state.h"

struct vm;

int run_parse_incoming(struct vm_config *c, const char *arg);
/* With --incoming: open and check the saved VM (*out stays NULL without it). */
int run_open_incoming(const struct vm_config *c, struct vm_state_file **out);
/* Into the VM just built: RAM, devices, vCPUs. Closes *f and sets it NULL either way. */
int run_restore_incoming(struct vm *vm, struct vm_state_file **f);

#endif
