// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The i8042 and its PS/2 keyboard and mouse (vmm/hw/i8042.c, ps2-*.c)
 * driven through ports 0x60/0x64 of a VM without KVM, as Linux's i8042,
 * atkbd and psmouse drivers and SeaBIOS's ps2port.c drive them, with keys
 * and motion fed through the input router. IRQ lines are recorded by
 * wrapping vm_set_irq (-Wl,--wrap): an edge is a rise of the line.
 */
#include <linux/input-event-codes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/input.h"
#include "vmkit/vm.h"
#include "../../vmm/hw/ps2.h"

#define DATA 0x60
#define CMD 0x64
#define OBF 0x01
#define AUXDATA 0x20

#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40

static unsigned int edges[16];
static bool line[16];

void __wrap_vm_set_irq(struct vm *vm, unsigned int gsi, bool level);
void __wrap_vm_set_irq(struct vm *vm, unsigned int gsi, bool level)
{
	assert_true(gsi == 1 || gsi == 12);
	if (level && !line[gsi])
		edges[gsi]++;
	line[gsi] = level;
}

static struct vm_config cfg;
static struct vm *vm;

static int setup(void **state)
{
	struct vk_err err = { 0 };

	vm = calloc(1, sizeof(*vm));
	vm->cfg = &cfg;
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	assert_int_equal(input_router_new(vm, &err), 0);
	assert_int_equal(i8042_create(vm, &err), 0);
	memset(edges, 0, sizeof(edges));
	memset(line, 0, sizeof(line));
	return 0;
}

static int teardown(void **state)
{
	i8042_destroy(vm);
	input_router_free(vm);
	io_bus_free(&vm->pio);
	io_bus_free(&vm->mmio);
	free(vm);
	return 0;
}

static void outb(uint16_t port, uint8_t v)
{
	assert_true(io_bus_write(&vm->pio, port, &v, 1));
}

static uint8_t inb(uint16_t port)
{
	uint8_t v;

	assert_true(io_bus_read(&vm->pio, port, &v, 1));
	return v;
}

/* The next byte, which must be there, and whether the mouse sent it. */
static uint8_t next(bool aux)
{
	uint8_t st = inb(CMD);

	if (!(st & OBF))
		fail_msg("output buffer empty, a byte was expected");
	if (!!(st & AUXDATA) != aux)
		fail_msg("byte from the %s, expected from the %s", st & AUXDATA ? "mouse" : "keyboard",
			 aux ? "mouse" : "keyboard");
	return inb(DATA);
}

static void expect(bool aux, const uint8_t *want, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t got = next(aux);

		if (got != want[i])
			fail_msg("byte %zu: got 0x%02x, expected 0x%02x", i, got, want[i]);
	}
	if (inb(CMD) & OBF)
		fail_msg("unexpected byte 0x%02x after %zu expected", inb(DATA), n);
}

#define EXPECT_KBD(...) do { const uint8_t w_[] = { __VA_ARGS__ }; expect(false, w_, sizeof(w_)); } while (0)
#define EXPECT_AUX(...) do { const uint8_t w_[] = { __VA_ARGS__ }; expect(true, w_, sizeof(w_)); } while (0)

static void expect_empty(void)
{
	assert_false(inb(CMD) & OBF);
}

static uint8_t read_ctr(void)
{
	outb(CMD, 0x20);
	return next(false);
}

static void write_ctr(uint8_t v)
{
	outb(CMD, 0x60);
	outb(DATA, v);
}

static void key(unsigned int code)
{
	input_key(vm, code, true);
	input_key(vm, code, false);
}

/* What Linux's i8042_controller_selftest/init and i8042_check_aux do. */
static void test_controller_init(void **state)
{
	uint8_t ctr;

	expect_empty();
	assert_true(inb(CMD) & 0x04);		/* SYS: the firmware's self test passed */
	outb(CMD, 0xaa);
	EXPECT_KBD(0x55);
	ctr = read_ctr();
	assert_int_equal(ctr, CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE);
	assert_true(inb(CMD) & 0x08);		/* A2: the last write was to 0x64 */
	write_ctr(ctr & ~CTR_KBDINT);
	assert_false(inb(CMD) & 0x08);
	assert_int_equal(read_ctr(), ctr & ~CTR_KBDINT);
	/* AUX loopback: the byte comes back from the mouse side. */
	outb(CMD, 0xd3);
	outb(DATA, 0x5a);
	EXPECT_AUX(0x5a);
	outb(CMD, 0xa9);
	EXPECT_KBD(0x00);
	outb(CMD, 0xab);
	EXPECT_KBD(0x00);
	/* A7/A8 flip the command byte's AUX clock bit, which Linux reads back. */
	outb(CMD, 0xa8);
	assert_false(read_ctr() & CTR_AUXDIS);
	outb(CMD, 0xa7);
	assert_true(read_ctr() & CTR_AUXDIS);
	outb(CMD, 0xad);
	assert_true(read_ctr() & CTR_KBDDIS);
	outb(CMD, 0xae);
	assert_false(read_ctr() & CTR_KBDDIS);
	/* Output port: reset line high, A20 on. */
	outb(CMD, 0xd0);
	assert_int_equal(next(false) & 0x03, 0x03);
	/* Unknown controller commands are ignored. */
	outb(CMD, 0x05);
	outb(CMD, 0xc8);
	expect_empty();
	assert_int_equal(vm->stop, VM_RUNNING);
}

