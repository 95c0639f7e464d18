/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Emulated platform devices: each registers itself on the VM's buses. */
#ifndef VMKIT_HW_H
#define VMKIT_HW_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vmkit/util.h"

struct vm;
struct console;

/* 8250/16550A UART at 0x3f8, IRQ 4, on the console. */
int serial_create(struct vm *vm, struct console *con, struct vk_err *err);
void serial_destroy(struct vm *vm);
/* Bytes typed on the console, from the event loop's thread. */
size_t serial_input(void *uart, const uint8_t *buf, size_t len);

/* MC146818 CMOS RTC at 0x70/0x71 with the host's time. */
int rtc_create(struct vm *vm, struct vk_err *err);
void rtc_destroy(struct vm *vm);

/* The in-kernel i8254 PIT, created on the guest's first access to it (vmm/hw/pit.c). */
int pit_create(struct vm *vm, struct vk_err *err);
void pit_destroy(struct vm *vm);

/* i8042 keyboard controller with a PS/2 keyboard and mouse; 0xFE to port 0x64 resets. */
int i8042_create(struct vm *vm, struct vk_err *err);
void i8042_destroy(struct vm *vm);

/* PCI host bridge, config mechanism 1 at 0xCF8/0xCFC; bus 0 holds only the bridge. */
int pci_create(struct vm *vm, struct vk_err *err);
void pci_destroy(struct vm *vm);

/* QEMU's isa-debug-exit on port: a write ends the monitor with (value << 1) | 1. */
int debugexit_create(struct vm *vm, uint16_t port, struct vk_err *err);

/* ACPI fixed hardware: PM1 event/control blocks, reset register 0xCF9. */
int pm_create(struct vm *vm, struct vk_err *err);
void pm_destroy(struct vm *vm);
/* Press the power button: PWRBTN_STS, and the SCI if the guest enabled it. */
void pm_power_button(struct vm *vm);
/* Move the PM1 block to port (0: decode nowhere), as the ICH9's PMBASE does. */
int pm_set_base(struct vm *vm, uint16_t port);

/* The ACPI PM timer at PM block + 8 (vmm/hw/pm-timer.c). */
#define PM_TMR_OFFSET	0x08
struct io_ops;
/* Move a chipset's PM block of size ports from *at to base (vmm/hw/pm.c). */
void pm_block_place(struct vm *vm, uint16_t *at, uint16_t base, unsigned int size,
		    const struct io_ops *ops, void *opaque);
struct pm_timer {
	struct timespec t0;	/* where the count was 0 */
};
void pm_timer_start(struct pm_timer *t);
uint32_t pm_timer_read(const struct pm_timer *t);	/* 24 bits */
void pm_timer_set(struct pm_timer *t, uint32_t ticks);	/* count on from ticks */

#endif
