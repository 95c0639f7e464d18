/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmkit run's resource options: how guest RAM is backed (--memory's
 * hugepages=, mem-path=, prealloc=, thp=, merge=, policy=, host-nodes=) and
 * where threads run (--cpu-affinity, --vcpu-affinity, --io-affinity). Each
 * function prints one line naming the option and the problem and returns
 * -EINVAL on bad input.
 */
#ifndef VMKIT_CLI_RUN_RESOURCES_H
#define VMKIT_CLI_RUN_RESOURCES_H

#include <stdint.h>

#include "vmkit/config.h"

/* The ",key=val,..." that follows the size in --memory arg. */
int run_parse_memory_backing(struct vm_config *c, const char *arg, const char *opts);
/* Against the host, once the size (unrounded) is known. */
int run_check_memory_backing(struct vm_config *c, uint64_t size, const char *arg);

int run_parse_cpu_affinity(struct vm_config *c, const char *arg);
int run_parse_io_affinity(struct vm_config *c, const char *arg);
int run_parse_vcpu_affinity(struct vm_config *c, const char *arg);
/* Once the vCPU count is known. */
int run_check_affinity(const struct vm_config *c);
/* Pin the calling (main) thread to --io-affinity before the VM's threads are made. */
int run_apply_io_affinity(struct vm_config *c);

#endif