/* atkbd's probe and setup, untranslated (Linux with i8042.direct) and translated. */
static void test_keyboard_commands(void **state)
{
	write_ctr(CTR_KBDINT | CTR_SYS);
	outb(DATA, 0xff);
	EXPECT_KBD(0xfa, 0xaa);
	outb(DATA, 0xf2);
	EXPECT_KBD(0xfa, 0xab, 0x83);
	outb(DATA, 0xf0);
	EXPECT_KBD(0xfa);
	outb(DATA, 0x00);
	EXPECT_KBD(0xfa, 0x02);
	outb(DATA, 0xf0);
	outb(DATA, 0x03);			/* set 3: acknowledged, not taken */
	EXPECT_KBD(0xfa, 0xfa);
	outb(DATA, 0xf0);
	outb(DATA, 0x00);
	EXPECT_KBD(0xfa, 0xfa, 0x02);
	outb(DATA, 0xed);
	outb(DATA, 0x07);
	EXPECT_KBD(0xfa, 0xfa);
	outb(DATA, 0xf3);
	outb(DATA, 0x20);
	EXPECT_KBD(0xfa, 0xfa);
	outb(DATA, 0xee);
	EXPECT_KBD(0xee);
	outb(DATA, 0xfe);			/* resend: the last byte again */
	EXPECT_KBD(0xee);
	outb(DATA, 0x01);			/* not a command */
	EXPECT_KBD(0xfe);
	outb(DATA, 0xf5);
	EXPECT_KBD(0xfa);
	key(KEY_A);				/* disabled: nothing */
	expect_empty();
	outb(DATA, 0xf4);
	EXPECT_KBD(0xfa);
	/* Translated, as SeaBIOS leaves it: identify reads AB 41, the set reads 41. */
	write_ctr(CTR_KBDINT | CTR_SYS | CTR_XLATE);
	outb(DATA, 0xf2);
	EXPECT_KBD(0xfa, 0xab, 0x41);
	outb(DATA, 0xf0);
	outb(DATA, 0x00);
	EXPECT_KBD(0xfa, 0xfa, 0x41);
}

static void test_set2_untranslated(void **state)
{
	write_ctr(CTR_KBDINT | CTR_SYS);
	edges[1] = 0;
	key(KEY_A);
	EXPECT_KBD(0x1c, 0xf0, 0x1c);
	assert_int_equal(edges[1], 3);		/* one edge per byte */
	key(KEY_RIGHTCTRL);
	EXPECT_KBD(0xe0, 0x14, 0xe0, 0xf0, 0x14);
	key(KEY_UP);
	EXPECT_KBD(0xe0, 0x75, 0xe0, 0xf0, 0x75);
	key(KEY_F7);
	EXPECT_KBD(0x83, 0xf0, 0x83);
	key(KEY_SYSRQ);
	EXPECT_KBD(0xe0, 0x12, 0xe0, 0x7c, 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12);
	key(KEY_PAUSE);
	EXPECT_KBD(0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77);
	key(KEY_RESERVED);			/* no code: nothing */
	key(0x2ff);
	expect_empty();
}

