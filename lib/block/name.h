/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What an image name asks to open, as QEMU reads names: a path ("a.qcow2",
 * "file:a:b"), "null-co://", or a json:{...} object of options naming a
 * format over a protocol. One layer: a format (or probing) over one
 * protocol node, or the protocol node alone ("driver": "file").
 */
#ifndef VMKIT_BLOCK_NAME_H
#define VMKIT_BLOCK_NAME_H

#include "jsonval.h"

struct vk_blk_spec {
	char *format;		/* format driver; NULL: probe (ignored when bare) */
	char *proto;		/* "file", "host_device", "host_cdrom" or "null-co" */
	bool bare;		/* the protocol node is the layer: no format over it */
	char *path;		/* the host file (not for null-co) */
	uint64_t null_size;	/* null-co: bytes, and whether reads return zeros */
	bool null_zeroes;
	bool no_backing;	/* "backing": null: the layer's backing file is not opened */
	/* The format layer's options (json: or --image-opts), NULL for a plain name. */
	struct vk_jv *format_opts;
	/* An option the protocol does not take, reported once it is open (QEMU checks then). */
	char *bad_proto_opt;
	/* The protocol node's name: plain (exact) or, when it has strong options, its JSON. */
	char *proto_exact;
	struct vk_jv *proto_opts;
};

/*
 * fmt: the -f format, which overrides a json: name's "driver" as in qemu-img.
 * image_opts: name is QemuOpts text ("driver=qcow2,file.filename=a"), as --image-opts.
 */
int vk_blk_spec_parse(const char *name, const char *fmt, bool image_opts,
		      struct vk_blk_spec *s, struct vk_err *err);
/* The layer's name as qemu-img prints it, for a layer of format fmt (malloc'd). */
char *vk_blk_spec_display(const struct vk_blk_spec *s, const char *fmt);
void vk_blk_spec_free(struct vk_blk_spec *s);
/* The first of the format options that format fmt does not take (*bad malloc'd, or NULL). */
int vk_blk_spec_bad_format_opt(const struct vk_blk_spec *s, const char *fmt, char **bad);
/* Size option key of opts (raw's offset, size), in QemuOpts' words when it is not one. */
int vk_blk_opt_size(const struct vk_jv *opts, const char *key, uint64_t *out, bool *given,
		    struct vk_err *err);
/* A format or protocol name vmkit opens ("qcow2", "host_device", "null-co", ...). */
bool vk_blk_spec_known_driver(const char *name);

#endif
