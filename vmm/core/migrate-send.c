// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Live migration's sender: see include/vmkit/migrate.h.
 *
 * The sender runs on a thread of its own (vmm/control/migrate-cmds.c)
 * while the vCPUs run. It sends RAM from the one mapping as it is; a page
 * the guest changes while it goes out is torn, but dirty again, so the
 * next round (at the latest the last, with the vCPUs paused) sends it
 * whole. The receiver runs on the main thread before any vCPU starts.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migrate-int.h"
#include "vmkit/blk-backend.h"
#include "vmkit/device.h"
#include "vmkit/migrate.h"
#include "vmkit/virtio-net.h"
#include "vmkit/vm-state.h"
#include "vmkit/vm.h"

/* ---- sending ---- */

struct sender {
	struct vm *vm;
	struct mig_chan c;
	struct migrate_job *j;
	uint64_t *bits, words, pages;
	uint64_t window_ns, window_bytes;	/* the bandwidth limit's window */
	uint64_t send_ns, send_bytes;		/* time spent sending, for the link's rate */
	bool disks_given;			/* inactive: the destination may take them */
	bool first_round;			/* pages never touched are zero: not read */
	struct vm_ram_window win;
	struct mig_disks disks;			/* with local disks (j->disks) */
	uint64_t recs;				/* records sent */
};

static int put_rec_idx(struct sender *s, uint32_t type, uint32_t idx, uint64_t a, uint64_t b,
		       const void *data, size_t len)
{
	struct rec h = { htole32(type), htole32(idx), htole64(a), htole64(b) };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)data, len } };
	uint64_t t0 = vk_now_ns(), total = sizeof(h) + len;
	int r;

	if (atomic_load(&s->j->cancel))
		return -ECANCELED;
	r = mig_send_iov(&s->c, iov, len ? 2 : 1);
	if (r)
		return r;
	s->send_ns += vk_now_ns() - t0;
	s->send_bytes += total;
	/*
	 * The destination answers only at the end, or when it refuses: then
	 * stop at once and read why, before its close resets the connection
	 * and the answer with it.
	 */
	if (!(++s->recs % 32)) {
		struct pollfd p = { .fd = s->c.fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			return -EPROTO;
	}
	atomic_fetch_add(&s->j->transferred, total);
	/* max-bandwidth: sleep until this window's bytes are due, in slices that see a cancel. */
	if (s->j->bandwidth) {
		uint64_t due, now;

		s->window_bytes += total;
		due = s->window_ns + s->window_bytes * 1000000000ull / s->j->bandwidth;
		while ((now = vk_now_ns()) < due && !atomic_load(&s->j->cancel)) {
			uint64_t d = MIN(due - now, 100000000ull);
			struct timespec ts = { d / 1000000000ull, d % 1000000000ull };

			nanosleep(&ts, NULL);
		}
		if (now - s->window_ns > 1000000000ull) {	/* a fresh window each second */
			s->window_ns = now;
			s->window_bytes = 0;
		}
	}
	return 0;
}

static int put_rec(struct sender *s, uint32_t type, uint64_t a, uint64_t b, const void *data,
		   size_t len)
{
	return put_rec_idx(s, type, 0, a, b, data, len);
}

/* For the disks' records (migrate-disk.c). */
static int put_cb(void *opaque, uint32_t type, uint32_t idx, uint64_t a, uint64_t b,
		  const void *data, size_t len)
{
	return put_rec_idx(opaque, type, idx, a, b, data, len);
}

/* The pages [first, end) of one kind: a ZERO record, or PAGES records of CHUNK at most. */
static int put_run(struct sender *s, uint64_t first, uint64_t end, bool zero)
{
	uint64_t p;
	int r = 0;

	if (zero) {
		atomic_fetch_add(&s->j->zero_pages, end - first);
		return put_rec(s, REC_ZERO, first * PAGE, (end - first) * PAGE, NULL, 0);
	}
	for (p = first; !r && p < end; p += CHUNK / PAGE) {
		uint64_t n = MIN(end - p, (uint64_t)CHUNK / PAGE);

		r = put_rec(s, REC_PAGES, p * PAGE, n * PAGE, s->vm->ram + p * PAGE, n * PAGE);
		atomic_fetch_add(&s->j->pages_sent, n);
	}
	return r;
}

