// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-balloon (virtio 1.2, 5.5). The host sets num_pages, the number of
 * 4 KiB pages it wants the guest to give up; the guest puts the frame
 * numbers of pages it gave up on the inflate queue and those it takes back
 * on the deflate queue, and says how many it holds in `actual`. Inflated
 * pages are dropped from the monitor's memory (MADV_DONTNEED: the next
 * touch reads zeros), which is what shrinks the host's RSS.
 *
 * Statistics (VIRTIO_BALLOON_F_STATS_VQ): the guest puts one buffer of
 * (tag, value) pairs on the stats queue; the device keeps it until it
 * wants fresh numbers, then returns it and the guest refills and re-adds
 * it. We ask for fresh numbers whenever someone reads them (a query sees
 * the previous report, the next query this one), and every
 * guest-stats-polling-interval seconds when that is set (a timerfd on the
 * device event loop).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>

#include "vmkit/control.h"
#include "vmkit/device.h"
#include "vmkit/evloop.h"
#include "vmkit/savestate.h"
#include "vmkit/virtio-balloon.h"
#include "vmkit/virtio.h"
#include "vmkit/vm.h"

#define VIRTIO_ID_BALLOON	5
#define F_STATS_VQ		1
#define F_DEFLATE_ON_OOM	2

#define Q_INFLATE	0
#define Q_DEFLATE	1
#define Q_STATS		2
#define QUEUE_SIZE	128
#define PAGE_SHIFT	12
/*
 * Per request, at most this many frame numbers (Linux sends 256) and stats
 * entries: a guest that hands over gigabytes in one chain only makes the
 * device skip the rest, it cannot hold the event loop.
 */
#define MAX_PFNS	65536
#define MAX_STATS	64
#define PAGE_SIZE	(1u << PAGE_SHIFT)

struct balloon_config {
	uint32_t num_pages;		/* device: pages the host wants */
	uint32_t actual;		/* driver: pages the guest has given */
	uint32_t free_page_hint_cmd_id;
	uint32_t poison_val;
};

struct __attribute__((packed)) balloon_stat {
	uint16_t tag;
	uint64_t val;
};

struct virtio_balloon {
	struct virtio_dev vdev;
	uint64_t ram;			/* guest RAM, bytes */
	struct balloon_config config;	/* under vdev.lock */

	pthread_mutex_t qlock;		/* the queues, the held stats buffer, the stats */
	struct virtq_elem elem;
	bool stats_held;		/* the guest's stats buffer is ours to return */
	uint16_t stats_head;
	uint64_t stats[VIRTIO_BALLOON_NR_STATS];
	uint32_t stats_valid;
	int64_t stats_time;
	uint64_t inflated;
	bool pushed;
	int timer_fd;			/* stats polling, -1 until first set */
	unsigned int stats_interval;
	uint64_t query_request_ns;	/* when a query last asked the guest for stats */
};

/*
 * A query asks the guest for fresh stats at most this often: each request
 * interrupts the guest and has its driver walk its memory counters, and a
 * client polling query-balloon many times a second (a management loop)
 * would otherwise keep the guest busy answering (slowing its inflation).
 */
#define QUERY_STATS_MIN_NS 1000000000ull

static struct virtio_balloon *to_balloon(struct virtio_dev *v)
{
	return v->priv;
}

/* Drop [pfn, pfn + n) from the host's memory; frames outside RAM are ignored. */
static void discard_pages(struct virtio_balloon *b, uint64_t pfn, uint64_t n)
{
	uint64_t len = n << PAGE_SHIFT, i;
	void *hva = vm_gpa_to_hva(b->vdev.vm, pfn << PAGE_SHIFT, len);

	if (!hva) {
		/* A run that leaves RAM (into the PCI hole, past the end): page by page. */
		for (i = 0; n > 1 && i < n; i++)
			discard_pages(b, pfn + i, 1);
		return;
	}
	/* Fails on hugetlbfs backing (not 4 KiB granular): the pages then stay. */
	if (madvise(hva, len, MADV_DONTNEED) == 0)
		b->inflated += n;
}

/* The guest gave these frames: free them, runs of consecutive frames at once. */
static void inflate(struct virtio_balloon *b, struct virtq_elem *e)
{
	uint32_t pfns[256];
	uint64_t start = 0, run = 0;
	size_t off = 0, got, i;

	while (off < MAX_PFNS * 4 && (got = virtq_copy_from_out(e, off, pfns, sizeof(pfns)) / 4)) {
		for (i = 0; i < got; i++) {
			if (run && pfns[i] == start + run && run < (1u << 16)) {
				run++;
				continue;
			}
			if (run)
				discard_pages(b, start, run);
			start = pfns[i];
			run = 1;
		}
		off += got * 4;
	}
	if (run)
		discard_pages(b, start, run);
}

