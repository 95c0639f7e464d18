// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The keys a VM config may hold, and how each value is checked. The names
 * follow Proxmox's qm config where it has one (memory, cores, sockets,
 * virtio0, net0, balloon, cpulimit, cpuunits, affinity, hugepages,
 * allow-ksm, onboot) and libvirt's where it has the concept (memtune,
 * vcpupin, numatune); the device strings are the ones `vmkit run` takes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/block.h"
#include "vmkit/mgmt.h"

#define MAX_DISKS	16
#define MAX_NETS	8

/* O_FORMAT: an image format the block library has a driver for, or auto. */
enum opt_type { O_ENUM, O_UINT, O_SIZE, O_STR, O_MAC, O_FLAG, O_FORMAT };

/* One sub-option of a device string ("cache=none"). */
struct opt_spec {
	const char *key;
	enum opt_type type;
	const char *choices;	/* O_ENUM: "a|b|c" */
	uint64_t min, max;	/* O_UINT */
	bool repeat;		/* may appear more than once */
};

static bool in_choices(const char *choices, const char *val)
{
	size_t n = strlen(val);
	const char *p = choices;

	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && !strncmp(p, val, n))
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static int check_mac(const char *what, const char *mac, struct vk_err *err)
{
	unsigned int b[6];
	char tail;

	if (strlen(mac) != 17 ||
	    sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return vk_fail(err, -EINVAL, "%s: MAC address '%s' is not of the form 52:54:00:12:34:56",
			       what, mac);
	if (b[0] & 1)
		return vk_fail(err, -EINVAL, "%s: MAC address '%s' is a multicast address", what, mac);
	return 0;
}

static int check_opt(const char *what, const struct opt_spec *s, const char *val,
		     struct vk_err *err)
{
	uint64_t v;

	switch (s->type) {
	case O_ENUM:
		if (!in_choices(s->choices, val))
			return vk_fail(err, -EINVAL, "%s: %s=%s: expected %s", what, s->key, val,
				       s->choices);
		return 0;
	case O_UINT:
		if (vk_parse_uint(val, s->min, s->max, &v))
			return vk_fail(err, -EINVAL, "%s: %s=%s: expected a number from %llu to %llu",
				       what, s->key, val, (unsigned long long)s->min,
				       (unsigned long long)s->max);
		return 0;
	case O_SIZE:
		if (vk_parse_size(val, 1, &v))
			return vk_fail(err, -EINVAL, "%s: %s=%s: not a size", what, s->key, val);
		return 0;
	case O_MAC:
		return check_mac(what, val, err);
	case O_FLAG:
		if (*val && !in_choices("on|off|1|0", val))
			return vk_fail(err, -EINVAL, "%s: %s=%s: expected on or off", what, s->key,
				       val);
		return 0;
	case O_FORMAT:
		if (strcmp(val, "auto") && !vk_blk_find_driver(val))
			return vk_fail(err, -EINVAL, "%s: %s=%s: expected %s or auto", what, s->key,
				       val, vk_blk_formats());
		return 0;
	case O_STR:
		if (!*val)
			return vk_fail(err, -EINVAL, "%s: %s= needs a value", what, s->key);
		return 0;
	}
	return 0;
}

struct opts_ctx {
	const char *what;
	const struct opt_spec *specs;
	unsigned int nspecs;
	uint64_t seen;
	struct vk_err *err;
};

static int opts_kv(void *opaque, const char *key, const char *val)
{
	struct opts_ctx *c = opaque;
	unsigned int i;

	for (i = 0; i < c->nspecs; i++) {
		const struct opt_spec *s = &c->specs[i];

		if (strcmp(s->key, key))
			continue;
		if ((c->seen & (1ull << i)) && !s->repeat)
			return vk_fail(c->err, -EINVAL, "%s: %s= given twice", c->what, key);
		c->seen |= 1ull << i;
		return check_opt(c->what, s, val, c->err);
	}
	return vk_fail(c->err, -EINVAL, "%s: unknown option '%s'", c->what, key);
}

static int check_opts(const char *what, const char *opts, const struct opt_spec *specs,
		      unsigned int n, struct vk_err *err)
{
	struct opts_ctx c = { what, specs, n, 0, err };

	if (!opts || !*opts)
		return 0;
	return vk_parse_kv(opts, opts_kv, &c);
}

static const struct opt_spec disk_opts[] = {
	{ .key = "cache", .type = O_ENUM, .choices = "none|writeback|writethrough|directsync|unsafe" },
	{ .key = "aio", .type = O_ENUM, .choices = "io_uring|native|threads" },
	{ .key = "iothread", .type = O_FLAG },
	{ .key = "discard", .type = O_ENUM, .choices = "unmap|ignore|on|off" },
	{ .key = "readonly", .type = O_FLAG },
	{ .key = "ro", .type = O_FLAG },
	{ .key = "serial", .type = O_STR },
	{ .key = "format", .type = O_FORMAT },
	{ .key = "num-queues", .type = O_UINT, .min = 1, .max = 64 },
	{ .key = "queue-size", .type = O_UINT, .min = 16, .max = 1024 },
	{ .key = "l2-cache-size", .type = O_SIZE },	/* qcow2, as QEMU */
	{ .key = "cache-clean-interval", .type = O_UINT, .min = 0, .max = 365 * 24 * 3600 },
	{ .key = "shared", .type = O_FLAG },
	{ .key = "size", .type = O_SIZE },	/* informational, as in Proxmox */
	{ .key = "media", .type = O_ENUM, .choices = "disk|cdrom" },	/* Proxmox's */
};

static const struct opt_spec net_opts[] = {
	{ .key = "bridge", .type = O_STR },
	{ .key = "network", .type = O_STR },	/* a network's name: its bridge at start */
	{ .key = "tap", .type = O_STR },
	{ .key = "user", .type = O_FLAG },
	{ .key = "net", .type = O_STR },
	{ .key = "hostfwd", .type = O_STR, .repeat = true },
	{ .key = "queues", .type = O_UINT, .min = 1, .max = 16 },
	{ .key = "mtu", .type = O_UINT, .min = 68, .max = 65535 },
	{ .key = "vhost", .type = O_FLAG },
	{ .key = "macaddr", .type = O_MAC },
	{ .key = "link_down", .type = O_FLAG },
};

/* "POOL:VOLUME" (the pool must exist) or an absolute path. */
static int check_volref(const char *what, const char *ref, struct vk_err *err)
{
	char pool[MGMT_NAME_MAX];
	struct pool_def p;
	const char *colon = strchr(ref, ':');
	int ret;

	if (ref[0] == '/')
		return 0;
	if (!colon)
		return vk_fail(err, -EINVAL, "%s: '%s' is neither POOL:VOLUME nor an absolute path",
			       what, ref);
	if ((size_t)(colon - ref) >= sizeof(pool))
		return vk_fail(err, -EINVAL, "%s: pool name in '%s' is too long", what, ref);
	memcpy(pool, ref, colon - ref);
	pool[colon - ref] = 0;
	ret = mgmt_check_name("pool", pool, err);
	if (!ret)
		ret = mgmt_check_name("volume", colon + 1, err);
	if (!ret)
		ret = pool_load(pool, &p, err);
	if (ret)
		return mgmt_wrap(err, what);
	return 0;
}

/* The value up to the first unescaped comma, and the options after it. */
static void split_first(const char *val, char *first, size_t n, const char **rest)
{
	const char *comma = strchr(val, ',');
	size_t len = comma ? (size_t)(comma - val) : strlen(val);

	if (len >= n)
		len = n - 1;
	memcpy(first, val, len);
	first[len] = 0;
	*rest = comma ? comma + 1 : "";
}

static int v_disk(const char *key, const char *val, struct vk_err *err)
{
	char ref[PATH_MAX];
	const char *opts;
	int ret;

	split_first(val, ref, sizeof(ref), &opts);
	ret = check_volref(key, ref, err);
	return ret ? ret : check_opts(key, opts, disk_opts, ARRAY_SIZE(disk_opts), err);
}

static bool has_opt(const char *opts, const char *key);

/*
 * scsiN, sataN, ideN (issue 12), as Proxmox writes them: a volume or path,
 * or "none" for an empty CD-ROM drive; media=cdrom is read-only. vmkit has
 * no IDE: ide0-3 are CD-ROMs only, served on the SATA controller.
 */
static int v_media_disk(const char *key, const char *val, struct vk_err *err)
{
	bool cdrom = strstr(val, "media=cdrom") != NULL;
	char ref[PATH_MAX];
	const char *opts;
	int ret;

	split_first(val, ref, sizeof(ref), &opts);
	if (!strncmp(key, "ide", 3) && !cdrom)
		return vk_fail(err, -EINVAL, "%s: vmkit has no IDE: only CD-ROMs (media=cdrom), which go on SATA",
			       key);
	if (cdrom && (strstr(opts, "readonly=0") || strstr(opts, "readonly=off") ||
		      strstr(opts, "ro=0") || strstr(opts, "ro=off")))
		return vk_fail(err, -EINVAL, "%s: a CD-ROM is read-only: readonly=off is not possible",
			       key);
	if (!strcmp(ref, "none") || !strcmp(ref, "cdrom"))
		ret = !strcmp(ref, "none") && cdrom ? 0 :
		      vk_fail(err, -EINVAL, "%s: '%s' is only for an empty CD-ROM drive (none,media=cdrom)",
			      key, ref);
	else
		ret = check_volref(key, ref, err);
	return ret ? ret : check_opts(key, opts, disk_opts, ARRAY_SIZE(disk_opts), err);
}

static int v_scsihw(const char *key, const char *val, struct vk_err *err)
{
	if (strcmp(val, "virtio-scsi-pci") && strcmp(val, "virtio-scsi-single"))
		return vk_fail(err, -EINVAL, "%s: '%s': expected virtio-scsi-pci or virtio-scsi-single",
			       key, val);
	return 0;
}

static bool has_opt(const char *opts, const char *key)
{
	size_t n = strlen(key);
	const char *p = opts;

	while (p && *p) {
		if (!strncmp(p, key, n) && (p[n] == '=' || p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

/* network=NAME: a well-formed name; whether it exists and is active is for start to say. */
static int check_network(const char *key, const char *opts, struct vk_err *err)
{
	const char *p = strstr(opts, "network=");
	char name[MGMT_NAME_MAX + 1];

	/* has_opt found it: at the start or after a comma. */
	while (p && p != opts && p[-1] != ',')
		p = strstr(p + 1, "network=");
	if (!p)
		return 0;
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(p + 8, ","), p + 8);
	if (has_opt(opts, "bridge"))
		return vk_fail(err, -EINVAL, "%s: network= and bridge= cannot go together", key);
	if (mgmt_check_name("network", name, NULL))
		return vk_fail(err, -EINVAL,
			       "%s: network '%s' is not a name (letters, digits, '.', '_', '-'; at most %d)",
			       key, name, MGMT_NAME_MAX - 1);
	return 0;
}

/* A tap (bridge=, network= or tap=) or user networking; each takes only its own options. */
static int check_net_backend(const char *key, const char *opts, struct vk_err *err)
{
	static const char *const tap_only[] = { "queues", "vhost" };
	static const char *const user_only[] = { "net", "hostfwd" };
	bool tap = has_opt(opts, "bridge") || has_opt(opts, "tap") || has_opt(opts, "network");
	unsigned int i;

	if (tap && has_opt(opts, "user"))
		return vk_fail(err, -EINVAL, "%s: user cannot go with bridge=, network= or tap=", key);
	if (has_opt(opts, "network")) {
		int ret = check_network(key, opts, err);

		if (ret)
			return ret;
	}
	for (i = 0; i < ARRAY_SIZE(tap_only) && !tap; i++)
		if (has_opt(opts, tap_only[i]))
			return vk_fail(err, -EINVAL,
				       "%s: %s= needs a tap (bridge=, network= or tap=); user networking has one queue",
				       key, tap_only[i]);
	for (i = 0; i < ARRAY_SIZE(user_only) && tap; i++)
		if (has_opt(opts, user_only[i]))
			return vk_fail(err, -EINVAL, "%s: %s= is for user networking, not a tap", key,
				       user_only[i]);
	return 0;
}

static int v_net(const char *key, const char *val, struct vk_err *err)
{
	char model[64];
	const char *opts;
	int ret;

	split_first(val, model, sizeof(model), &opts);
	if (!strncmp(model, "virtio=", 7)) {
		ret = check_mac(key, model + 7, err);
		if (ret)
			return ret;
	} else if (strcmp(model, "virtio")) {
		return vk_fail(err, -EINVAL, "%s: model '%s': expected virtio or virtio=MAC", key,
			       model);
	}
	ret = check_opts(key, opts, net_opts, ARRAY_SIZE(net_opts), err);
	if (ret)
		return ret;
	return check_net_backend(key, opts, err);
}

static int v_rng(const char *key, const char *val, struct vk_err *err)
{
	static const struct opt_spec rng_opts[] = { { .key = "source", .type = O_STR } };

	if (val[0] == '/')
		return 0;
	/* argv.c takes the path after "source=": an empty value has none (fuzzed). */
	if (strncmp(val, "source=", 7))
		return vk_fail(err, -EINVAL, "%s: expected /PATH or source=PATH", key);
	return check_opts(key, val, rng_opts, ARRAY_SIZE(rng_opts), err);
}

static int v_memory(const char *key, const char *val, struct vk_err *err)
{
	uint64_t v;

	if (vk_parse_size(val, MiB, &v) || v < 16 * MiB || v > 16ULL * 1024 * GiB ||
	    v % MiB)
		return vk_fail(err, -EINVAL, "%s: '%s' is not a memory size from 16 MiB to 16 TiB in whole MiB",
			       key, val);
	return 0;
}

static int v_balloon(const char *key, const char *val, struct vk_err *err)
{
	uint64_t v;

	if (vk_parse_size(val, MiB, &v) || v % MiB || v > 16ULL * 1024 * GiB)
		return vk_fail(err, -EINVAL, "%s: '%s' is not a size in whole MiB (0 disables the balloon)",
			       key, val);
	return 0;
}

static int v_count(const char *key, const char *val, struct vk_err *err)
{
	uint64_t v;

	if (vk_parse_uint(val, 1, 288, &v))
		return vk_fail(err, -EINVAL, "%s: '%s' is not a number from 1 to 288", key, val);
	return 0;
}

static int v_bool(const char *key, const char *val, struct vk_err *err)
{
	if (!in_choices("0|1|on|off|yes|no", val))
		return vk_fail(err, -EINVAL, "%s: '%s': expected 0 or 1", key, val);
	return 0;
}

static int v_abspath(const char *key, const char *val, struct vk_err *err)
{
	if (val[0] != '/')
		return vk_fail(err, -EINVAL, "%s: '%s' is not an absolute path", key, val);
	return 0;
}

static int v_text(const char *key, const char *val, struct vk_err *err)
{
	return 0;
}

static int v_cpulimit(const char *key, const char *val, struct vk_err *err)
{
	char *end;
	double v = strtod(val, &end);

	if (end == val || *end || !(v >= 0 && v <= 1024))
		return vk_fail(err, -EINVAL, "%s: '%s' is not a number of CPUs from 0 (no limit) to 1024",
			       key, val);
	return 0;
}

static int v_cpuunits(const char *key, const char *val, struct vk_err *err)
{
	uint64_t v;

	if (vk_parse_uint(val, 1, 262144, &v))
		return vk_fail(err, -EINVAL, "%s: '%s' is not a weight from 1 to 262144", key, val);
	return 0;
}

static int v_memtune(const char *key, const char *val, struct vk_err *err)
{
	static const struct opt_spec mt[] = {
		{ .key = "hard_limit", .type = O_SIZE }, { .key = "soft_limit", .type = O_SIZE },
	};

	return check_opts(key, val, mt, ARRAY_SIZE(mt), err);
}

/* "0-3,6": CPUs or nodes; each must be present (max is exclusive). */
int mgmt_parse_cpulist(const char *s, uint64_t *mask, unsigned int max)
{
	const char *p = s;

	*mask = 0;
	if (!*s)
		return -EINVAL;
	while (*p) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b;

		if (end == p)
			return -EINVAL;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p || b < a)
				return -EINVAL;
		}
		if (b >= max || b >= 64)
			return -ERANGE;
		for (; a <= b; a++)
			*mask |= 1ull << a;
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
		p = end;
	}
	return 0;
}

static int v_affinity(const char *key, const char *val, struct vk_err *err)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	uint64_t m;
	int ret = mgmt_parse_cpulist(val, &m, ncpu);

	if (ret == -ERANGE)
		return vk_fail(err, -EINVAL, "%s: '%s' names a CPU this host does not have (0-%ld)",
			       key, val, ncpu - 1);
	if (ret)
		return vk_fail(err, -EINVAL, "%s: '%s' is not a CPU list such as 0-1,3", key, val);
	return 0;
}

