/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM state stream (save/restore, snapshots with memory, migration):
 * self-describing and versioned, so that a later vmkit can still read what
 * an earlier one wrote. A stream is a header, then sections (a device, the
 * vCPUs, ...) named and numbered per instance, each with its own version,
 * holding named fields (integers or byte strings), then an end record with
 * a CRC-32 of everything before it.
 *
 * A reader looks fields up by name: a field it does not know is skipped
 * (written by a newer vmkit that kept compatibility), one it needs and does
 * not find is an error naming section and field. Everything in a stream is
 * hostile input: lengths, names and counts are checked before use.
 *
 * Layout (little-endian):
 *   "VMKITSS\n" u32 format-version u32 flags
 *   'S' u16 len name u32 instance u32 version     section begins
 *   'F' u16 len name u8 kind (1: u64, 2: bytes) u64 | u32 len bytes
 *   'E'                                           section ends
 *   'Z' u32 crc32                                 end of stream
 */
#ifndef VMKIT_SAVESTATE_H
#define VMKIT_SAVESTATE_H

#include <stddef.h>
#include <stdint.h>

#include "vmkit/util.h"

#define SS_FORMAT_VERSION	1
#define SS_NAME_MAX		64		/* section and field names */
#define SS_BYTES_MAX		(64u << 20)	/* one byte-string field */

struct ss_writer;
struct ss_reader;
struct ss_section;

/*
 * Writer: the stream is built in memory (device state is small; guest RAM
 * will travel in records of its own) and written at ss_writer_finish. Errors
 * are sticky: the first one is returned by finish, the calls after it do
 * nothing, so a device's save needs no error handling of its own.
 */
int ss_writer_new(struct ss_writer **out, struct vk_err *err);
void ss_begin(struct ss_writer *w, const char *section, uint32_t instance, uint32_t version);
void ss_put_u64(struct ss_writer *w, const char *name, uint64_t v);
void ss_put_bytes(struct ss_writer *w, const char *name, const void *p, size_t n);
void ss_end(struct ss_writer *w);
/*
 * A device that cannot be saved now (requests it could not complete, say)
 * makes the whole save fail with this cause; finish reports it.
 */
void ss_fail(struct ss_writer *w, int code, const char *what);
/* Append the end record and write everything to fd; frees w either way. */
int ss_writer_finish(struct ss_writer *w, int fd, struct vk_err *err);
/* The same into a malloc'd buffer (*len bytes), for tests and in-memory use. */
int ss_writer_finish_buf(struct ss_writer *w, uint8_t **buf, size_t *len, struct vk_err *err);

/* Reader: the whole stream checked (structure, limits, CRC) before anything is used. */
int ss_parse(struct ss_reader **out, const uint8_t *buf, size_t len, struct vk_err *err);
int ss_read_fd(struct ss_reader **out, int fd, size_t max_len, struct vk_err *err);
void ss_reader_free(struct ss_reader *r);
/* The section named so for this instance, or NULL. */
const struct ss_section *ss_find(const struct ss_reader *r, const char *section,
				 uint32_t instance);
uint32_t ss_section_version(const struct ss_section *s);
/* A field, which must be there and of that kind (and, for bytes, exactly n long). */
int ss_get_u64(const struct ss_section *s, const char *name, uint64_t *v, struct vk_err *err);
int ss_get_bytes(const struct ss_section *s, const char *name, void *p, size_t n,
		 struct vk_err *err);
/* A byte field of any length, in place (valid until ss_reader_free). */
int ss_get_blob(const struct ss_section *s, const char *name, const uint8_t **p, size_t *n,
		struct vk_err *err);
/*
 * The section for this instance, which must be there: -ENOENT naming it
 * ("state: no virtio-blk 1 section") when the file is from another config.
 */
const struct ss_section *ss_need(const struct ss_reader *r, const char *section,
				 uint32_t instance, struct vk_err *err);
/* Sections of this name in r (how many instances a saved VM had). */
unsigned int ss_count(const struct ss_reader *r, const char *section);

#endif
