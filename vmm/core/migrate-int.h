/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside live migration (include/vmkit/migrate.h): the stream's constants
 * and records, and the socket helpers the sender (migrate-send.c) and the
 * receiver (migrate-recv.c) share (migrate-wire.c).
 */
#ifndef VMKIT_MIGRATE_INT_H
#define VMKIT_MIGRATE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmkit/vm-dirty.h"

extern const char mig_magic[8];	/* "VMKITMIG" */
#define MIG_VERSION	1
#define PAGE		VM_DIRTY_PAGE
#define CHUNK		(1u << 20)		/* bytes of RAM per PAGES record at most */
#define CONFIG_MAX	(1u << 20)
#define STATE_MAX	(256u << 20)
#define REPLY_MAX	1024u
#define IO_TIMEOUT_S	60			/* a peer silent this long is gone */

enum { REC_PAGES = 1, REC_ZERO = 2, REC_STATE = 3, REC_END = 4 };

struct rec {
	uint32_t type, zero;
	uint64_t a, b;
};

/* Whole buffers over a nonblocking-used socket, waiting at most IO_TIMEOUT_S for the peer. */
int mig_wait_fd(int fd, short ev);
int mig_send_iov(int fd, struct iovec *iov, int n);
int mig_recv_all(int fd, void *buf, size_t len);
/* A wire error for a person: "the other side closed the connection", ... */
const char *mig_wire_error(int r);

#endif