/* "0=0-1 1=2": vCPU = host CPU list, space separated (as several virsh vcpupin). */
static int v_vcpupin(const char *key, const char *val, struct vk_err *err)
{
	char buf[1024], *tok, *save;
	uint64_t v;

	snprintf(buf, sizeof(buf), "%s", val);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			return vk_fail(err, -EINVAL, "%s: '%s': expected VCPU=CPULIST", key, tok);
		*eq = 0;
		if (vk_parse_uint(tok, 0, 287, &v))
			return vk_fail(err, -EINVAL, "%s: '%s' is not a vCPU number", key, tok);
		if (v_affinity(key, eq + 1, err))
			return -EINVAL;
	}
	return 0;
}

static int host_nodes(void)
{
	char p[64];
	int n = 0;

	for (;;) {
		snprintf(p, sizeof(p), "/sys/devices/system/node/node%d", n);
		if (access(p, F_OK))
			return n ? n : 1;
		n++;
	}
}

static int v_numa(const char *key, const char *val, struct vk_err *err)
{
	static const struct opt_spec numa[] = {
		{ .key = "policy", .type = O_ENUM, .choices = "bind|preferred|interleave" },
		{ .key = "nodes", .type = O_STR },
	};
	const char *nodes = strstr(val, "nodes=");
	char list[256];
	uint64_t m;
	int ret = check_opts(key, val, numa, ARRAY_SIZE(numa), err);

	if (ret)
		return ret;
	if (!nodes)
		return vk_fail(err, -EINVAL, "%s: nodes= is required", key);
	snprintf(list, sizeof(list), "%s", nodes + 6);
	list[strcspn(list, ",")] = 0;
	ret = mgmt_parse_cpulist(list, &m, host_nodes());
	if (ret == -ERANGE)
		return vk_fail(err, -EINVAL, "%s: nodes=%s names a NUMA node this host does not have (it has %d)",
			       key, list, host_nodes());
	if (ret)
		return vk_fail(err, -EINVAL, "%s: nodes=%s is not a node list", key, list);
	return 0;
}