/* Every page set in s->bits, clearing them; remaining counts down as they go. */
static int send_marked(struct sender *s)
{
	uint64_t p = 0, start = 0;
	bool in_run = false, run_zero = false;
	int r = 0;

	for (p = 0; !r && p <= s->pages; p++) {
		bool marked = p < s->pages && (s->bits[p / 64] >> (p % 64) & 1);
		bool zero = marked && ((s->first_round && vm_ram_untouched(s->vm, p, &s->win)) ||
				       vm_page_is_zero(s->vm->ram + p * PAGE));

		if (in_run && (!marked || zero != run_zero || p - start >= CHUNK / PAGE)) {
			r = put_run(s, start, p, run_zero);
			atomic_fetch_sub(&s->j->remaining, (p - start) * PAGE);
			in_run = false;
		}
		if (marked && !in_run) {
			in_run = true;
			run_zero = zero;
			start = p;
		}
		if (p < s->pages && !(p % 64) && !s->bits[p / 64] && !in_run)
			p += 63;	/* a clean word: skip it */
	}
	memset(s->bits, 0, s->words * 8);
	return r;
}

static uint64_t count_marked(const struct sender *s)
{
	uint64_t n = 0, w;

	for (w = 0; w < s->words; w++)
		n += __builtin_popcountll(s->bits[w]);
	return n;
}

static int put_header(struct sender *s, struct vk_err *err)
{
	uint8_t h[32], *cfg;
	uint32_t v = htole32(MIG_VERSION), flags = htole32(s->j->disks ? MIG_F_DISKS : 0);
	uint64_t size = htole64(s->vm->ram_size), l;
	size_t len;
	struct iovec iov[2];
	int r = vm_state_capture(s->vm, false, &cfg, &len, err);

	if (r)
		return r;
	l = htole64(len);
	memcpy(h, mig_magic, 8);
	memcpy(h + 8, &v, 4);
	memcpy(h + 12, &flags, 4);
	memcpy(h + 16, &size, 8);
	memcpy(h + 24, &l, 8);
	iov[0] = (struct iovec){ h, sizeof(h) };
	iov[1] = (struct iovec){ cfg, len };
	r = mig_send_iov(&s->c, iov, 2);
	free(cfg);
	if (r)
		return vk_fail(err, r, "sending: %s", mig_wire_error(r));
	atomic_fetch_add(&s->j->transferred, sizeof(h) + len);
	return 0;
}

/* The destination's answer: 0 and it runs, or its error in err. */
static int get_reply(struct mig_chan *c, struct vk_err *err)
{
	uint32_t h[2];
	char msg[REPLY_MAX + 1];
	int r = mig_recv_all(c, h, sizeof(h));
	uint32_t status, len;

	if (r)
		return r;
	status = le32toh(h[0]);
	len = MIN(le32toh(h[1]), REPLY_MAX);
	r = mig_recv_all(c, msg, len);
	if (r)
		return r;
	msg[len] = 0;
	if (!status)
		return 0;
	return vk_fail(err, -(int)MIN(status, 4095u), "the destination refused it: %s",
		       len ? msg : strerror((int)status));
}

/* A send failed: the destination may have said why before it closed. */
static int send_failed(struct sender *s, int r, struct vk_err *err)
{
	struct pollfd p = { .fd = s->c.fd, .events = POLLIN };

	if (r == -ECANCELED)
		return vk_fail(err, r, "cancelled");
	if (poll(&p, 1, 1000) == 1 && get_reply(&s->c, err) < 0 && err->msg[0])
		return err->code;
	return vk_fail(err, r, "sending: %s", mig_wire_error(r));
}

