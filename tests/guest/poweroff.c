/* SPDX-License-Identifier: GPL-2.0-or-later */
/* poweroff: prints PASS then powers off through ACPI S5 (the driver checks exit 0). */
#include "lib/rt.h"

RT_TEST("poweroff");

void guest_main(struct hvm_start_info *si)
{
	rt_report_pass();
	acpi_poweroff();
}
