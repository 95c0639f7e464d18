/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A paused VM saved to a file and restored from it (issue 15): `vmkit run
 * --incoming file:PATH`, QMP migrate to file:PATH, and the management
 * layer's save/restore on top of them.
 *
 * File layout (little-endian):
 *   "VMKITSAV" u32 version u32 flags u64 state-len
 *   the state stream (include/vmkit/savestate.h), state-len bytes
 *   RAM records: u64 offset u64 len, then len bytes of RAM at that offset
 *     of the VM's RAM mapping (page-aligned runs of non-zero pages; pages
 *     in no record are zero), ended by offset ~0 len 0
 *   u32 CRC-32 of the RAM records, end record included
 *
 * The state comes first so that a restore reads and checks it (and the
 * RAM records' structure and CRC) before anything is built: a damaged
 * file, or one from a VM with other memory, vCPUs or devices, fails with
 * one line before /dev/kvm is opened.
 */
#ifndef VMKIT_VM_STATE_H
#define VMKIT_VM_STATE_H

#include "vmkit/config.h"
#include "vmkit/util.h"

struct vm;
struct vm_state_file;

/*
 * Save the paused VM to path: a temporary file beside it, fsynced, then
 * renamed over path. The VM must stay paused until this returns.
 */
int vm_state_save_file(struct vm *vm, const char *path, struct vk_err *err);

/* Open a saved VM and check it against cfg (what can be checked without a VM). */
int vm_state_open(struct vm_state_file **out, const char *path, const struct vm_config *cfg,
		  struct vk_err *err);
/* The VM's name as saved (its --name, "" if none), for the management layer. */
const char *vm_state_file_name(const struct vm_state_file *f);
/* Into vm, just built from the same config and not yet running: RAM, devices, vCPUs. */
int vm_state_restore(struct vm *vm, struct vm_state_file *f, struct vk_err *err);
void vm_state_close(struct vm_state_file *f);

/*
 * For live migration (vmm/core/migrate.c), the state as bytes: whole,
 * every section (the VM paused, its devices held); or only the "vm"
 * section, what the VM was built from, which the destination checks
 * against its own config before any RAM comes.
 */
int vm_state_capture(struct vm *vm, bool whole, uint8_t **buf, size_t *len, struct vk_err *err);
int vm_state_check_config(const uint8_t *buf, size_t len, const struct vm_config *cfg,
			  struct vk_err *err);
/* Into vm, built from the same config and not yet running: vCPUs and devices. */
int vm_state_apply(struct vm *vm, const uint8_t *buf, size_t len, struct vk_err *err);

#endif
