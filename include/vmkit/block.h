/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The image library: open an image file (raw, qcow2; vmdk, vpc, vdi and vhdx
 * read only; probed or named),
 * read and write it by virtual offset, ask what is allocated where, create
 * and check images. Drivers are const ops tables; raw is probed last.
 * Nothing here prints: every failure fills a struct vk_err naming the file.
 */
#ifndef VMKIT_BLOCK_H
#define VMKIT_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmkit/util.h"

struct vk_blk;
struct vk_jv;

/* Open flags. */
#define VK_BLK_RDWR		(1u << 0)
#define VK_BLK_FORCE_SHARE	(1u << 1)	/* qemu-img -U: take no locks that stop others */
#define VK_BLK_NO_BACKING	(1u << 2)	/* do not open the backing chain */
#define VK_BLK_NO_LOCK		(1u << 3)
#define VK_BLK_CACHE_UNSAFE	(1u << 4)	/* cache=unsafe: flushes write metadata, skip fdatasync */
#define VK_BLK_ANY_EXTENTS	(1u << 5)	/* vmdk extents may lie outside the descriptor's directory */
#define VK_BLK_CHECK		(1u << 6)	/* opened to be repaired: a corrupt-marked image may be written */
/*
 * Cache modes as QEMU applies them to every file of a chain: CACHE_DIRECT
 * opens with O_DIRECT (all I/O then aligned to the file's logical block,
 * bounced where the caller's is not), CACHE_DSYNC with O_DSYNC (each write
 * is durable when it returns, so flushes need no fdatasync).
 */
#define VK_BLK_CACHE_DIRECT	(1u << 7)
#define VK_BLK_CACHE_DSYNC	(1u << 8)
/* qemu-img --image-opts: the name is "key=value,..." options (for this layer, not its backing). */
#define VK_BLK_IMAGE_OPTS	(1u << 9)
/*
 * Metadata only (qemu-img info, fuzzing): a qcow2 external data file is not
 * opened, as QEMU's NO_IO; reading its clusters then fails.
 */
#define VK_BLK_NO_IO		(1u << 10)
/*
 * Opened by qemu-img check (QEMU's BDRV_O_CHECK): a driver that refuses a
 * corrupt image at open (vhdx's BAT) lets it open so that check reports it.
 */
#define VK_BLK_CHECKING		(1u << 11)
/*
 * Opened inactive, for a live migration's destination (QEMU's
 * BDRV_O_INACTIVE): while the source still writes the image, the driver
 * reads it as read-only, takes no lock and writes nothing (no dirty flag,
 * no bitmaps marked in use); vk_blk_activate makes it what it was opened
 * for once the source has let go.
 */
#define VK_BLK_INACTIVE		(1u << 12)

struct vk_blk_opts {
	const char *format;		/* NULL: probe */
	unsigned int flags;
	uint64_t cache_size;		/* qcow2 metadata cache bytes, 0: default */
};

/* Block status flags, for one range of one layer. */
#define VK_BS_DATA		(1u << 0)	/* reads come from this layer's data */
#define VK_BS_ZERO		(1u << 1)	/* reads as zeros */
#define VK_BS_OFFSET_VALID	(1u << 2)	/* *map is the host offset in *file */
#define VK_BS_ALLOCATED		(1u << 3)	/* this layer decides the content */
#define VK_BS_RECURSE		(1u << 4)	/* driver to generic layer: holes in the file read as zeros */

/* One extent of a vmdk image, as `info` shows it. */
struct vk_blk_vmdk_extent {
	const char *filename;
	const char *format;		/* the descriptor's extent type, "" if none */
	uint64_t virtual_size;
	uint64_t cluster_size;		/* 0: flat */
	bool compressed;
};

/* What `info` shows. Strings are owned by the image. */
struct vk_blk_info {
	const char *format;
	const char *filename;
	uint64_t virtual_size;
	int64_t actual_size;		/* bytes the file occupies on disk, -1 unknown */
	uint32_t cluster_size;		/* 0: no clusters */
	bool dirty;
	bool no_dirty;			/* null-co: QEMU has no image info to show a dirty flag from */
	const char *backing_file;	/* as recorded, NULL if none */
	const char *backing_fmt;	/* NULL if not recorded */
	const char *full_backing;	/* resolved path */
	/* qcow2 only (is_qcow2) */
	bool is_qcow2;
	int qcow2_version;
	const char *compression;
	bool lazy_refcounts;
	unsigned int refcount_bits;
	bool corrupt;
	bool extended_l2;
	uint32_t nb_snapshots;
	bool has_data_file;		/* incompatible bit 2: an external data file */
	const char *data_file;		/* its name as recorded, NULL if none is */
	bool data_file_raw;
	/* vmdk only (is_vmdk) */
	bool is_vmdk;
	uint32_t vmdk_cid, vmdk_parent_cid;
	const char *vmdk_create_type;
	unsigned int vmdk_nb_extents;
	const struct vk_blk_vmdk_extent *vmdk_extents;
};

