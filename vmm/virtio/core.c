// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What every virtio device shares whatever its transport: feature
 * negotiation, the status state machine, reset. (virtio 1.2, 2.1-2.4, 3.1)
 */
#include <string.h>

#include "vmkit/virtio.h"
#include "vmkit/vm.h"

static void *map_guest(void *opaque, uint64_t gpa, uint64_t len)
{
	return vm_gpa_to_hva(opaque, gpa, len);
}

static void guest_written(void *opaque, uint64_t gpa, uint64_t len)
{
	vm_mark_dirty(opaque, gpa, len);
}

void virtio_dev_init(struct virtio_dev *v, struct vm *vm, const struct virtio_dev_ops *ops,
		     void *priv, uint64_t device_features, unsigned int nr_queues,
		     uint16_t queue_max)
{
	unsigned int i;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->ops = ops;
	v->priv = priv;
	v->host_features = device_features | (1ULL << VIRTIO_F_VERSION_1) |
			   (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);
	v->nr_queues = MIN(nr_queues, (unsigned int)VIRTIO_MAX_QUEUES);
	v->queue_max = queue_max;
	v->loop = vm->loop;
	pthread_mutex_init(&v->lock, NULL);
	for (i = 0; i < v->nr_queues; i++) {
		v->vq[i].map = map_guest;
		v->vq[i].written = guest_written;
		v->vq[i].map_opaque = vm;
		v->vq[i].size = queue_max;
	}
}

bool virtio_has_feature(const struct virtio_dev *v, unsigned int bit)
{
	return v->guest_features & (1ULL << bit);
}

void virtio_reset(struct virtio_dev *v)
{
	unsigned int i;

	if (v->ops->reset)
		v->ops->reset(v);
	for (i = 0; i < v->nr_queues; i++) {
		virtq_reset(&v->vq[i]);
		v->vq[i].size = v->queue_max;
		v->vq_enabled[i] = false;
	}
	v->guest_features = 0;
	v->status = 0;
}

void virtio_needs_reset(struct virtio_dev *v)
{
	v->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (v->status & VIRTIO_STATUS_DRIVER_OK && v->tops && v->tops->notify_config)
		v->tops->notify_config(v);
}

/* FEATURES_OK stays set only for a subset of what we offered, including VERSION_1. */
static bool features_ok(struct virtio_dev *v)
{
	return !(v->guest_features & ~v->host_features) &&
	       virtio_has_feature(v, VIRTIO_F_VERSION_1);
}

/*
 * The driver enabled queue i: map its rings now, not at DRIVER_OK, because
 * drivers use a queue as soon as it is enabled (Linux's virtio_console
 * writes to its console before it sets DRIVER_OK, as QEMU allows). Rings
 * outside guest RAM are the driver's error.
 */
void virtio_enable_queue(struct virtio_dev *v, unsigned int i)
{
	struct virtq *q = &v->vq[i];

	q->event_idx = virtio_has_feature(v, VIRTIO_F_EVENT_IDX);
	q->indirect = virtio_has_feature(v, VIRTIO_F_INDIRECT_DESC);
	if (virtq_start(q)) {
		virtio_needs_reset(v);
		return;
	}
	v->vq_enabled[i] = true;
}

bool virtio_queue_ready(const struct virtio_dev *v, unsigned int i)
{
	return i < v->nr_queues && v->vq_enabled[i] && !__atomic_load_n(&v->held, __ATOMIC_ACQUIRE) &&
	       (v->status & VIRTIO_STATUS_FEATURES_OK) &&
	       !(v->status & VIRTIO_STATUS_NEEDS_RESET);
}

void virtio_set_status(struct virtio_dev *v, uint8_t status)
{
	uint8_t old = v->status;

	if (status == 0) {
		virtio_reset(v);
		return;
	}
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
	    !features_ok(v))
		status &= ~VIRTIO_STATUS_FEATURES_OK;
	v->status = status | (old & VIRTIO_STATUS_NEEDS_RESET);
	if ((status & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (!(status & VIRTIO_STATUS_FEATURES_OK) ||
		    (v->ops->activate && v->ops->activate(v)))
			virtio_needs_reset(v);
	}
}
