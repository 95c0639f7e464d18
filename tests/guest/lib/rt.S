/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PVH entry of the vmkit test guests: 32-bit protected mode -> 64-bit long
 * mode on a static identity map of the first 4 GiB, then C.
 *
 * The page tables are built at assembly time (the guest runs its CPL0 code
 * very slowly on some hosts, so nothing is computed at run time that need
 * not be). Every mapping has the U bit so cpl3_call() can run any code.
 */

#define SEL_KCODE64 0x08
#define SEL_KDATA   0x10
#define SEL_UDATA   0x23
#define SEL_UCODE64 0x2b

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* ---- the PVH ELF note ---- */
	.section .note.Xen, "a", @note
	.p2align 2
	.long 4				/* namesz */
	.long 8				/* descsz: 8, as Linux; QEMU reads a size_t */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.p2align 2
	.quad pvh_entry

/* ---- 32-bit entry ---- */
	.section .text.entry, "ax"
	.code32
	.globl rt_start32
	.type rt_start32, @function
	/* A guest may provide its own pvh_entry (see firstinsn.S) that ends in
	 * a jump to rt_start32. */
	.weak pvh_entry
	.set pvh_entry, rt_start32
rt_start32:
	cli
	cld
	movl %ebx, rt_start_info32
	lgdtl rt_gdt_ptr
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl $rt_stack_top, %esp

	movl %cr4, %eax
	orl $0x620, %eax		/* PAE, OSFXSR, OSXMMEXCPT: SSE is usable (real CPUs #UD without them) */
	movl %eax, %cr4
	movl $rt_pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* EFER */
	rdmsr
	orl $0x100, %eax		/* LME */
	wrmsr
	movl %cr0, %eax
	andl $0x9fffffff, %eax		/* caches on (CD, NW clear) */
	orl $0x80000001, %eax		/* PG | PE */
	movl %eax, %cr0
	ljmpl $SEL_KCODE64, $rt_start64

/* ---- 64-bit entry ---- */
	.code64
rt_start64:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movq $rt_stack_top, %rsp
	xorl %ebp, %ebp

	/* The loader zeroes p_memsz - p_filesz, but do not rely on it. */
	movq $__bss_start, %rdi
	movq $__bss_end, %rcx
	subq %rdi, %rcx
	shrq $3, %rcx
	xorl %eax, %eax
	rep stosq

	call rt_init
	movl rt_start_info32, %edi
	call guest_main
	call acpi_poweroff
	jmp rt_halt
	.size rt_start32, . - rt_start32

	.text
	.globl rt_halt
	.type rt_halt, @function
rt_halt:
	cli
1:	hlt
	jmp 1b
	.size rt_halt, . - rt_halt

/* ---- exception stubs: vectors 0..31 ---- */
.macro ISR vec
	.p2align 4
isr_\vec:
	.if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp isr_common
.endm

	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ISR \v
	.endr

/* ---- device interrupt stubs: vectors RT_IRQ_BASE (64) .. 71 ---- */
	.irp v, 64,65,66,67,68,69,70,71
	ISR \v
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	movq %rsp, %rbx
	andq $-16, %rsp
	call rt_exception
	movq %rbx, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp			/* vector, error code */
	iretq

	.section .rodata
	.p2align 3
	.globl rt_isr_table
rt_isr_table:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_\v
	.endr
	.globl rt_irq_table
rt_irq_table:
	.irp v, 64,65,66,67,68,69,70,71
	.quad isr_\v
	.endr

/* ---- cpl3_call(fn, arg): run fn(arg) at CPL3, back through a #UD ---- */
	.text
	.globl cpl3_call
	.type cpl3_call, @function
