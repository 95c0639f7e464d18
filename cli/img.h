/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmkit img: shared helpers of the qemu-img compatible subcommands. */
#ifndef VMKIT_CLI_IMG_H
#define VMKIT_CLI_IMG_H

#include <stdio.h>

#include "vmkit/block.h"

/* getopt code of --image-opts (the commands that take it set VK_BLK_IMAGE_OPTS). */
#define IMG_OPT_IMAGE_OPTS	0x100
/* Open flags every command adds (the global --vmdk-extents-anywhere). */
extern unsigned int img_global_flags;
/* Open an image, reporting failure as one line; returns negative errno. */
int img_open(const char *filename, const char *fmt, unsigned int flags, struct vk_blk **out);
/* Where qemu-img 7.2 aborts on a name (vk_blk_open's -ENOTRECOVERABLE): its two lines, then abort. */
void img_qemu_assert(int r, const struct vk_err *err);
/* QEMU's raw driver warns when an image probed as raw is opened for writing. */
void img_warn_probed(struct vk_blk *bs);
/* qemu's size_to_str: "196 KiB", "64 MiB", "1.5 GiB". */
void img_size_str(uint64_t v, char *buf, size_t len);
/* msg without a leading "name: " (the library names the file; qemu-img words put it elsewhere). */
const char *img_without_name(const char *msg, const char *name);
/* A JSON string literal. */
void img_json_str(FILE *f, const char *s);
/* Size with K/M/G/T/P/E suffixes, fractions allowed ("1.5G"). */
int img_parse_size(const char *s, uint64_t *out);
/*
 * After option parsing, as qemu-img: --output must be human or json and one
 * file name must remain. Reports the problem and returns false otherwise.
 */
bool img_output_and_one_file(const char *output, int argc, int optind);
/*
 * A qemu-img cache mode (-t): the library does buffered I/O in every mode;
 * *unsafe tells whether flushes may skip fdatasync (VK_BLK_CACHE_UNSAFE).
 */
void img_bad_size(const char *what);
void img_size_suffix_hint(void);
bool img_cache_mode_known(const char *mode);
int img_cache_unsafe(const char *mode, bool *unsafe);
/*
 * img-wpipe.c: a writer thread behind a ring of buffers (convert reads the
 * source while the previous buffer is written). fn writes n bytes of buf at
 * off to the target, or zeros there when zero is set.
 */
typedef int (*img_wpipe_fn)(void *ctx, const uint8_t *buf, uint64_t off, uint64_t n, bool zero,
			    struct vk_err *err);
struct img_wpipe;
int img_wpipe_start(struct img_wpipe **out, unsigned int nbufs, size_t bufsize,
		    img_wpipe_fn fn, void *ctx);
/* The next buffer to fill (waits for one); NULL with err set when the writer failed. */
uint8_t *img_wpipe_buf(struct img_wpipe *p, struct vk_err *err);
/* Hand the buffer img_wpipe_buf returned to the writer. */
int img_wpipe_queue(struct img_wpipe *p, uint64_t off, uint64_t n, bool zero, struct vk_err *err);
/* Wait until everything queued is written; the writer's error if it failed. */
int img_wpipe_finish(struct img_wpipe *p, struct vk_err *err);
void img_wpipe_free(struct img_wpipe *p);

/* img-zpool.c: convert -c's pipeline (clusters compressed on threads, written in order). */
struct img_zpool;
int img_zpool_start(struct img_zpool **out, struct vk_blk *dst, unsigned int threads,
		    uint64_t cs, bool write_zeros);
int img_zpool_queue(struct img_zpool *p, uint64_t off, const void *data, size_t len,
		    struct vk_err *err);
int img_zpool_drain(struct img_zpool *p, struct vk_err *err);
void img_zpool_free(struct img_zpool *p);
/* A failed convert/dd removes the target it created (a regular file only). */
void img_remove_partial(const char *path);
/* Error line "vmkit: ..." */
void img_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* qemu-img's usage errors: the line, then "Try 'qemu-img --help' ..."; returns 1. */
int img_error_try(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A getopt failure (ch '?' or ':') in qemu-img's words; returns 1. */
int img_bad_option(int ch, char **argv);

/* Progress as qemu-img -p: "    (12.50/100%)\r". */
struct img_progress {
	bool on;
	double last;
};
void img_progress(struct img_progress *p, double pct);
void img_progress_end(struct img_progress *p);

int img_create(int argc, char **argv);
int img_info(int argc, char **argv);
int img_check(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_map(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_amend(int argc, char **argv);
int img_measure(int argc, char **argv);
/* img-info-vmdk.c: the vmdk part of info (human, and JSON at indent ind). */
void img_info_vmdk_human(const struct vk_blk_info *i);
void img_info_vmdk_json(const struct vk_blk_info *i, const char *ind);
/* img-snapshot.c: the snapshot table of info (human) and its JSON array. */
void img_print_snapshots(struct vk_blk *bs);
void img_json_snapshots(struct vk_blk *bs, const char *ind);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_dd(int argc, char **argv);
int img_bench(int argc, char **argv);
int img_bitmap(int argc, char **argv);

#endif
