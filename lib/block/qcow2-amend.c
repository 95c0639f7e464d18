// SPDX-License-Identifier: GPL-2.0-or-later
/* qcow2 amend: placeholder until written below. */
#include <errno.h>

#include "qcow2.h"

int qcow2_amend(struct vk_blk *bs, const struct vk_blk_amend_opts *o, struct vk_err *err)
{
	return vk_fail(err, -ENOTSUP, "not yet");
}
