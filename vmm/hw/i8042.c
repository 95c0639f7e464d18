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
#include "vmkit/savestate.h"
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

/*
 * Version 1: the controller (command byte and RAM, output port and buffer,
 * its reply queue, a pending command, translation mid-break) and both
 * devices behind it with their queues (ps2-state.c). The IRQ lines are not
 * state: they follow from the buffer and the command byte.
 */
static void i8042_save(struct vm *vm, struct ss_writer *w)
{
	struct i8042 *c = *vm_device_state(vm, &i8042_class);
	uint8_t aux[CTL_QUEUE];
	unsigned int i;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->ctl_n; i++)
		aux[i] = c->ctl_aux[i];
	ss_begin(w, "i8042", 0, 1);
	ss_put_bytes(w, "ram", c->ram, sizeof(c->ram));
	ss_put_u64(w, "outport", c->outport);
	ss_put_u64(w, "out", c->out);
	ss_put_u64(w, "obf", c->obf | (c->out_aux << 1));
	ss_put_bytes(w, "ctl", c->ctl, c->ctl_n);
	ss_put_bytes(w, "ctl-aux", aux, c->ctl_n);
	ss_put_u64(w, "pending", c->pending);
	ss_put_u64(w, "a2", c->a2);
	ss_put_u64(w, "xlate-break", c->xlate_break);
	ps2_kbd_save(&c->kbd, w);
	ps2_mouse_save(&c->mouse, w);
	ss_end(w);
	pthread_mutex_unlock(&c->lock);
}

static bool pending_ok(uint64_t v)
{
	return !v || (v >= 0x60 && v < 0x80) || (v >= 0xd1 && v <= 0xd4);
}

/* The controller's own fields into n (a copy), checked. */
static int load_ctl(struct i8042 *n, const struct ss_section *s, struct vk_err *err)
{
	static const char *const names[] = { "outport", "out", "obf", "pending", "a2",
					     "xlate-break" };
	const uint8_t *ctl, *aux;
	size_t nctl, naux;
	uint64_t v[6];
	unsigned int i;
	int r = ss_get_bytes(s, "ram", n->ram, sizeof(n->ram), err);

	for (i = 0; i < 6 && !r; i++)
		r = ss_get_u64(s, names[i], &v[i], err);
	if (!r)
		r = ss_get_blob(s, "ctl", &ctl, &nctl, err);
	if (!r)
		r = ss_get_blob(s, "ctl-aux", &aux, &naux, err);
	if (r)
		return r;
	if (v[0] > 0xff || v[1] > 0xff || v[2] > 3 || !pending_ok(v[3]) || v[4] > 1 || v[5] > 1 ||
	    nctl > CTL_QUEUE || naux != nctl)
		return vk_fail(err, -EINVAL, "state of i8042: a register out of range");
	n->outport = v[0], n->out = v[1], n->obf = v[2] & 1, n->out_aux = v[2] >> 1;
	n->pending = v[3], n->a2 = v[4], n->xlate_break = v[5];
	memcpy(n->ctl, ctl, nctl);
	for (i = 0; i < nctl; i++)
		n->ctl_aux[i] = aux[i] != 0;
	n->ctl_n = nctl;
	return 0;
}

static int i8042_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct i8042 *c = *vm_device_state(vm, &i8042_class);
	const struct ss_section *s = ss_need(r, "i8042", 0, err);
	struct i8042 *n;
	int ret;

	if (!s)
		return err->code;
	n = calloc(1, sizeof(*n));
	if (!n)
		return vk_fail(err, -ENOMEM, "i8042: out of memory");
	ret = load_ctl(n, s, err);
	if (!ret)
		ret = ps2_kbd_load(&n->kbd, s, err);
	if (!ret)
		ret = ps2_mouse_load(&n->mouse, s, err);
	if (!ret) {
		pthread_mutex_lock(&c->lock);
		memcpy(c->ram, n->ram, sizeof(c->ram));
		c->outport = n->outport, c->out = n->out, c->obf = n->obf, c->out_aux = n->out_aux;
		memcpy(c->ctl, n->ctl, sizeof(c->ctl));
		memcpy(c->ctl_aux, n->ctl_aux, sizeof(c->ctl_aux));
		c->ctl_n = n->ctl_n, c->pending = n->pending, c->a2 = n->a2;
		c->xlate_break = n->xlate_break;
		c->kbd = n->kbd;
		c->mouse = n->mouse;
		update_irq(c);
		pthread_mutex_unlock(&c->lock);
	}
	free(n);
	return ret;
}

const struct vm_device_class i8042_class = {
	.name = "i8042", .create = i8042_create, .destroy = i8042_destroy,
	.save = i8042_save, .load = i8042_load,
};
