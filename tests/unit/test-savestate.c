// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VM state stream (include/vmkit/savestate.h): round trips, what a
 * later or damaged stream does to the reader, and devices saved and
 * restored through their registers. No KVM: the devices sit on a VM's
 * port bus, driven as a guest drives them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/console.h"
#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

extern const struct vm_device_class serial_class, rtc_class;

static void stream(uint8_t **buf, size_t *len, bool extra_field)
{
	struct vk_err err = { 0 };
	struct ss_writer *w;
	uint8_t blob[300];

	memset(blob, 0xa5, sizeof(blob));
	assert_int_equal(ss_writer_new(&w, &err), 0);
	ss_begin(w, "dev", 0, 3);
	ss_put_u64(w, "x", 0x1122334455667788ULL);
	ss_put_bytes(w, "blob", blob, sizeof(blob));
	if (extra_field)
		ss_put_u64(w, "from-the-future", 7);
	ss_end(w);
	ss_begin(w, "dev", 1, 1);
	ss_put_u64(w, "x", 2);
	ss_end(w);
	assert_int_equal(ss_writer_finish_buf(w, buf, len, &err), 0);
}

static void round_trip(void **state)
{
	const struct ss_section *s;
	struct vk_err err = { 0 };
	struct ss_reader *r;
	uint8_t *buf, blob[300], want[300];
	size_t len;
	uint64_t v;

	stream(&buf, &len, true);
	assert_int_equal(ss_parse(&r, buf, len, &err), 0);
	s = ss_find(r, "dev", 0);
	assert_non_null(s);
	assert_int_equal(ss_section_version(s), 3);
	assert_int_equal(ss_get_u64(s, "x", &v, &err), 0);
	assert_true(v == 0x1122334455667788ULL);
	memset(want, 0xa5, sizeof(want));
	assert_int_equal(ss_get_bytes(s, "blob", blob, sizeof(blob), &err), 0);
	assert_memory_equal(blob, want, sizeof(blob));
	/* Instances are told apart; a section nobody wrote is not there. */
	assert_int_equal(ss_get_u64(ss_find(r, "dev", 1), "x", &v, &err), 0);
	assert_int_equal(v, 2);
	assert_null(ss_find(r, "dev", 2));
	assert_null(ss_find(r, "other", 0));
	/* Missing fields, wrong kinds and wrong lengths are errors that say which. */
	assert_int_equal(ss_get_u64(s, "y", &v, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "state of dev: field 'y' missing"));
	assert_int_equal(ss_get_u64(s, "blob", &v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "wrong type"));
	assert_int_equal(ss_get_bytes(s, "blob", blob, 10, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "300 bytes, expected 10"));
	ss_reader_free(r);
	free(buf);
}

