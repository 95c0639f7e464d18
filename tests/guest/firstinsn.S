/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * firstinsn: the smallest guest for the start-up benchmark. Its very first
 * instruction writes to port 0xf4, QEMU's isa-debug-exit (vmkit run
 * --debug-exit, qemu -device isa-debug-exit): with that device the monitor
 * ends right there, with status (AL << 1) | 1, AL as the loader left it.
 * Without it the write goes nowhere and
 * the guest writes one byte ('\n') to the serial port, then continues into
 * the normal runtime, which powers off through ACPI.
 */
	.section .text.entry, "ax"
	.code32
	.globl pvh_entry
	.type pvh_entry, @function
pvh_entry:
	outb %al, $0xf4
	movw $0x3f8, %dx
	movb $0x0a, %al
	outb %al, %dx
	jmp rt_start32
	.size pvh_entry, . - pvh_entry

	.section .note.GNU-stack, "", @progbits