static void take_stats(struct virtio_balloon *b, struct virtq_elem *e)
{
	struct balloon_stat s;
	size_t off;

	for (off = 0; off < MAX_STATS * sizeof(s) &&
		      virtq_copy_from_out(e, off, &s, sizeof(s)) == sizeof(s); off += sizeof(s)) {
		if (s.tag >= VIRTIO_BALLOON_NR_STATS)
			continue;	/* a tag from a newer spec */
		b->stats[s.tag] = s.val;
		b->stats_valid |= 1u << s.tag;
	}
	b->stats_time = time(NULL);
}

struct serve_ctx {
	struct virtio_balloon *b;
	unsigned int q;
};

static void serve(void *opaque, struct virtq_elem *e)
{
	struct serve_ctx *x = opaque;
	struct virtio_balloon *b = x->b;

	if (x->q == Q_STATS) {
		/* A second buffer while we hold one: give the old one back. */
		if (b->stats_held) {
			virtq_push_head(&b->vdev.vq[Q_STATS], b->stats_head, 0);
			b->pushed = true;
		}
		take_stats(b, e);
		b->stats_held = true;
		b->stats_head = e->head;
		return;
	}
	if (x->q == Q_INFLATE)
		inflate(b, e);
	/* Deflated pages need nothing: they fault back in when the guest touches them. */
	virtq_push(&b->vdev.vq[x->q], e, 0);
	b->pushed = true;
}

static void queue_notify(struct virtio_dev *v, unsigned int qi)
{
	struct virtio_balloon *b = to_balloon(v);
	struct serve_ctx x = { b, qi };

	pthread_mutex_lock(&b->qlock);
	b->pushed = false;
	if (virtq_drain(&v->vq[qi], &b->elem, serve, &x))
		virtio_needs_reset(v);
	if (b->pushed)
		v->tops->notify_queue(v, qi);
	pthread_mutex_unlock(&b->qlock);
}

static void config_read(struct virtio_dev *v, unsigned int off, void *data, unsigned int len)
{
	struct virtio_balloon *b = to_balloon(v);

	memset(data, 0, len);
	if (off < sizeof(b->config))
		memcpy(data, (uint8_t *)&b->config + off, MIN(len, sizeof(b->config) - off));
}

/* Called with vdev.lock held. Only `actual` is the driver's to write. */
static void config_write(struct virtio_dev *v, unsigned int off, const void *data,
			 unsigned int len)
{
	struct virtio_balloon *b = to_balloon(v);
	uint32_t old = b->config.actual;
	uint8_t *a = (uint8_t *)&b->config.actual;
	unsigned int i;

	for (i = 0; i < len; i++)
		if (off + i >= 4 && off + i < 8)
			a[off + i - 4] = ((const uint8_t *)data)[i];
	/* A guest cannot give more than it has. */
	if ((uint64_t)b->config.actual << PAGE_SHIFT > b->ram)
		b->config.actual = b->ram >> PAGE_SHIFT;
	if (b->config.actual != old && v->vm->ctl)
		control_event_balloon(v->vm->ctl, b->ram - ((uint64_t)b->config.actual << PAGE_SHIFT));
}

static void reset(struct virtio_dev *v)
{
	struct virtio_balloon *b = to_balloon(v);

	pthread_mutex_lock(&b->qlock);
	b->stats_held = false;
	pthread_mutex_unlock(&b->qlock);
	b->config.actual = 0;	/* a reset driver holds no pages (vdev.lock is held) */
}

/* Held: the stats timer's request waits (request_stats finds the queue not ready). */
static void hold(struct virtio_dev *v, bool on)
{
	struct virtio_balloon *b = to_balloon(v);

	pthread_mutex_lock(&b->qlock);
	pthread_mutex_unlock(&b->qlock);
}

static const struct virtio_dev_ops balloon_ops = {
	.name = "balloon",
	.type = VIRTIO_ID_BALLOON,
	.pci_class = 0x00ff00,	/* unclassified, as QEMU shows it */
	.config_read = config_read,
	.config_write = config_write,
	.queue_notify = queue_notify,
	.reset = reset,
	.hold = hold,
};

