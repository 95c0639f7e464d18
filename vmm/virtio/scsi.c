// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-scsi (virtio 1.2, 5.6): a controller whose targets each have one
 * LUN (vmm/scsi/). Queue 0 is the control queue (task management, async
 * notification queries), 1 the event queue (parameter changes: a new
 * medium), 2.. the request queues, one per vCPU unless num-queues= says.
 *
 * As in virtio-blk (vmm/virtio/blk.c), every field the guest wrote is
 * checked on the thread that noticed the queue, commands the LUN finishes
 * at once are pushed there, the others when the backend completes them, on
 * the controller's loop (the VM's device loop or its iothread). A reset
 * waits for what is in flight. A bad request fails that request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/iothread.h"
#include "vmkit/savestate.h"
#include "vmkit/scsi.h"
#include "vmkit/virtio-scsi.h"
#include "vmkit/virtio.h"
#include "vmkit/vm.h"

#define QUEUE_SIZE	256
#define CTRL_QUEUE	0
#define EVENT_QUEUE	1
#define REQ_QUEUE0	2
#define CDB_SIZE	32		/* the spec's defaults, which Linux keeps */
#define SENSE_SIZE	96
#define CDB_SIZE_MAX	256
#define SENSE_SIZE_MAX	256
#define MAX_SECTORS	0xffff
#define CMD_PER_LUN	128
#define MAX_TMF		16

/* Features */
#define F_HOTPLUG	1
#define F_CHANGE	2

/* Response codes */
#define S_OK			0
#define S_OVERRUN		1
#define S_BAD_TARGET		3
#define S_FAILURE		9
#define S_FUNCTION_SUCCEEDED	10
#define S_FUNCTION_REJECTED	11

/* Control requests, TMF subtypes, events */
#define T_TMF			0
#define T_AN_QUERY		1
#define T_AN_SUBSCRIBE		2
#define TMF_ABORT_TASK		0
#define TMF_CLEAR_ACA		2
#define TMF_QUERY_TASK		6
#define TMF_QUERY_TASK_SET	7
#define TMF_LOGICAL_UNIT_RESET	5
#define EVT_PARAM_CHANGE	3
#define EVT_MISSED		0x80000000u

struct scsi_config {
	uint32_t num_queues, seg_max, max_sectors, cmd_per_lun, event_info_size;
	uint32_t sense_size, cdb_size;
	uint16_t max_channel, max_target;
	uint32_t max_lun;
} __attribute__((packed));

struct cmd_req_hdr {		/* then cdb[cdb_size] */
	uint8_t lun[8];
	uint64_t tag;
	uint8_t task_attr, prio, crn;
} __attribute__((packed));

struct cmd_resp_hdr {		/* then sense[sense_size] */
	uint32_t sense_len, resid;
	uint16_t status_qualifier;
	uint8_t status, response;
} __attribute__((packed));

struct tmf_req {
	uint32_t type, subtype;
	uint8_t lun[8];
	uint64_t tag;
} __attribute__((packed));

struct an_req {
	uint32_t type;
	uint8_t lun[8];
	uint32_t event_requested;
} __attribute__((packed));

struct event {
	uint32_t event;
	uint8_t lun[8];
	uint32_t reason;
} __attribute__((packed));

struct vscsi_queue {
	struct virtio_scsi *s;
	unsigned int index;
	pthread_mutex_t lock;
	struct virtq_elem elem;
	bool pushed;
};

/* A task management function waiting for its target's commands to finish. */
struct tmf_wait {
	bool used;
	uint16_t head;
	unsigned int gen, target;
	uint8_t *resp;			/* the response byte, in guest RAM */
};

struct virtio_scsi;

/* Which target a LUN's media-change callback is about. */
struct change_ctx {
	struct virtio_scsi *s;
	unsigned int target;
};

struct virtio_scsi {
	struct virtio_dev vdev;
	struct vm *vm;
	struct iothread *iothread;
	unsigned int nr_targets;
	unsigned int disk[VIRTIO_SCSI_MAX_TARGETS];
	struct scsi_lun *lun[VIRTIO_SCSI_MAX_TARGETS];
	unsigned int nr_queues;		/* all: control, event, requests */
	struct vscsi_queue *queues;
	struct scsi_config config;
	pthread_mutex_t lock;		/* inflight, tmf, events_missed */
	pthread_cond_t idle;
	unsigned int inflight;
	unsigned int gen;
	bool dying;
	bool events_missed;
	struct tmf_wait tmf[MAX_TMF];
	struct change_ctx change[VIRTIO_SCSI_MAX_TARGETS];
};

