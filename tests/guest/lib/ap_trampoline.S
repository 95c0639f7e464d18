/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Application processor start-up.
 *
 * ap_tramp_start..ap_tramp_end is copied to a page below 1 MiB whose page
 * number is the SIPI vector; the AP starts there in real mode with
 * CS = page << 8, IP = 0. It goes through 32-bit protected mode into long
 * mode on the BSP's page tables and jumps straight to ap_start64 in the
 * image, which takes a stack slot and calls ap_main(slot).
 *
 * The copier patches two fields: ap_tramp_pm32 (the absolute address of the
 * 32-bit part, i.e. base + (ap_pm32 - ap_tramp_start)) and ap_tramp_gdtr
 * (the first 6 bytes of rt_gdt_ptr). Everything else is resolved at link time.
 */

#define SEL_KCODE64 0x08
#define SEL_KDATA   0x10
#define SEL_KCODE32 0x18

#define AP_STACK_SIZE 8192
#define AP_MAX 64

	.section .rodata.ap_trampoline, "a"
	.p2align 4
	.globl ap_tramp_start, ap_tramp_end, ap_tramp_pm32, ap_tramp_gdtr, ap_tramp_pm32_rel
	.code16
ap_tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl ap_tramp_gdtr - ap_tramp_start
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	.byte 0x66, 0xea		/* ljmpl $SEL_KCODE32, $ap_pm32 (patched) */
ap_tramp_pm32:
	.long 0
	.word SEL_KCODE32

	.code32
ap_pm32:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $0x620, %eax		/* PAE, OSFXSR, OSXMMEXCPT: SSE is usable (real CPUs #UD without them) */
	movl %eax, %cr4
	movl $rt_pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	andl $0x9fffffff, %eax
	orl $0x80000000, %eax		/* PG */
	movl %eax, %cr0
	ljmpl $SEL_KCODE64, $ap_start64

	.p2align 3
	.word 0, 0, 0
ap_tramp_gdtr:
	.word 0
	.long 0
ap_tramp_end:

	.set ap_tramp_pm32_rel, ap_pm32 - ap_tramp_start

	.text
	.code64
	.type ap_start64, @function
ap_start64:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	lgdt rt_gdt_ptr
	lidt rt_idt_ptr
	movl $1, %eax
	lock xaddl %eax, ap_next_slot(%rip)
	cmpl $AP_MAX, %eax
	jae 2f
	movl %eax, %edi			/* ap_main(slot) */
	leaq 1(%rdi), %rax
	shlq $13, %rax			/* * AP_STACK_SIZE */
	leaq ap_stacks(%rip), %rsp
	addq %rax, %rsp
	xorl %ebp, %ebp
	call ap_main
2:	cli
1:	hlt
	jmp 1b
	.size ap_start64, . - ap_start64

	.data
	.p2align 2
	.globl ap_next_slot
ap_next_slot:
	.long 0

	.section .noinit, "aw", @nobits
	.p2align 12
ap_stacks:
	.skip AP_STACK_SIZE * AP_MAX

	.section .note.GNU-stack, "", @progbits
