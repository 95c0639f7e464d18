/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers that know nothing of VMs: errors, parsing, cleanup. */
#ifndef VMKIT_UTIL_H
#define VMKIT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/*
 * An error that carries its cause: the errno-style code and a message
 * naming the thing and the problem. Libraries fill it; the top level prints
 * it once ("vmkit: bzImage: not a Linux kernel").
 */
struct vk_err {
	int code;		/* negative errno, 0 when no error */
	char msg[512];
};

/* Record an error; returns code (negative errno) so callers can `return vk_fail(...)`. */
int vk_fail(struct vk_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Print "vmkit: <msg>" to stderr ("qemu-img: <msg>" after vk_set_progname("qemu-img")). */
void vk_report(const struct vk_err *err);
void vk_set_progname(const char *name);
void vk_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vk_vmsg(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/*
 * Parse a size with an optional K/M/G/T suffix (binary multiples, optional
 * trailing 'B' or 'iB'). A bare number is multiplied by default_unit
 * (QEMU's -m takes MiB; qemu-img takes bytes). Returns 0 or -EINVAL/-ERANGE.
 */
int vk_parse_size(const char *s, uint64_t default_unit, uint64_t *out);
/* qemu-img's sizes: bytes, and a fraction with a unit ("1.5G") as QEMU's size options take. */
int vk_parse_img_size(const char *s, uint64_t *out);

/* Parse an unsigned decimal integer in [min, max]. */
int vk_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Option strings "key=val,key2=val2": calls fn for each pair (val is ""
 * for a bare key). Commas may be doubled to escape them, as in QEMU.
 * Stops at the first non-zero return of fn and returns it.
 */
typedef int (*vk_kv_fn)(void *opaque, const char *key, const char *val);
int vk_parse_kv(const char *s, vk_kv_fn fn, void *opaque);

/*
 * A CPU or NUMA node list as the kernel prints them ("0-3,8,10-11"), OR-ed
 * into a bitmap of nbits bits. Returns 0, -EINVAL on bad syntax (an empty
 * list, a range that runs backwards) or -ERANGE for a number >= nbits.
 */
#define VK_BITS_PER_LONG (8 * sizeof(unsigned long))
int vk_parse_list(const char *s, unsigned long *bits, unsigned int nbits);
/* The same from a file such as /sys/devices/system/cpu/online. */
int vk_read_list_file(const char *path, unsigned long *bits, unsigned int nbits);

static inline bool vk_bit_test(const unsigned long *bits, unsigned int i)
{
	return bits[i / VK_BITS_PER_LONG] >> (i % VK_BITS_PER_LONG) & 1;
}

/* read/write all of buf, retrying on EINTR and short transfers. */
ssize_t vk_read_full(int fd, void *buf, size_t len);
ssize_t vk_write_full(int fd, const void *buf, size_t len);

/* Read a whole file into a malloc'd buffer, with a NUL after its last byte. */
int vk_read_file(const char *path, void **buf, size_t *len, size_t max);
/*
 * The path of the helper executable name beside the running one (build/,
 * or the install's bin/): vmkit-slirp, vmkit-vnc.
 */
int vk_sibling_path(const char *name, char *buf, size_t len, struct vk_err *err);
struct iovec;
/*
 * In a helper child between fork and exec (async-signal-safe): signals
 * unblocked, SIGPIPE default, killed with its parent, fd3 and fd4 as fds 3
 * and 4, stdin /dev/null, every other fd above 4 closed. -ESRCH: the parent
 * is already gone; another -errno: the fds could not be set up.
 */
int vk_child_prepare(int fd3, int fd4, pid_t parent);

/*
 * Copy between buf and the part of iov[0..n) from byte off on (to_iov: into
 * the iovec); never past either. Returns the bytes copied.
 */
size_t vk_iov_copy(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len,
		   bool to_iov);
/* The bytes iov[0..n) holds. */
size_t vk_iov_len(const struct iovec *iov, int n);
/* Fill the part of iov[0..n) from byte off on with c, len bytes at most; returns how many. */
size_t vk_iov_memset(const struct iovec *iov, unsigned int n, size_t off, int c, size_t len);
/*
 * The iovecs (at most max) that cover bytes [off, off+len) of iov[0..n):
 * how many were written to out, 0 if max is too few or iov too short.
 */
unsigned int vk_iov_slice(const struct iovec *iov, unsigned int n, size_t off, size_t len,
			  struct iovec *out, unsigned int max);
/* Are all n bytes at p zero? (memcmp against itself shifted by one: vectorised.) */
bool vk_buf_is_zero(const void *p, size_t n);

/* Monotonic time in nanoseconds. */
uint64_t vk_now_ns(void);

/* Cleanup helpers (systemd style). */
static inline void vk_freep(void *p) { free(*(void **)p); }
static inline void vk_closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ __attribute__((cleanup(vk_freep)))
#define _cleanup_close_ __attribute__((cleanup(vk_closep)))

/* A JSON string literal as QEMU writes it: short escapes, \uXXXX outside printable ASCII. */
void vk_json_str(FILE *f, const char *s);

#endif