void virtio_balloon_set_target(struct virtio_balloon *b, uint64_t bytes)
{
	struct virtio_dev *v = &b->vdev;

	bytes = MIN(bytes, b->ram);
	pthread_mutex_lock(&v->lock);
	b->config.num_pages = (b->ram - bytes) >> PAGE_SHIFT;
	if (v->status & VIRTIO_STATUS_DRIVER_OK)
		v->tops->notify_config(v);
	pthread_mutex_unlock(&v->lock);
}

/* Return the held stats buffer, so that the guest refills it. qlock held. */
static void request_stats(struct virtio_balloon *b)
{
	struct virtio_dev *v = &b->vdev;

	if (!b->stats_held || !virtio_queue_ready(v, Q_STATS))
		return;
	b->stats_held = false;
	virtq_push_head(&v->vq[Q_STATS], b->stats_head, 0);
	v->tops->notify_queue(v, Q_STATS);
}

static int on_timer(void *opaque, int fd, uint32_t events)
{
	struct virtio_balloon *b = opaque;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0)
		return 0;
	pthread_mutex_lock(&b->qlock);
	request_stats(b);
	pthread_mutex_unlock(&b->qlock);
	return 0;
}

int virtio_balloon_set_stats_interval(struct virtio_balloon *b, unsigned int seconds)
{
	struct itimerspec its = { { seconds, 0 }, { seconds, 0 } };
	int r;

	pthread_mutex_lock(&b->qlock);
	if (b->timer_fd < 0 && seconds) {
		b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		r = b->timer_fd < 0 ? -errno : evloop_add(b->vdev.vm->loop, b->timer_fd, EPOLLIN,
							   on_timer, b);
		if (r) {
			if (b->timer_fd >= 0)
				close(b->timer_fd);
			b->timer_fd = -1;
			pthread_mutex_unlock(&b->qlock);
			return r;
		}
	}
	/* An all-zero itimerspec disarms the timer. */
	r = b->timer_fd >= 0 && timerfd_settime(b->timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
	if (!r)
		b->stats_interval = seconds;
	pthread_mutex_unlock(&b->qlock);
	return r;
}

void virtio_balloon_query(struct virtio_balloon *b, struct virtio_balloon_info *info)
{
	struct virtio_dev *v = &b->vdev;

	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&v->lock);
	info->actual = b->ram - ((uint64_t)b->config.actual << PAGE_SHIFT);
	info->target = b->ram - ((uint64_t)b->config.num_pages << PAGE_SHIFT);
	pthread_mutex_unlock(&v->lock);
	pthread_mutex_lock(&b->qlock);
	memcpy(info->stats, b->stats, sizeof(info->stats));
	info->stats_valid = b->stats_valid;
	info->stats_time = b->stats_time;
	info->inflated = b->inflated;
	info->stats_interval = b->stats_interval;
	if (vk_now_ns() - b->query_request_ns >= QUERY_STATS_MIN_NS) {
		b->query_request_ns = vk_now_ns();
		request_stats(b);
	}
	pthread_mutex_unlock(&b->qlock);
}

int virtio_balloon_create(struct vm *vm, bool deflate_on_oom, unsigned int stats_interval,
			  struct virtio_balloon **out, struct vk_err *err)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));
	uint64_t features = 1ull << F_STATS_VQ;
	int r;

	if (!b)
		return vk_fail(err, -ENOMEM, "out of memory");
	if (deflate_on_oom)
		features |= 1ull << F_DEFLATE_ON_OOM;
	b->ram = vm->cfg->mem_bytes;
	b->timer_fd = -1;
	pthread_mutex_init(&b->qlock, NULL);
	virtio_dev_init(&b->vdev, vm, &balloon_ops, b, features, 3, QUEUE_SIZE);
	r = virtio_pci_create(&b->vdev, err);
	if (!r && stats_interval && (r = virtio_balloon_set_stats_interval(b, stats_interval)))
		vk_fail(err, r, "virtio-balloon: stats timer: %s", strerror(-r));
	if (r) {
		virtio_balloon_destroy(b);
		return r;
	}
	*out = b;
	return 0;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	if (!b)
		return;
	virtio_pci_destroy(&b->vdev);
	if (b->timer_fd >= 0) {
		evloop_del(b->vdev.vm->loop, b->timer_fd);
		close(b->timer_fd);
	}
	pthread_mutex_destroy(&b->qlock);
	free(b);
}

