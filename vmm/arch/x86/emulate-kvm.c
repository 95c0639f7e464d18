// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Glue between KVM's emulation-failure exit and the user-space emulator
 * (emulate.c): gather registers, FPU state and a path to guest memory by
 * linear address (KVM_TRANSLATE), run the instruction, write back what
 * changed, deliver any exception it raised.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmkit/vm.h"
#include "vmkit/x86-emulate.h"
#include "vmkit/x86.h"


struct emu_ctx {
	struct vcpu *v;
	const struct kvm_sregs *s;
};

#define PTE_P	(1ULL << 0)
#define PTE_PS	(1ULL << 7)
#define PTE_ADDR 0x000ffffffffff000ULL

static bool read_pte(struct vm *vm, uint64_t gpa, uint64_t *pte)
{
	uint64_t *p = vm_gpa_to_hva(vm, gpa, 8);

	if (!p)
		return false;
	*pte = *p;
	return (*pte & PTE_P) != 0;
}

/*
 * Linear to guest-physical through the guest's own page tables (4-level
 * long mode, PAE, 2-level 32-bit, or paging off). We walk them ourselves
 * rather than ask KVM_TRANSLATE, which PVM hosts do not answer for kernel
 * addresses. Access rights are not checked: the guest kernel made the access.
 */
static int translate(struct emu_ctx *c, uint64_t la, uint64_t *gpa)
{
	const struct kvm_sregs *s = c->s;
	struct vm *vm = c->v->vm;
	uint64_t pte = 0, table = s->cr3 & PTE_ADDR;
	int level, shift;

	if (!(s->cr0 & (1u << 31))) {
		*gpa = la & 0xffffffffULL;
		return 0;
	}
	if (!(s->cr4 & (1u << 5))) {	/* 32-bit paging: 4 KiB or 4 MiB pages */
		uint32_t *pde = vm_gpa_to_hva(vm, (s->cr3 & 0xfffff000) + ((la >> 22) & 0x3ff) * 4, 4);

		if (!pde || !(*pde & PTE_P))
			return -EFAULT;
		if (*pde & PTE_PS) {
			*gpa = (*pde & 0xffc00000) | (la & 0x3fffff);
			return 0;
		}
		table = *pde & 0xfffff000;
		if (!read_pte(vm, table + ((la >> 12) & 0x3ff) * 4, &pte))
			return -EFAULT;
		*gpa = (pte & 0xfffff000) | (la & 0xfff);
		return 0;
	}
	level = (s->efer & (1u << 10)) ? 4 : 3;
	if (level == 3)
		table = s->cr3 & 0xffffffe0;
	for (; level >= 1; level--) {
		shift = 12 + 9 * (level - 1);
		if (!read_pte(vm, table + ((la >> shift) & (level == 3 && !(s->efer & (1u << 10)) ? 3 : 511)) * 8, &pte))
			return -EFAULT;
		if (level == 1 || (level <= 3 && (pte & PTE_PS)))
			break;
		table = pte & PTE_ADDR;
	}
	shift = 12 + 9 * (level - 1);
	*gpa = (pte & PTE_ADDR & ~((1ULL << shift) - 1)) | (la & ((1ULL << shift) - 1));
	return 0;
}

/*
 * An operand outside RAM goes through the MMIO bus as the guest's own access
 * would: OVMF's SEC phase runs from its flash and loads control words from it
 * (fldcw), SeaBIOS's from the BIOS ROM. Naturally aligned pieces of at most 8
 * bytes, the sizes devices are written for; -EFAULT where nothing answers.
 */