cpl3_call:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, rt_cpl3_saved_rsp(%rip)
	movq %rsp, rt_tss+4(%rip)	/* TSS.RSP0: the #UD frame lands below */
	pushq $SEL_UDATA		/* SS */
	leaq rt_user_stack_top(%rip), %rax
	pushq %rax			/* RSP */
	pushfq
	popq %rax
	andq $~0x200, %rax		/* IF off */
	orq $0x3000, %rax		/* IOPL 3 */
	pushq %rax			/* RFLAGS */
	pushq $SEL_UCODE64		/* CS */
	leaq cpl3_entry(%rip), %rax
	pushq %rax			/* RIP */
	iretq
	.size cpl3_call, . - cpl3_call

	/*
	 * Runs at CPL3: %rdi = fn, %rsi = arg. Back to CPL0 through the #UD of
	 * the ud2 at rt_cpl3_exit: rt_exception() recognises it and resumes at
	 * rt_cpl3_return. (Neither an int $0x80 gate nor syscall works here on
	 * PVM hosts: they turn int $0x80 at CPL3 into a #UD and run the LSTAR
	 * target still at CPL3. An exception is delivered everywhere.)
	 */
cpl3_entry:
	movq %rdi, %rax
	movq %rsi, %rdi
	call *%rax
	.globl rt_cpl3_exit
rt_cpl3_exit:
	ud2

	.globl rt_cpl3_return
	.type rt_cpl3_return, @function
rt_cpl3_return:
	/* CPL0 again; %rax = fn's result */
	movl $SEL_KDATA, %ecx
	movl %ecx, %ds
	movl %ecx, %es
	movl %ecx, %ss
	movq rt_cpl3_saved_rsp(%rip), %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret
	.size rt_cpl3_return, . - rt_cpl3_return

/* ---- data ---- */
	.data
	.globl rt_start_info32
rt_start_info32:
	.long 0
	.p2align 3
	.globl rt_cpl3_saved_rsp
rt_cpl3_saved_rsp:
	.quad 0

	.p2align 4
	.globl rt_gdt, rt_gdt_ptr
rt_gdt:
	.quad 0				/* 0x00 */
	.quad 0x00af9a000000ffff	/* 0x08 kernel code, 64-bit */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data */
	.quad 0x00cf9a000000ffff	/* 0x18 kernel code, 32-bit (AP trampoline) */
	.quad 0x00cff2000000ffff	/* 0x20 user data (0x23) */
	.quad 0x00affa000000ffff	/* 0x28 user code, 64-bit (0x2b) */
	.quad 0, 0			/* 0x30 TSS, filled in by rt_init */
rt_gdt_end:
	.p2align 3
	.word 0, 0, 0			/* so the base below is 8-byte aligned */
rt_gdt_ptr:
	.word rt_gdt_end - rt_gdt - 1
	.quad rt_gdt

	/*
	 * 64-bit TSS and a full I/O permission bitmap allowing every port, plus
	 * the all-ones byte that must follow it. cpl3_call() also sets IOPL=3,
	 * which is enough on hardware, but PVM hosts run guest CPL3 code with
	 * the real IOPL at 0 and honour only the bitmap.
	 */
	.p2align 4
	.globl rt_tss
rt_tss:
	.fill 102, 1, 0
	.word 104			/* I/O map base */
	.fill 8192, 1, 0
	.byte 0xff
rt_tss_end:
	.globl rt_tss_limit
	.set rt_tss_limit, rt_tss_end - rt_tss - 1

/* Identity map of [0, 4 GiB) with 2 MiB pages: P | RW | US | PS. */
	.section .data.pagetables, "aw"
	.p2align 12
	.globl rt_pml4, rt_pdpt
rt_pml4:
	.quad rt_pdpt + 0x7
	.fill 511, 8, 0
rt_pdpt:
	.quad rt_pd + 0x0000 + 0x7
	.quad rt_pd + 0x1000 + 0x7
	.quad rt_pd + 0x2000 + 0x7
	.quad rt_pd + 0x3000 + 0x7
	.fill 508, 8, 0
rt_pd:
	.set i, 0
	.rept 2048
	.quad (i << 21) | 0x87
	.set i, i + 1
	.endr

/* Stacks: not loaded, not zeroed. */
	.section .noinit, "aw", @nobits
	.p2align 12
	.globl rt_stack_top, rt_user_stack_top
rt_stack:
	.skip 16384
rt_stack_top:
rt_user_stack:
	.skip 16384
rt_user_stack_top:

	.section .note.GNU-stack, "", @progbits
