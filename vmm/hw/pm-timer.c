// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ACPI PM timer: a 24-bit counter at 3.579545 MHz, read at PM block + 8
 * on both chipsets (the ICH9's PMBASE, vmm/hw/ich9-lpc.c; the PIIX4's PMBA,
 * vmm/hw/piix4-pm.c). It counts host monotonic time from t0; a restored VM
 * moves t0 back so that the count runs on from the saved one (a guest's
 * clocksource must not go backwards).
 */
#include <time.h>

#include "vmkit/hw.h"

#define PM_TIMER_HZ	3579545ULL
#define NS		1000000000ULL

void pm_timer_start(struct pm_timer *t)
{
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
}

uint32_t pm_timer_read(const struct pm_timer *t)
{
	struct timespec now;
	uint64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (uint64_t)(now.tv_sec - t->t0.tv_sec) * NS + now.tv_nsec - t->t0.tv_nsec;
	return (uint32_t)((ns / NS) * PM_TIMER_HZ + (ns % NS) * PM_TIMER_HZ / NS) & 0xffffff;
}

/* The timer reads ticks from here on: t0 moved back by that many ticks. */
void pm_timer_set(struct pm_timer *t, uint32_t ticks)
{
	uint64_t ns = (uint64_t)ticks * NS / PM_TIMER_HZ + 1;

	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	t->t0.tv_sec -= ns / NS;
	t->t0.tv_nsec -= ns % NS;
	if (t->t0.tv_nsec < 0) {
		t->t0.tv_nsec += NS;
		t->t0.tv_sec--;
	}
}