/* One command with the LUN: what its chain needs after the elem is reused. */
struct vscsi_req {
	struct vscsi_queue *q;
	uint16_t head;
	unsigned int gen;
	unsigned int target;
	size_t resp_room;		/* bytes of response header + sense the driver gave */
	size_t data_in_len, data_out_len;
	struct iovec *in;		/* the in buffers (response first) */
	unsigned int n_in;
	struct scsi_req *sreq;
};

static struct virtio_scsi *to_scsi(struct virtio_dev *v)
{
	return v->priv;
}

/* [skip, end) of iov[0..n) as iovecs in out; returns how many. */
static unsigned int iov_tail(const struct iovec *iov, unsigned int n, size_t skip,
			     struct iovec *out)
{
	unsigned int i, k = 0;

	for (i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[k++].iov_len = iov[i].iov_len - skip;
		skip = 0;
	}
	return k;
}

/* The target a LUN address names: -1 unless it is one of ours, LUN 0 (flat or peripheral). */
static int lun_target(const struct virtio_scsi *s, const uint8_t *lun)
{
	unsigned int l = (lun[2] << 8 | lun[3]) & 0x3fff;

	if (lun[0] != 1 || lun[1] >= s->nr_targets || l)
		return -1;
	return lun[1];
}

static void inflight_put(struct virtio_scsi *s)
{
	pthread_mutex_lock(&s->lock);
	if (!--s->inflight)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static bool current(struct virtio_scsi *s, unsigned int gen)
{
	return !s->dying && gen == __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
}

/* ---- task management ---- */

/* With the control queue's lock: answer the TMFs whose target has nothing in flight. */
static bool tmf_answer_locked(struct virtio_scsi *s)
{
	struct virtq *q = &s->vdev.vq[CTRL_QUEUE];
	bool pushed = false;
	unsigned int i;

	for (i = 0; i < MAX_TMF; i++) {
		struct tmf_wait *t = &s->tmf[i];

		if (!t->used || scsi_lun_inflight(s->lun[t->target]))
			continue;
		t->used = false;
		if (!current(s, t->gen))
			continue;
		*t->resp = S_OK;	/* FUNCTION COMPLETE */
		virtq_push_head(q, t->head, 1);
		pushed = true;
	}
	return pushed;
}

static void tmf_answer(struct virtio_scsi *s)
{
	struct vscsi_queue *cq = &s->queues[CTRL_QUEUE];
	struct virtio_dev *v = &s->vdev;

	pthread_mutex_lock(&cq->lock);
	if (tmf_answer_locked(s))
		v->tops->notify_queue(v, CTRL_QUEUE);
	pthread_mutex_unlock(&cq->lock);
}

/*
 * Commands already with the backend cannot be pulled back: an abort or a
 * reset is answered once the target has none in flight (they complete
 * normally before it), as the guest must not reuse their buffers sooner.
 */
static uint8_t do_tmf(struct virtio_scsi *s, struct virtq_elem *e, bool *deferred)
{
	struct tmf_req t;
	unsigned int i;
	int target;

	if (e->out_len < sizeof(t))
		return S_FAILURE;
	virtq_copy_from_out(e, 0, &t, sizeof(t));
	target = lun_target(s, t.lun);
	if (target < 0)
		return S_BAD_TARGET;
	switch (t.subtype) {
	case TMF_CLEAR_ACA:
		return S_FUNCTION_REJECTED;
	case TMF_QUERY_TASK:
	case TMF_QUERY_TASK_SET:
		return scsi_lun_inflight(s->lun[target]) ? S_FUNCTION_SUCCEEDED : S_OK;
	case TMF_LOGICAL_UNIT_RESET:
	case 4:	/* I_T nexus reset */
		scsi_lun_reset(s->lun[target]);
		break;
	default:
		if (t.subtype > TMF_QUERY_TASK_SET)
			return S_FUNCTION_REJECTED;
	}
	if (!scsi_lun_inflight(s->lun[target]))
		return S_OK;
	for (i = 0; i < MAX_TMF; i++) {
		uint8_t *resp = e->iov[e->n_out].iov_base;

		if (s->tmf[i].used)
			continue;
		s->tmf[i] = (struct tmf_wait){ true, e->head, s->gen, target, resp };
		*deferred = true;
		return 0;
	}
	return S_FUNCTION_REJECTED;
}

static void ctrl_elem(void *opaque, struct virtq_elem *e)
{
	struct vscsi_queue *cq = opaque;
	struct virtio_scsi *s = cq->s;
	struct virtq *q = &s->vdev.vq[CTRL_QUEUE];
	uint32_t type = ~0u, zero = 0;
	bool deferred = false;
	uint8_t resp;

	virtq_copy_from_out(e, 0, &type, e->out_len >= 4 ? 4 : 0);
	if (type == T_TMF && e->in_len >= 1 && e->iov[e->n_out].iov_len >= 1) {
		resp = do_tmf(s, e, &deferred);
		if (deferred)
			return;
		virtq_copy_to_in(e, 0, &resp, 1);
		virtq_push(q, e, 1);
	} else if ((type == T_AN_QUERY || type == T_AN_SUBSCRIBE) && e->in_len >= 5 &&
		   e->out_len >= sizeof(struct an_req)) {
		/* No asynchronous notifications: none of the events asked for is offered. */
		struct an_req a;

		virtq_copy_from_out(e, 0, &a, sizeof(a));
		resp = lun_target(s, a.lun) < 0 ? S_BAD_TARGET : S_OK;
		virtq_copy_to_in(e, 0, &zero, 4);
		virtq_copy_to_in(e, 4, &resp, 1);
		virtq_push(q, e, 5);
	} else {
		virtq_push(q, e, 0);	/* nothing we can answer in */
	}
	cq->pushed = true;
}

/* ---- events ---- */

/* A target's medium changed (any thread): PARAM_CHANGE with the unit attention's ASC. */
static void post_change(struct virtio_scsi *s, unsigned int target)
{
	struct vscsi_queue *eq = &s->queues[EVENT_QUEUE];
	struct virtio_dev *v = &s->vdev;
	struct virtq *q = &v->vq[EVENT_QUEUE];
	struct event ev = { EVT_PARAM_CHANGE, { 1, target, 0x40, 0 }, 0x28 };
	int r;

	if (!virtio_has_feature(v, F_CHANGE) || !virtio_queue_ready(v, EVENT_QUEUE))
		return;
	pthread_mutex_lock(&eq->lock);
	r = virtq_pop(q, &eq->elem);
	if (!r && eq->elem.in_len < sizeof(ev)) {
		virtq_push(q, &eq->elem, 0);
		r = -EINVAL;
	}
	if (r) {
		s->events_missed = true;	/* the next event says so */
	} else {
		if (s->events_missed)
			ev.event |= EVT_MISSED;
		s->events_missed = false;
		virtq_copy_to_in(&eq->elem, 0, &ev, sizeof(ev));
		virtq_push(q, &eq->elem, sizeof(ev));
		v->tops->notify_queue(v, EVENT_QUEUE);
	}
	pthread_mutex_unlock(&eq->lock);
}

static void on_change(void *opaque)
{
	struct change_ctx *c = opaque;

	post_change(c->s, c->target);
}

/* ---- requests ---- */

/* Fill the response and push; with the queue's lock. Returns whether it was pushed. */
static bool finish_locked(struct vscsi_req *vr, uint8_t response)
{
	struct virtio_scsi *s = vr->q->s;
	struct scsi_req *r = vr->sreq;
	struct cmd_resp_hdr h = { 0 };
	size_t sense_room = vr->resp_room - sizeof(h), data = vr->data_in_len ? r->xfer : 0;
	bool push = current(s, vr->gen);

	if (push) {
		h.response = response;
		if (response == S_OK) {
			h.status = r->status;
			h.sense_len = MIN((size_t)r->sense_len, sense_room);
			h.resid = (vr->data_in_len ? vr->data_in_len : vr->data_out_len) - r->xfer;
			vk_iov_copy(vr->in, vr->n_in, sizeof(h), r->sense, h.sense_len, true);
		} else if (response == S_OVERRUN) {
			h.resid = 0;
		}
		vk_iov_copy(vr->in, vr->n_in, 0, &h, sizeof(h), true);
		virtq_push_head(&s->vdev.vq[vr->q->index], vr->head, vr->resp_room + data);
	}
	free(vr);
	return push;
}

static uint8_t response_of(const struct scsi_req *r)
{
	return r->overrun ? S_OVERRUN : S_OK;
}

/* A command the backend finished, on the controller's loop. */
static void req_done(struct scsi_req *r)
{
	struct vscsi_req *vr = r->opaque;
	struct vscsi_queue *vq = vr->q;
	struct virtio_scsi *s = vq->s;
	struct virtio_dev *v = &s->vdev;

	pthread_mutex_lock(&vq->lock);
	if (finish_locked(vr, response_of(r)))
		v->tops->notify_queue(v, vq->index);
	pthread_mutex_unlock(&vq->lock);
	inflight_put(s);
	tmf_answer(s);
}

static struct vscsi_req *req_new(struct vscsi_queue *vq, const struct virtq_elem *e)
{
	unsigned int n = e->n_out + e->n_in;
	struct vscsi_req *vr = malloc(sizeof(*vr) + scsi_req_size(n) + 3 * n * sizeof(struct iovec));
	struct scsi_req *r;

	if (!vr)
		return NULL;
	r = (struct scsi_req *)(vr + 1);
	memset(r, 0, scsi_req_size(n));
	*vr = (struct vscsi_req){ .q = vq, .head = e->head, .sreq = r,
				  .gen = __atomic_load_n(&vq->s->gen, __ATOMIC_ACQUIRE) };
	vr->in = (struct iovec *)((uint8_t *)r + scsi_req_size(n));
	vr->n_in = e->n_in;
	memcpy(vr->in, e->iov + e->n_out, e->n_in * sizeof(struct iovec));
	r->opaque = vr;
	r->done = req_done;
	return vr;
}

/* Parse the chain into vr's scsi_req; a response code when it cannot run. */
static int req_parse(struct virtio_scsi *s, struct vscsi_req *vr, const struct virtq_elem *e)
{
	size_t req_len = sizeof(struct cmd_req_hdr) + s->config.cdb_size;
	struct iovec *data_in = vr->in + e->n_in, *data_out = data_in + e->n_in + e->n_out;
	struct scsi_req *r = vr->sreq;
	struct cmd_req_hdr h;
	int target;

	if (e->out_len < req_len)
		return S_FAILURE;
	virtq_copy_from_out(e, 0, &h, sizeof(h));
	target = lun_target(s, h.lun);
	if (target < 0)
		return S_BAD_TARGET;
	vr->target = target;
	r->cdb_len = MIN(s->config.cdb_size, (uint32_t)SCSI_CDB_MAX);
	virtq_copy_from_out(e, sizeof(h), r->cdb, r->cdb_len);
	vr->data_in_len = e->in_len - vr->resp_room;
	vr->data_out_len = e->out_len - req_len;
	/* Data both ways needs VIRTIO_SCSI_F_INOUT, which is not offered. */
	if (vr->data_in_len && vr->data_out_len)
		return S_FAILURE;
	r->in = (struct scsi_buf){ data_in, iov_tail(vr->in, e->n_in, vr->resp_room, data_in),
				   vr->data_in_len };
	r->out = (struct scsi_buf){ data_out, iov_tail(e->iov, e->n_out, req_len, data_out),
				    vr->data_out_len };
	return -1;
}

/* One popped command, with the queue's lock. Returns whether it was used already. */
static bool start(struct vscsi_queue *vq, struct virtq_elem *e)
{
	struct virtio_scsi *s = vq->s;
	struct virtq *q = &s->vdev.vq[vq->index];
	size_t resp_room = sizeof(struct cmd_resp_hdr) + s->config.sense_size;
	struct vscsi_req *vr;
	int code, ret;

	if (e->in_len < sizeof(struct cmd_resp_hdr)) {
		virtq_push(q, e, 0);	/* nowhere to say how it went: dropped */
		return true;
	}
	vr = req_new(vq, e);
	if (!vr) {
		struct cmd_resp_hdr h = { .response = S_FAILURE };

		virtq_copy_to_in(e, 0, &h, sizeof(h));
		virtq_push(q, e, sizeof(h));
		return true;
	}
	vr->resp_room = MIN(resp_room, e->in_len);
	code = req_parse(s, vr, e);
	if (code >= 0)
		return finish_locked(vr, code);
	pthread_mutex_lock(&s->lock);
	s->inflight++;
	pthread_mutex_unlock(&s->lock);
	ret = scsi_lun_exec(s->lun[vr->target], vr->sreq);
	if (ret == -EINPROGRESS)
		return false;
	code = finish_locked(vr, response_of(vr->sreq));
	inflight_put(s);
	return code;
}

static void start_elem(void *opaque, struct virtq_elem *e)
{
	struct vscsi_queue *vq = opaque;

	vq->pushed |= start(vq, e);
}

static void queue_notify(struct virtio_dev *v, unsigned int qi)
{
	struct virtio_scsi *s = to_scsi(v);
	struct vscsi_queue *vq = &s->queues[qi];
	int r = 0;

	if (qi == EVENT_QUEUE)
		return;		/* buffers for events: taken when there is one */
	pthread_mutex_lock(&vq->lock);
	vq->pushed = false;
	r = virtq_drain(&v->vq[qi], &vq->elem, qi == CTRL_QUEUE ? ctrl_elem : start_elem, vq);
	if (r)
		virtio_needs_reset(v);
	if (vq->pushed)
		v->tops->notify_queue(v, qi);
	pthread_mutex_unlock(&vq->lock);
}

/* Request queues only: the event queue holds the driver's buffers until an event needs one. */
static bool queue_poll_mode(struct virtio_dev *v, unsigned int qi, bool on)
{
	struct vscsi_queue *vq = &to_scsi(v)->queues[qi];

	if (qi == EVENT_QUEUE || qi == CTRL_QUEUE)
		return false;
	pthread_mutex_lock(&vq->lock);
	if (!on || virtio_queue_ready(v, qi))
		virtq_set_poll(&v->vq[qi], on);
	pthread_mutex_unlock(&vq->lock);
	return true;
}

/* As virtio-blk's: nothing lands in the guest's buffers after the reset. */
static void reset(struct virtio_dev *v)
{
	struct virtio_scsi *s = to_scsi(v);
	struct timespec until;
	unsigned int i;

	pthread_mutex_lock(&s->lock);
	while (s->inflight && atomic_load(&v->vm->stop) == VM_RUNNING) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->idle, &s->lock, &until);
	}
	__atomic_add_fetch(&s->gen, 1, __ATOMIC_RELEASE);
	s->events_missed = false;
	pthread_mutex_unlock(&s->lock);
	memset(s->tmf, 0, sizeof(s->tmf));
	s->config.cdb_size = CDB_SIZE;
	s->config.sense_size = SENSE_SIZE;
	for (i = 0; i < s->nr_targets; i++)
		scsi_lun_reset(s->lun[i]);
}

