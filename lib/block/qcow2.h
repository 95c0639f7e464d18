/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2 internals shared by qcow2*.c (the format: QEMU docs/interop/qcow2.txt). */
#ifndef VMKIT_QCOW2_H
#define VMKIT_QCOW2_H

#include <endian.h>
#include <string.h>

#include "vmkit/block.h"

#define QCOW2_MAGIC		0x514649fbu	/* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS	9
#define QCOW2_MAX_CLUSTER_BITS	21
#define QCOW2_MAX_L1_BYTES	(32 * MiB)	/* as QEMU: bounds what we allocate */
#define QCOW2_MAX_RT_BYTES	(8 * MiB)
#define QCOW2_MAX_OFFSET	(1ULL << 56)

#define QCOW2_INCOMPAT_DIRTY		(1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT		(1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE	(1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION	(1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2		(1ULL << 4)
#define QCOW2_INCOMPAT_SUPPORTED	(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | \
					 QCOW2_INCOMPAT_DATA_FILE | QCOW2_INCOMPAT_COMPRESSION | \
				 QCOW2_INCOMPAT_EXTL2)
#define QCOW2_COMPAT_LAZY_REFCOUNTS	(1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW	(1ULL << 1)	/* the data file is a valid raw image */

#define QCOW2_EXT_END		0x00000000u
#define QCOW2_EXT_BACKING_FMT	0xe2792acau
#define QCOW2_EXT_FEATURES	0x6803f857u
#define QCOW2_EXT_DATA_FILE	0x44415441u	/* "DATA": the external data file's name */

#define QCOW2_COMPRESS_ZLIB	0
#define QCOW2_COMPRESS_ZSTD	1

#define L1E_OFFSET_MASK		0x00fffffffffffe00ULL
#define L2E_OFFSET_MASK		0x00fffffffffffe00ULL
#define QCOW_OFLAG_COPIED	(1ULL << 63)
#define QCOW_OFLAG_COMPRESSED	(1ULL << 62)
#define QCOW_OFLAG_ZERO		(1ULL << 0)
#define RT_OFFSET_MASK		0xfffffffffffffe00ULL
#define RT_RESERVED_MASK	0x1ffULL
#define L1E_RESERVED_MASK	0x7f000000000001ffULL
#define L2E_STD_RESERVED_MASK	0x3f000000000001feULL	/* not for compressed entries */

/* Header offsets (big-endian fields). */
#define HDR_L1_SIZE		36
#define HDR_SIZE		24
#define HDR_RT_OFFSET		48
#define HDR_NB_SNAPSHOTS	60
#define HDR_INCOMPAT		72
#define HDR_AUTOCLEAR		88

enum qcow2_cluster_type {
	QCOW2_UNALLOCATED,
	QCOW2_ZERO_PLAIN,
	QCOW2_ZERO_ALLOC,
	QCOW2_NORMAL,
	QCOW2_COMPRESSED,
};

struct qcow2_cache;

/* One entry of the snapshot table (qcow2-snapshot.c). */
struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id, *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;
	uint64_t disk_size;
	uint64_t icount;		/* UINT64_MAX: not recorded */
	uint32_t extra_size;		/* as found; extra bytes we do not know are kept */
	uint8_t *extra;
};

struct qcow2_state {
	struct vk_blk *bs;
	uint32_t version;
	uint32_t cluster_bits;
	uint64_t cluster_size;
	uint64_t size;
	uint32_t l2_bits;		/* log2 of entries per L2 table */
	uint64_t l1_offset;
	uint32_t l1_size;
	uint64_t *l1;			/* host-endian copy */
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint64_t rt_size;		/* entries */
	uint64_t *rt;			/* host-endian copy */
	uint64_t rt_hi;			/* entries from here on are 0 (bounds the overlap check) */
	uint32_t refcount_order;
	uint32_t rb_bits;		/* log2 of entries per refcount block */
	uint64_t refcount_max;
	uint64_t incompat, compat, autoclear;
	uint32_t header_length;
	uint8_t compression_type;
	uint32_t nb_snapshots;
	struct qcow2_snapshot *snapshots;
	uint64_t snapshots_offset;
	uint64_t snapshots_size;	/* bytes of the table in the file */
	int csize_shift;
	uint64_t csize_mask;
	uint64_t cluster_offset_mask;
	uint64_t end_cluster;		/* first cluster past everything in use or allocated */
	uint64_t file_size_seen;	/* the file was at least this long (saves an fstat a lookup) */
	uint64_t free_index;		/* allocation search starts here */
	struct qcow2_cache *l2_cache;
	struct qcow2_cache *rb_cache;
	int prealloc;			/* metadata preallocation detected: -1 not yet known */
	uint64_t zbuf_offset;		/* the decompressed cluster held in zbuf, or 0 */
	uint8_t *zbuf;
	char *features;			/* feature name table: 48-byte entries */
	size_t nb_features;
	uint64_t free_byte_offset;	/* compressed data continues here; 0: in a new cluster */
	uint8_t bitmaps_stale;		/* bitmaps extension without its autoclear bit: 1, v2: 2 */
	struct qcow2_bm_set *bms;	/* persistent bitmaps in memory (qcow2-bitmap-mem.c), or NULL */
	char *data_file;		/* external data file as the header names it, or NULL */
	struct vk_blk *data;		/* that file opened (raw), NULL: not opened (info) or none */
};

