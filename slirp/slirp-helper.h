/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmkit-slirp: libslirp behind a SOCK_SEQPACKET socket of bare Ethernet frames. */
#ifndef VMKIT_SLIRP_HELPER_H
#define VMKIT_SLIRP_HELPER_H

#include <poll.h>
#include <libslirp.h>

#include "vmkit/net-user.h"
#include "vmkit/sandbox.h"

/* A libslirp timer: armed when expire_ms >= 0. */
struct sh_timer {
	struct sh_timer *next;
	int64_t expire_ms;
	bool by_id;			/* timer_new_opaque (fire through slirp_handle_timer) */
	SlirpTimerId id;
	SlirpTimerCb cb;
	void *cb_opaque;
};

/* Frames slirp produced while the monitor's socket was full. */
struct sh_frame {
	uint16_t len;
	uint8_t data[];
};

#define SH_QUEUE_FRAMES 4096

struct slirp_helper {
	Slirp *slirp;
	int fd;				/* the frame socket to the monitor */
	struct pollfd *pfds;
	unsigned int npfds, cap;
	struct sh_timer *timers;
	struct sh_frame *queue[SH_QUEUE_FRAMES];
	unsigned int q_head, q_len;
	uint64_t dropped;
};

/* sandbox.c: the helper's allow-list */
extern const struct sandbox_kind sh_sandbox_kind;

/* loop.c */
extern const SlirpCb sh_callbacks;
/* Serve frames and sockets until the monitor's end closes; returns the exit status. */
int sh_run(struct slirp_helper *h);

#endif