static void config_read(struct virtio_dev *v, unsigned int off, void *data, unsigned int len)
{
	struct virtio_scsi *s = to_scsi(v);

	memset(data, 0, len);
	if (off < sizeof(s->config))
		memcpy(data, (uint8_t *)&s->config + off, MIN(len, sizeof(s->config) - off));
}

/* The driver may set sense_size and cdb_size (5.6.4); within bounds, or ignored. */
static void config_write(struct virtio_dev *v, unsigned int off, const void *data,
			 unsigned int len)
{
	struct virtio_scsi *s = to_scsi(v);
	uint32_t val = 0;

	if (len != 4)
		return;
	memcpy(&val, data, 4);
	if (off == offsetof(struct scsi_config, sense_size) && val <= SENSE_SIZE_MAX)
		s->config.sense_size = val;
	else if (off == offsetof(struct scsi_config, cdb_size) && val >= 6 && val <= CDB_SIZE_MAX)
		s->config.cdb_size = val;
}

/*
 * Under firmware each target is bootable as SeaBIOS and OVMF name it,
 * /pci@i0cf8/scsi@SLOT/channel@0/disk@TARGET,0, under its id (scsi0...).
 */
static int boot_paths(struct virtio_dev *v, unsigned int slot, struct vk_err *err)
{
	struct virtio_scsi *s = to_scsi(v);
	char path[FW_BOOT_PATH_MAX];
	unsigned int t;
	int r = 0;

	for (t = 0; !r && t < s->nr_targets; t++) {
		const struct disk_config *d = &s->vm->cfg->disks[s->disk[t]];
		enum fw_boot_kind kind = d->cdrom ? FW_BOOT_CDROM : FW_BOOT_DISK;

		snprintf(path, sizeof(path), "/pci@i0cf8/scsi@%x/channel@0/disk@%x,0", slot, t);
		r = d->id ? fw_boot_add(s->vm, kind, d->id, path) :
			    fw_boot_add_numbered(s->vm, kind, "scsi", path);
	}
	return r ? vk_fail(err, r, "boot order: too many bootable devices") : 0;
}