static int v_enum(const char *key, const char *val, const char *choices, struct vk_err *err)
{
	if (!in_choices(choices, val))
		return vk_fail(err, -EINVAL, "%s: '%s': expected %s", key, val, choices);
	return 0;
}

static int v_hugepages(const char *key, const char *val, struct vk_err *err)
{
	return v_enum(key, val, "2|1024|any", err);
}

static int v_console(const char *key, const char *val, struct vk_err *err)
{
	return v_enum(key, val, "serial|virtio", err);
}

static int v_cpu(const char *key, const char *val, struct vk_err *err)
{
	return v_enum(key, val, "host|baseline", err);
}

/* Proxmox's vga: (issue 13); std and none only so far (no cirrus, qxl, virtio-gpu). */
static int v_vga(const char *key, const char *val, struct vk_err *err)
{
	return v_enum(key, val, "std|none", err);
}

/* Proxmox's keyboard: the VNC keymap, an XKB layout name (de, fr, en-us...). */
static int v_keyboard(const char *key, const char *val, struct vk_err *err)
{
	size_t n = strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

	if (!*val || val[n] || n > 31)
		return vk_fail(err, -EINVAL, "%s: '%s': expected a keyboard layout name (de, fr, en-us...)",
			       key, val);
	return 0;
}

