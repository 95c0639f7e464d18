// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Pause and resume on a real VM (needs /dev/kvm; skipped without it): the
 * spin guest counts at CPL3 in a word of guest memory; while the VM is
 * paused the count must not move, after resume it must, and a stop request
 * ends vm_run() with that reason. 2 vCPUs, so "together" is tested.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/console.h"
#include "vmkit/vm.h"

#define SPIN_COUNTER_GPA 0x200000ul

static const char *spin_elf;

struct runner {
	struct vm *vm;
	enum vm_stop result;
};

static void *run_thread(void *opaque)
{
	struct runner *r = opaque;

	r->result = vm_run(r->vm, -1);
	return NULL;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t counter(struct vm *vm)
{
	return *(volatile uint64_t *)vm_gpa_to_hva(vm, SPIN_COUNTER_GPA, 8);
}

/* Wait up to 10 s for the guest to start counting. */
static void wait_counting(struct vm *vm)
{
	int i;

	for (i = 0; i < 1000 && counter(vm) == 0; i++)
		sleep_ms(10);
	assert_true(counter(vm) > 0);
}

static void test_pause_resume(void **state)
{
	struct vm_config cfg = { .kernel = spin_elf, .cpus = 2, .topo = { 1, 2, 1 },
				 .mem_bytes = 64 << 20, .console = CONSOLE_NONE,
				 .cpu_model = CPU_MODEL_BASELINE, .cmdline = "" };
	struct vk_err err = { 0 };
	struct runner r = { 0 };
	struct console *con;
	pthread_t t;
	uint64_t a, b;
	assert_int_equal(console_open(&con, CONSOLE_NONE, NULL, &err), 0);
	assert_int_equal(vm_create(&r.vm, &cfg, con, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
	wait_counting(r.vm);

	vm_pause(r.vm);
	assert_int_equal(r.vm->nr_paused, 2);
	a = counter(r.vm);
	sleep_ms(200);
	b = counter(r.vm);
	assert_int_equal(a, b);		/* nothing runs while paused */

	vm_resume(r.vm);
	sleep_ms(200);
	assert_true(counter(r.vm) > b);	/* and runs again after resume */

	vm_pause(r.vm);			/* a stop must also release paused vCPUs */
	assert_true(vm_request_stop(r.vm, VM_STOP_QUIT, "test done"));
	assert_false(vm_request_stop(r.vm, VM_STOP_ERROR, "second stop loses"));
	pthread_join(t, NULL);
	assert_int_equal(r.result, VM_STOP_QUIT);
	vm_destroy(r.vm);
	console_close(con);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_resume),
	};

	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		/* VMKIT_REQUIRE_KVM: a runner meant to have KVM fails, never skips. */
		if (getenv("VMKIT_REQUIRE_KVM") && strcmp(getenv("VMKIT_REQUIRE_KVM"), "0")) {
			printf("vm-pause: needs /dev/kvm, and VMKIT_REQUIRE_KVM is set\n");
			return 1;
		}
		printf("vm-pause: needs /dev/kvm: skipped\n");
		return 77;	/* meson's "skipped" */
	}
	close(fd);
	if (argc < 2)
		return 1;
	spin_elf = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
