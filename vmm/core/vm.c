// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VM builder and its lifetime: create in a fixed order (KVM VM,
 * irqchip and PIT, memory, devices, kernel, vCPUs), run vCPU threads with
 * the device event loop on the calling thread, tear down in reverse.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>

#include <linux/kvm.h>

#include "vmkit/console.h"
#include "vmkit/device.h"
#include "vmkit/evloop.h"
#include "vmkit/firmware.h"
#include "vmkit/hw.h"
#include "vmkit/virtio-console.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define TSS_ADDR		0xfffbd000
#define IDENTITY_MAP_ADDR	0xfffbc000
/* Under firmware the top 4 MiB below 4 GiB are flash: QEMU's place for these pages. */
#define FW_TSS_ADDR		0xfeffd000
#define FW_IDENTITY_MAP_ADDR	0xfeffc000

/* /dev/kvm opened before the monitor gave up its privileges (vm_kvm_preopen). */
static int kvm_kept_fd = -1;

int vm_kvm_preopen(struct vk_err *err)
{
	if (kvm_kept_fd >= 0)
		return 0;
	kvm_kept_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_kept_fd < 0)
		return vk_fail(err, -errno, "/dev/kvm: %s", strerror(errno));
	return 0;
}

bool vm_host_is_pvm(void)
{
	/*
	 * Looked at once, before any privilege drop: a monitor in its private
	 * root (--runas) has no /sys, and took every later guest reset's VM for
	 * a non-PVM one (Linux then died at xrstor: no noxsave on its command line).
	 */
	static int pvm = -1;

	if (pvm < 0)
		pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	return pvm;
}

static int kvm_open_vm(struct vm *vm, struct vk_err *err)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE, .args = { 1 } };

	vm->pvm = vm_host_is_pvm();
	/*
	 * Each VM (one per guest reset) gets its own descriptor: a copy of the
	 * kept one under --runas, whose user may not open /dev/kvm itself.
	 */
	if (kvm_kept_fd >= 0)
		vm->kvm_fd = fcntl(kvm_kept_fd, F_DUPFD_CLOEXEC, 0);
	else
		vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return vk_fail(err, -errno, "/dev/kvm: %s", strerror(errno));
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return vk_fail(err, -ENOTSUP, "/dev/kvm: unsupported KVM API version");
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0)
		return vk_fail(err, -errno, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return vk_fail(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	/* VMX needs these two pages reserved below 4 GiB; other hosts ignore them. */
	if (vm->cfg->firmware != FIRMWARE_NONE) {
		ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, FW_TSS_ADDR);
		ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ FW_IDENTITY_MAP_ADDR });
	} else {
		ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, TSS_ADDR);
		ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ IDENTITY_MAP_ADDR });
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return vk_fail(err, -errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	/* Instruction bytes on emulation failures let us finish them (PVM hosts). */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0)
		ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap);
	return 0;
}

static int create_vcpus(struct vm *vm, struct vk_err *err)
{
	unsigned int i;
	int r;

	vm->vcpus = calloc(vm->cfg->cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < vm->cfg->cpus; i++)
		vm->vcpus[i].fd = -1;
	vm->nr_vcpus = vm->cfg->cpus;
	r = x86_cpuid_init(vm, err);
	for (i = 0; !r && i < vm->nr_vcpus; i++)
		r = vcpu_create(vm, &vm->vcpus[i], i, err);
	return r;
}

static struct vm *vm_alloc(const struct vm_config *cfg, struct console *con)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vm->cfg = cfg;
	vm->con = con;
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->slot_lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	atomic_init(&vm->stop, VM_RUNNING);
	return vm;
}

int vm_create(struct vm **out, const struct vm_config *cfg, struct console *con,
	      struct vk_err *err)
{
	struct vm *vm = vm_alloc(cfg, con);
	int r;

