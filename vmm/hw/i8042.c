// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status and
 * command), with a PS/2 keyboard (ps2-kbd.c) and mouse (ps2-mouse.c)
 * behind it, as SeaBIOS, OVMF and Linux's i8042 driver use it: the command
 * byte (interrupt enables, clocks, translation), the controller's own
 * commands (self tests, output port with A20 and the reset line, loopback
 * through either port), and one output buffer that the keyboard's, the
 * mouse's and the controller's bytes pass through in turn, raising IRQ 1
 * or IRQ 12. Translation of the keyboard's set 2 to set 1 happens here, as
 * on real hardware. Command 0xFE (pulse the reset line) resets the VM, as
 * Linux's reboot=k and its fallback expect.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/input.h"
#include "vmkit/vm.h"
#include "ps2.h"

#define I8042_DATA	0x60
#define I8042_CMD	0x64
#define KBD_IRQ		1
#define AUX_IRQ		12

/* Status register */
#define STR_OBF		0x01
#define STR_SYS		0x04
#define STR_CMD		0x08	/* A2: the last write was a command */
#define STR_UNLOCKED	0x10	/* keyboard not inhibited by the key lock */
#define STR_AUXDATA	0x20	/* the output buffer holds a mouse byte */

/* Command byte (controller RAM byte 0) */
#define CTR_KBDINT	0x01
#define CTR_AUXINT	0x02
#define CTR_SYS		0x04
#define CTR_KBDDIS	0x10
#define CTR_AUXDIS	0x20
#define CTR_XLATE	0x40
/* What firmware leaves for a kernel booted directly: keyboard on, translated; mouse off. */
#define CTR_BOOT	(CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE)

/* Output port */
#define OUT_RESET	0x01	/* low: the CPU is held in reset */
#define OUT_A20		0x02
#define OUT_KBD_OBF	0x10
#define OUT_AUX_OBF	0x20

#define CTL_QUEUE	8

extern const struct vm_device_class i8042_class;

struct i8042 {
	pthread_mutex_t lock;
	struct vm *vm;
	struct ps2_kbd kbd;
	struct ps2_mouse mouse;
	uint8_t ram[32];		/* ram[0] is the command byte */
	uint8_t outport;
	uint8_t out;			/* the output buffer */
	bool obf, out_aux;
	/* The controller's own replies, ahead of the devices' bytes; aux: from the mouse side. */
	uint8_t ctl[CTL_QUEUE];
	bool ctl_aux[CTL_QUEUE];
	unsigned int ctl_n;
	uint8_t pending;		/* command whose data byte comes next at 0x60, 0: none */
	bool a2;
	bool xlate_break;		/* translation saw 0xF0: the next byte is a release */
	bool irq1, irq12;
	bool reset;			/* the guest pulsed the reset line */
};

static void ctl_put(struct i8042 *c, uint8_t v, bool aux)
{
	if (c->ctl_n == CTL_QUEUE)
		return;
	c->ctl[c->ctl_n] = v;
	c->ctl_aux[c->ctl_n++] = aux;
}

static bool ctl_get(struct i8042 *c)
{
	if (!c->ctl_n)
		return false;
	c->out = c->ctl[0];
	c->out_aux = c->ctl_aux[0];
	c->ctl_n--;
	memmove(c->ctl, c->ctl + 1, c->ctl_n);
	memmove(c->ctl_aux, c->ctl_aux + 1, c->ctl_n * sizeof(bool));
	return true;
}

/* The keyboard's next byte, translated to set 1 if the command byte says so. */
static bool kbd_get(struct i8042 *c)
{
	int b;

	if (c->ram[0] & CTR_KBDDIS)
		return false;
	while ((b = ps2_queue_get(&c->kbd.q)) >= 0) {
		if (!(c->ram[0] & CTR_XLATE)) {
			c->out = b;
			return true;
		}
		if (b == 0xf0) {
			c->xlate_break = true;
			continue;
		}
		c->out = ps2_translate(b) | (c->xlate_break ? 0x80 : 0);
		c->xlate_break = false;
		return true;
	}
	return false;
}

