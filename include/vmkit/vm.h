/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A running virtual machine: the KVM VM fd, guest memory, vCPU threads,
 * the I/O buses, and the state that tells every thread when to stop.
 */
#ifndef VMKIT_VM_H
#define VMKIT_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmkit/bus.h"
#include "vmkit/config.h"
#include "vmkit/util.h"

struct kvm_run;
struct kvm_cpuid2;
struct console;
struct evloop;
struct virtio_blk;
struct virtio_rng;
struct virtio_console;
struct virtio_balloon;
struct control;
struct virtio_net;

/* Why the VM stopped running. */
enum vm_stop {
	VM_RUNNING,
	VM_STOP_POWEROFF,	/* guest powered off: exit 0 */
	VM_STOP_RESET,		/* guest asked for a reset: boot again */
	VM_STOP_QUIT,		/* the user quit (Ctrl-A x, signal): exit 0 */
	VM_STOP_ERROR,		/* triple fault, KVM error: exit 1 */
	VM_STOP_DEBUG_EXIT,	/* the guest wrote the debug-exit port: its status */
};

struct mem_region {
	uint64_t gpa, size;
	uint8_t *hva;
};

struct vcpu {
	struct vm *vm;
	unsigned int id;
	uint32_t apic_id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	atomic_int tid;			/* the thread's TID once it runs (query-cpus-fast) */
	/*
	 * x87/SSE state (FXSAVE layout) the monitor keeps for the instructions
	 * it completes, on hosts whose KVM_GET_FPU/KVM_SET_FPU do not reach
	 * the guest's registers (PVM: reads return zeros, writes are dropped).
	 */
	uint8_t *fx_shadow;
};

#define VM_MAX_MEM_REGIONS 3	/* below the VGA window, above it, above 4 GiB */
#define VM_MAX_SLOTS 32		/* KVM memory slots the VM uses (VM_SLOT_* below) */

/* A KVM memory slot as last set (size 0: unused), for dirty logging (vmm/core/dirty.c). */
struct vm_slot {
	uint64_t gpa, size;
	uint8_t *hva;
	bool readonly;
};

struct vm_dirty;
#define VM_MAX_DEVICE_CLASSES 32	/* entries of vm_device_classes (include/vmkit/device.h) */

/* Boot layout of low memory, shared by the loader, ACPI and e820 code. */
#define BOOT_GDT_ADDR		0x500
#define BOOT_START_INFO_ADDR	0x6000	/* PVH hvm_start_info + memmap + modules */
#define BOOT_PARAMS_ADDR	0x7000	/* Linux zero page */
#define BOOT_PML4_ADDR		0x9000
#define BOOT_PDPT_ADDR		0xa000
#define BOOT_PD_ADDR		0xb000	/* four page directories: 4 GiB of 2 MiB pages */
#define BOOT_CMDLINE_ADDR	0x20000
#define BOOT_CMDLINE_MAX	0x10000
#define EBDA_START		0x9fc00
#define ACPI_START		0xe0000	/* RSDP and tables, in the BIOS area Linux scans */
#define ACPI_END		0x100000
#define HIGH_MEM_START		0x100000
#define LEGACY_VGA_START	0xa0000	/* under firmware: 0xa0000-0xfffff is not plain RAM */
#define SHADOW_START		0xc0000	/* PAM-switched shadow RAM, to 1 MiB */
#define MMIO_HOLE_START		0xc0000000ULL	/* PCI MMIO, IOAPIC, LAPIC below 4 GiB */
#define MMIO_HOLE_END		0x100000000ULL

struct vm {
	const struct vm_config *cfg;
	int kvm_fd, vm_fd;
	int run_size;
	bool pvm;

	uint8_t *ram;			/* all guest RAM, one mapping; mem[] are slices */
	uint64_t ram_size;
	struct mem_region mem[VM_MAX_MEM_REGIONS];
	unsigned int nr_mem;
	uint64_t low_mem_top;		/* end of RAM below the MMIO hole */
	/* slot_lock: the slots and whether KVM logs their writes (live migration). */
	pthread_mutex_t slot_lock;
	struct vm_slot slots[VM_MAX_SLOTS];
	/* While migrating: the pages device threads wrote (vm_mark_dirty); NULL otherwise. */
	struct vm_dirty *_Atomic dirty;
	struct vm_dirty *dirty_mem;	/* what dirty points to, kept until vm_destroy */

	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	struct kvm_cpuid2 *cpuid;	/* host-supported CPUID, patched per vCPU */

