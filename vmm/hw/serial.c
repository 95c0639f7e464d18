// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * 16550A UART at COM1 (0x3f8, IRQ 4). Output goes straight to the console
 * backend; input is queued in a FIFO. Interrupts follow the 8250's rules:
 * receive data available and THR empty, the latter cleared by reading IIR.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vmkit/console.h"
#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

#define UART_BASE	0x3f8
#define UART_IRQ	4
#define FIFO_SIZE	64

/* Register offsets and bits */
#define RBR_THR 0
#define IER	1
#define IIR_FCR 2
#define LCR	3
#define MCR	4
#define LSR	5
#define MSR	6
#define SCR	7

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IIR_NO_INT	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO_ON	0xc0
#define FCR_FIFO_EN	0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_DCD_DSR_CTS	0xb0

struct uart {
	struct vm *vm;
	struct console *con;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_pending;	/* THR-empty interrupt not yet acknowledged */
	uint8_t fifo[FIFO_SIZE];
	unsigned int head, count;
	bool irq_level;
};

static uint8_t iir(struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_FIFO_EN) ? IIR_FIFO_ON : 0;

	if ((u->ier & IER_RDI) && u->count)
		return fifo | IIR_RDI;
	if ((u->ier & IER_THRI) && u->thr_pending)
		return fifo | IIR_THRI;
	return fifo | IIR_NO_INT;
}

/* Called with the lock held, after every state change. */
static void update_irq(struct uart *u)
{
	bool level = !(iir(u) & IIR_NO_INT);

	if (level != u->irq_level) {
		u->irq_level = level;
		vm_set_irq(u->vm, UART_IRQ, level);
	}
}

static uint8_t msr(struct uart *u)
{
	uint8_t m = u->mcr;

	if (!(m & MCR_LOOP))
		return MSR_DCD_DSR_CTS;
	/* Loopback: OUT2->DCD, OUT1->RI, RTS->CTS, DTR->DSR (Linux probes this). */
	return ((m & 0x08) << 4) | ((m & 0x04) << 4) | ((m & 0x02) << 3) | ((m & 0x01) << 5);
}

static uint8_t pop_rx(struct uart *u)
{
	uint8_t ch;

	if (!u->count)
		return 0;
	ch = u->fifo[u->head];
	u->head = (u->head + 1) % FIFO_SIZE;
	u->count--;
	return ch;
}

static uint8_t reg_read(struct uart *u, unsigned int reg)
{
	uint8_t v;

	switch (reg) {
	case RBR_THR:
		return (u->lcr & LCR_DLAB) ? u->dll : pop_rx(u);
	case IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case IIR_FCR:
		v = iir(u);
		if ((v & 0x0f) == IIR_THRI)
			u->thr_pending = false;
		return v;
	case LCR:
		return u->lcr;
	case MCR:
		return u->mcr;
	case LSR:
		return LSR_THRE | LSR_TEMT | (u->count ? LSR_DR : 0);
	case MSR:
		return msr(u);
	default:
		return u->scr;
	}
}

static void reg_write(struct uart *u, unsigned int reg, uint8_t v)
{
	switch (reg) {
	case RBR_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			break;
		}
		if (!(u->mcr & MCR_LOOP))
			console_write(u->con, &v, 1);
		u->thr_pending = true;	/* transmitted at once: THR empty again */
		break;
	case IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			break;
		}
		if (!(u->ier & IER_THRI) && (v & IER_THRI))
			u->thr_pending = true;
		u->ier = v & 0x0f;
		break;
	case IIR_FCR:
		if (v & FCR_CLEAR_RX)
			u->count = 0;
		u->fcr = v & FCR_FIFO_EN;
		break;
	case LCR:
		u->lcr = v;
		break;
	case MCR:
		u->mcr = v & 0x1f;
		break;
	case SCR:
		u->scr = v;
		break;
	}
}

static void uart_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct uart *u = dev;

	pthread_mutex_lock(&u->lock);
	memset(data, 0, len);
	*(uint8_t *)data = reg_read(u, off);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void uart_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct uart *u = dev;

	pthread_mutex_lock(&u->lock);
	reg_write(u, off, *(const uint8_t *)data);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static const struct io_ops uart_ops = { .read = uart_read, .write = uart_write };

