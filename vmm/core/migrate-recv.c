// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Live migration's receiver (include/vmkit/migrate.h), on the main thread
 * of `vmkit run --incoming tcp:` before any vCPU starts: every record
 * checked against RAM before it is written, the config before any RAM.
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
#include "vmkit/migrate.h"
#include "vmkit/vm-state.h"
#include "vmkit/vm.h"

/* ---- receiving ---- */

static int reply(struct mig_chan *c, int r, const char *msg)
{
	uint32_t h[2] = { htole32(r < 0 ? -r : r), htole32(r ? strlen(msg) : 0) };
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)msg, r ? strlen(msg) : 0 } };

	return mig_send_iov(c, iov, 2);
}

/*
 * Refused midway: what the source still sends must be read, or closing
 * with it unread resets the connection and the answer with it. A second
 * at most; the source stops sending once it reads the answer.
 */
static void drain_input(int fd)
{
	uint64_t end = vk_now_ns() + 1000000000ull;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[65536];

	shutdown(fd, SHUT_WR);
	while (vk_now_ns() < end && poll(&p, 1, 100) >= 0)
		if ((p.revents & POLLIN) && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == 0)
			break;
}

static int get_header(struct vm *vm, struct mig_chan *c, bool *disks, struct vk_err *err)
{
	uint8_t h[32], *cfg;
	uint64_t size, len;
	uint32_t v, flags;
	int r = mig_recv_all(c, h, sizeof(h));

	if (r)
		return vk_fail(err, r, "reading: %s", mig_wire_error(r));
	if (h[0] == 0x16 && h[1] == 3)	/* a TLS handshake record */
		return vk_fail(err, -EPROTO, "the source speaks TLS: this VM was started without "
			       "--tls-creds");
	if (memcmp(h, mig_magic, 8))
		return vk_fail(err, -EINVAL, "not a vmkit migration stream (no VMKITMIG header)");
	memcpy(&v, h + 8, 4);
	memcpy(&flags, h + 12, 4);
	memcpy(&size, h + 16, 8);
	memcpy(&len, h + 24, 8);
	if (le32toh(v) != MIG_VERSION)
		return vk_fail(err, -ENOTSUP, "migration stream version %u, this vmkit reads %u",
			       le32toh(v), MIG_VERSION);
	if (le32toh(flags) & ~MIG_F_DISKS)
		return vk_fail(err, -ENOTSUP, "the stream has flags 0x%x this vmkit does not know",
			       le32toh(flags));
	*disks = le32toh(flags) & MIG_F_DISKS;
	if (le64toh(size) != vm->ram_size)
		return vk_fail(err, -EINVAL, "the source has %llu bytes of RAM, this VM %llu",
			       (unsigned long long)le64toh(size),
			       (unsigned long long)vm->ram_size);
	len = le64toh(len);
	if (len > CONFIG_MAX)
		return vk_fail(err, -EINVAL, "damaged stream (a config of %llu bytes)",
			       (unsigned long long)len);
	cfg = malloc(len ? len : 1);
	if (!cfg)
		return vk_fail(err, -ENOMEM, "out of memory");
	r = mig_recv_all(c, cfg, len);
	if (r)
		vk_fail(err, r, "reading: %s", mig_wire_error(r));
	else
		r = vm_state_check_config(cfg, len, vm->cfg, err);
	free(cfg);
	return r;
}

static int get_records(struct vm *vm, struct mig_chan *c, uint8_t **state, size_t *state_len,
		       struct vm_ram_window *win, bool disks, struct mig_disks *md,
		       struct vk_err *err)
{
	struct rec h;
	uint64_t a, b, p;
	int r;