/* Held: a notification already past the transport's check finishes first. */
static void hold(struct virtio_dev *v, bool on)
{
	struct virtio_scsi *s = to_scsi(v);
	unsigned int i;

	for (i = 0; on && i < s->nr_queues; i++) {
		pthread_mutex_lock(&s->queues[i].lock);
		pthread_mutex_unlock(&s->queues[i].lock);
	}
}

static const struct virtio_dev_ops scsi_ops = {
	.name = "scsi",
	.type = VIRTIO_ID_SCSI,
	.pci_class = 0x010000,	/* mass storage, SCSI */
	.config_read = config_read,
	.config_write = config_write,
	.queue_notify = queue_notify,
	.queue_poll_mode = queue_poll_mode,
	.reset = reset,
	.boot_paths = boot_paths,
	.hold = hold,
};

static void fill_config(struct virtio_scsi *s, unsigned int qsize)
{
	struct scsi_config *c = &s->config;

	c->num_queues = s->nr_queues - REQ_QUEUE0;
	c->seg_max = qsize - 2;
	c->max_sectors = MAX_SECTORS;
	c->cmd_per_lun = CMD_PER_LUN;
	c->event_info_size = sizeof(struct event);
	c->sense_size = SENSE_SIZE;
	c->cdb_size = CDB_SIZE;
	c->max_channel = 0;
	c->max_target = s->nr_targets - 1;
	c->max_lun = 0;
}