	struct io_bus pio, mmio;
	struct evloop *loop;
	struct console *con;
	void *uart, *rtc, *i8042, *pci, *pm, *pit;
	struct virtio_blk *disks[VM_MAX_DISKS];
	struct virtio_rng *rng;
	struct virtio_console *vcon;
	struct virtio_balloon *balloon;
	struct control *ctl;		/* the control socket serving this VM, or NULL */
	struct virtio_net *nics[VM_MAX_NICS];
	struct console *uart_con;	/* the UART's backend: vm->con, or none with --console virtio */
	void *dev_state[VM_MAX_DEVICE_CLASSES];	/* each device class's slot (vm_device_state) */
	void *input;			/* the input router (include/vmkit/input.h) */

	/* Boot results the vCPU setup needs. */
	uint64_t entry;
	bool entry_pvh;			/* 32-bit PVH entry, else 64-bit Linux entry */
	uint64_t boot_info_gpa;		/* start_info (PVH) or boot_params */

	/* Stop/pause coordination between vCPU threads and the main loop. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int stop;		/* enum vm_stop */
	atomic_bool pause_req;
	unsigned int nr_paused;
	int stop_efd;			/* wakes the event loop when the VM stops */
	int debug_exit_status;		/* for VM_STOP_DEBUG_EXIT */
	char stop_msg[256];
};

/*
 * Open /dev/kvm once for all the VMs this process will build: before
 * dropping privileges (--runas), as QEMU opens it before -runas.
 */
int vm_kvm_preopen(struct vk_err *err);
/* Whether /dev/kvm is PVM's (kvm_pvm): first asked before the privilege drop, then kept. */
bool vm_host_is_pvm(void);

/* Build everything the config describes, ready to run, on console con. */
int vm_create(struct vm **out, const struct vm_config *cfg, struct console *con,
	      struct vk_err *err);
/*
 * Start vCPUs and run the device event loop on the calling thread until the
 * VM stops; returns why. signal_fd (or -1) is a signalfd whose signals quit.
 */
enum vm_stop vm_run(struct vm *vm, int signal_fd);
void vm_destroy(struct vm *vm);

/*
 * Called from any thread: stop the VM for this reason. The first caller
 * wins and gets true; an error stop prints its one-line cause at once, so
 * that the caller's register dump follows it.
 */
bool vm_request_stop(struct vm *vm, enum vm_stop why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Stop every vCPU outside KVM_RUN / let them run again. */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

/*
 * Guest-physical to host pointer for [gpa, gpa+len), or NULL when not all
 * RAM. For device threads: while a migration tracks dirty pages, the range
 * counts as written (the device may write through the pointer).
 */
void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len);
/* The device wrote guest RAM [gpa, gpa+len) through a pointer it kept (a used ring). */
void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len);

/* Raise or lower a GSI line of the in-kernel irqchip. */
void vm_set_irq(struct vm *vm, unsigned int gsi, bool level);

/* vCPU */
int vcpu_create(struct vm *vm, struct vcpu *v, unsigned int id, struct vk_err *err);
int vcpu_start(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
void vcpu_dump_regs(struct vcpu *v, int fd);

/* Memory (vmm/core/memory.c) */
int vm_memory_init(struct vm *vm, uint64_t bytes, struct vk_err *err);
void vm_memory_free(struct vm *vm);
/*
 * KVM memory slots beyond RAM's (0 low, 1 high): firmware ROM, pflash and
 * the PAM segments. Set slot to [gpa, gpa+size) at hva, read-only or not
 * (a read-only slot's writes exit as MMIO); size 0 removes it. A no-op on
 * a VM without KVM (vm_fd < 0).
 */
#define VM_SLOT_LOW_HIGH	2	/* under firmware: RAM from 1 MiB to the hole */
#define VM_SLOT_FW_ROM		3	/* BIOS image / OVMF code at the top of 4 GiB */
#define VM_SLOT_FW_VARS		4	/* OVMF vars pflash, in read-array mode */
#define VM_SLOT_PAM		5	/* 13 slots: the PAM segments */
#define VM_SLOT_VGA		18	/* a VGA's VRAM BAR (vmm/display/vga.c) */
/*
 * Set every slot again with the dirty-logging flag as vm->dirty now says
 * (vmm/core/dirty.c turns it on and off; KVM changes it in place).
 */
int vm_memslots_relog(struct vm *vm, struct vk_err *err);
int vm_set_memslot(struct vm *vm, unsigned int slot, uint64_t gpa, uint64_t size, void *hva,
		   bool readonly, struct vk_err *err);
/* Guest RAM backing (vmm/core/ram.c): one mapping of size bytes as mb says. */
int vm_ram_map(const struct mem_backing *mb, uint64_t size, uint8_t **hva, struct vk_err *err);
void vm_ram_unmap(uint8_t *hva, uint64_t size);

#endif