/* Failed after the disks went: the VM may run here again only if they come back. */
static void take_disks_back(struct sender *s, struct vk_err *err)
{
	struct vk_err e = { 0 };
	char first[sizeof(err->msg)];

	if (!blk_backends_set_active(true, &e))
		return;
	atomic_store(&s->j->disks_lost, true);
	memcpy(first, err->msg, sizeof(first));
	vk_fail(err, err->code, "%s; and then %s: the VM stays paused", first, e.msg);
}

static int last_round(struct sender *s, struct vk_err *err)
{
	struct migrate_job *j = s->j;
	uint64_t t0 = vk_now_ns();
	uint8_t *state;
	size_t len;
	int r;

	j->stop_vm(j->opaque);
	atomic_store(&j->stopped, true);
	/*
	 * Held: nothing moves a ring between the state and the last page. The
	 * state first: taking it drains the devices, whose last completions
	 * write used rings (and the disks), which the last pages must carry.
	 */
	vm_devices_hold(s->vm, true);
	state = NULL;
	r = vm_state_capture(s->vm, true, &state, &len, err);
	if (!r)
		r = vm_dirty_collect(s->vm, s->bits, true, err);
	if (!r) {
		atomic_store(&j->remaining, count_marked(s) * PAGE);
		if ((r = send_marked(s)))
			r = send_failed(s, r, err);
	}
	/* The disks' last writes are marked too; their chunks go before the state. */
	if (!r && s->j->disks) {
		mig_disks_collect(&s->disks);
		r = mig_disks_send(&s->disks, put_cb, s, err);
		if (r && !err->msg[0])
			r = send_failed(s, r, err);
	}
	if (r)
		free(state);
	/* The state taken (no request in flight), the disks go to the destination. */
	if (!r) {
		s->disks_given = true;
		r = blk_backends_set_active(false, err);
		if (r)
			free(state);
	}
	if (!r) {
		r = put_rec(s, REC_STATE, len, 0, state, len);
		if (!r)
			r = put_rec(s, REC_END, 0, 0, NULL, 0);
		free(state);
		if (r)
			r = send_failed(s, r, err);
	}
	if (!r && (r = get_reply(&s->c, err)) && !err->msg[0])
		vk_fail(err, r, "waiting for the destination: %s", mig_wire_error(r));
	if (r && s->disks_given)
		take_disks_back(s, err);
	vm_devices_hold(s->vm, false);
	atomic_store(&j->downtime_ms, (vk_now_ns() - t0) / 1000000);
	return r;
}

