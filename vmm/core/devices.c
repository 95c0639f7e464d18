// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The device table (include/vmkit/device.h): the one place that lists the
 * devices a VM can have, in creation order. Platform devices come first
 * (the UART before anything that may print), then the PCI host bridge,
 * then the PCI devices, which need it.
 */
#include <errno.h>
#include <stddef.h>

#include "vmkit/device.h"
#include "vmkit/input.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

extern const struct vm_device_class serial_class, rtc_class, pit_class, i8042_class,
	pci_host_class, pm_class, debugexit_class, virtio_blk_class, virtio_rng_class,
	virtio_console_class, virtio_balloon_class, virtio_net_class;
/* The graphical console (issue 13): the display attaches first, then adapters. */
extern const struct vm_device_class display_class, vga_class;
/* Firmware boot (issue 12) */
extern const struct vm_device_class fw_cfg_class, firmware_class, fw_boot_class, debugcon_class;
/* virtio-tablet (issue 13): last, so the other devices keep their PCI slots. */
extern const struct vm_device_class virtio_tablet_class;
/* Disk controllers and CD-ROMs (issue 12). */
extern const struct vm_device_class virtio_scsi_class, ahci_class;
/* The Q35 chipset (--machine q35): after the host bridge and the PM block it places. */
extern const struct vm_device_class q35_mch_class, ich9_lpc_class;
/* The i440FX machine's PM function under firmware (00:01.3): after the PIIX3 in pci_host. */
extern const struct vm_device_class piix4_pm_class;

const struct vm_device_class *const vm_device_classes[] = {
	&serial_class,
	&rtc_class,
	&pit_class,
	&i8042_class,
	&pci_host_class,
	&pm_class,
	&q35_mch_class,
	&ich9_lpc_class,
	&piix4_pm_class,
	&debugexit_class,
	&fw_cfg_class,
	&firmware_class,
	&fw_boot_class,
	&debugcon_class,
	&virtio_blk_class,
	&virtio_rng_class,
	&virtio_console_class,
	&virtio_balloon_class,
	&virtio_net_class,
	&virtio_scsi_class,
	&ahci_class,
	&display_class,
	&vga_class,
	&virtio_tablet_class,
	NULL,
};

void **vm_device_state(struct vm *vm, const struct vm_device_class *cls)
{
	unsigned int i;

	for (i = 0; vm_device_classes[i] && i < VM_MAX_DEVICE_CLASSES; i++)
		if (vm_device_classes[i] == cls)
			return &vm->dev_state[i];
	return NULL;	/* a class not in the table: a programming error the caller sees */
}

int vm_devices_create(struct vm *vm, struct vk_err *err)
{
	unsigned int i;
	int r = input_router_new(vm, err);

	for (i = 0; !r && vm_device_classes[i]; i++)
		r = vm_device_classes[i]->create(vm, err);
	return r;
}

void vm_devices_destroy(struct vm *vm)
{
	unsigned int n = 0;

	while (vm_device_classes[n])
		n++;
	while (n--)
		if (vm_device_classes[n]->destroy)
			vm_device_classes[n]->destroy(vm);
	input_router_free(vm);
}

int vm_devices_savable(struct vm *vm, struct vk_err *err)
{
	const struct vm_device_class *c;
	unsigned int i;

	for (i = 0; (c = vm_device_classes[i]); i++)
		if (!c->save && !c->stateless && vm->dev_state[i])
			return vk_fail(err, -ENOTSUP, "this VM cannot be saved yet: its %s device has "
				       "no saved state", c->name);
	return 0;
}

int vm_devices_save(struct vm *vm, struct ss_writer *w)
{
	unsigned int i;

	for (i = 0; vm_device_classes[i]; i++)
		if (vm_device_classes[i]->save)
			vm_device_classes[i]->save(vm, w);
	return 0;
}

int vm_devices_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; !ret && vm_device_classes[i]; i++)
		if (vm_device_classes[i]->load)
			ret = vm_device_classes[i]->load(vm, r, err);
	return ret;
}

void vm_devices_hold(struct vm *vm, bool on)
{
	unsigned int i, n = 0;

	while (vm_device_classes[n])
		n++;
	for (i = 0; i < n; i++) {
		const struct vm_device_class *c = vm_device_classes[on ? i : n - 1 - i];

		if (c->hold)
			c->hold(vm, on);
	}
}