/*
 * External data file (incompatible bit 2): guest data lives in another file,
 * at the guest offset (QEMU maps clusters one to one there), and is not
 * refcounted; L1/L2 tables and refcounts stay in the image file.
 */
static inline bool qcow2_has_data_file(const struct qcow2_state *s)
{
	return s->incompat & QCOW2_INCOMPAT_DATA_FILE;
}

/* data_file_raw: the data file alone is the guest's disk, zeros included. */
static inline bool qcow2_data_raw(const struct qcow2_state *s)
{
	return qcow2_has_data_file(s) && (s->autoclear & QCOW2_AUTOCLEAR_DATA_RAW);
}

/* Names of the header's feature bits (type 0 incompatible, 1 compatible, 2 autoclear). */
struct qcow2_feature_name {
	uint8_t type, bit;
	const char *name;
};
#define QCOW2_NR_FEATURE_NAMES 8
extern const struct qcow2_feature_name qcow2_feature_names[QCOW2_NR_FEATURE_NAMES];

/* Big-endian header fields (the qcow2 on-disk byte order). */
static inline uint32_t be_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t be_get64(const uint8_t *p)
{
	return (uint64_t)be_get32(p) << 32 | be_get32(p + 4);
}

static inline void be_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void be_put64(uint8_t *p, uint64_t v)
{
	be_put32(p, (uint32_t)(v >> 32));
	be_put32(p + 4, (uint32_t)v);
}

static inline uint64_t qcow2_be64(const void *p, size_t i)
{
	uint64_t v;

	memcpy(&v, (const uint8_t *)p + 8 * i, 8);
	return be64toh(v);
}

static inline void qcow2_set_be64(void *p, size_t i, uint64_t v)
{
	v = htobe64(v);
	memcpy((uint8_t *)p + 8 * i, &v, 8);
}

/* L2 entry i of a table: extended L2 entries are 16 bytes, the descriptor first. */
static inline size_t qcow2_l2_index(const struct qcow2_state *s, uint64_t i)
{
	return (size_t)((s->incompat & QCOW2_INCOMPAT_EXTL2) ? 2 * i : i);
}

/* qcow2-cache.c: metadata tables (L2, refcount blocks) by host offset. */
struct qcow2_cache *qcow2_cache_create(struct vk_blk *bs, unsigned int entries, size_t table_size);
void qcow2_cache_destroy(struct qcow2_cache *c);
void qcow2_cache_set_dependency(struct qcow2_cache *c, struct qcow2_cache *dep);
/* The QCOW2_OL_* kind of the tables: a write may meet its own kind only. */
void qcow2_cache_set_kind(struct qcow2_cache *c, unsigned int ol_kind);
/* Whether the table at offset is in the cache. */
bool qcow2_cache_has(struct qcow2_cache *c, uint64_t offset);
/* While on, a table not in the cache is -EAGAIN instead of a read (the hot path does no I/O). */
void qcow2_cache_set_cached_only(struct qcow2_cache *c, bool on);
int qcow2_cache_get(struct qcow2_cache *c, uint64_t offset, void **table, struct vk_err *err);
int qcow2_cache_get_empty(struct qcow2_cache *c, uint64_t offset, void **table,
			  struct vk_err *err);
