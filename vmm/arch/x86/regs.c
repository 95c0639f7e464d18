// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Initial register state for the boot entry, and the register dump printed
 * when a guest stops with an error.
 *
 * PVH entry: 32-bit protected mode, paging off, flat segments, %ebx = the
 * hvm_start_info address. Linux 64-bit entry: long mode on identity-mapped
 * page tables, flat segments, %rsi = boot_params. APs are left to KVM,
 * which holds them until the BSP sends INIT and SIPI.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <linux/kvm.h>

#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define CR0_PE		(1u << 0)
#define CR0_ET		(1u << 4)
#define CR0_PG		(1u << 31)
#define CR4_PAE		(1u << 5)
#define EFER_LME	(1u << 8)
#define EFER_LMA	(1u << 10)

static struct kvm_segment flat_seg(uint16_t sel, uint8_t type, bool code64, bool db)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = db, .s = 1, .l = code64, .g = 1,
	};
}

static void boot_sregs(struct vm *vm, struct kvm_sregs *s)
{
	struct kvm_segment code, data;

	if (vm->entry_pvh) {
		code = flat_seg(0x08, 0xb, false, true);
		data = flat_seg(0x18, 0x3, false, true);
		s->cr0 = CR0_PE | CR0_ET;
		s->cr4 = 0;
		s->efer = 0;
	} else {
		code = flat_seg(0x10, 0xb, true, false);
		data = flat_seg(0x18, 0x3, false, true);
		s->cr0 = CR0_PE | CR0_ET | CR0_PG;
		s->cr3 = BOOT_PML4_ADDR;
		s->cr4 = CR4_PAE;
		s->efer = EFER_LME | EFER_LMA;
	}
	s->cs = code;
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = (struct kvm_segment){ .selector = 0x20, .limit = 0x67, .type = 0xb,
				      .present = 1 };
	s->gdt.base = BOOT_GDT_ADDR;
	s->gdt.limit = 5 * 8 - 1;
}

int x86_vcpu_boot_regs(struct vcpu *v, struct vk_err *err)
{
	struct vm *vm = v->vm;
	struct kvm_sregs s;
	struct kvm_regs r = { .rflags = 0x2, .rip = vm->entry };

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return vk_fail(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	boot_sregs(vm, &s);
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		return vk_fail(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	if (vm->entry_pvh)
		r.rbx = vm->boot_info_gpa;
	else
		r.rsi = vm->boot_info_gpa;
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		return vk_fail(err, -errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

static struct kvm_segment real_seg(uint16_t sel, uint64_t base, uint8_t type)
{
	return (struct kvm_segment){
		.base = base, .limit = 0xffff, .selector = sel, .type = type, .present = 1,
		.s = 1,
	};
}

/*
 * The architectural state after RESET (SDM vol. 3, 9.1.1): real mode, CS
 * selector 0xf000 with base 0xffff0000 so the first fetch is at
 * 0xfffffff0, the firmware's reset vector; EDX holds the CPU signature.
 * KVM creates vCPUs this way already; set it all so nothing the monitor
 * did before (CPUID, MSR set-up) or a host's own idea of reset leaks in.
 */
int x86_vcpu_reset_regs(struct vcpu *v, struct vk_err *err)
{
	struct kvm_sregs s;
	struct kvm_regs r = { .rflags = 0x2, .rip = 0xfff0, .rdx = 0x600 };

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return vk_fail(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	s.cs = real_seg(0xf000, 0xffff0000, 0xb);
	s.ds = s.es = s.fs = s.gs = s.ss = real_seg(0, 0, 0x3);
	s.tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
	s.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 0x2, .present = 1 };
	s.gdt.base = s.idt.base = 0;
	s.gdt.limit = s.idt.limit = 0xffff;
	s.cr0 = 0x60000010;		/* CD, NW, ET */
	s.cr2 = s.cr3 = s.cr4 = 0;
	s.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		return vk_fail(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		return vk_fail(err, -errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

/*
 * The FPU's reset state. If it does not read back, the host keeps the
 * guest's FPU out of reach and the monitor tracks the state it emulates
 * in a shadow (see struct vcpu).
 */
static int set_fpu(struct vcpu *v, struct vk_err *err)
{
	struct kvm_fpu f = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (ioctl(v->fd, KVM_SET_FPU, &f) < 0)
		return vk_fail(err, -errno, "KVM_SET_FPU: %s", strerror(errno));
	memset(&f, 0, sizeof(f));
	if (ioctl(v->fd, KVM_GET_FPU, &f) == 0 && f.fcw == 0x37f && f.mxcsr == 0x1f80)
		return 0;
	v->fx_shadow = calloc(1, 512);
	if (!v->fx_shadow)
		return vk_fail(err, -ENOMEM, "out of memory");
	v->fx_shadow[0] = 0x7f;			/* FCW 0x037f */
	v->fx_shadow[1] = 0x03;
	memcpy(v->fx_shadow + 24, &(uint32_t){ 0x1f80 }, 4);	/* MXCSR */
	memcpy(v->fx_shadow + 28, &(uint32_t){ 0xffff }, 4);	/* MXCSR_MASK */
	return 0;
}

int x86_vcpu_init(struct vcpu *v, struct vk_err *err)
{
	int r = x86_vcpu_cpu_init(v, err);

	if (!r)
		r = set_fpu(v, err);
	return r;
}

static void dump_seg(FILE *f, const char *name, const struct kvm_segment *s)
{
	fprintf(f, "%-3s=%04x %016llx %08x type=%x dpl=%u l=%u db=%u\n", name, s->selector,
		(unsigned long long)s->base, s->limit, s->type, s->dpl, s->l, s->db);
}

void vcpu_dump_regs(struct vcpu *v, int fd)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	char buf[2048];
	struct iovec iov;
	/*
	 * Formatted in memory and written with one writev: this runs on the
	 * vCPU's thread, whose allow-list has neither dup nor fstat (fdopen).
	 */
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	if (!f)
		return;
	if (ioctl(v->fd, KVM_GET_REGS, &r) == 0) {
		fprintf(f, "vCPU %u registers:\n", v->id);
		fprintf(f, "RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n",
			r.rax, r.rbx, r.rcx, r.rdx);
		fprintf(f, "RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n",
			r.rsi, r.rdi, r.rbp, r.rsp);
		fprintf(f, "R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n",
			r.r8, r.r9, r.r10, r.r11);
		fprintf(f, "R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n",
			r.r12, r.r13, r.r14, r.r15);
		fprintf(f, "RIP=%016llx RFL=%08llx\n", r.rip, r.rflags);
	}
	if (ioctl(v->fd, KVM_GET_SREGS, &s) == 0) {
		dump_seg(f, "CS", &s.cs);
		dump_seg(f, "SS", &s.ss);
		dump_seg(f, "DS", &s.ds);
		dump_seg(f, "FS", &s.fs);
		dump_seg(f, "GS", &s.gs);
		fprintf(f, "GDT=%016llx %08x IDT=%016llx %08x\n", (unsigned long long)s.gdt.base,
			s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);
		fprintf(f, "CR0=%016llx CR2=%016llx CR3=%016llx CR4=%016llx EFER=%016llx\n",
			s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	}
	fflush(f);
	iov = (struct iovec){ buf, (size_t)ftell(f) };
	if (writev(fd, &iov, 1) < 0) {
		/* nothing to be done: the dump is a courtesy */
	}
	fclose(f);
}
