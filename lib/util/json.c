// SPDX-License-Identifier: GPL-2.0-or-later
/* JSON string literals as QEMU's JSON writer makes them (qemu-img's JSON output, json: names). */
#include <stdio.h>

#include "vmkit/util.h"

/* One UTF-8 code point from *p (advanced past it), or -1 for a malformed sequence. */
static long utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	int n = s[0] >= 0xf0 && s[0] < 0xf8 ? 3 : s[0] >= 0xe0 ? 2 : s[0] >= 0xc2 ? 1 : -1;
	long cp, min[] = { 0, 0x80, 0x800, 0x10000 };
	int i;

	*p = s + 1;
	if (s[0] < 0x80)
		return s[0];
	if (n < 0)
		return -1;
	cp = s[0] & (0x3f >> n);
	for (i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*p = s + i;	/* a cut-short sequence is one bad character */
			return -1;
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	*p = s + n + 1;
	return cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000) ? -1 : cp;
}

/* As QEMU's JSON writer: short escapes, \uXXXX (upper case) outside printable ASCII. */
void vk_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long cp;

	fputc('"', f);
	while (*p) {
		cp = utf8_next(&p);
		switch (cp) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (cp < 0)
				fputs("\\uFFFD", f);
			else if (cp > 0xffff)
				fprintf(f, "\\u%04lX\\u%04lX", 0xd800 + ((cp - 0x10000) >> 10),
					0xdc00 + ((cp - 0x10000) & 0x3ff));
			else if (cp < 0x20 || cp >= 0x7f)
				fprintf(f, "\\u%04lX", cp);
			else
				fputc((int)cp, f);
		}
	}
	fputc('"', f);
}
