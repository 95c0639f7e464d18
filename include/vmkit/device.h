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

#include "vmkit/util.h"

struct vm;

struct vm_device_class {
	const char *name;
	/* Make every instance vm->cfg asks for; on failure the builder calls destroy. */
	int (*create)(struct vm *vm, struct vk_err *err);
	/* Undo create, also a partial one; NULL-safe on what create did not make. */
	void (*destroy)(struct vm *vm);
};

/* The table, in creation order (platform devices before PCI ones); NULL-terminated. */
extern const struct vm_device_class *const vm_device_classes[];

/* The class's per-VM slot (NULL until the class stores something there). */
void **vm_device_state(struct vm *vm, const struct vm_device_class *cls);

/* Builder side: create all classes in order / destroy what was created, in reverse. */
int vm_devices_create(struct vm *vm, struct vk_err *err);
void vm_devices_destroy(struct vm *vm);

#endif
