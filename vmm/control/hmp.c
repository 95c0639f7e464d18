// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * human-monitor-command: the few HMP command lines that scripts send
 * through QMP (seed 002's `info balloon` and `balloon N`), answered in
 * HMP's text with its \r\n line ends. Each maps onto a QMP command.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp.h"

/* Text being built for the reply. */
struct hmp_out {
	char buf[4096];
	size_t len;
};

static void out(struct hmp_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct hmp_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len >= sizeof(o->buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len = MIN(o->len + n, sizeof(o->buf) - 1);
}

static const char *str(json_object *o, const char *key)
{
	return json_object_get_string(json_object_object_get(o, key));
}

static void info_status(json_object *r, struct hmp_out *o)
{
	out(o, "VM status: %s\r\n", str(r, "status"));
}

static void info_balloon(json_object *r, struct hmp_out *o)
{
	out(o, "balloon: actual=%lld\r\n",
	    (long long)(json_object_get_int64(json_object_object_get(r, "actual")) / MiB));
}

static void info_block(json_object *r, struct hmp_out *o)
{
	size_t i;

	for (i = 0; i < json_object_array_length(r); i++) {
		json_object *d = json_object_array_get_idx(r, i);
		json_object *ins = json_object_object_get(d, "inserted");

		if (!ins) {	/* an empty CD-ROM drive, as QEMU shows one */
			out(o, "%s: [not inserted]\r\n    Removable device: %slocked, tray %s\r\n",
			    str(d, "device"),
			    json_object_get_boolean(json_object_object_get(d, "locked")) ? "" : "not ",
			    json_object_get_boolean(json_object_object_get(d, "tray_open")) ?
			    "open" : "closed");
			continue;
		}
		out(o, "%s: %s (%s%s)\r\n", str(d, "device"), str(ins, "file"), str(ins, "drv"),
		    json_object_get_boolean(json_object_object_get(ins, "ro")) ? ", read-only" : "");
		if (json_object_object_get(ins, "backing_file"))
			out(o, "    Backing file:     %s (chain depth: %d)\r\n",
			    str(ins, "backing_file"),
			    json_object_get_int(json_object_object_get(ins, "backing_file_depth")));
	}
}

static void info_cpus(json_object *r, struct hmp_out *o)
{
	size_t i;

	for (i = 0; i < json_object_array_length(r); i++) {
		json_object *cpu = json_object_array_get_idx(r, i);

		out(o, "%c CPU #%d: thread_id=%d\r\n", i ? ' ' : '*',
		    json_object_get_int(json_object_object_get(cpu, "cpu-index")),
		    json_object_get_int(json_object_object_get(cpu, "thread-id")));
	}
}

static void info_name(json_object *r, struct hmp_out *o)
{
	if (json_object_object_get(r, "name"))
		out(o, "%s\r\n", str(r, "name"));
}

static void info_version(json_object *r, struct hmp_out *o)
{
	json_object *q = json_object_object_get(r, "qemu");

	out(o, "%d.%d.%d (%s)\r\n", json_object_get_int(json_object_object_get(q, "major")),
	    json_object_get_int(json_object_object_get(q, "minor")),
	    json_object_get_int(json_object_object_get(q, "micro")), str(r, "package"));
}

/* HMP word -> QMP command, and how its answer is printed (NULL: nothing). */
struct hmp_cmd {
	const char *words;
	const char *qmp;
	void (*show)(json_object *r, struct hmp_out *o);
};

static const struct hmp_cmd hmp_cmds[] = {
	{ "info status", "query-status", info_status },
	{ "info balloon", "query-balloon", info_balloon },
	{ "info block", "query-block", info_block },
	{ "info cpus", "query-cpus-fast", info_cpus },
	{ "info name", "query-name", info_name },
	{ "info version", "query-version", info_version },
	{ "stop", "stop", NULL },
	{ "cont", "cont", NULL },
	{ "c", "cont", NULL },
	{ "system_powerdown", "system_powerdown", NULL },
	{ "system_reset", "system_reset", NULL },
	{ "quit", "quit", NULL },
	{ "q", "quit", NULL },
};

/* "balloon N": N in MiB, as HMP takes it. */
static int hmp_balloon(struct control *c, const char *arg, struct hmp_out *o, struct qmp_error *e)
{
	json_object *args, *ret = NULL;
	uint64_t mib;
	int r;

	if (vk_parse_uint(arg, 1, (1ull << 44) - 1, &mib)) {
		out(o, "balloon: '%s' is not a size in MiB\r\n", arg);
		return 0;
	}
	args = json_object_new_object();
	json_object_object_add(args, "value", json_object_new_int64(mib * MiB));
	r = qmp_execute(c, "balloon", args, &ret, e);
	json_object_put(args);
	json_object_put(ret);
	return r;
}

/* A key number in hex, 0x1 to 0xff. */
static bool hex_key(const char *s, uint64_t *n)
{
	char *end;

	if (strncmp(s, "0x", 2) || !isxdigit((unsigned char)s[2]))
		return false;
	*n = strtoul(s + 2, &end, 16);
	return !*end && *n && *n <= 0xff;
}

/*
 * "sendkey ctrl-alt-delete [HOLD_MS]": keys joined by '-', each a QKeyCode
 * name or a key number in hex (0x1d), as HMP takes them; sent as send-key.
 */
static int hmp_sendkey(struct control *c, const char *arg, struct hmp_out *o, struct qmp_error *e)
{
	char buf[512], *save = NULL, *tok, *hold;
	json_object *args, *keys, *ret = NULL;
	uint64_t n;
	int r;

	snprintf(buf, sizeof(buf), "%s", arg);
	hold = strchr(buf, ' ');
	if (hold)
		*hold++ = '\0';
	keys = json_object_new_array();
	for (tok = strtok_r(buf, "-", &save); tok; tok = strtok_r(NULL, "-", &save)) {
		json_object *kv = json_object_new_object();
		bool num = hex_key(tok, &n);

		json_object_object_add(kv, "type", json_object_new_string(num ? "number" : "qcode"));
		json_object_object_add(kv, "data", num ? json_object_new_int64(n) :
				       json_object_new_string(tok));
		json_object_array_add(keys, kv);
	}
	args = json_object_new_object();
	json_object_object_add(args, "keys", keys);
	if (hold) {
		if (vk_parse_uint(hold, 0, 5000, &n)) {
			out(o, "sendkey: '%s' is not a hold time in ms (0-5000)\r\n", hold);
			json_object_put(args);
			return 0;
		}
		json_object_object_add(args, "hold-time", json_object_new_int64(n));
	}
	r = qmp_execute(c, "send-key", args, &ret, e);
	json_object_put(args);
	json_object_put(ret);
	return r;
}

/* "eject [-f] DEV", "change DEV FILE [FORMAT]": QMP eject and blockdev-change-medium. */
static int hmp_media(struct control *c, const char *line, struct hmp_out *o, struct qmp_error *e)
{
	char w[4][256] = { "" };
	json_object *args = json_object_new_object(), *ret = NULL;
	bool force;
	int n, r;

	n = sscanf(line, "%255s %255s %255s %255s", w[0], w[1], w[2], w[3]);
	force = n >= 3 && !strcmp(w[1], "-f");
	if (!strcmp(w[0], "eject") && (n == 2 || (force && n == 3))) {
		json_object_object_add(args, "id", json_object_new_string(w[force ? 2 : 1]));
		json_object_object_add(args, "force", json_object_new_boolean(force));
		r = qmp_execute(c, "eject", args, &ret, e);
	} else if (!strcmp(w[0], "change") && (n == 3 || n == 4)) {
		json_object_object_add(args, "id", json_object_new_string(w[1]));
		json_object_object_add(args, "filename", json_object_new_string(w[2]));
		if (n == 4)
			json_object_object_add(args, "format", json_object_new_string(w[3]));
		r = qmp_execute(c, "blockdev-change-medium", args, &ret, e);
	} else {
		out(o, "usage: eject [-f] DEVICE | change DEVICE FILE [FORMAT]\r\n");
		r = 0;
	}
	json_object_put(args);
	json_object_put(ret);
	return r;
}

/* The command line with blanks trimmed and runs of them made one space. */
static void normalize(const char *line, char *buf, size_t n)
{
	size_t i = 0;
	bool space = false;

	for (; *line == ' ' || *line == '\t'; line++)
		;
	for (; *line && i + 1 < n; line++) {
		bool sp = *line == ' ' || *line == '\t' || *line == '\n' || *line == '\r';

		if (sp) {
			space = true;
			continue;
		}
		if (space && i)
			buf[i++] = ' ';
		space = false;
		if (i + 1 < n)
			buf[i++] = *line;
	}
	buf[i] = '\0';
}

static int run_line(struct control *c, const char *line, struct hmp_out *o, struct qmp_error *e)
{
	json_object *ret = NULL;
	unsigned int i;
	int r;

	if (!strncmp(line, "balloon ", 8))
		return hmp_balloon(c, line + 8, o, e);
	if (!strncmp(line, "sendkey ", 8))
		return hmp_sendkey(c, line + 8, o, e);
	if (!strncmp(line, "eject ", 6) || !strncmp(line, "change ", 7))
		return hmp_media(c, line, o, e);
	for (i = 0; i < ARRAY_SIZE(hmp_cmds); i++)
		if (!strcmp(line, hmp_cmds[i].words))
			break;
	if (i == ARRAY_SIZE(hmp_cmds)) {
		out(o, "unknown command: '%s'\r\n", line);
		return 0;
	}
	r = qmp_execute(c, hmp_cmds[i].qmp, NULL, &ret, e);
	if (!r && hmp_cmds[i].show)
		hmp_cmds[i].show(ret, o);
	json_object_put(ret);
	return r;
}

int qmp_hmp(struct control *c, json_object *args, json_object **ret, struct qmp_error *e)
{
	const char *line = str(args, "command-line");
	struct hmp_out o = { .len = 0 };
	char norm[512];

	normalize(line, norm, sizeof(norm));
	if (run_line(c, norm, &o, e)) {
		/* HMP prints a command's error as text; the QMP call itself succeeds. */
		out(&o, "Error: %s\r\n", e->desc);
	}
	o.buf[o.len] = '\0';
	*ret = json_object_new_string(o.buf);
	return 0;
}
