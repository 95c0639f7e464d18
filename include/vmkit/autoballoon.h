/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Automatic ballooning (lib/mgmt/autoballoon.c): the arithmetic, kept pure so
 * unit tests can drive it, and the host-wide knobs file. The supervisor of
 * each running VM (lib/mgmt/vm-autoballoon.c) feeds it /proc/meminfo and the VM's
 * query-balloon, and applies what it decides.
 *
 * Policy, after Proxmox VE's pvestatd: while host memory in use is above the
 * goal (target percent of MemTotal), every VM whose `balloon` (MIN) is below
 * its `memory` (MAX) gives up its share of the excess; once use is below the
 * goal by more than the hysteresis, each takes back its share of the room.
 * A VM's share is its MAX - MIN over the sum of MAX - MIN of all running
 * auto-ballooned VMs, so the supervisors, each deciding alone, together move
 * the whole excess. All sizes are in MiB.
 */
#ifndef VMKIT_AUTOBALLOON_H
#define VMKIT_AUTOBALLOON_H

#include <stdint.h>

#include "vmkit/util.h"

#define AB_DEFAULT_TARGET_PCT	80	/* as Proxmox */
#define AB_DEFAULT_INTERVAL_MS	10000	/* pvestatd's cycle */
#define AB_MIN_INTERVAL_MS	100
#define AB_MAX_INTERVAL_MS	3600000
#define AB_HYSTERESIS_PCT	2	/* of MemTotal, below the goal before growing */

struct ab_input {
	uint64_t host_total;		/* MemTotal */
	uint64_t host_used;		/* MemTotal - MemAvailable */
	unsigned int target_pct;	/* goal: this percent of host_total in use */
	uint64_t min, max;		/* the VM's balloon: and memory: */
	uint64_t actual;		/* query-balloon's actual */
	uint64_t target;		/* the target the balloon has now */
	uint64_t span_total;		/* sum of MAX - MIN over running auto VMs, this one too */
};

enum ab_action { AB_KEEP, AB_SHRINK, AB_GROW };

/*
 * The balloon target this VM should have, in [min, max]. AB_KEEP (and *out
 * = in->target) when the host is within the band, when the VM has nothing to
 * give (min >= max), or when the change from the current target is under 1%
 * of max and does not reach min or max.
 */
enum ab_action ab_decide(const struct ab_input *in, uint64_t *out);

struct ab_knobs {
	unsigned int target_pct;	/* 1..100 */
	unsigned int interval_ms;	/* AB_MIN_INTERVAL_MS..AB_MAX_INTERVAL_MS */
};

/*
 * Parse the knobs file ($VMKIT_HOME/autoballoon): `key: value` lines, `#`
 * comments, keys `target` (percent, 1-100) and `interval` (seconds, decimals
 * allowed, 0.1-3600). Missing keys keep their defaults. A bad line is
 * skipped: -EINVAL, err names the first bad line, and k holds the defaults
 * with the good lines' values.
 */
int ab_parse_knobs(const char *text, struct ab_knobs *k, struct vk_err *err);
/* Read and parse it; a missing file is all defaults. */
int ab_load_knobs(const char *path, struct ab_knobs *k, struct vk_err *err);

struct qmpc;
/* query-balloon's actual and target (vmkit's extension; else actual), in MiB. */
int ab_query_balloon(struct qmpc *q, uint64_t *actual, uint64_t *target, struct vk_err *err);
/* The `balloon` command. */
int ab_set_target(struct qmpc *q, uint64_t mib, struct vk_err *err);

#endif