/* Preallocation for create and resize (qemu-img -o preallocation=, resize --preallocation). */
enum vk_prealloc { VK_PREALLOC_OFF, VK_PREALLOC_METADATA, VK_PREALLOC_FALLOC, VK_PREALLOC_FULL };
/* The mode named "off", "metadata", "falloc" or "full"; -EINVAL for any other name. */
int vk_blk_prealloc_parse(const char *name);

/* Creation options (qemu-img create -o). */
struct vk_blk_create_opts {
	uint64_t size;
	uint64_t cluster_size;		/* 0: 64 KiB, unless cluster_size_given (then refused) */
	bool cluster_size_given;	/* -o cluster_size= gave it, 0 included */
	int compat;			/* 2 (0.10) or 3 (1.1, default) */
	bool lazy_refcounts;
	enum vk_prealloc prealloc;	/* qcow2: metadata and up; raw: falloc, full */
	unsigned int refcount_bits;	/* 0: 16 */
	const char *backing_file;
	const char *backing_fmt;
	int compression_type;		/* qcow2: 0 zlib, 1 zstd */
	/* The file's extent size hint (XFS), at most 4 GiB - 1; 0: none. qemu-img's default is 1 MiB. */
	uint64_t extent_size_hint;
	bool extent_size_hint_given;	/* -o extent_size_hint=: warn when it cannot be set */
	const char *data_file;		/* qcow2: external data file, created (truncated) first */
	bool data_file_raw;		/* qcow2: the data file is a valid raw image */
	/*
	 * compat and preallocation as -o gave them (NULL: not given), for what
	 * the fields above cannot tell: qcow2's measure takes compat "0.10" or
	 * "1.1" only, and words its refusal of a bad value with the value.
	 */
	const char *compat_str, *prealloc_str;
};

/* Check results, as qemu-img's ImageCheck. */
struct vk_blk_check {
	int64_t corruptions, leaks, check_errors;
	int64_t corruptions_fixed, leaks_fixed;
	int64_t image_end_offset;
	int64_t total_clusters, allocated_clusters;
	int64_t fragmented_clusters, compressed_clusters;
	/* One line per finding ("Leaked cluster 9 refcount=1 reference=0"). */
	void (*report)(void *opaque, const char *line);
	void *opaque;
};

/* An internal snapshot, as qemu-img snapshot -l shows it. Strings are owned by the image. */
struct vk_blk_snapshot {
	const char *id, *name;
	uint64_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;
	uint64_t disk_size;
	int64_t icount;			/* -1: not recorded */
};


/*
 * qemu-img amend -o: what to change (-1 / NULL / false: leave as it is).
 * Start from VK_BLK_AMEND_NONE, fill with vk_blk_amend_parse (the format's
 * driver knows its option names and values), end with vk_blk_amend_free.
 */
struct vk_blk_amend_opts {
	int compat;			/* 2 or 3 */
	int lazy_refcounts;		/* 0 or 1 */
	int refcount_bits;		/* 1 to 64, a power of two */
	char *data_file;		/* new name of the external data file ("": none); owned */
	int data_file_raw;		/* 0: clear (setting it is refused) */
	bool have_size;			/* size= given: the new virtual size */
	uint64_t size;
};
#define VK_BLK_AMEND_NONE { .compat = -1, .lazy_refcounts = -1, .refcount_bits = -1, \
			    .data_file_raw = -1 }

#define VK_CHECK_FIX_LEAKS	(1u << 0)
#define VK_CHECK_FIX_ERRORS	(1u << 1)

/* What qemu-img measure prints for a new image. */
struct vk_blk_measure {
	uint64_t required;		/* the file's size for the input's data (none with a size alone) */
	uint64_t fully_allocated;	/* the file's size with every cluster written */
	int64_t bitmaps;		/* the input's persistent bitmaps in it; -1: not shown */
};

/* A creation option a format (or the file protocol) takes as -o NAME=VALUE. */
struct vk_blk_create_opt {
	const char *name, *type, *help;	/* as qemu-img's -o help lists them */
};