/* The first disk's options pick the queues and the iothread (Proxmox sets them per disk). */
static int setup_queues(struct virtio_scsi *s, const struct disk_config *d, struct vk_err *err)
{
	unsigned int i, nreq = d->num_queues ? d->num_queues : s->vm->cfg->cpus;

	nreq = MIN(MAX(nreq, 1u), (unsigned int)(VIRTIO_MAX_QUEUES - REQ_QUEUE0));
	s->nr_queues = nreq + REQ_QUEUE0;
	s->queues = calloc(s->nr_queues, sizeof(*s->queues));
	if (!s->queues)
		return vk_fail(err, -ENOMEM, "out of memory");
	for (i = 0; i < s->nr_queues; i++) {
		s->queues[i].s = s;
		s->queues[i].index = i;
		pthread_mutex_init(&s->queues[i].lock, NULL);
	}
	return 0;
}

static int add_target(struct virtio_scsi *s, unsigned int t, struct evloop *loop,
		      unsigned int qsize, struct vk_err *err)
{
	const struct disk_config *d = &s->vm->cfg->disks[s->disk[t]];
	struct scsi_lun_params p = { .loop = loop, .max_inflight = (s->nr_queues - 2) * qsize,
				     .max_sectors = MAX_SECTORS, .interface = 1 };
	int r = scsi_lun_create(d, &p, &s->lun[t], err);

	if (r)
		return r;
	s->change[t] = (struct change_ctx){ s, t };
	scsi_lun_set_change_cb(s->lun[t], on_change, &s->change[t]);
	return 0;
}

