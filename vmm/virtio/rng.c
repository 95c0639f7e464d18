// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-rng (virtio 1.2, 5.4): one queue of device-writable buffers that
 * the device fills from the host's entropy source (seed 001, 6.3).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vmkit/device.h"
#include "vmkit/virtio-rng.h"
#include "vmkit/savestate.h"
#include "vmkit/virtio.h"
#include "vmkit/vm.h"

#define QUEUE_SIZE	64
#define MAX_PER_REQUEST	4096	/* bounds the time one request holds the vCPU */

struct virtio_rng {
	struct virtio_dev vdev;
	int fd;
	pthread_mutex_t qlock;
	struct virtq_elem elem;
	bool pushed;
};

/* Fill the element's buffers from the source; returns bytes written. */
static uint32_t fill(struct virtio_rng *r, struct virtq_elem *e)
{
	uint8_t buf[MAX_PER_REQUEST];
	size_t want = MIN(e->in_len, sizeof(buf));
	ssize_t n;

	if (e->n_out)
		return 0;	/* the driver gives only writable buffers */
	do
		n = read(r->fd, buf, want);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	return virtq_copy_to_in(e, 0, buf, n);
}

static void serve(void *opaque, struct virtq_elem *e)
{
	struct virtio_rng *r = opaque;

	virtq_push(&r->vdev.vq[0], e, fill(r, e));
	r->pushed = true;
}

static void queue_notify(struct virtio_dev *v, unsigned int qi)
{
	struct virtio_rng *r = v->priv;

	pthread_mutex_lock(&r->qlock);
	r->pushed = false;
	if (virtq_drain(&v->vq[qi], &r->elem, serve, r))
		virtio_needs_reset(v);
	if (r->pushed)
		v->tops->notify_queue(v, qi);
	pthread_mutex_unlock(&r->qlock);
}

static void hold(struct virtio_dev *v, bool on)
{
	struct virtio_rng *r = v->priv;

	pthread_mutex_lock(&r->qlock);	/* a request being served finishes first */
	pthread_mutex_unlock(&r->qlock);
}

static const struct virtio_dev_ops rng_ops = {
	.name = "rng",
	.type = VIRTIO_ID_RNG,
	.pci_class = 0x00ff00,	/* unclassified, as QEMU shows it */
	.queue_notify = queue_notify,
	.hold = hold,
};

int virtio_rng_create(struct vm *vm, const char *source, struct virtio_rng **out,
		      struct vk_err *err)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return vk_fail(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&r->qlock, NULL);
	r->fd = open(source, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		ret = vk_fail(err, -errno, "--rng file=%s: %s", source, strerror(errno));
		free(r);
		return ret;
	}
	virtio_dev_init(&r->vdev, vm, &rng_ops, r, 0, 1, QUEUE_SIZE);
	ret = virtio_pci_create(&r->vdev, err);
	if (ret) {
		virtio_rng_destroy(r);
		return ret;
	}
	*out = r;
	return 0;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_pci_destroy(&r->vdev);
	close(r->fd);
	free(r);
}

static int rng_class_create(struct vm *vm, struct vk_err *err)
{
	if (!vm->cfg->rng_source)
		return 0;
	return virtio_rng_create(vm, vm->cfg->rng_source, &vm->rng, err);
}

static void rng_class_destroy(struct vm *vm)
{
	virtio_rng_destroy(vm->rng);
	vm->rng = NULL;
}

static void rng_hold(struct vm *vm, bool on)
{
	if (vm->rng)
		virtio_dev_hold(&vm->rng->vdev, on);
}

/* Version 1: only the virtio state; requests are served at once, none is in flight. */
static void rng_save(struct vm *vm, struct ss_writer *w)
{
	if (!vm->rng)
		return;
	pthread_mutex_lock(&vm->rng->qlock);
	ss_begin(w, "virtio-rng", 0, 1);
	virtio_dev_save(&vm->rng->vdev, w, NULL);
	ss_end(w);
	pthread_mutex_unlock(&vm->rng->qlock);
}

static int rng_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	const struct ss_section *s;

	if (!vm->rng != !ss_find(r, "virtio-rng", 0))
		return vk_fail(err, -EINVAL, "state: saved %s --rng, this VM %s",
			       vm->rng ? "without" : "with", vm->rng ? "has it" : "has none");
	if (!vm->rng)
		return 0;
	s = ss_need(r, "virtio-rng", 0, err);
	if (!s || virtio_dev_load(&vm->rng->vdev, s, err))
		return err->code;
	virtio_dev_kick_queues(&vm->rng->vdev);
	return 0;
}

const struct vm_device_class virtio_rng_class = {
	.name = "virtio-rng", .create = rng_class_create, .destroy = rng_class_destroy,
	.save = rng_save, .load = rng_load, .hold = rng_hold,
};