/* Every truncation and every flipped byte is refused, never read as state. */
static void damaged_streams(void **state)
{
	struct vk_err err = { 0 };
	struct ss_reader *r;
	uint8_t *buf, *copy;
	size_t len, i;

	stream(&buf, &len, false);
	copy = malloc(len);
	for (i = 0; i < len; i++) {
		assert_int_not_equal(ss_parse(&r, buf, i, &err), 0);
		memcpy(copy, buf, len);
		copy[i] ^= 0x40;
		assert_int_not_equal(ss_parse(&r, copy, len, &err), 0);
	}
	memcpy(copy, buf, len);
	copy[8] = 9;	/* format version 9 */
	assert_int_equal(ss_parse(&r, copy, len, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "format version 9"));
	assert_int_equal(ss_parse(&r, (const uint8_t *)"hello", 5, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a vmkit state file"));
	free(copy);
	free(buf);
}

/* What the writer refuses: a field twice (the reader would have to pick), bad names. */
static void bad_writes(void **state)
{
	char longname[SS_NAME_MAX + 2];
	struct vk_err err = { 0 };
	struct ss_writer *w;
	struct ss_reader *r;
	uint8_t *buf;
	size_t len;

	assert_int_equal(ss_writer_new(&w, &err), 0);
	ss_begin(w, "dev", 0, 1);
	ss_put_u64(w, "x", 1);
	ss_put_u64(w, "x", 2);
	ss_end(w);
	assert_int_equal(ss_writer_finish_buf(w, &buf, &len, &err), 0);
	assert_int_equal(ss_parse(&r, buf, len, &err), -EBADMSG);
	free(buf);

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(ss_writer_new(&w, &err), 0);
	ss_begin(w, "dev", 0, 1);
	ss_put_u64(w, longname, 1);
	ss_end(w);
	assert_int_equal(ss_writer_finish_buf(w, &buf, &len, &err), -ENAMETOOLONG);
	assert_non_null(strstr(err.msg, "saving state (dev)"));

	assert_int_equal(ss_writer_new(&w, &err), 0);
	ss_begin(w, "dev", 0, 1);	/* never ended */
	assert_int_equal(ss_writer_finish_buf(w, &buf, &len, &err), -EINVAL);
}

/* ---- devices on a VM without KVM ---- */

static struct vm *new_vm(struct vm_config *cfg, struct console *con)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct vk_err err = { 0 };

	vm->cfg = cfg;
	vm->con = con;
	vm->kvm_fd = vm->vm_fd = -1;	/* vm_set_irq's ioctl fails harmlessly */
	io_bus_init(&vm->pio);
	assert_int_equal(serial_class.create(vm, &err), 0);
	assert_int_equal(rtc_class.create(vm, &err), 0);
	return vm;
}

static void free_vm(struct vm *vm)
{
	rtc_class.destroy(vm);
	serial_class.destroy(vm);
	io_bus_free(&vm->pio);
	free(vm);
}

static uint8_t inb(struct vm *vm, uint16_t port)
{
	uint8_t v = 0;

	assert_true(io_bus_read(&vm->pio, port, &v, 1));
	return v;
}

static void outb(struct vm *vm, uint16_t port, uint8_t v)
{
	assert_true(io_bus_write(&vm->pio, port, &v, 1));
}

static void devices_survive(void **state)
{
	struct vm_config cfg = { .cpus = 1 };
	struct vk_err err = { 0 };
	struct console *con;
	struct ss_writer *w;
	struct ss_reader *r;
	struct vm *a, *b;
	uint8_t *buf;
	size_t len;

	assert_int_equal(console_open(&con, CONSOLE_NONE, NULL, &err), 0);
	a = new_vm(&cfg, con);
	/* The UART as Linux's 8250 driver leaves it: 115200 8N1, FIFO on, RX interrupt. */
	outb(a, 0x3fb, 0x83);
	outb(a, 0x3f8, 0x01);
	outb(a, 0x3f9, 0x00);
	outb(a, 0x3fb, 0x03);
	outb(a, 0x3fa, 0x01);
	outb(a, 0x3f9, 0x01);
	outb(a, 0x3fc, 0x0b);
	outb(a, 0x3ff, 0x5a);
	assert_int_equal(serial_input(a->uart, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(inb(a, 0x3f8), 'a');	/* one read: the FIFO's head moved */
	/* CMOS RAM as a BIOS leaves it, and the index the guest chose last. */
	outb(a, 0x70, 0x40);
	outb(a, 0x71, 0x99);
	outb(a, 0x70, 0x0b);
	outb(a, 0x71, 0x02);
	outb(a, 0x70, 0x40);

	assert_int_equal(ss_writer_new(&w, &err), 0);
	vm_devices_save(a, w);
	assert_int_equal(ss_writer_finish_buf(w, &buf, &len, &err), 0);
	free_vm(a);

	b = new_vm(&cfg, con);
	assert_int_equal(ss_parse(&r, buf, len, &err), 0);
	assert_int_equal(serial_class.load(b, r, &err), 0);
	assert_int_equal(rtc_class.load(b, r, &err), 0);
	ss_reader_free(r);
	free(buf);
	assert_int_equal(inb(b, 0x3fb), 0x03);
	assert_int_equal(inb(b, 0x3f9), 0x01);
	assert_int_equal(inb(b, 0x3fc), 0x0b);
	assert_int_equal(inb(b, 0x3ff), 0x5a);
	assert_int_equal(inb(b, 0x3fa) & 0x0f, 0x04);	/* RX data interrupt pending */
	assert_int_equal(inb(b, 0x3fd) & 0x01, 0x01);
	assert_int_equal(inb(b, 0x3f8), 'b');
	assert_int_equal(inb(b, 0x3f8), 'c');
	assert_int_equal(inb(b, 0x3fd) & 0x01, 0x00);
	outb(b, 0x3fb, 0x83);
	assert_int_equal(inb(b, 0x3f8), 0x01);		/* divisor latch */
	assert_int_equal(inb(b, 0x71), 0x99);		/* the saved index still selects 0x40 */
	outb(b, 0x70, 0x0b);
	assert_int_equal(inb(b, 0x71), 0x02);
	free_vm(b);
	console_close(con);
}

/* A stream whose registers are out of range is refused whole: nothing half-loaded. */
static void hostile_device_state(void **state)
{
	struct vm_config cfg = { .cpus = 1 };
	struct vk_err err = { 0 };
	struct console *con;
	struct ss_writer *w;
	struct ss_reader *r;
	uint8_t *buf, rx[200] = { 0 };
	size_t len;
	struct vm *vm;

	assert_int_equal(console_open(&con, CONSOLE_NONE, NULL, &err), 0);
	vm = new_vm(&cfg, con);
	assert_int_equal(ss_writer_new(&w, &err), 0);
	ss_begin(w, "serial", 0, 1);
	ss_put_u64(w, "ier", 0);
	ss_put_u64(w, "lcr", 3);
	ss_put_u64(w, "mcr", 0);
	ss_put_u64(w, "scr", 0);
	ss_put_u64(w, "fcr", 0);
	ss_put_u64(w, "dll", 1);
	ss_put_u64(w, "dlm", 0);
	ss_put_u64(w, "thr-pending", 0);
	ss_put_u64(w, "rx-count", 200);		/* more than the FIFO holds */
	ss_put_bytes(w, "rx", rx, sizeof(rx));
	ss_end(w);
	ss_begin(w, "rtc", 0, 1);
	ss_put_u64(w, "index", 0x80);
	ss_put_bytes(w, "cmos", rx, 128);
	ss_end(w);
	assert_int_equal(ss_writer_finish_buf(w, &buf, &len, &err), 0);
	assert_int_equal(ss_parse(&r, buf, len, &err), 0);
	assert_int_equal(serial_class.load(vm, r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "serial"));
	assert_int_equal(rtc_class.load(vm, r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "rtc"));
	assert_int_equal(inb(vm, 0x3fd) & 0x01, 0);	/* nothing was taken in */
	ss_reader_free(r);
	free(buf);
	free_vm(vm);
	console_close(con);
}

/*
 * A device made without a way to save it refuses the save by name (a
 * restore would come back without it); stateless ones and absent ones do not.
 */
static void unsaved_devices_refuse(void **state)
{
	extern const struct vm_device_class debugexit_class, fw_boot_class;
	struct vm vm = { 0 };
	struct vk_err err = { 0 };

	assert_int_equal(vm_devices_savable(&vm, &err), 0);
	*vm_device_state(&vm, &fw_boot_class) = &vm;		/* stateless: fine */
	assert_int_equal(vm_devices_savable(&vm, &err), 0);
	*vm_device_state(&vm, &debugexit_class) = &vm;	/* made, no save hook yet */
	assert_int_equal(vm_devices_savable(&vm, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "its isa-debug-exit device has no saved state"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(damaged_streams),
		cmocka_unit_test(bad_writes),
		cmocka_unit_test(devices_survive),
		cmocka_unit_test(hostile_device_state),
		cmocka_unit_test(unsaved_devices_refuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