/*
 * One option of the "Formatting 'F', fmt=..." line qemu-img create prints,
 * in the order the format shows them: its value as given, else deflt
 * (NULL: left out when not given). The file protocol's options follow.
 */
struct vk_blk_shown_opt {
	const char *name, *deflt;
};

struct vk_blk_driver {
	const char *name;
	size_t state_size;
	bool discards;		/* every write is dropped (null-co): compressed ones too */
	/*
	 * The image's bytes are the file's, at the same offsets (raw): a VMM may
	 * serve it from the file directly, without the library.
	 */
	bool plain;
	/*
	 * What create takes, sorted by name and ended by an all-NULL entry;
	 * NULL: vmkit reads the format but cannot create it. The commands parse
	 * -o and list -o help from here, never from a list of their own.
	 */
	const struct vk_blk_create_opt *create_opts;
	/* The "Formatting ..." line's options (ended by a NULL name); NULL: not creatable. */
	const struct vk_blk_shown_opt *formatting;
	/* Score how well buf (the file's first bytes) matches: 0 = not ours. */
	int (*probe)(const uint8_t *buf, size_t len);
	/*
	 * Score the file's last bytes (buf, len of them) when no driver took the
	 * first sector: a fixed VHD's only footer is there. NULL: no such magic.
	 */
	int (*probe_tail)(const uint8_t *buf, size_t len);
	int (*open)(struct vk_blk *bs, struct vk_err *err);
	void (*close)(struct vk_blk *bs);
	int (*pread)(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err);
	int (*pwrite)(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		      struct vk_err *err);
	/* Make [off, off+len) read as zeros (may deallocate). NULL: write zeros. */
	int (*pwrite_zeroes)(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err);
	int (*flush)(struct vk_blk *bs, struct vk_err *err);
	uint64_t (*length)(struct vk_blk *bs);
	int (*get_info)(struct vk_blk *bs, struct vk_blk_info *info);
	/*
	 * Status of [off, off+len) in this layer only: returns VK_BS_* flags for
	 * the first *pnum bytes (>0), or negative errno.
	 */
	int (*block_status)(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			    uint64_t *map, struct vk_err *err);
	int (*create)(const char *filename, const struct vk_blk_create_opts *o,
		      struct vk_err *err);
	/*
	 * qemu-img measure: the file a new image takes, of virtual size o->size
	 * (in NULL) or holding what in reads as (its chain included). The
	 * driver checks the values of its own options, in qemu-img's words.
	 * NULL: the format cannot say.
	 */
	int (*measure)(const struct vk_blk_create_opts *o, struct vk_blk *in,
		       struct vk_blk_measure *res, struct vk_err *err);
	int (*check)(struct vk_blk *bs, struct vk_blk_check *res, unsigned int fix,
		     struct vk_err *err);
	/* Internal snapshots; NULL: the format has none (list is empty). */
	int (*snapshot_list)(struct vk_blk *bs, struct vk_blk_snapshot **out, unsigned int *n,
			     struct vk_err *err);
	int (*snapshot_create)(struct vk_blk *bs, const char *name, struct vk_err *err);
	int (*snapshot_goto)(struct vk_blk *bs, const char *id_or_name, struct vk_err *err);
	int (*snapshot_delete)(struct vk_blk *bs, const char *id, const char *name,
			       struct vk_err *err);
	int (*truncate)(struct vk_blk *bs, uint64_t size, enum vk_prealloc prealloc,
			struct vk_err *err);
	/*
	 * qemu-img amend: change what o asks, checking first what needs the
	 * image (a width the version cannot hold) so that a refusal changes
	 * nothing. NULL: the format cannot be amended.
	 */
	int (*amend)(struct vk_blk *bs, const struct vk_blk_amend_opts *o, struct vk_err *err);
	/*
	 * One amend -o KEY=VAL into o: the format's own names and the syntax of
	 * their values, refused in qemu-img's words (an option only creation
	 * takes says so). Set with amend.
	 */
	int (*amend_opt)(struct vk_blk_amend_opts *o, const char *key, const char *val,
			 struct vk_err *err);
	/* What amend -o help prints. */
	const char *amend_help;
	/* Images with compressed clusters (see vk_blk_compress). NULL: not supported. */
	ssize_t (*compress)(struct vk_blk *bs, void *out, size_t cap, const void *in, size_t len);
	int (*pwrite_compressed)(struct vk_blk *bs, uint64_t off, const void *buf, size_t len,
				 const void *cdata, size_t clen, struct vk_err *err);
	/* Make whole clusters of [off, off+len) unallocated (reads fall through to backing). */
	int (*discard)(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err);
	/*
	 * Drop all of this layer's data once it is in the backing file (commit):
	 * what the guest reads stays the same, so dirty bitmaps are not touched.
	 * NULL: discard the whole image.
	 */
	int (*make_empty)(struct vk_blk *bs, struct vk_err *err);
	/* Record a new backing file (NULL: none) in the image's header. */
	int (*set_backing)(struct vk_blk *bs, const char *file, const char *fmt,
			   struct vk_err *err);
	/* The file block_status's *map at off points into; NULL: the image's own. */
	const char *(*map_filename)(struct vk_blk *bs, uint64_t off);
	/* The open file descriptor of that file (holes are looked for there); NULL: bs->fd. */
	int (*map_fd)(struct vk_blk *bs, uint64_t off);
	/* Free metadata tables unused since the last call; returns how many. NULL: no cache. */
	unsigned int (*cache_clean)(struct vk_blk *bs);
	/*
	 * The hot path of an asynchronous caller (vk_blk_map_io): where the
	 * first *pnum bytes of [off, off+len) are, found without I/O and
	 * without changing metadata. Returns VK_MAP_DATA (read or write
	 * *host of file *fd), VK_MAP_ZERO or VK_MAP_BACKING (reads only), or
	 * -EAGAIN: the request needs the driver's own pread/pwrite (a table
	 * not in the cache, an allocation, copy-on-write, compressed data, an
	 * error to report). NULL: always -EAGAIN.
	 */
	int (*map_io)(struct vk_blk *bs, uint64_t off, uint64_t len, bool write, uint64_t *pnum,
		      int *fd, uint64_t *host);
	/*
	 * Allocating writes for that caller (vk_blk_alloc_io): new clusters
	 * for the first *pnum bytes (a leading run) of whole clusters, without I/O,
	 * entries unchanged until alloc_commit (after the data is written) or
	 * given back by alloc_abort. NULL: -EAGAIN.
	 */
	int (*alloc_io)(struct vk_blk *bs, uint64_t off, uint64_t len, unsigned int flags,
			uint64_t *pnum, int *fd, uint64_t *host);
	int (*alloc_commit)(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t host,
			    struct vk_err *err);
	void (*alloc_abort)(struct vk_blk *bs, uint64_t host, uint64_t len);
};