static void test_set1_translated(void **state)
{
	assert_true(read_ctr() & CTR_XLATE);	/* as at boot */
	key(KEY_A);
	EXPECT_KBD(0x1e, 0x9e);
	input_key(vm, KEY_LEFTCTRL, true);
	input_key(vm, KEY_LEFTALT, true);
	input_key(vm, KEY_DELETE, true);
	input_key(vm, KEY_DELETE, false);
	input_key(vm, KEY_LEFTALT, false);
	input_key(vm, KEY_LEFTCTRL, false);
	EXPECT_KBD(0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d);
	key(KEY_SYSRQ);
	EXPECT_KBD(0xe0, 0x2a, 0xe0, 0x37, 0xe0, 0xb7, 0xe0, 0xaa);
	key(KEY_PAUSE);
	EXPECT_KBD(0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
	key(KEY_F7);
	EXPECT_KBD(0x41, 0xc1);
	/* Set 1 from the keyboard itself, untranslated. */
	write_ctr(CTR_KBDINT | CTR_SYS);
	outb(DATA, 0xf0);
	outb(DATA, 0x01);
	EXPECT_KBD(0xfa, 0xfa);
	key(KEY_KPENTER);
	EXPECT_KBD(0xe0, 0x1c, 0xe0, 0x9c);
}

/* Every key's set 2 code, translated as the controller does, is its set 1 code. */
static void test_translation_table(void **state)
{
	unsigned int k, i, n1, n2, nt, keys = 0;
	uint8_t s1[PS2_MAX_CODE], s2[PS2_MAX_CODE], t[PS2_MAX_CODE];
	bool down, brk;

	for (k = 1; k < 0x300; k++) {
		for (down = false; ; down = true) {
			n1 = ps2_scancode(k, 1, down, s1);
			n2 = ps2_scancode(k, 2, down, s2);
			assert_int_equal(!n1, !n2);
			for (i = 0, nt = 0, brk = false; i < n2; i++) {
				if (s2[i] == 0xf0) {
					brk = true;
					continue;
				}
				t[nt++] = ps2_translate(s2[i]) | (brk ? 0x80 : 0);
				brk = false;
			}
			if (nt != n1 || memcmp(t, s1, n1))
				fail_msg("key %u %s: set 2 translated differs from set 1", k,
					 down ? "down" : "up");
			keys += !!n1;
			if (down)
				break;
		}
	}
	assert_true(keys > 2 * 130);
}

/* Controller disabled keyboard clock: the byte waits in the keyboard until enabled. */
static void test_clock_disabled(void **state)
{
	write_ctr(CTR_KBDINT | CTR_SYS | CTR_KBDDIS);
	input_key(vm, KEY_B, true);
	expect_empty();
	outb(CMD, 0xae);
	EXPECT_KBD(0x32);
	/* IRQ 1 only with KBDINT. */
	write_ctr(CTR_SYS | CTR_XLATE);
	edges[1] = 0;
	input_key(vm, KEY_B, false);
	assert_int_equal(edges[1], 0);
	EXPECT_KBD(0xb0);
}

static void aux_cmd(uint8_t v)
{
	outb(CMD, 0xd4);
	outb(DATA, v);
}

static void knock(uint8_t a, uint8_t b, uint8_t c)
{
	const uint8_t rates[] = { a, b, c };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		aux_cmd(0xf3);
		EXPECT_AUX(0xfa);
		aux_cmd(rates[i]);
		EXPECT_AUX(0xfa);
	}
}

