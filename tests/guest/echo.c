/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * echo: reads a line from the serial port (polling LSR.DR) and reports it,
 * so a test can check that bytes typed on the console reach the guest's UART.
 */
#include "lib/rt.h"

RT_TEST("echo");

#define COM1 0x3f8

void guest_main(struct hvm_start_info *si)
{
	char line[64];
	unsigned n = 0;

	rt_info("echo_ready=1");
	while (n < sizeof(line) - 1) {
		char c;

		while (!(inb(COM1 + 5) & 0x01))
			cpu_relax();
		c = inb(COM1);
		if (c == '\r' || c == '\n')
			break;
		line[n++] = c;
	}
	line[n] = 0;
	rt_info("echo=%s", line);
	rt_pass();
}
