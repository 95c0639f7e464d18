/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The devices a VM can have, as a table the builder walks: each device
 * file defines one struct vm_device_class and the list in
 * vmm/core/devices.c names it once. The builder creates the classes in
 * list order and destroys them in reverse; a class reads the config and
 * makes as many instances as it asks for (none, one per --disk, ...).
 * Adding a device is its file plus one line in that list: vm.c names none.
 *
 * A class keeps its instances in the per-VM slot vm_device_state() gives
 * it, so struct vm needs no field per device type.
 */
#ifndef VMKIT_DEVICE_H
#define VMKIT_DEVICE_H

#include <stdbool.h>

#include "vmkit/util.h"

struct vm;
struct ss_writer;
struct ss_reader;

struct vm_device_class {
	const char *name;
	/* Make every instance vm->cfg asks for; on failure the builder calls destroy. */
	int (*create)(struct vm *vm, struct vk_err *err);
	/* Undo create, also a partial one; NULL-safe on what create did not make. */
	void (*destroy)(struct vm *vm);
	/*
	 * The guest-visible state of every instance, as sections of the state
	 * stream (include/vmkit/savestate.h), and back into instances that
	 * create has just made from the same config. NULL: not yet written
	 * for this device (save/restore and migration refuse such a VM).
	 */
	void (*save)(struct vm *vm, struct ss_writer *w);
	/* What the guest sees of it is all in the config (a boot-order list, a log port). */
	bool stateless;
	int (*load)(struct vm *vm, const struct ss_reader *r, struct vk_err *err);
	/*
	 * While held (a save of the paused VM), change nothing the guest can
	 * see on your own: backend input, timers and notifications wait (in
	 * the backend, or in the device) until released, so the RAM written
	 * after the state still agrees with it. NULL: nothing of that kind.
	 */
	void (*hold)(struct vm *vm, bool on);
};

/* The table, in creation order (platform devices before PCI ones); NULL-terminated. */
extern const struct vm_device_class *const vm_device_classes[];

/* The class's per-VM slot (NULL until the class stores something there). */
void **vm_device_state(struct vm *vm, const struct vm_device_class *cls);

/* Builder side: create all classes in order / destroy what was created, in reverse. */
int vm_devices_create(struct vm *vm, struct vk_err *err);
void vm_devices_destroy(struct vm *vm);
/*
 * Every class's state into w / back from r, for the classes that have
 * save and load (the others are listed in the README as not yet saved).
 */
int vm_devices_save(struct vm *vm, struct ss_writer *w);
/*
 * Whether every device the VM has can be saved: a class that made an
 * instance (its slot is set) and has neither save nor stateless refuses,
 * naming itself, rather than a restore coming back without its state.
 */
int vm_devices_savable(struct vm *vm, struct vk_err *err);
int vm_devices_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err);
/* Hold every class that has hold, or release them (in reverse). */
void vm_devices_hold(struct vm *vm, bool on);

#endif
