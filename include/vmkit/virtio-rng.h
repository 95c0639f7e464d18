/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-rng: entropy from a host file (default /dev/urandom). */
#ifndef VMKIT_VIRTIO_RNG_H
#define VMKIT_VIRTIO_RNG_H

#include "vmkit/util.h"

struct vm;
struct virtio_rng;

int virtio_rng_create(struct vm *vm, const char *source, struct virtio_rng **out,
		      struct vk_err *err);
void virtio_rng_destroy(struct virtio_rng *r);

#endif
