/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Automatic ballooning in a VM's supervisor (lib/mgmt/vm-autoballoon.c). */
#ifndef VMKIT_VM_AUTOBALLOON_H
#define VMKIT_VM_AUTOBALLOON_H

#include <stdbool.h>

#include "vmkit/mgmt-ops.h"
#include "vmkit/autoballoon.h"

#define AB_MSG_MAX	512
#define AB_QUERY_MAX_MS	5000	/* query-balloon at least this often */

struct vm_autoballoon {
	char name[MGMT_NAME_MAX];
	uint64_t max;			/* memory: when started, MiB */
	bool answered;			/* the monitor has answered QMP once */
	bool paused;			/* a target was set by hand: hands off */
	uint64_t known;			/* the target as this loop last left it */
	uint64_t last_query_ns;		/* vk_now_ns() of the last query-balloon */
	char last_change[64];		/* "shrink to 128 MiB at 17:30:02" */
	char state[256];		/* what run/autoballoon holds */
	/* The last problem of each kind logged, so each is logged once. */
	char knob_msg[AB_MSG_MAX], host_msg[AB_MSG_MAX], qmp_msg[AB_MSG_MAX];
};

/* For VM d; false when it has no balloon device (nothing to poll). */
bool vm_autoballoon_init(struct vm_autoballoon *ab, const struct vm_def *d);
/* One poll: decide and apply. Returns the milliseconds until the next one. */
unsigned int vm_autoballoon_poll(struct vm_autoballoon *ab);

#endif
