// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One thread per vCPU: KVM_RUN, then dispatch the exit (port I/O, MMIO,
 * shutdown, errors). Other threads stop a vCPU by setting a request and
 * kicking it: immediate_exit covers the window before KVM_RUN, the signal
 * the time inside it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "vmkit/vmm-sandbox.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define SIG_KICK SIGUSR1

int vcpu_create(struct vm *vm, struct vcpu *v, unsigned int id, struct vk_err *err)
{
	v->vm = vm;
	v->id = id;
	v->apic_id = x86_apic_id(vm, id);
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->apic_id);
	if (v->fd < 0)
		return vk_fail(err, -errno, "KVM_CREATE_VCPU %u: %s", id, strerror(errno));
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return vk_fail(err, -errno, "mmap of vCPU %u's kvm_run: %s", id, strerror(errno));
	}
	return x86_vcpu_init(v, err);
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->vm->run_size);
	if (v->fd >= 0)
		close(v->fd);
	free(v->fx_shadow);
	v->fx_shadow = NULL;
	v->run = NULL;
	v->fd = -1;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned int i, sz = run->io.size;

	for (i = 0; i < run->io.count; i++, data += sz) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			io_bus_write(&v->vm->pio, run->io.port, data, sz);
		else if (!io_bus_read(&v->vm->pio, run->io.port, data, sz))
			memset(data, 0xff, sz);	/* nothing there: the bus floats high */
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned int len = MIN(run->mmio.len, 8u);

	if (run->mmio.is_write)
		io_bus_write(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else if (!io_bus_read(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len))
		memset(run->mmio.data, 0, len);
}

static void stop_with_regs(struct vcpu *v, enum vm_stop why, const char *msg)
{
	/* The first stop wins; only its vCPU's registers are worth printing. */
	if (vm_request_stop(v->vm, why, "%s", msg))
		vcpu_dump_regs(v, STDERR_FILENO);
}

static void handle_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vk_err err = { 0 };
	char msg[256];

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
		if (x86_emulation_failure(v, &err) == 0)
			return;
		stop_with_regs(v, VM_STOP_ERROR, err.msg);
		return;
	}
	snprintf(msg, sizeof(msg), "vCPU %u: KVM internal error, suberror %u", v->id,
		 run->internal.suberror);
	stop_with_regs(v, VM_STOP_ERROR, msg);
}

/* Returns false when the vCPU must leave its loop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char msg[256];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_HLT:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		snprintf(msg, sizeof(msg), "vCPU %u: guest triple fault (shutdown)", v->id);
		stop_with_regs(v, VM_STOP_ERROR, msg);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		handle_internal_error(v);
		return atomic_load(&v->vm->stop) == VM_RUNNING;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(msg, sizeof(msg), "vCPU %u: KVM entry failure, reason 0x%llx", v->id,
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		stop_with_regs(v, VM_STOP_ERROR, msg);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm_request_stop(v->vm, VM_STOP_RESET, "guest reset");
		else
			vm_request_stop(v->vm, VM_STOP_POWEROFF, "guest powered off");
		return false;
	default:
		snprintf(msg, sizeof(msg), "vCPU %u: unexpected KVM exit reason %u", v->id,
			 run->exit_reason);
		stop_with_regs(v, VM_STOP_ERROR, msg);
		return false;
	}
}

/* Park here while the VM is paused; returns false when it is stopping. */
static bool check_requests(struct vcpu *v)
{
	struct vm *vm = v->vm;

	if (atomic_load(&vm->stop) != VM_RUNNING)
		return false;
	if (!atomic_load(&vm->pause_req))
		return true;
	pthread_mutex_lock(&vm->lock);
	vm->nr_paused++;
	pthread_cond_broadcast(&vm->cond);
	while (atomic_load(&vm->pause_req) && atomic_load(&vm->stop) == VM_RUNNING)
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->nr_paused--;
	pthread_mutex_unlock(&vm->lock);
	return atomic_load(&vm->stop) == VM_RUNNING;
}

static void *vcpu_thread(void *opaque)
{
	struct vcpu *v = opaque;
	sigset_t set;
	char msg[128];

	/* "vcpu N" in /proc/PID/task/TID/comm (top -H, taskset, the tests), before any guest code. */
	snprintf(msg, sizeof(msg), "vcpu %u", v->id);
	pthread_setname_np(pthread_self(), msg);
	atomic_store(&v->tid, gettid());
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	vmm_sandbox_enter(&vmm_sandbox_vcpu);
	while (check_requests(v)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			snprintf(msg, sizeof(msg), "vCPU %u: KVM_RUN: %s", v->id, strerror(errno));
			stop_with_regs(v, VM_STOP_ERROR, msg);
			break;
		}
		if (!handle_exit(v))
			break;
	}
	return NULL;
}

static void kick_handler(int sig)
{
}

/* The host CPUs this vCPU may run on (virsh vcpupin), or NULL for the monitor's own. */
static const cpu_set_t *vcpu_affinity(const struct vcpu *v)
{
	const struct vm_config *c = v->vm->cfg;

	if (v->id < c->nr_vcpu_affinity && CPU_COUNT(&c->vcpu_affinity[v->id]))
		return &c->vcpu_affinity[v->id];
	return c->cpu_affinity;
}

int vcpu_start(struct vcpu *v)
{
	static bool handler_installed;
	struct sigaction sa = { .sa_handler = kick_handler };
	const cpu_set_t *cpus = vcpu_affinity(v);
	pthread_attr_t attr;
	int r;

	if (!handler_installed) {
		sigaction(SIG_KICK, &sa, NULL);	/* no SA_RESTART: KVM_RUN must return */
		handler_installed = true;
	}
	pthread_attr_init(&attr);
	/* Pinned from its first instruction, so it never runs (or faults memory in) elsewhere. */
	r = cpus ? pthread_attr_setaffinity_np(&attr, sizeof(*cpus), cpus) : 0;
	if (!r)
		r = pthread_create(&v->thread, &attr, vcpu_thread, v);
	pthread_attr_destroy(&attr);
	if (r)
		return -r;
	/* Named here too, so the name is there as soon as the thread exists (it may not run yet). */
	{
		char name[16];

		snprintf(name, sizeof(name), "vcpu %u", v->id);
		pthread_setname_np(v->thread, name);
	}
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	v->run->immediate_exit = 1;
	pthread_kill(v->thread, SIG_KICK);
}