void qcow2_cache_put(struct qcow2_cache *c, void **table);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, void *table);
/* Forget the table at offset without writing it (its cluster was freed). */
void qcow2_cache_discard(struct qcow2_cache *c, uint64_t offset);
/* Free the tables unused since the last call; returns how many. */
unsigned int qcow2_cache_clean(struct qcow2_cache *c);
/* Write the dirty tables and make them durable (fdatasync) before anything may point at them. */
int qcow2_cache_flush(struct qcow2_cache *c, struct vk_err *err);
/* Write the dirty tables only (*wrote set if any): the caller syncs. */
int qcow2_cache_write(struct qcow2_cache *c, bool *wrote, struct vk_err *err);

/* qcow2-refcount.c */
int qcow2_refcount_init(struct qcow2_state *s, struct vk_err *err);
/* Recompute rt_hi after the table was replaced. */
void qcow2_rt_bound(struct qcow2_state *s);
uint64_t qcow2_rb_get(const void *block, uint32_t order, uint64_t i);
void qcow2_rb_set(void *block, uint32_t order, uint64_t i, uint64_t v);
int qcow2_get_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t *rc, struct vk_err *err);
int qcow2_set_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t rc, struct vk_err *err);
int qcow2_alloc_clusters(struct qcow2_state *s, uint64_t n, uint64_t *host, struct vk_err *err);
/*
 * The same without I/O (the hot path): only where the refcount blocks exist
 * and are cached; -EAGAIN, with nothing changed, where that is not enough.
 */
int qcow2_alloc_clusters_cached(struct qcow2_state *s, uint64_t n, uint64_t *host);
int qcow2_free_range(struct qcow2_state *s, uint64_t host, uint64_t len, struct vk_err *err);
int qcow2_detect_prealloc(struct qcow2_state *s, struct vk_err *err);
int qcow2_check_offset(struct qcow2_state *s, const char *what, uint64_t off, uint64_t len,
		       struct vk_err *err);

/* qcow2-cluster.c */
enum qcow2_cluster_type qcow2_entry_type(struct qcow2_state *s, uint64_t l2e);
int qcow2_get_extent(struct qcow2_state *s, uint64_t off, uint64_t len, uint64_t *pnum,
		     uint64_t *host, enum qcow2_cluster_type *type, struct vk_err *err);
int qcow2_read(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err);
int qcow2_write(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		struct vk_err *err);
int qcow2_read_l2(struct qcow2_state *s, uint32_t l1i, void **l2, struct vk_err *err);
/*
 * Point the L2 entries of n guest clusters from vc on (one table) at the
 * host clusters from host on, then let go of what they held (its old
 * entries into old[n]).
 */
int qcow2_link_clusters(struct qcow2_state *s, uint64_t vc, uint64_t n, uint64_t host,
			uint64_t *old, struct vk_err *err);
int qcow2_preallocate(struct qcow2_state *s, struct vk_err *err);
int qcow2_preallocate_mode(struct qcow2_state *s, uint64_t vc, enum vk_prealloc prealloc,
			   struct vk_err *err);
/* Allocate every unallocated cluster from virtual cluster vc on; fn sees each new host run. */
int qcow2_preallocate_from(struct qcow2_state *s, uint64_t vc,
			   int (*fn)(struct qcow2_state *s, uint64_t host, uint64_t len,
				     struct vk_err *err), struct vk_err *err);
int qcow2_zero_cluster(struct qcow2_state *s, uint64_t vc, struct vk_err *err);
void qcow2_compressed_range(struct qcow2_state *s, uint64_t l2e, uint64_t *off, uint64_t *len);
int qcow2_get_l2_for_write(struct qcow2_state *s, uint64_t vc, void **l2, struct vk_err *err);
int qcow2_release_entries(struct qcow2_state *s, const uint64_t *old, uint64_t n,
			  struct vk_err *err);

/* qcow2-compress.c, qcow2-discard.c, qcow2-header.c */
ssize_t qcow2_compress(struct vk_blk *bs, void *out, size_t cap, const void *in, size_t len);
int qcow2_pwrite_compressed(struct vk_blk *bs, uint64_t off, const void *buf, size_t len,
			    const void *cdata, size_t clen, struct vk_err *err);
int qcow2_discard(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err);
int qcow2_set_backing(struct vk_blk *bs, const char *file, const char *fmt, struct vk_err *err);