static int setup(struct virtio_scsi *s, struct vk_err *err)
{
	const struct disk_config *d = &s->vm->cfg->disks[s->disk[0]];
	unsigned int qsize = d->queue_size ? d->queue_size : QUEUE_SIZE, t;
	struct evloop *loop = s->vm->loop;
	int r = setup_queues(s, d, err);

	if (!r && d->iothread) {
		r = iothread_create("vmkit-iothread", vm_poll_max_ns(s->vm->cfg), &s->iothread);
		if (r)
			return vk_fail(err, r, "--disk %s: iothread: %s", d->path ? d->path : "",
				       strerror(-r));
		loop = iothread_loop(s->iothread);
	}
	for (t = 0; !r && t < s->nr_targets; t++)
		r = add_target(s, t, loop, qsize, err);
	if (r)
		return r;
	fill_config(s, qsize);
	virtio_dev_init(&s->vdev, s->vm, &scsi_ops, s, 1ULL << F_CHANGE, s->nr_queues, qsize);
	s->vdev.loop = loop;
	return virtio_pci_create(&s->vdev, err);
}

int virtio_scsi_create(struct vm *vm, const unsigned int *idx, unsigned int n,
		       struct virtio_scsi **out, struct vk_err *err)
{
	struct virtio_scsi *s;
	int r;

