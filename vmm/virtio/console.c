// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-console (virtio 1.2, 5.3), one port without multiport: the
 * guest's hvc0. Output (transmitq) goes to the console backend as it
 * arrives; input typed on the console waits in a small buffer until the
 * guest has given receive buffers (receiveq).
 */
#include <errno.h>
#include <string.h>

#include "vmkit/console.h"
#include "vmkit/device.h"
#include "vmkit/virtio-console.h"
#include "vmkit/savestate.h"
#include "vmkit/virtio.h"
#include "vmkit/vm.h"

#define QUEUE_SIZE	64
#define RXQ		0
#define TXQ		1
#define PENDING_MAX	4096	/* typed-ahead input kept while the guest gives no buffers */

struct virtio_console {
	struct virtio_dev vdev;
	struct console *con;
	pthread_mutex_t lock;		/* both queues and the pending input */
	uint8_t pending[PENDING_MAX];
	size_t npending;
	struct virtq_elem elem;
};

static void transmit_one(void *opaque, struct virtq_elem *e)
{
	struct virtio_console *c = opaque;
	unsigned int i;

	for (i = 0; i < e->n_out; i++)
		console_write(c->con, e->iov[i].iov_base, e->iov[i].iov_len);
	virtq_push(&c->vdev.vq[TXQ], e, 0);
}

static void transmit(struct virtio_console *c, struct virtq *q)
{
	if (virtq_drain(q, &c->elem, transmit_one, c))
		virtio_needs_reset(&c->vdev);
	c->vdev.tops->notify_queue(&c->vdev, TXQ);
}

/* Move pending input into the guest's receive buffers. Called with the lock held. */
static void deliver(struct virtio_console *c)
{
	struct virtq *q = &c->vdev.vq[RXQ];
	struct virtq_elem *e = &c->elem;
	bool pushed = false;
	size_t n;
	int r;

	if (!virtio_queue_ready(&c->vdev, RXQ))
		return;
	while (c->npending && (r = virtq_pop(q, e)) == 0) {
		n = virtq_copy_to_in(e, 0, c->pending, c->npending);
		memmove(c->pending, c->pending + n, c->npending - n);
		c->npending -= n;
		virtq_push(q, e, n);
		pushed = true;
	}
	if (c->npending && r != -ENOENT)
		virtio_needs_reset(&c->vdev);
	virtq_enable_notify(q, true);	/* more buffers: tell us (pending input waits for them) */
	if (pushed)
		c->vdev.tops->notify_queue(&c->vdev, RXQ);
}

static void queue_notify(struct virtio_dev *v, unsigned int qi)
{
	struct virtio_console *c = v->priv;

	pthread_mutex_lock(&c->lock);
	if (qi == TXQ)
		transmit(c, &v->vq[TXQ]);
	else
		deliver(c);
	pthread_mutex_unlock(&c->lock);
}

size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len)
{
	size_t room;

	pthread_mutex_lock(&c->lock);
	room = PENDING_MAX - c->npending;
	len = MIN(len, room);	/* the rest waits in the console backend */
	memcpy(c->pending + c->npending, buf, len);
	c->npending += len;
	deliver(c);
	pthread_mutex_unlock(&c->lock);
	return len;
}

static void reset(struct virtio_dev *v)
{
	struct virtio_console *c = v->priv;

	c->npending = 0;
}

/* Held: input goes on arriving into pending (saved), not into the rings. */
static void hold(struct virtio_dev *v, bool on)
{
	struct virtio_console *c = v->priv;

	pthread_mutex_lock(&c->lock);
	pthread_mutex_unlock(&c->lock);
}

static const struct virtio_dev_ops console_ops = {
	.name = "console",
	.type = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000,	/* simple communication controller, other */
	.queue_notify = queue_notify,
	.reset = reset,
	.hold = hold,
};

int virtio_console_create(struct vm *vm, struct console *con, struct virtio_console **out,
			  struct vk_err *err)
{
	struct virtio_console *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return vk_fail(err, -ENOMEM, "out of memory");
	c->con = con;
	pthread_mutex_init(&c->lock, NULL);
	virtio_dev_init(&c->vdev, vm, &console_ops, c, 0, 2, QUEUE_SIZE);
	r = virtio_pci_create(&c->vdev, err);
	if (r) {
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	virtio_pci_destroy(&c->vdev);
	free(c);
}

static int console_class_create(struct vm *vm, struct vk_err *err)
{
	if (!vm->cfg->console_virtio)
		return 0;
	return virtio_console_create(vm, vm->con, &vm->vcon, err);
}

static void console_class_destroy(struct vm *vm)
{
	virtio_console_destroy(vm->vcon);
	vm->vcon = NULL;
}

static void console_hold(struct vm *vm, bool on)
{
	if (vm->vcon)
		virtio_dev_hold(&vm->vcon->vdev, on);
}

/* Version 1: the virtio state and the input not yet delivered to the guest. */
static void console_save(struct vm *vm, struct ss_writer *w)
{
	struct virtio_console *c = vm->vcon;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	ss_begin(w, "virtio-console", 0, 1);
	virtio_dev_save(&c->vdev, w, NULL);
	ss_put_bytes(w, "pending", c->pending, c->npending);
	ss_end(w);
	pthread_mutex_unlock(&c->lock);
}

static int console_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct virtio_console *c = vm->vcon;
	const struct ss_section *s;
	const uint8_t *p;
	size_t n;
	int ret;

	if (!c != !ss_find(r, "virtio-console", 0))
		return vk_fail(err, -EINVAL, "state: saved %s --console virtio:, this VM %s",
			       c ? "without" : "with", c ? "has it" : "has none");
	if (!c)
		return 0;
	s = ss_need(r, "virtio-console", 0, err);
	if (!s)
		return err->code;
	ret = ss_get_blob(s, "pending", &p, &n, err);
	if (!ret && n > PENDING_MAX)
		ret = vk_fail(err, -EINVAL, "state of virtio-console: %zu bytes pending", n);
	if (!ret)
		ret = virtio_dev_load(&c->vdev, s, err);
	if (ret)
		return ret;
	pthread_mutex_lock(&c->lock);
	memcpy(c->pending, p, n);
	c->npending = n;
	pthread_mutex_unlock(&c->lock);
	virtio_dev_kick_queues(&c->vdev);	/* also delivers the pending input */
	return 0;
}

const struct vm_device_class virtio_console_class = {
	.name = "virtio-console", .create = console_class_create,
	.destroy = console_class_destroy,
	.save = console_save, .load = console_load, .hold = console_hold,
};