/* qcow2-subcluster.c: qcow2_get_extent for extended L2 entries (read-only). */
int qcow2_sc_get_extent(struct qcow2_state *s, uint64_t off, uint64_t len, uint64_t *pnum,
			uint64_t *host, enum qcow2_cluster_type *type, struct vk_err *err);
bool qcow2_sc_has_host(struct qcow2_state *s, uint64_t off);

/* qcow2-bitmap.c: the persistent bitmap directory, as on disk. */
#define QCOW2_EXT_BITMAPS	0x23852875u
#define QCOW2_AUTOCLEAR_BITMAPS	(1ULL << 0)
#define QCOW2_BME_IN_USE	(1u << 0)
#define QCOW2_BME_AUTO		(1u << 1)
#define QCOW2_BITMAPS_MAX	65535
#define QCOW2_BITMAP_DIR_MAX	(64 * MiB)
#define QCOW2_BITMAP_NAME_MAX	1023
#define QCOW2_BITMAP_MAX_TABLE	0x8000000u
#define QCOW2_BITMAP_MAX_PHYS	0x20000000u
struct qcow2_bitmap {
	uint64_t table_offset;
	uint32_t table_size;		/* entries */
	uint32_t flags;
	uint8_t granularity_bits;
	uint16_t name_len;
	char *name;
	struct qcow2_bm *mem;		/* while storing: the bitmap in memory it is written from */
};
struct qcow2_bitmaps {
	uint64_t dir_offset, dir_size;
	uint32_t nb;
	struct qcow2_bitmap *e;
};
int qcow2_bitmaps_load(struct qcow2_state *s, struct qcow2_bitmaps *b, struct vk_err *err);
void qcow2_bitmaps_free(struct qcow2_bitmaps *b);
int qcow2_bitmap_table_each(struct qcow2_state *s, const struct qcow2_bitmap *e,
			    void (*fn)(void *opaque, uint64_t off), void *opaque,
			    struct vk_err *err);
/* The header's bitmaps extension: where the directory is, even while the autoclear bit is off. */
int qcow2_bitmaps_ext(struct qcow2_state *s, uint32_t *nb, uint64_t *size, uint64_t *off,
		      struct vk_err *err);
static inline uint64_t qcow2_div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}
/* Bytes of a bitmap of this granularity over size bytes, in 64-bit words as QEMU lays it out. */
static inline uint64_t qcow2_bitmap_bytes(uint64_t size, uint8_t gbits)
{
	return size ? (((size - 1) >> gbits >> 6) + 1) * 8 : 0;
}

/* qcow2-bitmap-store.c: writing the directory, the tables and the bitmap data. */
struct qcow2_bm {
	char *name;
	uint8_t gbits;
	bool enabled;			/* written as the "auto" flag */
	bool inconsistent;		/* in use when loaded: its data is unknown */
	bool readonly;			/* loaded from an image opened read-only */
	uint64_t seq;			/* creation order: QEMU walks the newest first */
	uint64_t bytes;
	uint8_t *data;			/* bit i covers bytes [i << gbits, (i + 1) << gbits) */
};
struct qcow2_bm_set {
	struct qcow2_bm *v;
	unsigned int n;
	uint64_t seq;
};
/* Rewrite the header's extension area with this bitmaps extension (nb 0: none) and s->autoclear. */
int qcow2_header_write_bitmaps(struct qcow2_state *s, uint32_t nb, uint64_t dir_size,
			       uint64_t dir_off, struct vk_err *err);
/* A new directory for list (all of it: freeing the old one), header switched, old one freed. */
int qcow2_bitmaps_update_dir(struct qcow2_state *s, struct qcow2_bitmaps *list,
			     struct vk_err *err);
/* Mark every bitmap in use in the directory, rewritten where it is (as QEMU on opening). */
int qcow2_bitmaps_dir_in_place(struct qcow2_state *s, struct qcow2_bitmaps *list,
			       struct vk_err *err);
/* Free a bitmap's data clusters and its table. */
int qcow2_bitmap_free_clusters(struct qcow2_state *s, uint64_t table_offset, uint32_t table_size,
			       struct vk_err *err);
/* One bitmap's data clusters (those with a bit set) and table; e gets the table. */
int qcow2_bitmap_store_one(struct qcow2_state *s, struct qcow2_bitmap *e,
			   const struct qcow2_bm *m, struct vk_err *err);