static int precopy(struct sender *s, struct vk_err *err)
{
	struct migrate_job *j = s->j;
	uint64_t w, dirty, disk_dirty = 0, rate, expect_ms, t_round;
	int r;

	for (w = 0; w < s->words; w++)
		s->bits[w] = ~0ull;
	if (s->pages % 64)
		s->bits[s->words - 1] = (1ull << (s->pages % 64)) - 1;
	atomic_store(&j->remaining, s->pages * PAGE);
	t_round = vk_now_ns();
	s->first_round = true;
	for (;;) {
		r = send_marked(s);
		s->first_round = false;
		if (r)
			return send_failed(s, r, err);
		/* The disks' marked chunks (all of them, the first time). */
		if (j->disks && (r = mig_disks_send(&s->disks, put_cb, s, err)))
			return err->msg[0] ? r : send_failed(s, r, err);
		atomic_fetch_add(&j->rounds, 1);
		r = vm_dirty_collect(s->vm, s->bits, false, err);
		if (r)
			return r;
		dirty = count_marked(s);
		if (j->disks)
			disk_dirty = mig_disks_collect(&s->disks);
		atomic_store(&j->remaining, dirty * PAGE + disk_dirty);
		/* The link's rate as measured so far (at least a page per ms, for a start). */
		rate = s->send_ns ? s->send_bytes * 1000000000ull / s->send_ns : 0;
		if (j->bandwidth && (!rate || rate > j->bandwidth))
			rate = j->bandwidth;
		rate = MAX(rate, (uint64_t)PAGE * 1000);
		atomic_store(&j->link_bps, rate);
		atomic_store(&j->dirty_rate, dirty * 1000000000ull /
					     MAX(vk_now_ns() - t_round, 1ull));
		t_round = vk_now_ns();
		expect_ms = (dirty * PAGE + disk_dirty) * 1000 / rate;
		atomic_store(&j->expected_downtime_ms, expect_ms);
		if (expect_ms <= j->downtime_limit_ms)
			return 0;
		if (atomic_load(&j->rounds) >= j->max_rounds)
			return vk_fail(err, -ETIME, "did not converge in %u rounds: the guest writes "
				       "%llu MiB/s, the link sends %llu MiB/s, and the %llu MiB left "
				       "would take %llu ms paused, over the downtime limit of %llu ms "
				       "(migrate-set-parameters downtime-limit, max-bandwidth)",
				       j->max_rounds,
				       (unsigned long long)(atomic_load(&j->dirty_rate) * PAGE >> 20),
				       (unsigned long long)(rate >> 20),
				       (unsigned long long)((dirty * PAGE + disk_dirty) >> 20),
				       (unsigned long long)expect_ms,
				       (unsigned long long)j->downtime_limit_ms);
	}
}

int vm_migrate_send(struct vm *vm, int fd, struct migrate_job *j, struct vk_err *err)
{
	/* On the stack: the pagemap window is 32 KiB, threads have megabytes. */
	struct sender s = { .vm = vm, .c.fd = fd, .j = j };
	uint64_t t0 = vk_now_ns();
	int r;

	atomic_store(&j->started_ns, t0);
	s.pages = vm->ram_size / PAGE;
	s.words = VM_DIRTY_WORDS(s.pages);
	atomic_store(&j->ram_total, vm->ram_size);
	r = vm_devices_savable(vm, err);
	if (r)
		return r;
	for (unsigned int i = 0; i < VM_MAX_NICS; i++)
		if (vm->nics[i] && virtio_net_uses_vhost(vm->nics[i]))
			return vk_fail(err, -ENOTSUP, "net%u runs on vhost-net, whose writes to guest "
				       "RAM are not logged: start the VM with vhost=off to migrate it", i);
	s.bits = calloc(s.words, 8);
	if (!s.bits)
		return vk_fail(err, -ENOMEM, "out of memory");
	/* Encrypted: the destination proves it is the one named in the URI (or tls-hostname). */
	if (j->tls && (r = mig_tls_start(&s.c, j->tls, false, j->tls_peer, err))) {
		mig_tls_end(&s.c);
		free(s.bits);
		return r;
	}
	s.window_ns = vk_now_ns();
	/* Tracking first: a disk write from here on is in a collect after the chunk went. */
	if (j->disks && (r = mig_disks_open(vm, &s.disks, err))) {
		mig_tls_end(&s.c);
		free(s.bits);
		return r;
	}
	/* Logging first: a write from here on is in the next collect, whatever round 1 sent. */
	r = vm_dirty_start(vm, err);
	if (!r) {
		r = put_header(&s, err);
		if (!r && j->disks && (r = mig_disks_announce(&s.disks, put_cb, &s)))
			r = send_failed(&s, r, err);
		atomic_store(&j->setup_ms, (vk_now_ns() - t0) / 1000000);
		if (!r)
			r = precopy(&s, err);
		if (!r)
			r = last_round(&s, err);
		vm_dirty_stop(vm);
	}
	if (j->disks)
		mig_disks_close(&s.disks);
	mig_tls_end(&s.c);
	free(s.bits);
	atomic_store(&j->total_ms, (vk_now_ns() - t0) / 1000000);
	return r;
}