static bool aux_get(struct i8042 *c)
{
	int b;

	if (c->ram[0] & CTR_AUXDIS)
		return false;
	b = ps2_queue_get(&c->mouse.q);
	if (b < 0)
		return false;
	c->out = b;
	c->out_aux = true;
	return true;
}

static void update_irq(struct i8042 *c)
{
	bool l1 = c->obf && !c->out_aux && (c->ram[0] & CTR_KBDINT);
	bool l12 = c->obf && c->out_aux && (c->ram[0] & CTR_AUXINT);

	if (l1 != c->irq1) {
		c->irq1 = l1;
		vm_set_irq(c->vm, KBD_IRQ, l1);
	}
	if (l12 != c->irq12) {
		c->irq12 = l12;
		vm_set_irq(c->vm, AUX_IRQ, l12);
	}
}

/* Fill an empty output buffer from the controller, then the keyboard, then the mouse. */
static void refill(struct i8042 *c)
{
	if (!c->obf) {
		c->out_aux = false;
		c->obf = ctl_get(c) || kbd_get(c) || aux_get(c);
	}
	update_irq(c);
}

static uint8_t status(struct i8042 *c)
{
	return (c->obf ? STR_OBF : 0) | (c->ram[0] & CTR_SYS ? STR_SYS : 0) |
	       (c->a2 ? STR_CMD : 0) | STR_UNLOCKED | (c->obf && c->out_aux ? STR_AUXDATA : 0);
}

static uint8_t read_data(struct i8042 *c)
{
	uint8_t v = c->out;	/* an empty buffer reads as its last byte, as the chip's does */

	if (c->obf) {
		c->obf = false;
		update_irq(c);	/* the line drops, so the next byte is a new edge */
		refill(c);
	}
	return v;
}

static void do_command(struct i8042 *c, uint8_t v)
{
	c->pending = 0;
	if (v >= 0x20 && v < 0x40) {
		ctl_put(c, c->ram[v & 0x1f], false);
	} else if ((v >= 0x60 && v < 0x80) || (v >= 0xd1 && v <= 0xd4)) {
		c->pending = v;
	} else if (v >= 0xf0) {
		/* Pulse output port bits 0-3 where the command has zeros: bit 0 is reset. */
		if (!(v & 1))
			c->reset = true;
	} else {
		switch (v) {
		case 0xa7: c->ram[0] |= CTR_AUXDIS; break;
		case 0xa8: c->ram[0] &= ~CTR_AUXDIS; break;
		case 0xa9: ctl_put(c, 0x00, false); break;	/* aux interface test: passed */
		case 0xaa:					/* self test: passed */
			c->ram[0] |= CTR_SYS;
			ctl_put(c, 0x55, false);
			break;
		case 0xab: ctl_put(c, 0x00, false); break;	/* keyboard interface test */
		case 0xad: c->ram[0] |= CTR_KBDDIS; break;
		case 0xae: c->ram[0] &= ~CTR_KBDDIS; break;
		case 0xc0: ctl_put(c, 0x80, false); break;	/* input port: key lock open */
		case 0xd0:
			ctl_put(c, c->outport | (c->obf && !c->out_aux ? OUT_KBD_OBF : 0) |
				(c->obf && c->out_aux ? OUT_AUX_OBF : 0), false);
			break;
		case 0xe0: ctl_put(c, 0x00, false); break;	/* test inputs */
		default: break;					/* unknown: ignored, as the chip does */
		}
	}
}

static void do_data(struct i8042 *c, uint8_t v)
{
	uint8_t cmd = c->pending;

	c->pending = 0;
	if (cmd >= 0x60 && cmd < 0x80) {
		c->ram[cmd & 0x1f] = v;
	} else if (cmd == 0xd1) {
		c->outport = v & ~(OUT_KBD_OBF | OUT_AUX_OBF);
		if (!(v & OUT_RESET))
			c->reset = true;
	} else if (cmd == 0xd2 || cmd == 0xd3) {
		ctl_put(c, v, cmd == 0xd3);	/* loopback: as if the device had sent it */
	} else if (cmd == 0xd4) {
		ps2_mouse_write(&c->mouse, v);
	} else {
		ps2_kbd_write(&c->kbd, v);
	}
}

