// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-input (virtio 1.2, 5.8; include/vmkit/virtio-input.h). Two
 * queues: events to the driver (it posts 8-byte writable buffers, we fill
 * one event each) and status from it (LEDs, which a pointer has none of:
 * taken and given back empty).
 *
 * The configuration is a window: the driver writes select and subsel,
 * then reads size and, when size is not 0, that many bytes of the answer
 * (a string, a bitmap of codes, an axis's range, the ids). It is rebuilt
 * on each write, under vdev.lock, from the model's const description.
 *
 * Events come from another thread (the input router's caller: the VNC
 * reader, the control thread). When the driver has no buffers they wait
 * here, up to VIRTIO_INPUT_PENDING_MAX: a report of absolute motion only
 * is merged into a waiting one of the same axes (only the newest position
 * matters), and when the space is used up anyway the oldest report is
 * dropped, counted, and logged once per driver session (a guest that stops
 * reading must not grow the monitor's memory). A report is not kept
 * together: Linux's input core collects events until EV_SYN, so one cut
 * by a shortage of buffers completes when the next buffers arrive.
 */
#include <errno.h>
#include <linux/input-event-codes.h>
#include <string.h>

#include "vmkit/savestate.h"
#include "vmkit/virtio-input.h"
#include "vmkit/virtio.h"
#include "vmkit/vm.h"

#define VIRTIO_ID_INPUT	18
#define Q_EVENT		0
#define Q_STATUS	1
#define QUEUE_SIZE	64
#define CFG_DATA	8	/* select, subsel, size, 5 reserved, then the answer */
#define CFG_DATA_LEN	128
#define CFG_LEN		(CFG_DATA + CFG_DATA_LEN)
#define EV_SIZE		sizeof(struct virtio_input_event)

struct virtio_input {
	struct virtio_dev vdev;
	const struct virtio_input_desc *desc;
	/* The configuration window, under vdev.lock. */
	uint8_t select, subsel, size;
	uint8_t data[CFG_DATA_LEN];

	pthread_mutex_t qlock;		/* below and the queues */
	bool live;			/* DRIVER_OK and not reset since */
	bool warned;			/* the drop was logged this session */
	unsigned long dropped;
	unsigned int nr_pending;
	struct virtio_input_event pending[VIRTIO_INPUT_PENDING_MAX];
	struct virtq_elem elem;
};

/* ---- the configuration window ---- */

static unsigned int fill_string(uint8_t *d, const char *s)
{
	size_t n = s ? strnlen(s, CFG_DATA_LEN) : 0;

	if (n)
		memcpy(d, s, n);	/* s may be NULL (no serial): memcpy's arguments must not */
	return n;
}

static unsigned int fill_bits(uint8_t *d, const struct virtio_input_codes *c)
{
	unsigned int i, size = 0;

	for (i = 0; i < c->nr; i++) {
		if (c->codes[i] >= CFG_DATA_LEN * 8)
			continue;	/* cannot be shown: never sent either */
		d[c->codes[i] / 8] |= 1u << (c->codes[i] % 8);
		size = MAX(size, c->codes[i] / 8 + 1u);
	}
	return size;
}

static unsigned int fill_ev_bits(const struct virtio_input_desc *desc, uint8_t type, uint8_t *d)
{
	unsigned int i;

	for (i = 0; i < desc->nr_types; i++)
		if (desc->types[i].type == type)
			return fill_bits(d, &desc->types[i]);
	return 0;
}

static unsigned int fill_abs(const struct virtio_input_desc *desc, uint8_t axis, uint8_t *d)
{
	unsigned int i;

	for (i = 0; i < desc->nr_axes; i++) {
		if (desc->axes[i].axis != axis)
			continue;
		memcpy(d, &desc->axes[i].info, sizeof(desc->axes[i].info));
		return sizeof(desc->axes[i].info);
	}
	return 0;
}

/* The answer to (select, subsel); an unknown question has size 0. vdev.lock held. */
static void answer(struct virtio_input *vi)
{
	const struct virtio_input_desc *d = vi->desc;
	uint16_t ids[4] = { d->bustype, d->vendor, d->product, d->version };
	unsigned int size = 0;

	memset(vi->data, 0, sizeof(vi->data));
	switch (vi->select) {
	case VIRTIO_INPUT_CFG_ID_NAME:
		size = vi->subsel ? 0 : fill_string(vi->data, d->name);
		break;
	case VIRTIO_INPUT_CFG_ID_SERIAL:
		size = vi->subsel ? 0 : fill_string(vi->data, d->serial);
		break;
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
		memcpy(vi->data, ids, sizeof(ids));
		size = vi->subsel ? 0 : sizeof(ids);
		break;
	case VIRTIO_INPUT_CFG_PROP_BITS:
		break;		/* no INPUT_PROP_*: a pointer, not a touchscreen */
	case VIRTIO_INPUT_CFG_EV_BITS:
		size = fill_ev_bits(d, vi->subsel, vi->data);
		break;
	case VIRTIO_INPUT_CFG_ABS_INFO:
		size = fill_abs(d, vi->subsel, vi->data);
		break;
	}
	if (!size)
		memset(vi->data, 0, sizeof(vi->data));
	vi->size = size;
}

static void config_read(struct virtio_dev *v, unsigned int off, void *data, unsigned int len)
{
	struct virtio_input *vi = v->priv;
	uint8_t img[CFG_LEN] = { vi->select, vi->subsel, vi->size };

	memcpy(img + CFG_DATA, vi->data, CFG_DATA_LEN);
	memset(data, 0, len);
	if (off < CFG_LEN)
		memcpy(data, img + off, MIN(len, CFG_LEN - off));
}

/* Only select and subsel are the driver's to write (5.8.5). vdev.lock held. */
static void config_write(struct virtio_dev *v, unsigned int off, const void *data,
			 unsigned int len)
{
	struct virtio_input *vi = v->priv;
	const uint8_t *b = data;
	bool changed = false;
	unsigned int i;

	for (i = 0; i < len && off + i < 2; i++) {
		*(off + i ? &vi->subsel : &vi->select) = b[i];
		changed = true;
	}
	if (changed)
		answer(vi);
}

/* ---- events ---- */

/* Hand waiting events to the driver's buffers; qlock held. */
static void flush(struct virtio_input *vi)
{
	struct virtq *q = &vi->vdev.vq[Q_EVENT];
	unsigned int done = 0;
	bool pushed = false;
	int r;

	/* Held for a save: the events wait here, and go in the state with the rest. */
	if (!virtio_queue_ready(&vi->vdev, Q_EVENT))
		return;
	while (done < vi->nr_pending) {
		r = virtq_pop(q, &vi->elem);
		if (r == -ENOENT)
			break;
		if (r) {
			virtio_needs_reset(&vi->vdev);
			break;
		}
		pushed = true;
		/* A buffer an event does not fit goes back empty; the event waits. */
		if (vi->elem.n_out || vi->elem.in_len < EV_SIZE) {
			virtq_push(q, &vi->elem, 0);
			continue;
		}
		virtq_push(q, &vi->elem, virtq_copy_to_in(&vi->elem, 0, &vi->pending[done], EV_SIZE));
		done++;
	}
	vi->nr_pending -= done;
	memmove(vi->pending, vi->pending + done, vi->nr_pending * EV_SIZE);
	if (pushed)
		vi->vdev.tops->notify_queue(&vi->vdev, Q_EVENT);
}

/* Whether ev[0..n) (ending in EV_SYN) moves absolute axes and does nothing else. */
static bool motion_only(const struct virtio_input_event *ev, unsigned int n)
{
	unsigned int i;

	for (i = 0; i + 1 < n; i++)
		if (ev[i].type != EV_ABS)
			return false;
	return n > 1 && ev[n - 1].type == EV_SYN;
}

/* The newest waiting report of the same motion as ev: overwrite its values. */
static bool merge(struct virtio_input *vi, const struct virtio_input_event *ev, unsigned int n)
{
	struct virtio_input_event *last;
	unsigned int i;

	if (n > vi->nr_pending || !motion_only(ev, n))
		return false;
	last = vi->pending + vi->nr_pending - n;
	if (!motion_only(last, n) || (n < vi->nr_pending && last[-1].type != EV_SYN))
		return false;
	for (i = 0; i < n; i++)
		if (last[i].type != ev[i].type || last[i].code != ev[i].code)
			return false;
	memcpy(last, ev, n * EV_SIZE);
	return true;
}

/* Make room for n events by dropping the oldest reports; qlock held. */
static void make_room(struct virtio_input *vi, unsigned int n)
{
	unsigned int k;

	while (vi->nr_pending + n > VIRTIO_INPUT_PENDING_MAX) {
		for (k = 0; k < vi->nr_pending && vi->pending[k].type != EV_SYN; k++)
			;
		k = MIN(k + 1, vi->nr_pending);
		vi->nr_pending -= k;
		memmove(vi->pending, vi->pending + k, vi->nr_pending * EV_SIZE);
		vi->dropped += k;
		if (!vi->warned)
			vk_msg("virtio-%s: the guest takes no input events: dropping the oldest",
			       vi->vdev.ops->name);
		vi->warned = true;
	}
}

void virtio_input_send(struct virtio_input *vi, const struct virtio_input_event *ev,
		       unsigned int n)
{
	pthread_mutex_lock(&vi->qlock);
	if (!vi->live || !n || n > VIRTIO_INPUT_PENDING_MAX) {
		pthread_mutex_unlock(&vi->qlock);
		return;
	}
	if (!merge(vi, ev, n)) {
		make_room(vi, n);
		memcpy(vi->pending + vi->nr_pending, ev, n * EV_SIZE);
		vi->nr_pending += n;
	}
	flush(vi);
	pthread_mutex_unlock(&vi->qlock);
}

unsigned long virtio_input_dropped(struct virtio_input *vi)
{
	unsigned long n;

	pthread_mutex_lock(&vi->qlock);
	n = vi->dropped;
	pthread_mutex_unlock(&vi->qlock);
	return n;
}

/* ---- the device ---- */

static void status_done(void *opaque, struct virtq_elem *e)
{
	struct virtio_input *vi = opaque;

	/* LED and other status events: a pointer has nothing to show them on. */
	virtq_push(&vi->vdev.vq[Q_STATUS], e, 0);
	vi->vdev.tops->notify_queue(&vi->vdev, Q_STATUS);
}

static void queue_notify(struct virtio_dev *v, unsigned int qi)
{
	struct virtio_input *vi = v->priv;

	pthread_mutex_lock(&vi->qlock);
	if (qi == Q_EVENT && vi->live)
		flush(vi);		/* new buffers: what waited goes now */
	else if (qi == Q_STATUS && virtq_drain(&v->vq[qi], &vi->elem, status_done, vi))
		virtio_needs_reset(v);
	pthread_mutex_unlock(&vi->qlock);
}

static int activate(struct virtio_dev *v)
{
	struct virtio_input *vi = v->priv;

	pthread_mutex_lock(&vi->qlock);
	vi->live = true;
	vi->warned = false;
	pthread_mutex_unlock(&vi->qlock);
	return 0;
}

/* vdev.lock held; the queues are reset after this returns, so nothing may use them. */
static void reset(struct virtio_dev *v)
{
	struct virtio_input *vi = v->priv;

	pthread_mutex_lock(&vi->qlock);
	vi->live = false;
	vi->nr_pending = 0;
	pthread_mutex_unlock(&vi->qlock);
	vi->select = vi->subsel = 0;
	answer(vi);
}

/* An event being handed over (another thread's virtio_input_send) finishes first. */
static void hold(struct virtio_dev *v, bool on)
{
	struct virtio_input *vi = v->priv;

	pthread_mutex_lock(&vi->qlock);
	pthread_mutex_unlock(&vi->qlock);
}

static const struct virtio_dev_ops input_ops = {
	.name = "input",
	.type = VIRTIO_ID_INPUT,
	.pci_class = 0x098000,	/* input device controller, other */
	.config_read = config_read,
	.config_write = config_write,
	.activate = activate,
	.queue_notify = queue_notify,
	.reset = reset,
	.hold = hold,
};

int virtio_input_create(struct vm *vm, const struct virtio_input_desc *desc,
			struct virtio_input **out, struct vk_err *err)
{
	struct virtio_input *vi = calloc(1, sizeof(*vi));
	int r;

	if (!vi)
		return vk_fail(err, -ENOMEM, "out of memory");
	vi->desc = desc;
	pthread_mutex_init(&vi->qlock, NULL);
	virtio_dev_init(&vi->vdev, vm, &input_ops, vi, 0, 2, QUEUE_SIZE);
	answer(vi);
	r = virtio_pci_create(&vi->vdev, err);
	if (r) {
		pthread_mutex_destroy(&vi->qlock);
		free(vi);
		return r;
	}
	*out = vi;
	return 0;
}

void virtio_input_destroy(struct virtio_input *vi)
{
	if (!vi)
		return;
	virtio_pci_destroy(&vi->vdev);
	pthread_mutex_destroy(&vi->qlock);
	free(vi);
}

/* ---- save/restore ---- */

/*
 * Into the section the model opened: the virtio state, the configuration
 * window's select and subsel (the answer is rebuilt from them) and the
 * events still waiting for buffers, which the guest would have read later.
 */
void virtio_input_save(struct virtio_input *vi, struct ss_writer *w)
{
	pthread_mutex_lock(&vi->qlock);
	virtio_dev_save(&vi->vdev, w, NULL);
	pthread_mutex_lock(&vi->vdev.lock);
	ss_put_u64(w, "select", vi->select);
	ss_put_u64(w, "subsel", vi->subsel);
	pthread_mutex_unlock(&vi->vdev.lock);
	ss_put_bytes(w, "pending", vi->pending, vi->nr_pending * EV_SIZE);
	pthread_mutex_unlock(&vi->qlock);
}

int virtio_input_load(struct virtio_input *vi, const struct ss_section *s, struct vk_err *err)
{
	uint64_t sel, sub;
	const uint8_t *ev;
	size_t n;
	int r = ss_get_u64(s, "select", &sel, err);

	if (!r)
		r = ss_get_u64(s, "subsel", &sub, err);
	if (!r)
		r = ss_get_blob(s, "pending", &ev, &n, err);
	if (r)
		return r;
	if (sel > 0xff || sub > 0xff || n % EV_SIZE || n / EV_SIZE > VIRTIO_INPUT_PENDING_MAX)
		return vk_fail(err, -EINVAL, "state of virtio-%s: config window or pending "
			       "events out of range", vi->vdev.ops->name);
	r = virtio_dev_load(&vi->vdev, s, err);
	if (r)
		return r;
	pthread_mutex_lock(&vi->vdev.lock);
	vi->select = sel;
	vi->subsel = sub;
	answer(vi);
	pthread_mutex_unlock(&vi->vdev.lock);
	pthread_mutex_lock(&vi->qlock);
	/* Events only for a driver that was reading them (live came back with DRIVER_OK). */
	vi->nr_pending = vi->live ? n / EV_SIZE : 0;
	memcpy(vi->pending, ev, vi->nr_pending * EV_SIZE);
	pthread_mutex_unlock(&vi->qlock);
	virtio_dev_kick_queues(&vi->vdev);
	return 0;
}

void virtio_input_hold(struct virtio_input *vi, bool on)
{
	virtio_dev_hold(&vi->vdev, on);
}