/* Write the bitmaps in memory back (on close): new tables and directory, in-use flags off. */
int qcow2_bitmaps_store(struct qcow2_state *s, struct vk_err *err);
/* Check a bitmap's granularity, size and name against what the format holds (QEMU's words). */
int qcow2_bitmap_constraints(struct qcow2_state *s, const char *name, uint8_t gbits,
			     struct vk_err *err);

/* qcow2-bitmap-mem.c: the bitmaps in memory while an image is open. */
int qcow2_bitmaps_open(struct qcow2_state *s, struct vk_err *err);
/* Opened read-only: a directory QEMU would refuse fails the open as in QEMU (nothing loaded). */
int qcow2_bitmaps_validate(struct qcow2_state *s, struct vk_err *err);
/* Write them back (store: the image was open for writing and is fine) and forget them. */
void qcow2_bitmaps_close(struct qcow2_state *s, bool store);
struct qcow2_bm *qcow2_bm_find(struct qcow2_bm_set *set, const char *name);
/* A new bitmap in memory, all clear, over the image's size (NULL on failure, err set). */
struct qcow2_bm *qcow2_bm_new(struct qcow2_state *s, const char *name, uint8_t gbits,
			      bool with_data, struct vk_err *err);
void qcow2_bm_delete(struct qcow2_state *s, struct qcow2_bm *m);
void qcow2_bm_set_bits(struct qcow2_bm *m, uint64_t first, uint64_t last);
/* Before a resize: every bitmap must be usable (QEMU refuses one left in use). */
int qcow2_bitmaps_can_resize(struct qcow2_state *s, struct vk_err *err);
/* After a resize: each bitmap covers s->size, bits past the end cleared, new ones clear. */
int qcow2_bitmaps_resize(struct qcow2_state *s, struct vk_err *err);
/* A guest-visible write to [off, off+len): set it in every enabled bitmap. */
void qcow2_bitmaps_note_write(struct qcow2_state *s, uint64_t off, uint64_t len);

/* qcow2-snapshot-table.c */
int qcow2_snapshots_load(struct qcow2_state *s, uint64_t offset, struct vk_err *err);
void qcow2_snapshots_free(struct qcow2_state *s);
void qcow2_snapshot_clear(struct qcow2_snapshot *sn);
int qcow2_snapshots_write(struct qcow2_state *s, struct qcow2_snapshot *list, uint32_t n,
			  struct vk_err *err);
int qcow2_snapshot_read_l1(struct qcow2_state *s, const struct qcow2_snapshot *sn, uint64_t **l1,
			   struct vk_err *err);
bool qcow2_snapshot_overlap(struct qcow2_state *s, uint64_t host, uint64_t len);

/* qcow2-snapshot.c */
int qcow2_cow_l2(struct qcow2_state *s, uint64_t l1i, struct vk_err *err);
int qcow2_snapshot_list(struct vk_blk *bs, struct vk_blk_snapshot **out, unsigned int *n,
			struct vk_err *err);
int qcow2_snapshot_create(struct vk_blk *bs, const char *name, struct vk_err *err);
int qcow2_snapshot_goto(struct vk_blk *bs, const char *id_or_name, struct vk_err *err);
int qcow2_snapshot_delete(struct vk_blk *bs, const char *id, const char *name,
			  struct vk_err *err);
int qcow2_fix_copied(struct qcow2_state *s, struct vk_err *err);
/* Drop one reference of what L2 entries / a whole L2 table (and its entries) point at. */
int qcow2_unref_entries(struct qcow2_state *s, const uint64_t *e, uint64_t n, struct vk_err *err);
int qcow2_unref_l2(struct qcow2_state *s, uint64_t l2off, struct vk_err *err);

/* qcow2-datafile.c */
int qcow2_data_open(struct qcow2_state *s, struct vk_err *err);
void qcow2_data_close(struct qcow2_state *s);
int qcow2_data_pread(struct qcow2_state *s, void *buf, uint64_t off, size_t len,
		     struct vk_err *err);
int qcow2_data_pwrite(struct qcow2_state *s, const void *buf, uint64_t off, size_t len,
		      struct vk_err *err);
int qcow2_data_punch_entries(struct qcow2_state *s, const uint64_t *old, uint64_t n,
			     struct vk_err *err);
int qcow2_data_write_zeroes(struct qcow2_state *s, uint64_t off, uint64_t len,
			    struct vk_err *err);