static int balloon_class_create(struct vm *vm, struct vk_err *err)
{
	if (!vm->cfg->balloon)
		return 0;
	return virtio_balloon_create(vm, vm->cfg->balloon_deflate_on_oom,
				     vm->cfg->balloon_stats_interval, &vm->balloon, err);
}

static void balloon_class_destroy(struct vm *vm)
{
	virtio_balloon_destroy(vm->balloon);
	vm->balloon = NULL;
}

static void balloon_hold(struct vm *vm, bool on)
{
	if (vm->balloon)
		virtio_dev_hold(&vm->balloon->vdev, on);
}

/*
 * Version 1: the virtio state, target and actual (config space), the stats
 * buffer the device holds (kept held: the guest refills it only when it is
 * returned) and the last stats. The polling interval is the control
 * socket's and comes back through it (vmm/control/lifecycle.c).
 */
static void balloon_save(struct vm *vm, struct ss_writer *w)
{
	struct virtio_balloon *b = vm->balloon;

	if (!b)
		return;
	ss_begin(w, "virtio-balloon", 0, 1);
	virtio_dev_save(&b->vdev, w, NULL);
	pthread_mutex_lock(&b->vdev.lock);
	ss_put_u64(w, "num-pages", b->config.num_pages);
	ss_put_u64(w, "actual", b->config.actual);
	pthread_mutex_unlock(&b->vdev.lock);
	pthread_mutex_lock(&b->qlock);
	ss_put_u64(w, "stats-held", b->stats_held);
	ss_put_u64(w, "stats-head", b->stats_head);
	ss_put_bytes(w, "stats", b->stats, sizeof(b->stats));
	ss_put_u64(w, "stats-valid", b->stats_valid);
	ss_put_u64(w, "stats-time", (uint64_t)b->stats_time);
	ss_put_u64(w, "inflated", b->inflated);
	pthread_mutex_unlock(&b->qlock);
	ss_end(w);
}

static int balloon_fields(struct virtio_balloon *b, const struct ss_section *s, uint64_t *x,
			  struct vk_err *err)
{
	static const char *const names[] = { "num-pages", "actual", "stats-held", "stats-head",
					     "stats-valid", "stats-time", "inflated" };
	unsigned int i;
	int r = 0;

	for (i = 0; i < 7 && !r; i++)
		r = ss_get_u64(s, names[i], &x[i], err);
	if (!r && (x[0] > b->ram >> PAGE_SHIFT || x[1] > b->ram >> PAGE_SHIFT || x[2] > 1 ||
		   x[3] >= b->vdev.vq[Q_STATS].size || x[4] > UINT32_MAX))
		r = vk_fail(err, -EINVAL, "state of virtio-balloon: a value out of range "
			    "(saved from a VM with more memory?)");
	return r;
}

static int balloon_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct virtio_balloon *b = vm->balloon;
	const struct ss_section *s;
	uint64_t x[7], stats[VIRTIO_BALLOON_NR_STATS];
	int ret;

	if (!b != !ss_find(r, "virtio-balloon", 0))
		return vk_fail(err, -EINVAL, "state: saved %s --balloon, this VM %s",
			       b ? "without" : "with", b ? "has it" : "has none");
	if (!b)
		return 0;
	s = ss_need(r, "virtio-balloon", 0, err);
	if (!s)
		return err->code;
	ret = virtio_dev_load(&b->vdev, s, err);
	if (!ret)
		ret = balloon_fields(b, s, x, err);
	if (!ret)
		ret = ss_get_bytes(s, "stats", stats, sizeof(stats), err);
	if (ret)
		return ret;
	pthread_mutex_lock(&b->vdev.lock);
	b->config.num_pages = x[0];
	b->config.actual = x[1];
	pthread_mutex_unlock(&b->vdev.lock);
	pthread_mutex_lock(&b->qlock);
	b->stats_held = x[2];
	b->stats_head = x[3];
	memcpy(b->stats, stats, sizeof(stats));
	b->stats_valid = x[4];
	b->stats_time = (int64_t)x[5];
	b->inflated = x[6];
	pthread_mutex_unlock(&b->qlock);
	virtio_dev_kick_queues(&b->vdev);
	return 0;
}

const struct vm_device_class virtio_balloon_class = {
	.name = "virtio-balloon", .create = balloon_class_create,
	.destroy = balloon_class_destroy,
	.save = balloon_save, .load = balloon_load, .hold = balloon_hold,
};
