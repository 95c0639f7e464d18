/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmdk internals shared by vmdk*.c. Read-only: a disk is a list of extents
 * (flat files or hosted sparse "KDMV" files) named by a text descriptor,
 * which monolithicSparse and streamOptimized images embed in their one file.
 */
#ifndef VMKIT_VMDK_H
#define VMKIT_VMDK_H

#include "vmkit/block.h"

#define VMDK_SECTOR		512ULL
#define VMDK_MAX_EXTENTS	512		/* each one is an open file */
#define VMDK_MAX_DESC		(1 * MiB)	/* a descriptor file is a few hundred bytes */
#define VMDK_MAX_LINE		1024
#define VMDK_MAX_GRAIN_SECTORS	32768		/* 16 MiB; VMware uses 64 KiB */
#define VMDK_MAX_GTES		512
#define VMDK_MAX_GD_ENTRIES	(32u << 20)
#define VMDK_GT_CACHE		16

enum vmdk_kind { VMDK_EXT_FLAT, VMDK_EXT_SPARSE };

struct vmdk_gt_slot {
	uint64_t sector;		/* 0: empty */
	uint32_t *gt;			/* host-endian entries */
	uint64_t used;
};

struct vmdk_extent {
	enum vmdk_kind kind;
	char *path;			/* as opened: shown by info and map */
	char *type;			/* descriptor's word (FLAT, SPARSE, VMFS); NULL if embedded */
	int fd;
	bool own_fd;			/* false: the descriptor's own file */
	uint64_t start, size;		/* virtual bytes */
	uint64_t file_size;
	uint64_t flat_offset;		/* flat: bytes into the file */
	/* sparse */
	uint64_t grain;			/* bytes */
	uint32_t gtes;			/* entries per grain table */
	uint32_t gd_entries;
	uint32_t *gd;			/* grain table sectors */
	bool compressed, markers, zero_grain;
	uint64_t desc_offset, desc_size;	/* embedded descriptor, bytes */
	struct vmdk_gt_slot cache[VMDK_GT_CACHE];
	uint64_t cache_clock;
};

struct vmdk_state {
	struct vmdk_extent *ext;
	unsigned int n;
	uint64_t size;
	uint32_t cid, parent_cid;
	char *create_type;
	struct vk_blk_vmdk_extent *info;	/* what info shows, built at open */
	/* The last decompressed grain. */
	uint8_t *zbuf;
	uint64_t zcap, zlen;
	int zext;			/* extent index, -1: none */
	uint64_t zsector;
};

/* What one grain (or run of grains) of a sparse extent is. */
enum vmdk_grain { VMDK_UNALLOC, VMDK_ZERO, VMDK_DATA, VMDK_COMPRESSED };

/* vmdk.c: reads of an extent's file, errors naming it. */
int vmdk_pread(const struct vmdk_extent *e, void *buf, uint64_t off, size_t len,
	       bool zero_past_eof, struct vk_err *err);

/* vmdk-desc.c: the text descriptor. */
struct vmdk_desc_cb {
	/* Called for each RW extent line of a known type; non-zero stops. */
	int (*extent)(void *opaque, const char *type, uint64_t sectors, const char *fname,
		      uint64_t flat_offset, struct vk_err *err);
	void *opaque;
};
struct vmdk_desc {
	bool has_cid, has_parent_cid;
	uint32_t cid, parent_cid;
	char create_type[64];
	char parent_hint[1024];
};
int vmdk_parse_desc(const char *name, const char *text, size_t len, struct vmdk_desc *d,
		    const struct vmdk_desc_cb *cb, struct vk_err *err);
bool vmdk_probe_desc(const uint8_t *buf, size_t len);

/* vmdk-sparse.c: hosted sparse extents (header, grain directory and tables, grains). */
int vmdk_sparse_open(struct vmdk_extent *e, struct vk_err *err);
/* The run of grains at extent offset off (at most len bytes, stops at a grain table edge). */
int vmdk_sparse_status(struct vmdk_extent *e, uint64_t off, uint64_t len, uint64_t *pnum,
		       uint64_t *host, enum vmdk_grain *kind, struct vk_err *err);
/* Decompress the grain whose marker (or data) is at host into s->zbuf. */
int vmdk_sparse_inflate(struct vmdk_state *s, int idx, uint64_t host, struct vk_err *err);
void vmdk_sparse_close(struct vmdk_extent *e);
int vmdk_sparse_check(struct vmdk_extent *e, struct vk_blk_check *res, struct vk_err *err);

#endif