int qcow2_data_sync(struct qcow2_state *s, struct vk_err *err);
int qcow2_data_truncate(struct qcow2_state *s, uint64_t size, struct vk_err *err);
int qcow2_data_extend(struct qcow2_state *s, uint64_t size, struct vk_err *err);
/* Created or emptied, sized to the image; never the image itself (image_fd). */
int qcow2_data_create(const char *name, const struct vk_blk_create_opts *o, int image_fd,
		      struct vk_err *err);

/* qcow2-resize.c */
int qcow2_grow_l1(struct qcow2_state *s, uint64_t min_size, struct vk_err *err);
int qcow2_write_l1(struct qcow2_state *s, struct vk_err *err);
int qcow2_truncate(struct vk_blk *bs, uint64_t size, enum vk_prealloc prealloc,
		   struct vk_err *err);

/* qcow2-amend.c */
int qcow2_amend(struct vk_blk *bs, const struct vk_blk_amend_opts *o, struct vk_err *err);
int qcow2_amend_opt(struct vk_blk_amend_opts *o, const char *key, const char *val,
		    struct vk_err *err);
extern const char qcow2_amend_help[];

/* qcow2-overlap.c: QEMU's metadata overlap checks. */
enum {
	QCOW2_OL_HEADER_BIT, QCOW2_OL_L1_BIT, QCOW2_OL_L2_BIT, QCOW2_OL_RT_BIT, QCOW2_OL_RB_BIT,
	QCOW2_OL_SNAPSHOTS_BIT,
};
#define QCOW2_OL_HEADER		(1u << QCOW2_OL_HEADER_BIT)
#define QCOW2_OL_L1		(1u << QCOW2_OL_L1_BIT)
#define QCOW2_OL_L2		(1u << QCOW2_OL_L2_BIT)
#define QCOW2_OL_RT		(1u << QCOW2_OL_RT_BIT)
#define QCOW2_OL_RB		(1u << QCOW2_OL_RB_BIT)
#define QCOW2_OL_SNAPSHOTS	(1u << QCOW2_OL_SNAPSHOTS_BIT)
/*
 * May [host, host+len) be written? Not if it meets metadata of a kind not in
 * ignore: then the image is marked corrupt and -EUCLEAN returned ("Preventing
 * invalid write on metadata"). Nor once the image is marked corrupt.
 */
int qcow2_overlap_check(struct qcow2_state *s, unsigned int ignore, uint64_t host, uint64_t len,
			struct vk_err *err);
int qcow2_writable(struct qcow2_state *s, struct vk_err *err);
/* Whether [host, host+len) meets any metadata (nothing marked, nothing said). */
bool qcow2_overlaps_metadata(struct qcow2_state *s, uint64_t host, uint64_t len);
/* qcow2-map-io.c: the driver's map_io and its allocating writes. */
int qcow2_map_io(struct vk_blk *bs, uint64_t off, uint64_t len, bool write, uint64_t *pnum,
		 int *fd, uint64_t *host);
int qcow2_alloc_io(struct vk_blk *bs, uint64_t off, uint64_t len, unsigned int flags,
		   uint64_t *pnum, int *fd, uint64_t *host);
int qcow2_alloc_commit(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t host,
		       struct vk_err *err);
void qcow2_alloc_abort(struct vk_blk *bs, uint64_t host, uint64_t len);
int qcow2_mark_corrupt(struct qcow2_state *s);
/* After a repair that left no corruption (qemu-img check -r clears the bit too). */
void qcow2_mark_consistent(struct qcow2_state *s);

/* qcow2-rebuild.c: new refcount structures from ref[0..nb), the counted references. */
int qcow2_rebuild_refcounts(struct qcow2_state *s, const uint32_t *ref, uint64_t nb,
			    struct vk_err *err);

/* qcow2-check.c */
int qcow2_check(struct vk_blk *bs, struct vk_blk_check *res, unsigned int fix,
		struct vk_err *err);

/* qcow2-measure.c */
int qcow2_measure(const struct vk_blk_create_opts *o, struct vk_blk *in,
		  struct vk_blk_measure *res, struct vk_err *err);

/* qcow2.c */
int qcow2_flush(struct vk_blk *bs, struct vk_err *err);
int qcow2_create(const char *filename, const struct vk_blk_create_opts *o, struct vk_err *err);

#endif