/* Firmware boot (issue 12): Proxmox's bios, boot and machine keys. */
static int v_bios(const char *key, const char *val, struct vk_err *err)
{
	return v_enum(key, val, "seabios|ovmf", err);
}

static int v_machine(const char *key, const char *val, struct vk_err *err)
{
	return v_enum(key, val, "pc|i440fx|q35", err);
}

/* order=DEV;DEV... with Proxmox's device names (scsi0, ide2, net0...) or disk, cdrom, net. */
static int v_boot(const char *key, const char *val, struct vk_err *err)
{
	const char *w = val + 6;

	if (strncmp(val, "order=", 6) || !*w)
		return vk_fail(err, -EINVAL, "%s: '%s': expected order=DEV;DEV... (e.g. order=scsi0;ide2;net0)",
			       key, val);
	while (*w) {
		size_t n = strcspn(w, ";,"), letters = strspn(w, "abcdefghijklmnopqrstuvwxyz");

		if (!n || !letters || letters > 6 || strspn(w + letters, "0123456789") != n - letters)
			return vk_fail(err, -EINVAL, "%s: '%.*s' is not a device name", key, (int)n, w);
		w += n + (w[n] != 0);
	}
	return 0;
}

struct key_spec {
	const char *name;
	unsigned int indexed;	/* 0: plain key; N: name0 .. name(N-1) */
	int (*validate)(const char *key, const char *val, struct vk_err *err);
};