	for (;;) {
		r = mig_recv_all(c, &h, sizeof(h));
		if (r)
			return vk_fail(err, r, "reading: %s", mig_wire_error(r));
		a = le64toh(h.a);
		b = le64toh(h.b);
		switch (le32toh(h.type)) {
		case REC_PAGES:
		case REC_ZERO:
			if ((a | b) % PAGE || !b || a > vm->ram_size || b > vm->ram_size - a ||
			    (le32toh(h.type) == REC_PAGES && b > CHUNK))
				return vk_fail(err, -EBADMSG, "damaged stream (pages at 0x%llx+0x%llx)",
					       (unsigned long long)a, (unsigned long long)b);
			if (le32toh(h.type) == REC_ZERO) {
				/* Untouched pages are zero, and stay unallocated: not even read. */
				for (p = a; p < a + b; p += PAGE)
					if (!vm_ram_untouched(vm, p / PAGE, win) &&
					    !vm_page_is_zero(vm->ram + p))
						memset(vm->ram + p, 0, PAGE);
				break;
			}
			r = mig_recv_all(c, vm->ram + a, b);
			if (r)
				return vk_fail(err, r, "reading: %s", mig_wire_error(r));
			break;
		case REC_STATE:
			if (*state || a > STATE_MAX)
				return vk_fail(err, -EBADMSG, "damaged stream (state of %llu bytes)",
					       (unsigned long long)a);
			*state = malloc(a ? a : 1);
			if (!*state)
				return vk_fail(err, -ENOMEM, "out of memory");
			*state_len = a;
			r = mig_recv_all(c, *state, a);
			if (r)
				return vk_fail(err, r, "reading: %s", mig_wire_error(r));
			break;
		case REC_DISKS:
		case REC_DISK:
		case REC_DISK_ZERO:
			if (!disks)
				return vk_fail(err, -EBADMSG, "damaged stream (disk records unannounced)");
			r = mig_disks_receive(vm, c, le32toh(h.type), le32toh(h.zero), a, b, md, err);
			if (r)
				return r;
			break;
		case REC_END:
			if (!*state)
				return vk_fail(err, -EBADMSG, "damaged stream (it ended without the state)");
			if (disks && !md->announced)
				return vk_fail(err, -EBADMSG, "damaged stream (the disks never came)");
			return 0;
		default:
			return vk_fail(err, -EBADMSG, "damaged stream (record type %u)",
				       le32toh(h.type));
		}
	}
}


static int read_stream(struct vm *vm, struct mig_chan *c, uint8_t **state, size_t *len,
		       struct vk_err *err)
{
	struct vm_ram_window win = { 0 };	/* 32 KiB: the main thread's stack has megabytes */
	struct mig_disks *md = calloc(1, sizeof(*md));
	bool disks = false;
	int r = md ? get_header(vm, c, &disks, err) : vk_fail(err, -ENOMEM, "out of memory");

	*state = NULL;
	*len = 0;
	if (!r)
		r = get_records(vm, c, state, len, &win, disks, md, err);
	if (md)
		mig_disks_close(md);
	free(md);
	if (r) {
		free(*state);
		*state = NULL;
	}
	return r;
}

int vm_migrate_read(struct vm *vm, int fd, uint8_t **state, size_t *len, struct vk_err *err)
{
	struct mig_chan c = { .fd = fd };

	return read_stream(vm, &c, state, len, err);
}

/*
 * A plain source at a destination that wants TLS: its stream starts with
 * the magic where a TLS hello would be. It is told so in the clear (its
 * wire reads a plain answer), rather than left with a closed connection.
 */
static bool plain_source(int fd)
{
	char h[sizeof(mig_magic)];
	uint64_t end = vk_now_ns() + IO_TIMEOUT_S * 1000000000ull;
	ssize_t n;

	do {
		n = recv(fd, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(h) || (n < 0 && errno != EAGAIN && errno != EINTR) || !n)
			break;
		if (n > 0) {
			/* A few bytes: wait for more, or for the peer's close (they stay readable). */
			struct pollfd p = { .fd = fd, .events = POLLRDHUP };

			if (poll(&p, 1, 10) > 0)
				break;
		} else {
			mig_wait_fd(fd, POLLIN);
		}
	} while (vk_now_ns() < end);
	return n == (ssize_t)sizeof(h) && !memcmp(h, mig_magic, sizeof(h));
}

int vm_migrate_receive(struct vm *vm, int fd, const struct migrate_tls *tls, struct vk_err *err)
{
	struct mig_chan c = { .fd = fd };
	uint8_t *state = NULL;
	size_t len = 0;
	int r = 0;

	if (tls && plain_source(fd)) {
		r = vk_fail(err, -EACCES, "this VM takes migrations over TLS only (the source "
			    "needs migrate-set-parameters tls-creds)");
		reply(&c, r, err->msg);
		drain_input(fd);
		return r;
	}
	if (tls && (r = mig_tls_start(&c, tls, true, NULL, err))) {
		mig_tls_end(&c);
		return r;
	}
	r = read_stream(vm, &c, &state, &len, err);
	/* The source has let go of the disks: ours now, read afresh, before the devices' state. */
	if (!r)
		r = blk_backends_set_active(true, err);
	if (!r)
		r = vm_state_apply(vm, state, len, err);
	free(state);
	/* The source waits for this; if it cannot hear it, it resumes: we must not run. */
	if (reply(&c, r, err->msg) && !r)
		r = vk_fail(err, -EPIPE, "the source did not hear that the VM arrived: not running it");
	if (r)
		drain_input(fd);
	mig_tls_end(&c);
	return r;
}
