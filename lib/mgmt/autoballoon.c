// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Automatic ballooning: what target a VM's balloon should have given how
 * full the host is, and the host-wide knobs. See include/vmkit/autoballoon.h.
 *
 * Decisions start from the balloon's `actual`, not from the last target: a
 * guest that follows slowly (or has no driver) is not pushed further each
 * poll, and the same inputs give the same target, so a steady host gives no
 * new commands. Proxmox caps each step at 100 MiB because it recomputes from
 * scratch every 10 s; here the share of the excess is the step.
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/autoballoon.h"
#include "vmkit/mgmt.h"

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* part * span / total, rounded up (shrinking: the VMs together free at least the excess). */
static uint64_t share(uint64_t part, uint64_t span, uint64_t total, int round_up)
{
	/* MiB values below 2^32 (4 PiB): the product fits in 64 bits. */
	return (part * span + (round_up ? total - 1 : 0)) / total;
}

enum ab_action ab_decide(const struct ab_input *in, uint64_t *out)
{
	uint64_t goal = in->host_total * in->target_pct / 100;
	uint64_t hyst = in->host_total * AB_HYSTERESIS_PCT / 100;
	uint64_t span, total, want, step;
	enum ab_action act;

	*out = in->target;
	if (in->min >= in->max)
		return AB_KEEP;
	span = in->max - in->min;
	total = in->span_total < span ? span : in->span_total;
	if (in->host_used > goal) {
		uint64_t cut = share(in->host_used - goal, span, total, 1);

		want = in->actual > cut ? in->actual - cut : 0;
		act = AB_SHRINK;
	} else if (in->host_used + hyst < goal) {
		want = in->actual + share(goal - hyst - in->host_used, span, total, 0);
		act = AB_GROW;
	} else {
		return AB_KEEP;
	}
	want = clamp(want, in->min, in->max);
	/* Small moves cost the guest work for nothing, unless they finish the job. */
	step = in->max / 100 ? in->max / 100 : 1;
	if (want == in->target ||
	    ((want > in->target ? want - in->target : in->target - want) < step &&
	     want != in->min && want != in->max))
		return AB_KEEP;
	*out = want;
	return want < in->target ? AB_SHRINK : want > in->target ? AB_GROW : act;
}

static void knob_defaults(struct ab_knobs *k)
{
	k->target_pct = AB_DEFAULT_TARGET_PCT;
	k->interval_ms = AB_DEFAULT_INTERVAL_MS;
}

static int parse_interval(const char *v, unsigned int *ms)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(s) || s * 1000 < AB_MIN_INTERVAL_MS ||
	    s * 1000 > AB_MAX_INTERVAL_MS)
		return -EINVAL;
	*ms = (unsigned int)(s * 1000 + 0.5);
	return 0;
}

static int parse_line(char *line, unsigned int n, struct ab_knobs *k, struct vk_err *err)
{
	char *colon, *key, *val, *e;
	uint64_t pct;

	key = line + strspn(line, " \t");
	if (!*key || *key == '#')
		return 0;
	colon = strchr(key, ':');
	if (!colon)
		return vk_fail(err, -EINVAL, "line %u: expected 'key: value'", n);
	*colon = 0;
	for (e = colon; e > key && (e[-1] == ' ' || e[-1] == '\t'); e--)
		e[-1] = 0;
	val = colon + 1 + strspn(colon + 1, " \t");
	for (e = val + strlen(val); e > val && strchr(" \t\r", e[-1]); e--)
		e[-1] = 0;
	if (!strcmp(key, "target")) {
		if (vk_parse_uint(val, 1, 100, &pct))
			return vk_fail(err, -EINVAL, "line %u: target: '%s' is not a percentage from 1 to 100",
				       n, val);
		k->target_pct = pct;
		return 0;
	}
	if (!strcmp(key, "interval")) {
		if (parse_interval(val, &k->interval_ms))
			return vk_fail(err, -EINVAL, "line %u: interval: '%s' is not a number of seconds from 0.1 to 3600",
				       n, val);
		return 0;
	}
	return vk_fail(err, -EINVAL, "line %u: unknown key '%s' (target, interval)", n, key);
}

int ab_parse_knobs(const char *text, struct ab_knobs *k, struct vk_err *err)
{
	char *copy = strdup(text), *line, *p;
	struct vk_err first = { 0 }, e = { 0 };
	unsigned int n = 0;

	knob_defaults(k);
	if (!copy)
		return vk_fail(err, -ENOMEM, "out of memory");
	/* Line by line by hand: strtok_r would skip empty lines and miscount. */
	for (line = copy; line; line = p) {
		p = strchr(line, '\n');
		if (p)
			*p++ = 0;
		n++;
		/* A bad line is skipped (its key keeps the default); the others count. */
		if (parse_line(line, n, k, &e) && !first.code)
			first = e;
	}
	free(copy);
	if (first.code && err)
		*err = first;
	return first.code;
}

int ab_load_knobs(const char *path, struct ab_knobs *k, struct vk_err *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int ret;

	knob_defaults(k);
	ret = vk_read_file(path, (void **)&text, &len, 64 * 1024);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return vk_fail(err, ret, "%s: %s", path, strerror(-ret));
	if (strlen(text) != len)
		return vk_fail(err, -EINVAL, "%s: not a text file", path);
	ret = ab_parse_knobs(text, k, err);
	return ret ? mgmt_wrap(err, path) : 0;
}

int ab_query_balloon(struct qmpc *q, uint64_t *actual, uint64_t *target, struct vk_err *err)
{
	_cleanup_free_ char *ret = NULL;
	struct json_object *o, *a, *t;
	int r = qmpc_execute(q, "query-balloon", NULL, &ret, err);

	if (r)
		return r;
	o = json_tokener_parse(ret);
	if (!o || !json_object_object_get_ex(o, "actual", &a) ||
	    !json_object_is_type(a, json_type_int) || json_object_get_int64(a) <= 0) {
		json_object_put(o);
		return vk_fail(err, -EPROTO, "query-balloon: no 'actual' in %s", ret);
	}
	*actual = (json_object_get_int64(a) + MiB / 2) / MiB;
	/* vmkit's extension; a monitor without it has the target it last reached. */
	if (json_object_object_get_ex(o, "target", &t) && json_object_is_type(t, json_type_int) &&
	    json_object_get_int64(t) > 0)
		*target = (json_object_get_int64(t) + MiB / 2) / MiB;
	else
		*target = *actual;
	json_object_put(o);
	return 0;
}

int ab_set_target(struct qmpc *q, uint64_t mib, struct vk_err *err)
{
	char args[64];

	snprintf(args, sizeof(args), "{\"value\": %llu}", (unsigned long long)(mib * MiB));
	return qmpc_execute(q, "balloon", args, NULL, err);
}