	if (!vm)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = kvm_open_vm(vm, err);
	if (!r && (r = evloop_new(&vm->loop)))
		vk_fail(err, r, "event loop: %s", strerror(-r));
	if (!r)
		evloop_set_poll_max(vm->loop, vm_poll_max_ns(cfg));
	if (!r)
		r = vm_memory_init(vm, cfg->mem_bytes, err);
	if (!r)
		r = vm_devices_create(vm, err);
	/* vCPUs before the kernel: the MADT lists their APIC IDs. */
	if (!r)
		r = create_vcpus(vm, err);
	/* Firmware starts at the reset vector and finds its way through fw_cfg (issue 12). */
	if (!r && cfg->firmware != FIRMWARE_NONE) {
		r = x86_firmware_setup(vm, err);
		if (!r)
			r = x86_vcpu_reset_regs(&vm->vcpus[0], err);
	} else if (!r) {
		r = x86_load_kernel(vm, err);
		if (!r)
			r = x86_vcpu_boot_regs(&vm->vcpus[0], err);
	}
	if (r) {
		vm_destroy(vm);
		return r;
	}
	*out = vm;
	return 0;
}

bool vm_request_stop(struct vm *vm, enum vm_stop why, const char *fmt, ...)
{
	int expected = VM_RUNNING;
	unsigned int i;
	va_list ap;

	if (!atomic_compare_exchange_strong(&vm->stop, &expected, why))
		return false;
	va_start(ap, fmt);
	vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
	va_end(ap);
	if (why == VM_STOP_ERROR)
		vk_msg("%s", vm->stop_msg);
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);	/* release paused vCPUs */
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	if (vm->stop_efd >= 0)
		eventfd_write(vm->stop_efd, 1);
	return true;
}

void vm_pause(struct vm *vm)
{
	unsigned int i;

	atomic_store(&vm->pause_req, true);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->lock);
	while (vm->nr_paused < vm->nr_vcpus && atomic_load(&vm->stop) == VM_RUNNING)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	atomic_store(&vm->pause_req, false);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm_set_irq(struct vm *vm, unsigned int gsi, bool level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static int on_stop(void *opaque, int fd, uint32_t events)
{
	eventfd_t v;

	eventfd_read(fd, &v);
	return 1;
}

static int on_signal(void *opaque, int fd, uint32_t events)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) == sizeof(si))
		vm_request_stop(opaque, VM_STOP_QUIT, "terminating on signal %u", si.ssi_signo);
	return 0;
}

static size_t on_console_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;

	if (vm->vcon)
		return virtio_console_input(vm->vcon, buf, len);
	return serial_input(vm->uart, buf, len);
}

static void on_console_quit(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_QUIT, "quit from the console (Ctrl-A x)");
}

static int setup_loop(struct vm *vm, int sfd)
{
	struct console_sink sink = { on_console_input, on_console_quit, vm };
	int r;

	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return -errno;
	r = evloop_add(vm->loop, vm->stop_efd, EPOLLIN, on_stop, vm);
	if (!r && sfd >= 0)
		r = evloop_add(vm->loop, sfd, EPOLLIN, on_signal, vm);
	if (!r)
		r = console_attach(vm->con, vm->loop, &sink);
	return r;
}

enum vm_stop vm_run(struct vm *vm, int signal_fd)
{
	unsigned int i;
	int r;

	r = setup_loop(vm, signal_fd);
	for (i = 0; !r && i < vm->nr_vcpus; i++)
		r = vcpu_start(&vm->vcpus[i]);
	if (r)
		vm_request_stop(vm, VM_STOP_ERROR, "cannot start the VM: %s", strerror(-r));
	else if (atomic_load(&vm->stop) == VM_RUNNING)
		evloop_run(vm->loop);
	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].started)
			pthread_join(vm->vcpus[i].thread, NULL);
	console_detach(vm->con, vm->loop);
	return atomic_load(&vm->stop);
}

void vm_destroy(struct vm *vm)
{
	unsigned int i;

	if (!vm)
		return;
	for (i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	free(vm->cpuid);
	vm_devices_destroy(vm);
	io_bus_free(&vm->pio);
	io_bus_free(&vm->mmio);
	evloop_free(vm->loop);
	vm_memory_free(vm);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}