	if (!n || n > VIRTIO_SCSI_MAX_TARGETS)
		return vk_fail(err, -EINVAL, "virtio-scsi: 1 to %u targets", VIRTIO_SCSI_MAX_TARGETS);
	s = calloc(1, sizeof(*s));
	if (!s)
		return vk_fail(err, -ENOMEM, "out of memory");
	s->vm = vm;
	s->nr_targets = n;
	memcpy(s->disk, idx, n * sizeof(*idx));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	r = setup(s, err);
	if (r) {
		virtio_scsi_destroy(s);
		return r;
	}
	*out = s;
	return 0;
}

void virtio_scsi_destroy(struct virtio_scsi *s)
{
	unsigned int i;

	if (!s)
		return;
	s->dying = true;
	iothread_stop(s->iothread);
	for (i = 0; i < s->nr_targets; i++)
		scsi_lun_destroy(s->lun[i]);
	if (s->vdev.ops)
		virtio_pci_destroy(&s->vdev);
	iothread_destroy(s->iothread);
	free(s->queues);
	free(s);
}

struct scsi_lun *virtio_scsi_target(struct virtio_scsi *s, unsigned int target)
{
	return target < s->nr_targets ? s->lun[target] : NULL;
}

/* ---- the device class: the controllers the config's SCSI disks ask for ---- */

struct vscsi_state {
	unsigned int n;
	struct virtio_scsi *ctl[VM_MAX_DISKS];
};

extern const struct vm_device_class virtio_scsi_class;

static int scsi_class_create(struct vm *vm, struct vk_err *err)
{
	unsigned int idx[VM_MAX_DISKS], n = 0, i;
	struct vscsi_state *st;
	int r = 0;

	for (i = 0; i < vm->cfg->nr_disks; i++)
		if (vm->cfg->disks[i].bus == DISK_BUS_SCSI)
			idx[n++] = i;
	if (!n)
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return vk_fail(err, -ENOMEM, "out of memory");
	*vm_device_state(vm, &virtio_scsi_class) = st;
	if (!vm->cfg->scsi_single)
		return virtio_scsi_create(vm, idx, n, &st->ctl[st->n++], err);
	for (i = 0; !r && i < n; i++)
		r = virtio_scsi_create(vm, &idx[i], 1, &st->ctl[st->n++], err);
	return r;
}

static void scsi_class_destroy(struct vm *vm)
{
	void **slot = vm_device_state(vm, &virtio_scsi_class);
	struct vscsi_state *st = slot ? *slot : NULL;
	unsigned int i;

	if (!st)
		return;
	for (i = 0; i < st->n; i++)
		virtio_scsi_destroy(st->ctl[i]);
	free(st);
	*slot = NULL;
}

struct scsi_lun *virtio_scsi_lun(struct vm *vm, unsigned int disk)
{
	void **slot = vm_device_state(vm, &virtio_scsi_class);
	struct vscsi_state *st = slot ? *slot : NULL;
	unsigned int i, t;

	for (i = 0; st && i < st->n; i++)
		for (t = 0; st->ctl[i] && t < st->ctl[i]->nr_targets; t++)
			if (st->ctl[i]->disk[t] == disk)
				return st->ctl[i]->lun[t];
	return NULL;
}

/* ---- save/restore ---- */

/*
 * As virtio-blk's: the save waits (up to SAVE_DRAIN_SECS) for the commands
 * the backends have, which complete into the used rings, and so for the
 * task management functions that wait on them; what is left in the stream
 * is the rings' positions and no request.
 */
#define SAVE_DRAIN_SECS	30

static bool drain(struct virtio_scsi *s)
{
	struct timespec until;
	unsigned int i;
	bool busy;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SAVE_DRAIN_SECS;
	pthread_mutex_lock(&s->lock);
	while (s->inflight && pthread_cond_timedwait(&s->idle, &s->lock, &until) == 0)
		;
	busy = s->inflight;
	pthread_mutex_unlock(&s->lock);
	tmf_answer(s);
	for (i = 0; i < MAX_TMF; i++)
		busy |= s->tmf[i].used;
	return !busy;
}

/*
 * Version 1, one section per controller: the virtio state, the sizes the
 * driver set in the config, a missed event to report, and per target
 * tN-... its LUN's state (vmm/scsi/scsi-state.c).
 */
