/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One small function per x87 instruction form, for vmm/arch/x86/emulate.c's
 * completion of the x87 instructions a PVM host's emulator refuses. Each
 * runs that one instruction on this thread's own FPU with the guest's x87
 * state loaded, so the arithmetic is the hardware's, bit for bit:
 *
 *   uint64_t stub(void *operand, void *guest_fx, uint64_t flags, void *host_fx)
 *
 *   save the caller's x87/SSE state in host_fx (FXSAVE64), load the guest's
 *   from guest_fx (FXRSTOR64), take the arithmetic flags (fcmov reads them),
 *   run the instruction, its memory operand at (%rdi), keep the flags it set
 *   (fcomi writes them) in %rax, store the guest's state back into guest_fx
 *   and restore the caller's. Nothing between the loads runs a waiting FPU
 *   instruction but the guest's own, so an exception the caller found
 *   pending and unmasked is never raised here (the caller checks first).
 *
 * The stubs are 32 bytes apart: for the opcode byte 0xd8 + n, stub
 * n * 72 + reg for the memory form whose ModRM reg field is reg, and
 * n * 72 + 8 + (modrm - 0xc0) for the register form with that ModRM byte.
 * The caller runs only the forms that exist (invalid ones would be #UD).
 */
/* One stub: the instruction \op with ModRM byte \modrm, between the loads. */
	.macro	x87_stub op, modrm
	.balign	32
	fxsave64	(%rcx)
	fxrstor64	(%rsi)
	pushq	%rdx
	popfq
	.byte	\op, \modrm
	pushfq
	popq	%rax
	fxsave64	(%rsi)
	fxrstor64	(%rcx)
	ret
	.endm

	.text
	.balign	32
	.globl	vk_x87_stubs
	.type	vk_x87_stubs, @function
vk_x87_stubs:
	.irp	op, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf
	.irp	reg, 0, 1, 2, 3, 4, 5, 6, 7
	x87_stub \op, (\reg << 3) | 7		/* the memory form on (%rdi) */
	.endr
	.irp	hi, 0xc0, 0xc8, 0xd0, 0xd8, 0xe0, 0xe8, 0xf0, 0xf8
	.irp	lo, 0, 1, 2, 3, 4, 5, 6, 7
	x87_stub \op, \hi + \lo		/* the register form */
	.endr
	.endr
	.endr
	.size	vk_x87_stubs, . - vk_x87_stubs
	.section .note.GNU-stack, "", @progbits