/* An open image: one layer of a chain. */
struct vk_blk {
	const struct vk_blk_driver *drv;
	char *filename;
	int fd;
	bool read_only;
	unsigned int flags;
	uint64_t cache_size;
	struct vk_blk *backing;
	char *backing_file;		/* as recorded in the image */
	char *backing_fmt;
	char *full_backing;		/* resolved against the image's directory */
	bool probed;			/* raw by probing, not by name (see raw.c) */
	uint32_t align;			/* O_DIRECT: offsets, lengths, buffers in multiples; 0 otherwise */
	void *opaque;			/* driver state */
	/*
	 * The name qemu-img prints for the layer ("a.qcow2" for a json: name
	 * over that file, or json:{...}); NULL: filename. The format it shows
	 * ("file", "host_device" for a protocol opened alone); NULL: the driver's.
	 */
	char *display;
	const char *format_name;
	/* A json: name's options for the format, while drv->open runs (raw's offset, size). */
	const struct vk_jv *open_opts;
	uint64_t null_size;		/* null-co: size, and whether reads say zeros */
	bool null_zeroes;
	/*
	 * Called before a cluster of this image is given back to its free
	 * space (refcount 0), with the library's caller's lock held: an
	 * asynchronous caller that has reads or writes in flight on host
	 * offsets vk_blk_map_io gave it waits for them here, so a freed
	 * cluster is never reused under them. NULL: nobody to wait for.
	 */
	void (*before_free)(void *opaque);
	void *before_free_opaque;
};

const struct vk_blk_driver *vk_blk_find_driver(const char *name);
/* For drivers that only read (vmdk, vpc, vdi, vhdx): pwrite refuses, flush has nothing to do. */
int vk_blk_pwrite_read_only(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
			    struct vk_err *err);
int vk_blk_flush_nothing(struct vk_blk *bs, struct vk_err *err);
/*
 * The format whose magic the first sector buf carries (one we read or one we
 * refuse), NULL for raw: what QEMU's rule checks before a write puts a
 * header into the first sector of a probed raw image.
 */
