/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Completes, in user space, the few instructions a host's KVM cannot emulate.
 *
 * On PVM hosts (kvm_pvm) guest code at CPL0 is emulated by the host, and its
 * emulator refuses a handful of instructions every x86-64 kernel executes
 * (fwait, ldmxcsr, int3, fxsave...). KVM then exits with
 * KVM_INTERNAL_ERROR_EMULATION and the instruction bytes; the monitor hands
 * them to x86_emulate() with the vCPU's state and resumes the guest.
 *
 * This module is pure: it knows nothing of KVM. Guest memory is reached
 * through the callbacks in struct x86_emu_ops, by linear (virtual) address.
 */
#ifndef VMKIT_X86_EMULATE_H
#define VMKIT_X86_EMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum x86_gpr {
	X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
	X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
	X86_NR_GPRS
};

enum x86_seg { X86_ES, X86_CS, X86_SS, X86_DS, X86_FS, X86_GS, X86_NR_SEGS };

/* Offsets in the 512-byte FXSAVE area (Intel SDM Vol. 1, table 10-2). */
#define FX_FCW		0
#define FX_FSW		2
#define FX_FTW		4
#define FX_RSVD5	5
#define FX_FOP		6
#define FX_FIP		8
#define FX_FCS		12
#define FX_FDP		16
#define FX_FDS		20
#define FX_MXCSR	24
#define FX_MXCSR_MASK	28
#define FX_REGS		32	/* ST0-ST7, 16 bytes each */
#define FX_XMM		160	/* XMM0-XMM15, 16 bytes each */

/* Callbacks to reach guest memory by linear address; return 0 or -errno. */
struct x86_emu_ops {
	int (*read)(void *opaque, uint64_t la, void *buf, size_t len);
	int (*write)(void *opaque, uint64_t la, const void *buf, size_t len);
};

/* A segment register as the CPU caches it (the fields of KVM's kvm_segment). */
struct x86_emu_seg {
	uint64_t base;
	uint32_t limit;		/* in bytes, granularity applied */
	uint16_t selector;
	uint8_t type, s, dpl, present, db, l, g, avl;
};

struct x86_emu_state {
	uint64_t gpr[X86_NR_GPRS];
	uint64_t rip;
	uint64_t rflags;
	uint64_t seg_base[X86_NR_SEGS];
	int code_bits;		/* 16, 32 or 64: the current code segment's default size */
	int stack_bits;		/* 16 or 32 (SS.B), 64 in 64-bit mode: the stack pointer's width */
	int cpl;
	bool protected_mode;	/* CR0.PE */
	bool long_mode;		/* EFER.LMA */
	uint64_t gdt_base;	/* for the descriptors a far transfer (iret) loads */
	uint16_t gdt_limit;

	/* Out: a new code segment (iret), to be loaded with rip. */
	struct x86_emu_seg cs;
	bool cs_dirty;

	/* x87/SSE state in the 512-byte FXSAVE layout (Intel SDM Vol. 1, 10.5.1). */
	uint8_t fxstate[512];
	bool fpu_dirty;		/* set by x86_emulate when fxstate changed */
	bool gpr_dirty;		/* set by x86_emulate when a gpr changed */

	/* Out: an exception to deliver after the instruction, or -1. */
	int exception;
	bool exception_has_error;
	uint32_t error_code;
};

/*
 * Emulate the instruction in insn[0..len). On success returns 0 and updates
 * st: rip advanced past the instruction (also for a trap like int3, whose
 * vector is put in st->exception), registers/FPU state changed and their
 * dirty flags set. A fault (e.g. #GP for a bad MXCSR value) also returns 0
 * with st->exception set and rip left at the instruction.
 * Returns -ENOTSUP for an instruction it does not handle (st unchanged), and
 * -EFAULT when guest memory could not be reached (st unchanged).
 */
int x86_emulate(struct x86_emu_state *st, const uint8_t *insn, size_t len,
		const struct x86_emu_ops *ops, void *opaque);

/* Human-readable mnemonic of the instruction at insn, for messages ("ldmxcsr"). */
const char *x86_emulate_name(const uint8_t *insn, size_t len);

#endif