static void vscsi_save(struct virtio_scsi *s, unsigned int i, struct ss_writer *w)
{
	char prefix[16];	/* "t" or "p" and a 32-bit index */
	unsigned int t;

	if (!drain(s)) {
		ss_fail(w, -EBUSY, "virtio-scsi: commands still in flight after 30 s");
		return;
	}
	ss_begin(w, "virtio-scsi", i, 1);
	virtio_dev_save(&s->vdev, w, NULL);
	pthread_mutex_lock(&s->vdev.lock);
	ss_put_u64(w, "sense-size", s->config.sense_size);
	ss_put_u64(w, "cdb-size", s->config.cdb_size);
	pthread_mutex_unlock(&s->vdev.lock);
	pthread_mutex_lock(&s->lock);
	ss_put_u64(w, "events-missed", s->events_missed);
	pthread_mutex_unlock(&s->lock);
	ss_put_u64(w, "nr-targets", s->nr_targets);
	for (t = 0; t < s->nr_targets; t++) {
		snprintf(prefix, sizeof(prefix), "t%u", t);
		scsi_lun_save(s->lun[t], w, prefix);
	}
	ss_end(w);
}

static int vscsi_load(struct virtio_scsi *s, unsigned int i, const struct ss_section *sec,
		      struct vk_err *err)
{
	static const char *const names[] = { "sense-size", "cdb-size", "events-missed",
					     "nr-targets" };
	uint64_t v[4];
	char prefix[16];	/* "t" or "p" and a 32-bit index */
	unsigned int t;
	int r = 0;

	if (ss_section_version(sec) != 1)
		return vk_fail(err, -EINVAL, "state of virtio-scsi %u: version %u not known", i,
			       ss_section_version(sec));
	for (t = 0; t < 4 && !r; t++)
		r = ss_get_u64(sec, names[t], &v[t], err);
	if (r)
		return r;
	if (v[0] > SENSE_SIZE_MAX || v[1] < 6 || v[1] > CDB_SIZE_MAX || v[2] > 1)
		return vk_fail(err, -EINVAL, "state of virtio-scsi %u: config out of range", i);
	if (v[3] != s->nr_targets)
		return vk_fail(err, -EINVAL, "state of virtio-scsi %u: saved with %llu target(s), "
			       "this VM has %u", i, (unsigned long long)v[3], s->nr_targets);
	for (t = 0; t < s->nr_targets && !r; t++) {
		snprintf(prefix, sizeof(prefix), "t%u", t);
		r = scsi_lun_load(s->lun[t], sec, prefix, err);
	}
	if (!r)
		r = virtio_dev_load(&s->vdev, sec, err);
	if (r)
		return r;
	pthread_mutex_lock(&s->vdev.lock);
	s->config.sense_size = v[0];
	s->config.cdb_size = v[1];
	pthread_mutex_unlock(&s->vdev.lock);
	s->events_missed = v[2];
	virtio_dev_kick_queues(&s->vdev);
	return 0;
}

static struct vscsi_state *class_state(struct vm *vm)
{
	void **slot = vm_device_state(vm, &virtio_scsi_class);

	return slot ? *slot : NULL;
}

static void scsi_class_save(struct vm *vm, struct ss_writer *w)
{
	struct vscsi_state *st = class_state(vm);
	unsigned int i;

	for (i = 0; st && i < st->n; i++)
		vscsi_save(st->ctl[i], i, w);
}

static int scsi_class_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct vscsi_state *st = class_state(vm);
	unsigned int i, n = st ? st->n : 0;
	const struct ss_section *s;
	int ret = 0;

	if (ss_count(r, "virtio-scsi") != n)
		return vk_fail(err, -EINVAL, "state: saved with %u virtio-scsi controller(s), "
			       "this VM has %u", ss_count(r, "virtio-scsi"), n);
	for (i = 0; i < n && !ret; i++) {
		s = ss_need(r, "virtio-scsi", i, err);
		ret = s ? vscsi_load(st->ctl[i], i, s, err) : err->code;
	}
	return ret;
}

static void scsi_class_hold(struct vm *vm, bool on)
{
	struct vscsi_state *st = class_state(vm);
	unsigned int i;

	for (i = 0; st && i < st->n; i++)
		virtio_dev_hold(&st->ctl[i]->vdev, on);
}

const struct vm_device_class virtio_scsi_class = {
	.name = "virtio-scsi", .create = scsi_class_create, .destroy = scsi_class_destroy,
	.save = scsi_class_save, .load = scsi_class_load, .hold = scsi_class_hold,
};