const char *vk_blk_probe_magic(const uint8_t *buf, size_t len);
/*
 * A format vmkit cannot read, known by its magic at the start (head) or in
 * the last 512 bytes (tail) of a file: its QEMU name, *what its product
 * ("Hyper-V VHDX"); NULL if none matches.
 */
const char *vk_blk_probe_foreign(const uint8_t *head, size_t hlen, const uint8_t *tail,
				 size_t tlen, const char **what);

/*
 * -ENOTRECOVERABLE: a name QEMU asserts on (a bad null-co size or bool);
 * err->msg is qemu-img's two lines, "Unexpected error in ...:\n<why>".
 */
int vk_blk_open(const char *filename, const struct vk_blk_opts *o, struct vk_blk **out,
		struct vk_err *err);
void vk_blk_close(struct vk_blk *bs);
static inline void vk_blk_closep(struct vk_blk **bs) { vk_blk_close(*bs); }
#define _cleanup_blk_ __attribute__((cleanup(vk_blk_closep)))

/* Reads past the end of the image fail; reads of unallocated ranges fall through to backing. */
int vk_blk_pread(struct vk_blk *bs, void *buf, uint64_t off, size_t len, struct vk_err *err);

/* Where a piece of a request lies, for callers that do the data I/O themselves. */
enum vk_blk_map_kind { VK_MAP_DATA = 1, VK_MAP_ZERO, VK_MAP_BACKING };
struct vk_blk_mapping {
	enum vk_blk_map_kind kind;	/* DATA or ZERO (BACKING is resolved through the chain) */
	uint64_t len;			/* bytes from the request's offset */
	int fd;				/* DATA: the file, and where in it */
	uint64_t host;
};
/*
 * The hot path of an asynchronous block backend (vmm/block/image.c): maps
 * the first m->len bytes of [off, off+len) of the image (and, for reads,
 * through its backing chain) to a file offset or to zeros, without I/O or
 * metadata change; a write is mapped only where it goes in place (the
 * cluster is allocated and this image's alone). -EAGAIN: not on the hot
 * path; do the request with vk_blk_pread/pwrite instead. The caller
 * serialises this with every other call on the image, and must not keep
 * I/O in flight across a before_free call (see struct vk_blk).
 */
int vk_blk_map_io(struct vk_blk *bs, uint64_t off, uint64_t len, bool write,
		  struct vk_blk_mapping *m);
/*
 * A write vk_blk_map_io could not map because its clusters are not
 * allocated: off and len are whole clusters; the leading run of them that
 * needs no copy is allocated now (no I/O; -EAGAIN if none is) and m says
 * where it lies (m->len bytes); their L2 entries still read as before. With
 * VK_BLK_ALLOC_ZERO_FILL the caller writes its data into part of them and
 * zeros into the rest, so they must read as zeros now (not as a backing
 * file's data, which would have to be copied). After the data is written,
 * vk_blk_alloc_commit makes them point there; if it could not be written,
 * vk_blk_alloc_abort gives the clusters back. In between, the caller must
 * keep other writes off [off, off+m->len) (reads see the old content).
 * -EAGAIN: use vk_blk_pwrite. vk_blk_alloc_commit with err NULL does it
 * only if that takes no I/O and frees nothing, else -EAGAIN (unchanged).
 */
#define VK_BLK_ALLOC_ZERO_FILL	(1u << 0)
int vk_blk_alloc_io(struct vk_blk *bs, uint64_t off, uint64_t len, unsigned int flags,
		    struct vk_blk_mapping *m);
int vk_blk_alloc_commit(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t host,
			struct vk_err *err);
void vk_blk_alloc_abort(struct vk_blk *bs, uint64_t host, uint64_t len);
int vk_blk_pwrite(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		  struct vk_err *err);
int vk_blk_pwrite_zeroes(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err);
int vk_blk_flush(struct vk_blk *bs, struct vk_err *err);
uint64_t vk_blk_length(struct vk_blk *bs);
int vk_blk_get_info(struct vk_blk *bs, struct vk_blk_info *info);
/*
 * fn(opaque, file) for each other file the image reads: the layers of its
 * backing chain and each layer's extents (a vmdk descriptor's), so that a
 * sandbox can let the VM see them. Stops at fn's first non-zero return.
 */
int vk_blk_each_file_under(struct vk_blk *bs, int (*fn)(void *opaque, const char *file),
			   void *opaque);
