/* SPDX-License-Identifier: GPL-2.0-or-later */
/* firstinsn: see firstinsn.S. After the first byte: PASS and ACPI power-off. */
#include "lib/rt.h"

RT_TEST("firstinsn");

void guest_main(struct hvm_start_info *si)
{
	rt_pass();
}