/* Called with the lock dropped: stopping the VM waits for vCPUs. */
static void check_reset(struct i8042 *c, bool reset)
{
	if (reset)
		vm_request_stop(c->vm, VM_STOP_RESET, "guest reset through the keyboard controller");
}

static void i8042_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct i8042 *c = dev;
	uint8_t v;

	pthread_mutex_lock(&c->lock);
	v = off ? status(c) : read_data(c);
	pthread_mutex_unlock(&c->lock);
	memset(data, 0xff, len);
	*(uint8_t *)data = v;
}

static void i8042_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct i8042 *c = dev;
	uint8_t v = *(const uint8_t *)data;
	bool reset;

	pthread_mutex_lock(&c->lock);
	c->a2 = off != 0;
	if (off)
		do_command(c, v);
	else
		do_data(c, v);
	refill(c);
	reset = c->reset;
	c->reset = false;
	pthread_mutex_unlock(&c->lock);
	check_reset(c, reset);
}

/* 0x60 and 0x64 are separate ranges (0x61 is the PIT's): off 0 data, 1 command. */
static void data_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	i8042_read(dev, 0, data, len);
}

static void data_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	i8042_write(dev, 0, data, len);
}

static void cmd_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	i8042_read(dev, 1, data, len);
}

static void cmd_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	i8042_write(dev, 1, data, len);
}

static const struct io_ops data_ops = { .read = data_read, .write = data_write };
static const struct io_ops cmd_ops = { .read = cmd_read, .write = cmd_write };

/* ---- input from the router ---- */

static void on_key(void *dev, unsigned int keycode, bool down)
{
	struct i8042 *c = dev;

	pthread_mutex_lock(&c->lock);
	ps2_kbd_key(&c->kbd, keycode, down);
	refill(c);
	pthread_mutex_unlock(&c->lock);
}

static void on_rel(void *dev, int dx, int dy, int dz, unsigned int buttons)
{
	struct i8042 *c = dev;

	pthread_mutex_lock(&c->lock);
	ps2_mouse_event(&c->mouse, dx, dy, dz, buttons);
	refill(c);
	pthread_mutex_unlock(&c->lock);
}

static const struct input_handler_ops input_ops = { .key = on_key, .rel = on_rel };

int i8042_create(struct vm *vm, struct vk_err *err)
{
	struct i8042 *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return vk_fail(err, -ENOMEM, "i8042: out of memory");
	pthread_mutex_init(&c->lock, NULL);
	c->vm = vm;
	c->ram[0] = CTR_BOOT;
	c->outport = OUT_RESET | OUT_A20;
	ps2_kbd_reset(&c->kbd);
	ps2_mouse_reset(&c->mouse);
	*vm_device_state(vm, &i8042_class) = c;
	/* 0x61 (speaker/NMI status) lies between: it belongs to the PIT (vmm/hw/pit.c). */
	r = io_bus_register(&vm->pio, I8042_DATA, 1, &data_ops, c);
	if (!r)
		r = io_bus_register(&vm->pio, I8042_CMD, 1, &cmd_ops, c);
	if (r)
		return vk_fail(err, r, "i8042: cannot claim ports 0x60/0x64");
	return input_register(vm, INPUT_KBD | INPUT_REL, &input_ops, c, err);
}

void i8042_destroy(struct vm *vm)
{
	void **slot = vm_device_state(vm, &i8042_class);
	struct i8042 *c = slot ? *slot : NULL;

	if (!c)
		return;
	input_unregister(vm, c);
	io_bus_unregister(&vm->pio, I8042_DATA, c);
	io_bus_unregister(&vm->pio, I8042_CMD, c);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*slot = NULL;
}

const struct vm_device_class i8042_class = {
	.name = "i8042", .create = i8042_create, .destroy = i8042_destroy,
};