/* One layer's status (see struct vk_blk_driver), split where the host file has holes. */
int vk_blk_block_status(struct vk_blk *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			uint64_t *map, struct vk_err *err);
/*
 * Status of [off, off+len) through the whole backing chain, as qemu-img's
 * get_block_status: the first layer that says data or zero decides.
 */
struct vk_blk_status {
	unsigned int flags;	/* VK_BS_*; 0: no layer has the range */
	uint64_t pnum;		/* the status holds for [off, off+pnum) */
	uint64_t map;
	int depth;		/* layers below bs */
	struct vk_blk *file;	/* the layer whose file map is in */
};
int vk_blk_chain_status(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_blk_status *st,
			struct vk_err *err);
int vk_blk_check(struct vk_blk *bs, struct vk_blk_check *res, unsigned int fix,
		 struct vk_err *err);
int vk_blk_create(const char *format, const char *filename, const struct vk_blk_create_opts *o,
		  struct vk_err *err);
/*
 * The size a new image of format would take (see struct vk_blk_driver's
 * measure); -ENOTSUP, with qemu-img's words, for a format that cannot say.
 */
int vk_blk_measure(const char *format, const struct vk_blk_create_opts *o, struct vk_blk *in,
		   struct vk_blk_measure *res, struct vk_err *err);
/*
 * Copy what src_file reads as (its backing chain included) into a new
 * image dst_file of format fmt, with no backing file: zeros stay
 * unallocated, the image is written under a temporary name, flushed and
 * renamed into place, so a failure leaves nothing behind.
 */
int vk_blk_copy_new(const char *src_file, const char *dst_file, const char *fmt,
		    struct vk_err *err);
/*
 * Whether path is an ISO 9660 image ("CD001" in sector 16), what a CD-ROM
 * drive takes: 0, or an error naming the file ("not an ISO 9660 image").
 */
int vk_blk_iso_check(const char *path, struct vk_err *err);
/*
 * One chunk of a backup (cluster-aligned, a cluster long or the image's
 * tail) into target: zeros are left out, unless the target lies over a
 * backing file (an incremental backup over the previous one), where they
 * become zero clusters; the rest is written compressed (one cluster per
 * call, the target's clusters never written before) or as it is.
 */
int vk_blk_backup_write(struct vk_blk *target, uint64_t off, const void *buf, size_t len,
			bool over_backing, bool compress, struct vk_err *err);
/* The file protocol's creation options, which every format's file takes too. */
extern const struct vk_blk_create_opt vk_blk_file_create_opts[];
/* Does the named format's own option list (not the file protocol's) have opt? */
bool vk_blk_format_has_opt(const struct vk_blk_driver *drv, const char *opt);
/* What a format can do, by name (false for a name no driver has). */
bool vk_blk_format_creatable(const char *format);
bool vk_blk_format_has_backing(const char *format);
bool vk_blk_format_can_measure(const char *format);
/* The format's bytes are the file's (raw): see the driver's plain flag. */
bool vk_blk_format_plain(const char *format);
/* Takes writes into an existing image (convert -n), and compressed ones (-c). */
bool vk_blk_format_writable(const char *format);
bool vk_blk_format_compresses(const char *format);
/*
 * 0 if images of format can be created; else why not, in qemu-img's words
 * ("Unknown file format 'x'": -ENOENT; "Format driver 'null-co' does not
 * support image creation") or vmkit's for a format it only reads.
 */
int vk_blk_format_create_check(const char *format, struct vk_err *err);
/* The formats vmkit creates, for messages: "qcow2 or raw" (the table's order). */
const char *vk_blk_creatable_formats(void);
/* Every format vmkit opens, for messages: "qcow2, vmdk, vpc, vdi, vhdx or raw". */
const char *vk_blk_formats(void);

/* Snapshots: the list is malloc'd (free it), its strings belong to the image. */
int vk_blk_snapshot_list(struct vk_blk *bs, struct vk_blk_snapshot **out, unsigned int *n,
			 struct vk_err *err);
int vk_blk_snapshot_create(struct vk_blk *bs, const char *name, struct vk_err *err);
/* Found by ID first, then by name (qemu-img snapshot -a). */
int vk_blk_snapshot_goto(struct vk_blk *bs, const char *id_or_name, struct vk_err *err);
/* The first snapshot matching both id and name where given (either may be NULL). */
int vk_blk_snapshot_delete(struct vk_blk *bs, const char *id, const char *name,
			   struct vk_err *err);