static int access_mmio(struct vm *vm, uint64_t gpa, uint8_t *buf, size_t len, bool write)
{
	while (len) {
		unsigned int n = 8;
		bool ok;

		while (n > len || (gpa & (n - 1)))
			n /= 2;
		ok = write ? io_bus_write(&vm->mmio, gpa, buf, n) : io_bus_read(&vm->mmio, gpa, buf, n);
		if (!ok)
			return -EFAULT;
		gpa += n;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Walk [la, la+len) a page at a time. */
static int access_linear(struct emu_ctx *c, uint64_t la, void *buf, size_t len, bool write)
{
	while (len) {
		size_t chunk = MIN(len, 4096 - (la & 4095));
		uint64_t gpa;
		void *hva;

		if (translate(c, la, &gpa))
			return -EFAULT;
		hva = vm_gpa_to_hva(c->v->vm, gpa, chunk);
		if (!hva) {
			if (access_mmio(c->v->vm, gpa, buf, chunk, write))
				return -EFAULT;
		} else if (write) {
			memcpy(hva, buf, chunk);
		} else {
			memcpy(buf, hva, chunk);
		}
		la += chunk;
		buf = (uint8_t *)buf + chunk;
		len -= chunk;
	}
	return 0;
}

static int emu_read(void *opaque, uint64_t la, void *buf, size_t len)
{
	return access_linear(opaque, la, buf, len, false);
}

static int emu_write(void *opaque, uint64_t la, const void *buf, size_t len)
{
	return access_linear(opaque, la, (void *)buf, len, true);
}

static const struct x86_emu_ops emu_ops = { .read = emu_read, .write = emu_write };

static void fpu_to_fx(const struct kvm_fpu *f, uint8_t *fx)
{
	unsigned int i;

	memset(fx, 0, 512);
	memcpy(fx + FX_FCW, &f->fcw, 2);
	memcpy(fx + FX_FSW, &f->fsw, 2);
	fx[FX_FTW] = f->ftwx;
	memcpy(fx + FX_FOP, &f->last_opcode, 2);
	memcpy(fx + FX_FIP, &f->last_ip, 8);
	memcpy(fx + FX_FDP, &f->last_dp, 8);
	memcpy(fx + FX_MXCSR, &f->mxcsr, 4);
	memcpy(fx + FX_MXCSR_MASK, &(uint32_t){ 0xffff }, 4);
	for (i = 0; i < 8; i++)
		memcpy(fx + FX_REGS + 16 * i, f->fpr[i], 16);
	for (i = 0; i < 16; i++)
		memcpy(fx + FX_XMM + 16 * i, f->xmm[i], 16);
}

static void fx_to_fpu(const uint8_t *fx, struct kvm_fpu *f)
{
	unsigned int i;

	memcpy(&f->fcw, fx + FX_FCW, 2);
	memcpy(&f->fsw, fx + FX_FSW, 2);
	f->ftwx = fx[FX_FTW];
	memcpy(&f->last_opcode, fx + FX_FOP, 2);
	memcpy(&f->last_ip, fx + FX_FIP, 8);
	memcpy(&f->last_dp, fx + FX_FDP, 8);
	memcpy(&f->mxcsr, fx + FX_MXCSR, 4);
	for (i = 0; i < 8; i++)
		memcpy(f->fpr[i], fx + FX_REGS + 16 * i, 16);
	for (i = 0; i < 16; i++)
		memcpy(f->xmm[i], fx + FX_XMM + 16 * i, 16);
}

static void regs_to_state(const struct kvm_regs *r, const struct kvm_sregs *s,
			  struct x86_emu_state *st)
{
	const uint64_t g[X86_NR_GPRS] = { r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp,
					  r->rsi, r->rdi, r->r8, r->r9, r->r10, r->r11,
					  r->r12, r->r13, r->r14, r->r15 };

	memcpy(st->gpr, g, sizeof(g));
	st->rip = r->rip;
	st->rflags = r->rflags;
	st->seg_base[X86_ES] = s->es.base;
	st->seg_base[X86_CS] = s->cs.base;
	st->seg_base[X86_SS] = s->ss.base;
	st->seg_base[X86_DS] = s->ds.base;
	st->seg_base[X86_FS] = s->fs.base;
	st->seg_base[X86_GS] = s->gs.base;
	st->long_mode = s->efer & (1u << 10);	/* EFER.LMA */
	st->protected_mode = s->cr0 & 1;
	st->code_bits = st->long_mode && s->cs.l ? 64 : s->cs.db ? 32 : 16;
	st->stack_bits = st->code_bits == 64 ? 64 : s->ss.db ? 32 : 16;
	st->cpl = s->cs.dpl;
	st->gdt_base = s->gdt.base;
	st->gdt_limit = s->gdt.limit;
	st->exception = -1;
}

static void state_to_regs(const struct x86_emu_state *st, struct kvm_regs *r)
{
	const uint64_t *g = st->gpr;

	r->rax = g[X86_RAX]; r->rcx = g[X86_RCX]; r->rdx = g[X86_RDX]; r->rbx = g[X86_RBX];
	r->rsp = g[X86_RSP]; r->rbp = g[X86_RBP]; r->rsi = g[X86_RSI]; r->rdi = g[X86_RDI];
	r->r8 = g[X86_R8]; r->r9 = g[X86_R9]; r->r10 = g[X86_R10]; r->r11 = g[X86_R11];
	r->r12 = g[X86_R12]; r->r13 = g[X86_R13]; r->r14 = g[X86_R14]; r->r15 = g[X86_R15];
	r->rip = st->rip;
	r->rflags = st->rflags;
}

static int inject(struct vcpu *v, const struct x86_emu_state *st)
{
	struct kvm_vcpu_events ev;

	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	ev.exception.injected = 1;
	ev.exception.nr = st->exception;
	ev.exception.has_error_code = st->exception_has_error;
	ev.exception.error_code = st->error_code;
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	return 0;
}

static int fail_msg(struct vcpu *v, const uint8_t *b, unsigned int n, uint64_t rip,
		    const char *why, int code, struct vk_err *err)
{
	char hex[3 * 16 + 1] = "";
	unsigned int i;
	size_t pos = 0;

	for (i = 0; i < n && i < 16; i++)
		pos += snprintf(hex + pos, sizeof(hex) - pos, "%s%02x", i ? " " : "", b[i]);
	return vk_fail(err, code, "vCPU %u: emulation failure at RIP 0x%llx: %s (bytes: %s)",
		       v->id, (unsigned long long)rip, why, n ? hex : "none given");
}

static void emu_seg_to_kvm(const struct x86_emu_seg *e, struct kvm_segment *k)
{
	*k = (struct kvm_segment){
		.base = e->base, .limit = e->limit, .selector = e->selector,
		.type = e->type, .present = e->present, .dpl = e->dpl, .db = e->db,
		.s = e->s, .l = e->l, .g = e->g, .avl = e->avl,
	};
}

static int write_back(struct vcpu *v, struct x86_emu_state *st, struct kvm_regs *r,
		      struct kvm_sregs *s, struct kvm_fpu *f)
{
	if (st->cs_dirty) {
		emu_seg_to_kvm(&st->cs, &s->cs);
		if (ioctl(v->fd, KVM_SET_SREGS, s) < 0)
			return -errno;
	}
	state_to_regs(st, r);
	if (ioctl(v->fd, KVM_SET_REGS, r) < 0)
		return -errno;
	if (st->fpu_dirty && v->fx_shadow)
		memcpy(v->fx_shadow, st->fxstate, 512);
	if (st->fpu_dirty) {
		fx_to_fpu(st->fxstate, f);
		if (ioctl(v->fd, KVM_SET_FPU, f) < 0)
			return -errno;
	}
	return st->exception >= 0 ? inject(v, st) : 0;
}

/*
 * The instruction at RIP, read through the guest's page tables: KVM's
 * copy may be cut short (PVM gives only the bytes its decoder consumed).
 * Stops at the first unmapped page; returns the count read.
 */
static unsigned int fetch_insn(struct emu_ctx *c, uint64_t la, uint8_t *buf)
{
	unsigned int n = 0, chunk;

	while (n < 15) {
		chunk = MIN(15 - n, 4096 - ((la + n) & 4095));
		if (access_linear(c, la + n, buf + n, chunk, false))
			break;
		n += chunk;
	}
	return n;
}

int x86_emulation_failure(struct vcpu *v, struct vk_err *err)
{
	struct kvm_run *run = v->run;
	struct x86_emu_state st = { 0 };
	struct kvm_regs r;
	struct kvm_sregs s;
	struct emu_ctx ctx = { .v = v, .s = &s };
	struct kvm_fpu f;
	uint8_t bytes[15];
	unsigned int n = 0;
	int ret;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0 ||
	    ioctl(v->fd, KVM_GET_FPU, &f) < 0)
		return vk_fail(err, -errno, "vCPU %u: cannot read registers: %s", v->id,
			       strerror(errno));
	regs_to_state(&r, &s, &st);
	n = fetch_insn(&ctx, st.seg_base[X86_CS] + r.rip, bytes);
	if (!n && run->emulation_failure.ndata >= 2 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = MIN(run->emulation_failure.insn_size, 15);
		memcpy(bytes, run->emulation_failure.insn_bytes, n);
	}
	if (!n)
		return fail_msg(v, bytes, 0, r.rip, "instruction bytes unreadable", -ENOTSUP, err);
	if (v->fx_shadow)
		memcpy(st.fxstate, v->fx_shadow, 512);
	else
		fpu_to_fx(&f, st.fxstate);
	ret = x86_emulate(&st, bytes, n, &emu_ops, &ctx);
	if (ret == -ENOTSUP)
		return fail_msg(v, bytes, n, r.rip, "instruction not emulated", ret, err);
	if (ret)
		return fail_msg(v, bytes, n, r.rip, "operand not in guest RAM", ret, err);
	ret = write_back(v, &st, &r, &s, &f);
	if (ret)
		return vk_fail(err, ret, "vCPU %u: cannot complete %s: %s", v->id,
			       x86_emulate_name(bytes, n), strerror(-ret));
	return 0;
}
