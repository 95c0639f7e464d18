/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * firstinsn: the smallest guest for the start-up benchmark. Its PVH entry
 * writes one byte ('\n') to the serial port before anything else (an
 * immediate port operand only reaches ports 0..255, so two movs set up %dx
 * and %al; the out is the first instruction that leaves the guest), then
 * continues into the normal runtime, which powers off through ACPI.
 */
	.section .text.entry, "ax"
	.code32
	.globl pvh_entry
	.type pvh_entry, @function
pvh_entry:
	movw $0x3f8, %dx
	movb $0x0a, %al
	outb %al, %dx
	jmp rt_start32
	.size pvh_entry, . - pvh_entry

	.section .note.GNU-stack, "", @progbits