/* Change the virtual size; shrinking discards what lies past the new end. */
int vk_blk_truncate(struct vk_blk *bs, uint64_t size, enum vk_prealloc prealloc,
		    struct vk_err *err);
/*
 * cache-clean-interval's step, for every layer of the chain: tables unused
 * since the previous call are dropped and their memory returned. Returns
 * how many went. Not thread-safe with requests: the caller serialises.
 */
unsigned int vk_blk_cache_clean(struct vk_blk *bs);
int vk_blk_amend(struct vk_blk *bs, const struct vk_blk_amend_opts *o, struct vk_err *err);
/* Parse an amend -o list (key=val,...) for bs's format into o. */
int vk_blk_amend_parse(struct vk_blk *bs, const char *list, struct vk_blk_amend_opts *o,
		       struct vk_err *err);
void vk_blk_amend_free(struct vk_blk_amend_opts *o);

/* The persistent dirty bitmaps of a qcow2 image (none when stale or another format). */
struct vk_blk_bitmap {
	char *name;
	uint32_t granularity;
	bool in_use, autom;		/* flags: in-use, auto */
};
int vk_blk_bitmap_list(struct vk_blk *bs, struct vk_blk_bitmap **out, unsigned int *n,
		       struct vk_err *err);
void vk_blk_bitmap_list_free(struct vk_blk_bitmap *list, unsigned int n);
/*
 * Did the image have a bitmaps extension whose autoclear bit a program
 * without bitmap support cleared (1; 2: a version 2 image, which cannot
 * tell)? Its bitmaps are stale; opened for writing, the extension is gone.
 */
int vk_blk_bitmaps_stale(struct vk_blk *bs);
/*
 * qemu-img bitmap's actions, in QEMU's words on failure. Changes reach the
 * file when the image is closed (a removal at once). add: granularity 0
 * takes the default; -ENOTSUP: the format has no bitmaps; -EPERM: the image
 * cannot hold this one (qemu-img says "Can't make bitmap ... persistent").
 */
int vk_blk_bitmap_add(struct vk_blk *bs, const char *name, uint32_t granularity,
		      struct vk_err *err);
int vk_blk_bitmap_remove(struct vk_blk *bs, const char *name, struct vk_err *err);
int vk_blk_bitmap_clear(struct vk_blk *bs, const char *name, struct vk_err *err);
int vk_blk_bitmap_enable(struct vk_blk *bs, const char *name, bool enable, struct vk_err *err);
/*
 * Write the bitmaps back now, as closing would, to hear how it went: only
 * right before vk_blk_close (writes after it are no longer tracked).
 */
int vk_blk_bitmaps_flush(struct vk_blk *bs, struct vk_err *err);
/*
 * Backups (issue 15): the byte ranges bitmap `name` has set, in order, each
 * run of set bits as one call of fn (a non-zero return stops the walk and
 * is returned); and setting a range's bits again (a failed backup gives
 * back what it took). -ENOENT: no such bitmap; inconsistent ones refused.
 */
int vk_blk_bitmap_dirty_each(struct vk_blk *bs, const char *name,
			     int (*fn)(void *opaque, uint64_t off, uint64_t len), void *opaque,
			     struct vk_err *err);
int vk_blk_bitmap_mark(struct vk_blk *bs, const char *name, uint64_t off, uint64_t len,
		       struct vk_err *err);
/* Set in name what src_name of src_bs has set (src_bs may be bs). */
int vk_blk_bitmap_merge(struct vk_blk *bs, const char *name, struct vk_blk *src_bs,
			const char *src_name, struct vk_err *err);
/*
 * Compressed writes (qemu-img convert -c). vk_blk_compress compresses one
 * cluster (len <= cluster size; no I/O, no image state: safe to call from
 * several threads at once) into out, returning the compressed length, 0 if
 * it would not shrink, or negative errno. vk_blk_pwrite_compressed stores
 * one cluster at cluster-aligned off: cdata/clen from vk_blk_compress, or
 * cdata NULL to compress here; clen 0 writes buf uncompressed. A call with
 * len 0 ends the stream (qcow2: the file then ends on a sector, as QEMU's).
 */
ssize_t vk_blk_compress(struct vk_blk *bs, void *out, size_t cap, const void *in, size_t len);
int vk_blk_pwrite_compressed(struct vk_blk *bs, uint64_t off, const void *buf, size_t len,
			     const void *cdata, size_t clen, struct vk_err *err);
