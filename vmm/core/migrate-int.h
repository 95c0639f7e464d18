/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside live migration (include/vmkit/migrate.h): the stream's constants
 * and records, and the socket helpers the sender (migrate-send.c) and the
 * receiver (migrate-recv.c) share (migrate-wire.c).
 */
#ifndef VMKIT_MIGRATE_INT_H
#define VMKIT_MIGRATE_INT_H

#include <stdbool.h>
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

enum { REC_PAGES = 1, REC_ZERO = 2, REC_STATE = 3, REC_END = 4,
       /* with local disks (migrate-disk.c): the record's second word is the disk's index */
       REC_DISKS = 5, REC_DISK = 6, REC_DISK_ZERO = 7 };
#define MIG_F_DISKS	(1u << 0)	/* header flag: the disks' contents come too */

struct rec {
	uint32_t type, zero;
	uint64_t a, b;
};

/* Local disks (migrate-disk.c): what goes, and each one's chunks still to send. */
struct blk_backend;
struct vm;
struct vk_err;
struct mig_chan;
struct mig_disk {
	struct blk_backend *bb;
	uint64_t size, words;
	uint64_t *bits;			/* sender: chunks to send */
};
struct mig_disks {
	unsigned int n;
	bool tracking, announced;
	struct mig_disk d[64];
	uint8_t *buf;			/* one chunk, aligned */
};
typedef int (*mig_put_fn)(void *s, uint32_t type, uint32_t idx, uint64_t a, uint64_t b,
			  const void *data, size_t len);
/* Sender: the disks found, tracked, every chunk marked; closing stops the tracking. */
int mig_disks_open(struct vm *vm, struct mig_disks *m, struct vk_err *err);
void mig_disks_close(struct mig_disks *m);
/* What writes completed in since the last call, marked; the bytes marked. */
uint64_t mig_disks_collect(struct mig_disks *m);
int mig_disks_announce(struct mig_disks *m, mig_put_fn put, void *s);
int mig_disks_send(struct mig_disks *m, mig_put_fn put, void *s, struct vk_err *err);
/* Receiver: one DISKS, DISK or DISK_ZERO record (its header read). */
int mig_disks_receive(struct vm *vm, struct mig_chan *c, uint32_t type, uint32_t idx,
		      uint64_t a, uint64_t b, struct mig_disks *m, struct vk_err *err);

/* The connection: a socket, and TLS over it if the stream is encrypted (migrate-tls.c). */
struct ssl_st;
struct mig_chan {
	int fd;
	struct ssl_st *ssl;		/* NULL: plain */
	int sys_err;			/* TLS: the socket's last errno */
	char why[160];			/* TLS: OpenSSL's reason for -EPROTO */
};
struct migrate_tls;
/* The handshake, as the destination (server) or the source; peer: the name to check. */
int mig_tls_start(struct mig_chan *c, const struct migrate_tls *t, bool server,
		  const char *peer, struct vk_err *err);
void mig_tls_end(struct mig_chan *c);
int mig_tls_send(struct mig_chan *c, const struct iovec *iov, int n);
int mig_tls_recv(struct mig_chan *c, void *buf, size_t len);

/* Whole buffers over a nonblocking-used socket, waiting at most IO_TIMEOUT_S for the peer. */
int mig_wait_fd(int fd, short ev);
int mig_send_iov(struct mig_chan *c, struct iovec *iov, int n);
int mig_recv_all(struct mig_chan *c, void *buf, size_t len);
/* A wire error for a person: "the other side closed the connection", ... */
const char *mig_wire_error(int r);

#endif
