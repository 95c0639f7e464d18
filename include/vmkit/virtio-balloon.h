/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-balloon: the host asks the guest for memory back (num_pages); the
 * guest hands over page frames (inflate), which the monitor frees, takes
 * them back (deflate), and reports its memory statistics.
 */
#ifndef VMKIT_VIRTIO_BALLOON_H
#define VMKIT_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "vmkit/util.h"

struct vm;
struct virtio_balloon;

/* VIRTIO_BALLOON_S_* tags 0..9: swap-in ... htlb-pgfail (virtio 1.2, 5.5.6.3). */
#define VIRTIO_BALLOON_NR_STATS	10

struct virtio_balloon_info {
	uint64_t actual;		/* guest RAM minus what the guest handed over, bytes */
	uint64_t target;		/* what the host asked for, bytes */
	uint64_t stats[VIRTIO_BALLOON_NR_STATS];
	uint32_t stats_valid;		/* bit i: stats[i] was reported */
	int64_t stats_time;		/* when (seconds since the epoch), 0 = never */
	uint64_t inflated;		/* pages freed on the host so far (all inflates) */
	unsigned int stats_interval;	/* seconds, 0: off */
};

int virtio_balloon_create(struct vm *vm, bool deflate_on_oom, unsigned int stats_interval,
			  struct virtio_balloon **out, struct vk_err *err);
void virtio_balloon_destroy(struct virtio_balloon *b);

/* Ask the guest to shrink to bytes (clamped to its RAM). Any thread. */
void virtio_balloon_set_target(struct virtio_balloon *b, uint64_t bytes);
/*
 * Ask the guest for fresh statistics every seconds (0: only when they are
 * read), QEMU's guest-stats-polling-interval. Any thread.
 */
int virtio_balloon_set_stats_interval(struct virtio_balloon *b, unsigned int seconds);
/* The current state; also asks the guest for fresh statistics. Any thread. */
void virtio_balloon_query(struct virtio_balloon *b, struct virtio_balloon_info *info);

#endif