static const struct key_spec keys[] = {
	{ "memory", 0, v_memory },
	{ "balloon", 0, v_balloon },
	{ "cores", 0, v_count },
	{ "sockets", 0, v_count },
	{ "cpu", 0, v_cpu },
	{ "kernel", 0, v_abspath },
	{ "initrd", 0, v_abspath },
	{ "cmdline", 0, v_text },
	{ "description", 0, v_text },
	{ "console", 0, v_console },
	{ "localtime", 0, v_bool },
	{ "onboot", 0, v_bool },
	{ "template", 0, v_bool },
	{ "cpulimit", 0, v_cpulimit },
	{ "cpuunits", 0, v_cpuunits },
	{ "memtune", 0, v_memtune },
	{ "affinity", 0, v_affinity },
	{ "vcpupin", 0, v_vcpupin },
	{ "numa", 0, v_numa },
	{ "hugepages", 0, v_hugepages },
	{ "thp", 0, v_bool },
	{ "allow-ksm", 0, v_bool },
	{ "virtio", MAX_DISKS, v_disk },
	/* Disk controllers and CD-ROMs (issue 12). */
	{ "scsihw", 0, v_scsihw },
	{ "scsi", 31, v_media_disk },
	{ "sata", 6, v_media_disk },
	{ "ide", 4, v_media_disk },
	{ "net", MAX_NETS, v_net },
	{ "rng", 1, v_rng },
	{ "vga", 0, v_vga },
	{ "keyboard", 0, v_keyboard },
	/* firmware boot (issue 12) */
	{ "bios", 0, v_bios },
	{ "boot", 0, v_boot },
	{ "machine", 0, v_machine },
	{ "efidisk0", 0, v_abspath },
	/* virtio-tablet (issue 13): Proxmox's tablet, default on with vga: std */
	{ "tablet", 0, v_bool },
};

static const struct key_spec *find_key(const char *key, unsigned int *index)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		size_t n = strlen(keys[i].name);
		uint64_t idx;

		if (!keys[i].indexed) {
			if (!strcmp(key, keys[i].name))
				return &keys[i];
			continue;
		}
		if (strncmp(key, keys[i].name, n) || !key[n])
			continue;
		if (vk_parse_uint(key + n, 0, keys[i].indexed - 1, &idx) ||
		    (key[n] == '0' && key[n + 1]))
			continue;
		if (index)
			*index = idx;
		return &keys[i];
	}
	return NULL;
}

int vm_key_validate(const char *key, const char *val, struct vk_err *err)
{
	const struct key_spec *k = find_key(key, NULL);

	if (!strcmp(key, "name"))
		return mgmt_check_name("VM", val, err);
	if (!k)
		return vk_fail(err, -EINVAL, "unknown key '%s'", key);
	if (strchr(val, '\n'))
		return vk_fail(err, -EINVAL, "%s: a value cannot hold a newline", key);
	return k->validate(key, val, err);
}
