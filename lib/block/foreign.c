// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Image formats vmkit cannot read, recognised by their magic so that a probe
 * never takes them for raw: serving a qed or Parallels container's bytes as
 * the disk would hand the guest (or convert's target) garbage, and a guest
 * writing to it would destroy the container. QEMU's probes, plus dmg, whose
 * magic is only in its footer and which QEMU itself probes as raw. (vpc,
 * vdi and vhdx are read: their drivers probe them.)
 */
#include <string.h>

#include "vmkit/block.h"

struct foreign_format {
	const char *name;		/* QEMU's format name */
	const char *what;		/* the product, for the error */
	const char *magic;
	size_t magic_len, offset;
	bool at_tail;			/* the magic is in the file's last 512 bytes */
};

#define MAGIC(s) s, sizeof(s) - 1

static const struct foreign_format formats[] = {
	{ "qcow", "QEMU qcow version 1", MAGIC("QFI\xfb\0\0\0\x01"), 0, false },
	{ "qed", "QEMU enhanced disk", MAGIC("QED\0"), 0, false },
	{ "parallels", "Parallels", MAGIC("WithoutFreeSpace"), 0, false },
	{ "parallels", "Parallels", MAGIC("WithouFreSpacExt"), 0, false },
	{ "luks", "LUKS encrypted", MAGIC("LUKS\xba\xbe"), 0, false },
	{ "dmg", "Apple disk image", MAGIC("koly"), 0, true },
	{ "bochs", "Bochs", MAGIC("Bochs Virtual HD Image"), 0, false },
	{ "cloop", "compressed loop", MAGIC("#!/bin/sh\n#V2.0 Format\n"), 0, false },
};

static bool has_magic(const struct foreign_format *f, const uint8_t *buf, size_t len)
{
	return len >= f->offset + f->magic_len &&
	       !memcmp(buf + f->offset, f->magic, f->magic_len);
}

const char *vk_blk_probe_foreign(const uint8_t *head, size_t hlen, const uint8_t *tail,
				 size_t tlen, const char **what)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(formats); i++) {
		const struct foreign_format *f = &formats[i];

		if (has_magic(f, f->at_tail ? tail : head, f->at_tail ? tlen : hlen)) {
			if (what)
				*what = f->what;
			return f->name;
		}
	}
	return NULL;
}