/* psmouse's probe: reset, id, the IntelliMouse knock, then packets. */
static void test_mouse(void **state)
{
	write_ctr(CTR_KBDINT | CTR_AUXINT | CTR_SYS | CTR_XLATE);
	aux_cmd(0xff);
	EXPECT_AUX(0xfa, 0xaa, 0x00);
	aux_cmd(0xf2);
	EXPECT_AUX(0xfa, 0x00);
	aux_cmd(0xe8);
	aux_cmd(0x03);
	EXPECT_AUX(0xfa, 0xfa);
	aux_cmd(0xe6);
	EXPECT_AUX(0xfa);
	aux_cmd(0xe9);
	EXPECT_AUX(0xfa, 0x00, 0x03, 100);
	/* Standard packets first. */
	aux_cmd(0xf4);
	EXPECT_AUX(0xfa);
	edges[12] = 0;
	input_rel(vm, 5, -3, 0, INPUT_BTN_LEFT);
	EXPECT_AUX(0x09, 0x05, 0x03);
	assert_int_equal(edges[12], 3);
	input_rel(vm, -10, 20, 0, 0);
	EXPECT_AUX(0x38, 0xf6, 0xec);
	input_rel(vm, 0, 0, 1, INPUT_BTN_RIGHT | INPUT_BTN_MIDDLE);	/* no wheel yet */
	EXPECT_AUX(0x0e, 0x00, 0x00);
	/* The knock: 200, 100, 80 makes it an IntelliMouse. */
	knock(200, 100, 80);
	aux_cmd(0xf2);
	EXPECT_AUX(0xfa, 0x03);
	input_rel(vm, 1, 1, 0, INPUT_BTN_WHEEL_DOWN);
	EXPECT_AUX(0x28, 0x01, 0xff, 0x01);
	input_rel(vm, 0, 0, 0, 0);			/* the wheel button up: no packet */
	expect_empty();
	input_rel(vm, 0, 0, 0, INPUT_BTN_WHEEL_UP);
	EXPECT_AUX(0x08, 0x00, 0x00, 0xff);
	input_rel(vm, 0, 0, -2, 0);
	EXPECT_AUX(0x08, 0x00, 0x00, 0xfe);
	/* Long motion: packets of at most 255, then the overflow bit. */
	input_rel(vm, 600, 0, 0, 0);
	EXPECT_AUX(0x08, 0xff, 0x00, 0x00, 0x08, 0xff, 0x00, 0x00, 0x08, 0x5a, 0x00, 0x00);
	input_rel(vm, -5000, 0, 0, 0);
	EXPECT_AUX(0x18, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
		   0x58, 0x00, 0x00, 0x00);
	/* Explorer knock: 200, 200, 80 -> id 4, a 4-bit wheel. */
	knock(200, 200, 80);
	aux_cmd(0xf2);
	EXPECT_AUX(0xfa, 0x04);
	input_rel(vm, 0, 0, -3, 0);
	EXPECT_AUX(0x08, 0x00, 0x00, 0x0d);
	/* Remote mode: motion waits for read data. */
	aux_cmd(0xf0);
	EXPECT_AUX(0xfa);
	input_rel(vm, 7, 0, 0, 0);
	expect_empty();
	aux_cmd(0xeb);
	EXPECT_AUX(0xfa, 0x08, 0x07, 0x00, 0x00);
	/* Wrap mode echoes. */
	aux_cmd(0xee);
	EXPECT_AUX(0xfa);
	aux_cmd(0x42);
	EXPECT_AUX(0x42);
	aux_cmd(0xec);
	EXPECT_AUX(0xfa);
	aux_cmd(0x01);
	EXPECT_AUX(0xfe);
	/* With the AUX clock off, nothing comes through. */
	outb(CMD, 0xa7);
	aux_cmd(0xea);
	expect_empty();
	outb(CMD, 0xa8);
	EXPECT_AUX(0xfa);
}

static void test_reset_line(void **state)
{
	outb(CMD, 0xff);				/* pulses no line */
	assert_int_equal(vm->stop, VM_RUNNING);
	outb(CMD, 0xd1);
	outb(DATA, 0xdf);				/* A20 on, reset high */
	assert_int_equal(vm->stop, VM_RUNNING);
	outb(CMD, 0xfe);
	assert_int_equal(vm->stop, VM_STOP_RESET);
}

static void test_reset_outport(void **state)
{
	outb(CMD, 0xd1);
	outb(DATA, 0xde);
	assert_int_equal(vm->stop, VM_STOP_RESET);
}

/* Nothing read for a long time: bounded, and only whole codes are kept. */
static void test_flood(void **state)
{
	unsigned int i, n = 0;
	uint8_t b;

	write_ctr(CTR_KBDINT | CTR_SYS);
	for (i = 0; i < 1000; i++)
		key(i % 2 ? KEY_RIGHTCTRL : KEY_A);
	while (inb(CMD) & OBF) {
		b = next(false);
		n++;
		if (b == 0xe0) {
			b = next(false);
			n++;
			if (b == 0xf0) {
				b = next(false);
				n++;
			}
			assert_int_equal(b, 0x14);
		} else if (b == 0xf0) {
			assert_int_equal(next(false), 0x1c);
			n++;
		} else {
			assert_int_equal(b, 0x1c);
		}
		assert_true(n <= PS2_QUEUE_SIZE + 1);
	}
	assert_true(n > PS2_QUEUE_SIZE - 8);
}

/* Random bytes at both ports and events between: no crash, status stays sane. */
static void test_hostile(void **state)
{
	unsigned int seed = 1, i;
	uint8_t v;

	for (i = 0; i < 200000; i++) {
		seed = seed * 1103515245 + 12345;
		v = seed >> 16;
		switch ((seed >> 8) & 7) {
		case 0: if (v != 0xfe && (v & 0xf1) != 0xf0) outb(CMD, v); break;
		case 1: case 2: outb(DATA, v); break;
		case 3: input_key(vm, v, seed & 0x1000000); break;
		case 4: input_rel(vm, (int8_t)v * 100, -(int8_t)v, (int8_t)v, seed >> 27); break;
		default: inb(seed & 0x100 ? CMD : DATA); break;
		}
		/* D1 with the reset bit low is a reset too; start again. */
		vm->stop = VM_RUNNING;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_controller_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set2_untranslated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set1_translated, setup, teardown),
		cmocka_unit_test(test_translation_table),
		cmocka_unit_test_setup_teardown(test_clock_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mouse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_outport, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
