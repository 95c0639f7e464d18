// SPDX-License-Identifier: GPL-2.0-or-later
/* File and time helpers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <string.h>
#include <time.h>

#include "vmkit/util.h"

ssize_t vk_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

ssize_t vk_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, (const char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += n;
	}
	return done;
}

/*
 * A file whose size stat() does not know: cgroup v2's files (cgroup.controllers)
 * and /proc's say 0 and hold text all the same. Read to the end, up to max.
 */
static int read_unsized(int fd, void **buf, size_t *len, size_t max)
{
	size_t cap = MIN(max, (size_t)4096), used = 0;
	char *p = malloc(cap + 1), *q;
	ssize_t n;

	for (;;) {
		if (!p)
			return -ENOMEM;
		n = vk_read_full(fd, p + used, cap - used);
		if (n < 0) {
			free(p);
			return n;
		}
		used += n;
		if (used < cap)
			break;		/* the end, before the buffer filled */
		if (cap >= max) {
			free(p);
			return -EFBIG;
		}
		cap = MIN(max, cap * 2);
		q = realloc(p, cap + 1);
		if (!q)
			free(p);
		p = q;
	}
	p[used] = 0;
	*buf = p;
	*len = used;
	return 0;
}

int vk_read_file(const char *path, void **buf, size_t *len, size_t max)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t n;
	void *p;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	if (st.st_size == 0)
		return read_unsized(fd, buf, len, max);
	/* One byte more, always NUL: text callers can use the buffer as a string. */
	p = malloc(st.st_size + 1);
	if (!p)
		return -ENOMEM;
	n = vk_read_full(fd, p, st.st_size);
	if (n < 0) {
		free(p);
		return n;
	}
	((char *)p)[n] = 0;
	*buf = p;
	*len = n;
	return 0;
}

uint64_t vk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

bool vk_buf_is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	return !n || (!b[0] && !memcmp(b, b + 1, n - 1));
}

/* Call fn on each piece of iov[0..n) in bytes [off, off+len): its address, length and where in len it starts. */
static size_t iov_walk(const struct iovec *iov, unsigned int n, size_t off, size_t len,
		       void (*fn)(uint8_t *p, size_t l, size_t done, void *arg), void *arg)
{
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < n && done < len; i++) {
		size_t l;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		l = MIN(iov[i].iov_len - off, len - done);
		fn((uint8_t *)iov[i].iov_base + off, l, done, arg);
		done += l;
		off = 0;
	}
	return done;
}

static void copy_to_iov(uint8_t *p, size_t l, size_t done, void *buf)
{
	memcpy(p, (uint8_t *)buf + done, l);
}

static void copy_from_iov(uint8_t *p, size_t l, size_t done, void *buf)
{
	memcpy((uint8_t *)buf + done, p, l);
}

static void fill(uint8_t *p, size_t l, size_t done, void *c)
{
	memset(p, *(int *)c, l);
}

size_t vk_iov_copy(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len,
		   bool to_iov)
{
	return iov_walk(iov, n, off, len, to_iov ? copy_to_iov : copy_from_iov, buf);
}

size_t vk_iov_len(const struct iovec *iov, int n)
{
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

size_t vk_iov_memset(const struct iovec *iov, unsigned int n, size_t off, int c, size_t len)
{
	return iov_walk(iov, n, off, len, fill, &c);
}

unsigned int vk_iov_slice(const struct iovec *iov, unsigned int n, size_t off, size_t len,
			  struct iovec *out, unsigned int max)
{
	unsigned int i, k = 0;

	for (i = 0; i < n && len; i++) {
		size_t l;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		if (k == max)
			return 0;
		l = MIN(iov[i].iov_len - off, len);
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k++].iov_len = l;
		len -= l;
		off = 0;
	}
	return len ? 0 : k;
}

int vk_sibling_path(const char *name, char *buf, size_t len, struct vk_err *err)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n < 0)
		return vk_fail(err, -errno, "/proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/%s", slash ? exe : ".", name) >= len)
		return vk_fail(err, -ENAMETOOLONG, "%s: path too long", exe);
	return 0;
}
