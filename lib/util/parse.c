// SPDX-License-Identifier: GPL-2.0-or-later
/* Parsing of sizes, integers and "key=value,..." option strings. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/util.h"

static int suffix_shift(const char *s, unsigned int *shift)
{
	static const char units[] = "BKMGTPE";
	const char *p;

	if (!*s) {
		*shift = ~0u;	/* no suffix: caller's default unit */
		return 0;
	}
	p = strchr(units, toupper((unsigned char)*s));
	if (!p)
		return -EINVAL;
	*shift = 10 * (unsigned int)(p - units);
	s++;
	if (*shift && (*s == 'i' || *s == 'I'))
		s++;
	if (*shift && (*s == 'b' || *s == 'B'))
		s++;
	return *s ? -EINVAL : 0;
}

int vk_parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift;
	uint64_t mult;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (suffix_shift(end, &shift))
		return -EINVAL;
	mult = shift == ~0u ? default_unit : 1ULL << shift;
	if (mult && v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int vk_parse_img_size(const char *s, uint64_t *out)
{
	static const char units[] = "BKMGTPE";
	const char *p;
	double v;
	char *end;
	int shift = 0;

	if (!strchr(s, '.'))
		return vk_parse_size(s, 1, out);
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (*end) {
		p = strchr(units, *end >= 'a' ? *end - 32 : *end);
		if (!p || end[1])
			return -EINVAL;
		shift = 10 * (int)(p - units);
	}
	v *= (double)(1ULL << shift);
	if (v >= 18446744073709551616.0)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

int vk_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return errno ? -ERANGE : -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* Copy one comma-separated item of s into buf, turning ",," into ",". */
static const char *next_item(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	while (*s) {
		if (*s == ',' && s[1] != ',')
			break;
		if (*s == ',')
			s++;
		if (n + 1 < len)
			buf[n++] = *s;
		s++;
	}
	buf[n] = '\0';
	return *s ? s + 1 : s;
}

int vk_parse_kv(const char *s, vk_kv_fn fn, void *opaque)
{
	char item[4096];
	char *eq;
	int r;

	while (*s) {
		s = next_item(s, item, sizeof(item));
		if (!item[0])
			continue;
		eq = strchr(item, '=');
		if (eq)
			*eq++ = '\0';
		r = fn(opaque, item, eq ? eq : "");
		if (r)
			return r;
	}
	return 0;
}

/* One "N" or "N-M" item of a list. */
static int list_item(const char *s, const char **end, unsigned int nbits,
		     unsigned long *lo, unsigned long *hi)
{
	char *e;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*lo = *hi = strtoul(s, &e, 10);
	if (*e == '-') {
		s = e + 1;
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		*hi = strtoul(s, &e, 10);
	}
	*end = e;
	if (errno || *hi >= nbits || *lo >= nbits)
		return -ERANGE;
	return *hi < *lo ? -EINVAL : 0;
}

int vk_parse_list(const char *s, unsigned long *bits, unsigned int nbits)
{
	unsigned long lo, hi, i;
	int r;

	for (;;) {
		r = list_item(s, &s, nbits, &lo, &hi);
		if (r)
			return r;
		for (i = lo; i <= hi; i++)
			bits[i / VK_BITS_PER_LONG] |= 1UL << (i % VK_BITS_PER_LONG);
		if (!*s)
			return 0;
		if (*s++ != ',')
			return -EINVAL;
	}
}

int vk_read_list_file(const char *path, unsigned long *bits, unsigned int nbits)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = vk_read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return n;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return vk_parse_list(buf, bits, nbits);
}
