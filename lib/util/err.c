// SPDX-License-Identifier: GPL-2.0-or-later
/* Errors that carry their cause, reported once at the top level. */
#include <stdio.h>
#include <string.h>

#include "vmkit/util.h"

/* The name messages start with: "vmkit", or "qemu-img" when run under that name. */
static const char *progname = "vmkit";

void vk_set_progname(const char *name)
{
	progname = name;
}

int vk_fail(struct vk_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

void vk_report(const struct vk_err *err)
{
	fprintf(stderr, "%s: %s\n", progname, err->msg[0] ? err->msg : strerror(-err->code));
}

void vk_vmsg(const char *fmt, va_list ap)
{
	char buf[4096], *line = NULL;	/* vasprintf failing: a long line cut here */
	va_list copy;

	/* One write for the whole line, so lines from two threads never mix. */
	va_copy(copy, ap);
	if (vasprintf(&line, fmt, copy) < 0)	/* names (json:{...}) may be long: all of it */
		line = NULL;
	va_end(copy);
	if (!line)
		vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "%s: %s\n", progname, line ? line : buf);
	free(line);
}

void vk_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vk_vmsg(fmt, ap);
	va_end(ap);
}
