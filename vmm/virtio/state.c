// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What every virtio device saves and restores (issue 15): features, status,
 * the configuration generation, and per queue its setup and the positions
 * the device has reached in the rings; then the transport's own state.
 *
 * Requests in flight: a device completes them before its save (virtio-blk
 * waits for its backend), or gives them back: chains it popped and has not
 * used (virtio-net's receive buffers held for a frame) are re-offered by
 * saving last_avail rewound by their number, as QEMU rewinds last_avail_idx
 * for virtio-blk. The guest's rings live in RAM, which travels on its own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/savestate.h"
#include "vmkit/virtio.h"

static void qname(char *buf, size_t n, unsigned int q, const char *what)
{
	snprintf(buf, n, "q%u-%s", q, what);
}

static void put_q(struct ss_writer *w, unsigned int q, const char *what, uint64_t v)
{
	char name[SS_NAME_MAX + 1];

	qname(name, sizeof(name), q, what);
	ss_put_u64(w, name, v);
}

void virtio_dev_save(struct virtio_dev *v, struct ss_writer *w, const uint16_t *rewind)
{
	unsigned int i;

	pthread_mutex_lock(&v->lock);
	ss_put_u64(w, "host-features", v->host_features);
	ss_put_u64(w, "guest-features", v->guest_features);
	ss_put_u64(w, "status", v->status);
	ss_put_u64(w, "config-generation", v->config_generation);
	ss_put_u64(w, "nr-queues", v->nr_queues);
	for (i = 0; i < v->nr_queues; i++) {
		struct virtq *q = &v->vq[i];

		put_q(w, i, "size", q->size);
		put_q(w, i, "enabled", v->vq_enabled[i]);
		put_q(w, i, "desc", q->desc_gpa);
		put_q(w, i, "avail", q->avail_gpa);
		put_q(w, i, "used", q->used_gpa);
		put_q(w, i, "last-avail", (uint16_t)(q->last_avail - (rewind ? rewind[i] : 0)));
		put_q(w, i, "used-idx", q->used_idx);
		put_q(w, i, "signalled-used", q->signalled_used);
		put_q(w, i, "broken", q->broken);
	}
	pthread_mutex_unlock(&v->lock);
	if (v->tops && v->tops->save)
		v->tops->save(v, w);
}

static int get_q(const struct ss_section *s, unsigned int q, const char *what, uint64_t *v,
		 struct vk_err *err)
{
	char name[SS_NAME_MAX + 1];

	qname(name, sizeof(name), q, what);
	return ss_get_u64(s, name, v, err);
}

/* Queue i as the driver set it up, at the positions the device had reached. */
static int load_queue(struct virtio_dev *v, unsigned int i, const struct ss_section *s,
		      struct vk_err *err)
{
	static const char *const names[] = { "size", "enabled", "desc", "avail", "used",
					     "last-avail", "used-idx", "signalled-used",
					     "broken" };
	struct virtq *q = &v->vq[i];
	uint64_t x[9];
	unsigned int k;
	int r = 0;

	for (k = 0; k < 9 && !r; k++)
		r = get_q(s, i, names[k], &x[k], err);
	if (r)
		return r;
	if (!x[0] || x[0] > v->queue_max || (x[0] & (x[0] - 1)) || x[1] > 1 ||
	    x[5] > 0xffff || x[6] > 0xffff || x[7] > 0xffff || x[8] > 1)
		return vk_fail(err, -EINVAL, "state of virtio-%s: queue %u out of range",
			       v->ops->name, i);
	q->size = x[0];
	q->desc_gpa = x[2], q->avail_gpa = x[3], q->used_gpa = x[4];
	if (!x[1])
		return 0;
	q->event_idx = virtio_has_feature(v, VIRTIO_F_EVENT_IDX);
	q->indirect = virtio_has_feature(v, VIRTIO_F_INDIRECT_DESC);
	if (virtq_start(q))
		return vk_fail(err, -EINVAL, "state of virtio-%s: queue %u rings outside RAM",
			       v->ops->name, i);
	q->last_avail = x[5], q->used_idx = x[6], q->signalled_used = x[7], q->broken = x[8];
	v->vq_enabled[i] = true;
	return 0;
}

static int load_common(struct virtio_dev *v, const struct ss_section *s, struct vk_err *err)
{
	static const char *const names[] = { "host-features", "guest-features", "status",
					     "config-generation", "nr-queues" };
	uint64_t x[5];
	unsigned int i;
	int r = 0;

	for (i = 0; i < 5 && !r; i++)
		r = ss_get_u64(s, names[i], &x[i], err);
	if (r)
		return r;
	if (x[0] != v->host_features || x[4] != v->nr_queues)
		return vk_fail(err, -EINVAL, "state of virtio-%s: saved with other device options "
			       "(features %#llx, %llu queues; this one %#llx, %u)", v->ops->name,
			       (unsigned long long)x[0], (unsigned long long)x[4],
			       (unsigned long long)v->host_features, v->nr_queues);
	if ((x[1] & ~v->host_features) || x[2] > 0xff || x[3] > 0xff)
		return vk_fail(err, -EINVAL, "state of virtio-%s: status or features out of range",
			       v->ops->name);
	v->guest_features = x[1];
	v->config_generation = x[3];
	for (i = 0; i < v->nr_queues && !r; i++)
		r = load_queue(v, i, s, err);
	if (!r)
		v->status = x[2];
	return r;
}

/*
 * Into a device just created for the same options. The device's activate
 * runs as at the driver's DRIVER_OK, so backends start serving again; the
 * caller loads its device-specific state after this.
 */
int virtio_dev_load(struct virtio_dev *v, const struct ss_section *s, struct vk_err *err)
{
	int r;

	pthread_mutex_lock(&v->lock);
	r = load_common(v, s, err);
	if (r) {
		virtio_reset(v);
		pthread_mutex_unlock(&v->lock);
		return r;
	}
	if ((v->status & VIRTIO_STATUS_DRIVER_OK) && !(v->status & VIRTIO_STATUS_NEEDS_RESET) &&
	    v->ops->activate && v->ops->activate(v))
		v->status |= VIRTIO_STATUS_NEEDS_RESET;
	pthread_mutex_unlock(&v->lock);
	if (v->tops && v->tops->load)
		r = v->tops->load(v, s, err);
	return r;
}

void virtio_dev_kick_queues(struct virtio_dev *v)
{
	unsigned int i;

	for (i = 0; i < v->nr_queues; i++)
		if (virtio_queue_ready(v, i) && v->ops->queue_notify)
			v->ops->queue_notify(v, i);
}

/*
 * A held device's queues read as not ready (virtio_queue_ready), so guest
 * notifications arriving on ioeventfds and the devices' own backend paths
 * leave the rings alone; the device's hold op waits for what was already
 * running. The notifications held back are served at release.
 */
void virtio_dev_hold(struct virtio_dev *v, bool on)
{
	__atomic_store_n(&v->held, on, __ATOMIC_RELEASE);
	if (v->ops->hold)
		v->ops->hold(v, on);
	if (!on)
		virtio_dev_kick_queues(v);
}