/* Cluster size of a clustered format, 0 for raw. */
uint32_t vk_blk_cluster_size(struct vk_blk *bs);
/*
 * Drop this layer's data for the whole clusters in [off, off+len): they read
 * from the backing file again (zeros without one). Raw files punch holes.
 */
int vk_blk_discard(struct vk_blk *bs, uint64_t off, uint64_t len, struct vk_err *err);
/* Empty the image after commit (QEMU's bdrv_make_empty): reads go to the backing file again. */
int vk_blk_make_empty(struct vk_blk *bs, struct vk_err *err);
/* Point the image at a new backing file (file NULL: none); the header only, no data. */
int vk_blk_set_backing(struct vk_blk *bs, const char *file, const char *fmt, struct vk_err *err);

/* Resolve a backing file name against the directory of the image naming it (malloc'd). */
char *vk_blk_resolve_backing(const char *image, const char *backing);
/*
 * The host path an image name means, as QEMU parses names: "file:a:b" is
 * "./a:b"; other protocols ("nbd:...", "x:y") fail with "Unknown protocol".
 */
int vk_blk_name_path(const char *name, char **path, struct vk_err *err);

/* Host-file helpers shared by drivers. */
/* open(2) flags for an image file opened with these VK_BLK_* flags. */
int vk_blk_file_open_flags(unsigned int flags);
/*
 * Open path for bs (bs->flags set): the cache mode's flags, and the O_DIRECT
 * alignment. A file system that refuses O_DIRECT fails with QEMU's words.
 */
int vk_blk_file_open(struct vk_blk *bs, const char *path, struct vk_err *err);
/*
 * Ask the file system to allocate fd's file in extents of hint bytes
 * (FS_IOC_FSSETXATTR, XFS). Advisory: where it is not supported, nothing
 * happens, as with qemu-img.
 */
void vk_blk_file_extent_hint(int fd, const struct vk_blk_create_opts *o);
/* The bytes read at off (at most len; fewer only at the end of the file), or -errno. */
ssize_t vk_blk_file_read_some(struct vk_blk *bs, void *buf, uint64_t off, size_t len);
/* Make what was written durable: fdatasync, unless cache=unsafe or O_DSYNC made it so. */
int vk_blk_file_sync(struct vk_blk *bs, struct vk_err *err);
/* Read len bytes of fd at off, retrying short reads; name is the file in errors. */
int vk_fd_pread(int fd, const char *name, void *buf, uint64_t off, size_t len,
		bool zero_past_eof, struct vk_err *err);
int vk_blk_file_pread(struct vk_blk *bs, void *buf, uint64_t off, size_t len, bool zero_past_eof,
		      struct vk_err *err);
int vk_blk_file_pwrite(struct vk_blk *bs, const void *buf, uint64_t off, size_t len,
		       struct vk_err *err);
int64_t vk_blk_file_size(struct vk_blk *bs);
/* SEEK_DATA/SEEK_HOLE: is [off, ...) data or hole in the host file, and for how long. */
int vk_blk_file_status(int fd, uint64_t off, uint64_t len, uint64_t *pnum);

/* The name of the file a VK_BS_OFFSET_VALID status at off maps into. */
const char *vk_blk_map_filename(struct vk_blk *bs, uint64_t off);

/* OFD locks on the bytes QEMU uses (100 + perm, 200 + unshared perm); and all of them off. */
int vk_blk_lock(struct vk_blk *bs, struct vk_err *err);
void vk_blk_unlock(struct vk_blk *bs);

/*
 * Live migration's hand-over of a writable image (the top layer; the
 * backing chain is read-only and shared anyway). inactivate: the source's
 * last round: metadata and bitmaps written and synced, then only read
 * (the driver opened again read-only), the lock let go. activate: the
 * destination before it runs (or the source again after a failed
 * migration): the lock taken, the metadata read again from the file,
 * writable. No request may be in flight across either; after a failure
 * the image must not be used again (nothing is left open to serve it).
 */
int vk_blk_inactivate(struct vk_blk *bs, struct vk_err *err);
int vk_blk_activate(struct vk_blk *bs, struct vk_err *err);

extern const struct vk_blk_driver vk_blk_raw;
extern const struct vk_blk_driver vk_blk_qcow2;
extern const struct vk_blk_driver vk_blk_vmdk;
extern const struct vk_blk_driver vk_blk_vpc;
extern const struct vk_blk_driver vk_blk_vdi;
extern const struct vk_blk_driver vk_blk_vhdx;
extern const struct vk_blk_driver vk_blk_null;

#endif
