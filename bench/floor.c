/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * floor: the least a KVM monitor has to do before the guest's first
 * instruction leaves the guest. Opens /dev/kvm, creates a VM with one
 * 128 MiB memory slot and one vCPU, puts "mov $0x3f8,%dx; out %al,%dx; hlt"
 * at guest address 0 (16-bit real mode, CS base 0) and runs until the
 * first KVM_EXIT_IO. Exit status 0 only if that exit is an OUT to 0x3f8.
 * "floor irqchip" also creates the in-kernel irqchip, "floor pit" the
 * irqchip and the PIT, as vmkit does: what those cost, created and torn down.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#define MEM (128ul << 20)
#define CHECK(x) do { if ((x) < 0) { perror(#x); return 1; } } while (0)

int main(int argc, char **argv)
{
	static const uint8_t code[] = { 0xba, 0xf8, 0x03, 0xee, 0xf4 };
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, cpu, sz;
	CHECK(kvm);
	CHECK(vm = ioctl(kvm, KVM_CREATE_VM, 0));
	if (argc > 1) /* "irqchip" or "pit": in-kernel devices vmkit also creates */
		CHECK(ioctl(vm, KVM_CREATE_IRQCHIP, 0));
	if (argc > 1 && !strcmp(argv[1], "pit")) {
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
		CHECK(ioctl(vm, KVM_CREATE_PIT2, &pit));
	}
	uint8_t *mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) { perror("mmap"); return 1; }
	memcpy(mem, code, sizeof(code));
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = MEM,
		.userspace_addr = (uintptr_t)mem,
	};
	CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r));
	CHECK(cpu = ioctl(vm, KVM_CREATE_VCPU, 0));
	CHECK(sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0));
	struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
	if (run == MAP_FAILED) { perror("mmap vcpu"); return 1; }
	struct kvm_sregs s;
	CHECK(ioctl(cpu, KVM_GET_SREGS, &s));
	s.cs.base = 0; s.cs.selector = 0;
	CHECK(ioctl(cpu, KVM_SET_SREGS, &s));
	struct kvm_regs g = { .rip = 0, .rax = '\n', .rflags = 2 };
	CHECK(ioctl(cpu, KVM_SET_REGS, &g));
	CHECK(ioctl(cpu, KVM_RUN, 0));
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x3f8 ||
	    run->io.direction != KVM_EXIT_IO_OUT) {
		fprintf(stderr, "floor: unexpected exit %u\n", run->exit_reason);
		return 1;
	}
	return 0;
}
