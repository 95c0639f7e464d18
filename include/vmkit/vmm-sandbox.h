/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitor's seccomp allow-lists, one per thread kind (vmm/core/sandbox.c),
 * over include/vmkit/sandbox.h. Written from reading the code; not yet run
 * under KVM, so `vmkit run` leaves them off unless --sandbox on.
 *
 * Filters stack: a thread gets the filter of the thread that created it and
 * adds its own, so the main thread's "devices" kind (the device event loop,
 * which also builds the VM again at each guest reset and starts the vCPU
 * and I/O threads) is a superset of the others.
 */
#ifndef VMKIT_VMM_SANDBOX_H
#define VMKIT_VMM_SANDBOX_H

#include <stdbool.h>

#include "vmkit/config.h"
#include "vmkit/sandbox.h"

extern const struct sandbox_kind vmm_sandbox_vcpu;
extern const struct sandbox_kind vmm_sandbox_devices;
extern const struct sandbox_kind vmm_sandbox_iothread;
extern const struct sandbox_kind vmm_sandbox_control;

/* Whether threads install their kind (set once by vmkit run, before any thread starts). */
void vmm_sandbox_enable(bool on);

/*
 * Install kind on the calling thread when enabled. A failure is one line
 * on stderr and exit 1: a thread must not run unfiltered when asked to.
 */
void vmm_sandbox_enter(const struct sandbox_kind *kind);

/*
 * As root with --runas or --chroot: the privilege drop of sandbox_drop, with
 * the files the VM opens again at each reset (/dev/kvm, kernel, initrd,
 * disks, the entropy source, /dev/vhost-net, /dev/net/tun) bound read-only
 * into an empty root, or cfg->chroot_dir as the root.
 */
int vmm_sandbox_drop(const struct vm_config *cfg, struct vk_err *err);

#endif