size_t serial_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct uart *u = opaque;
	size_t i;

	pthread_mutex_lock(&u->lock);
	/* Only what fits; the console keeps the rest until the guest reads. */
	for (i = 0; i < len && u->count < FIFO_SIZE; i++) {
		u->fifo[(u->head + u->count) % FIFO_SIZE] = buf[i];
		u->count++;
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return i;
}

int serial_create(struct vm *vm, struct console *con, struct vk_err *err)
{
	struct uart *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return vk_fail(err, -ENOMEM, "out of memory");
	u->vm = vm;
	u->con = con;
	u->mcr = 0x08;	/* OUT2 */
	pthread_mutex_init(&u->lock, NULL);
	r = io_bus_register(&vm->pio, UART_BASE, 8, &uart_ops, u);
	if (r) {
		free(u);
		return vk_fail(err, r, "serial: cannot claim ports 0x3f8-0x3ff");
	}
	vm->uart = u;
	return 0;
}

void serial_destroy(struct vm *vm)
{
	struct uart *u = vm->uart;

	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
	vm->uart = NULL;
}

/*
 * With --console virtio the UART still exists (firmware and early boot
 * code probe it), writing nowhere.
 */
static int serial_class_create(struct vm *vm, struct vk_err *err)
{
	int r = 0;

	if (vm->cfg->console_virtio)
		r = console_open(&vm->uart_con, CONSOLE_NONE, NULL, err);
	if (!r)
		r = serial_create(vm, vm->uart_con ? vm->uart_con : vm->con, err);
	return r;
}

static void serial_class_destroy(struct vm *vm)
{
	serial_destroy(vm);
	console_close(vm->uart_con);
	vm->uart_con = NULL;
}

/* Version 1: the registers, THR-empty pending, and the receive FIFO's bytes in order. */
static void serial_save(struct vm *vm, struct ss_writer *w)
{
	struct uart *u = vm->uart;
	uint8_t rx[FIFO_SIZE];
	unsigned int i;

	pthread_mutex_lock(&u->lock);
	for (i = 0; i < u->count; i++)
		rx[i] = u->fifo[(u->head + i) % FIFO_SIZE];
	ss_begin(w, "serial", 0, 1);
	ss_put_u64(w, "ier", u->ier);
	ss_put_u64(w, "lcr", u->lcr);
	ss_put_u64(w, "mcr", u->mcr);
	ss_put_u64(w, "scr", u->scr);
	ss_put_u64(w, "fcr", u->fcr);
	ss_put_u64(w, "dll", u->dll);
	ss_put_u64(w, "dlm", u->dlm);
	ss_put_u64(w, "thr-pending", u->thr_pending);
	ss_put_u64(w, "rx-count", u->count);
	ss_put_bytes(w, "rx", rx, u->count);
	ss_end(w);
	pthread_mutex_unlock(&u->lock);
}

static int serial_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	const struct ss_section *s = ss_find(r, "serial", 0);
	uint64_t v[9];
	static const char *const names[] = { "ier", "lcr", "mcr", "scr", "fcr", "dll", "dlm",
					     "thr-pending", "rx-count" };
	struct uart *u = vm->uart;
	unsigned int i;
	int ret = 0;

	if (!s)
		return vk_fail(err, -ENOENT, "state: no serial section");
	for (i = 0; i < 9 && !ret; i++)
		ret = ss_get_u64(s, names[i], &v[i], err);
	if (!ret && (v[0] > 0x0f || v[1] > 0xff || v[2] > 0x1f || v[3] > 0xff ||
		     v[4] > FCR_FIFO_EN || v[5] > 0xff || v[6] > 0xff || v[7] > 1 || v[8] > FIFO_SIZE))
		ret = vk_fail(err, -EINVAL, "state of serial: a register out of range");
	pthread_mutex_lock(&u->lock);
	if (!ret)
		ret = ss_get_bytes(s, "rx", u->fifo, v[8], err);
	if (!ret) {
		u->ier = v[0], u->lcr = v[1], u->mcr = v[2], u->scr = v[3], u->fcr = v[4];
		u->dll = v[5], u->dlm = v[6], u->thr_pending = v[7];
		u->head = 0;
		u->count = v[8];
		update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	return ret;
}

const struct vm_device_class serial_class = {
	.name = "serial", .create = serial_class_create, .destroy = serial_class_destroy,
	.save = serial_save, .load = serial_load,
};
