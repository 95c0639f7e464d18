// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A VM definition as a `vmkit run` command line. The config's device
 * strings are the monitor's own, so this mostly resolves volume names to
 * files and moves config-only keys (shared=, size=, the Proxmox spellings)
 * out of the way. The monitor re-validates everything it is given.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmkit/mgmt.h"

struct argv_buf {
	char **v;
	unsigned int n, cap;
	bool oom;
};

static void add(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (a->n + 2 > a->cap) {
		char **nv = realloc(a->v, (a->cap + 32) * sizeof(char *));

		if (!nv) {
			a->oom = true;
			return;
		}
		a->v = nv;
		a->cap += 32;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		a->oom = true;
		s = NULL;
	}
	va_end(ap);
	if (!s)
		return;
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static bool truthy(const char *v)
{
	return v && (!strcmp(v, "1") || !strcmp(v, "on") || !strcmp(v, "yes"));
}

static bool vga_std(const struct vm_def *d)
{
	const char *v = vm_def_get(d, "vga");

	return v && !strcmp(v, "std");
}

/* Appends the options of a device string that the monitor takes as they are. */
struct opt_filter {
	char out[2048];
	const char *const *drop;	/* config-only keys */
};

static int filter_kv(void *opaque, const char *key, const char *val)
{
	struct opt_filter *f = opaque;
	const char *const *d;
	size_t n = strlen(f->out);

	for (d = f->drop; *d; d++)
		if (!strcmp(*d, key))
			return 0;
	if (!strcmp(val, "1") || !strcmp(val, "0"))
		val = val[0] == '1' ? "on" : "off";
	snprintf(f->out + n, sizeof(f->out) - n, ",%s%s%s", key, *val ? "=" : "", val);
	return 0;
}

static int add_disk(struct argv_buf *a, const char *key, const char *val, struct vk_err *err)
{
	static const char *const drop[] = { "shared", "size", NULL };
	struct opt_filter f = { .drop = drop };
	char ref[PATH_MAX], file[PATH_MAX];
	const char *comma = strchr(val, ',');
	int ret;

	snprintf(ref, sizeof(ref), "%.*s", comma ? (int)(comma - val) : (int)strlen(val), val);
	ret = vol_resolve(ref, true, file, err);
	if (ret)
		return mgmt_wrap(err, key);
	if (comma)
		vk_parse_kv(comma + 1, filter_kv, &f);
	add(a, "--disk");
	add(a, "path=%s%s%s", file, strstr(val, "format=") ? "" : ",format=auto", f.out);
	return 0;
}

/* scsiN, sataN, ideN (not scsihw): disks and CD-ROMs on virtio-scsi and SATA. */
static bool is_media_key(const char *k)
{
	return (!strncmp(k, "scsi", 4) && strcmp(k, "scsihw")) || !strncmp(k, "sata", 4) ||
	       !strncmp(k, "ide", 3);
}

/*
 * scsi0: REF[,OPTS] -> --disk path=FILE,bus=scsi,id=scsi0,...; "none" is
 * an empty drive; ideN goes on SATA (vmkit has no IDE) and keeps its name.
 */
static int add_media_disk(struct argv_buf *a, const char *key, const char *val,
			  struct vk_err *err)
{
	static const char *const drop[] = { "shared", "size", NULL };
	struct opt_filter f = { .drop = drop };
	const char *comma = strchr(val, ','), *bus = !strncmp(key, "scsi", 4) ? "scsi" : "sata";
	bool cdrom = strstr(val, "media=cdrom") != NULL;
	char ref[PATH_MAX], file[PATH_MAX];

	snprintf(ref, sizeof(ref), "%.*s", comma ? (int)(comma - val) : (int)strlen(val), val);
	if (comma)
		vk_parse_kv(comma + 1, filter_kv, &f);
	add(a, "--disk");
	if (cdrom && !strcmp(ref, "none")) {
		add(a, "bus=%s,id=%s%s", bus, key, f.out);
		return 0;
	}
	if (vol_resolve(ref, true, file, err))
		return mgmt_wrap(err, key);
	add(a, "path=%s,bus=%s,id=%s%s%s", file, bus, key,
	    strstr(val, "format=") || cdrom ? "" : ",format=auto", f.out);
	return 0;
}

/* The value of option key in a device string's options, or NULL. */
const char *mgmt_opt_val(const char *opts, const char *key, char *buf, size_t n)
{
	size_t klen = strlen(key);
	const char *p;

	for (p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			snprintf(buf, n, "%.*s", (int)strcspn(p + klen + 1, ","), p + klen + 1);
			return buf;
		}
	}
	return NULL;
}

/*
 * net0: virtio[=MAC],bridge=BR | network=NAME | tap=IF | user...
 *   -> --net tap,... or --net user,...; network=NAME becomes its bridge now,
 *   so a VM follows its network's bridge when that changes.
 */
static int add_net(struct argv_buf *a, const char *key, const char *val, struct vk_err *err)
{
	static const char *const drop[] = { "user", "macaddr", "tap", "network", NULL };
	struct opt_filter f = { .drop = drop };
	const char *comma = strchr(val, ',');
	const char *rest = comma ? comma + 1 : "";
	char mac[32] = "", ifname[32] = "", br[48] = "", v[MGMT_NAME_MAX + 1], bridge[16];
	bool tap = mgmt_opt_val(rest, "bridge", v, sizeof(v));	/* bridge= passes through */
	unsigned int mtu;
	int ret;

	if (!strncmp(val, "virtio=", 7))
		snprintf(mac, sizeof(mac), ",mac=%.17s", val + 7);
	if (mgmt_opt_val(rest, "tap", v, sizeof(v))) {
		snprintf(ifname, sizeof(ifname), ",ifname=%s", v);
		tap = true;
	}
	if (mgmt_opt_val(rest, "network", v, sizeof(v))) {
		ret = network_resolve(v, bridge, &mtu, err);
		if (ret)
			return mgmt_wrap(err, key);
		/* The tap takes the network's MTU, as libvirt's do, unless the VM says otherwise. */
		if (mtu && !mgmt_opt_val(rest, "mtu", v, sizeof(v)))
			snprintf(br, sizeof(br), ",bridge=%s,mtu=%u", bridge, mtu);
		else
			snprintf(br, sizeof(br), ",bridge=%s", bridge);
		tap = true;
	}
	vk_parse_kv(rest, filter_kv, &f);
	add(a, "--net");
	if (tap)
		add(a, "tap%s%s%s%s", ifname, br, mac, f.out);
	else
		add(a, "user%s%s", mac, f.out);
	return 0;
}

static void add_memory(struct argv_buf *a, const struct vm_def *d)
{
	const char *hp = vm_def_get(d, "hugepages"), *thp = vm_def_get(d, "thp");
	const char *ksm = vm_def_get(d, "allow-ksm"), *numa = vm_def_get(d, "numa");
	char m[512];
	int n;

	n = snprintf(m, sizeof(m), "%lluM", (unsigned long long)vm_def_memory_mib(d));
	if (hp)
		n += snprintf(m + n, sizeof(m) - n, ",hugepages=%s", !strcmp(hp, "1024") ? "1G" : "2M");
	if (thp)
		n += snprintf(m + n, sizeof(m) - n, ",thp=%s", truthy(thp) ? "on" : "off");
	if (ksm)
		n += snprintf(m + n, sizeof(m) - n, ",merge=%s", truthy(ksm) ? "on" : "off");
	if (numa) {
		const char *pol = strstr(numa, "policy="), *nodes = strstr(numa, "nodes=");

		n += snprintf(m + n, sizeof(m) - n, ",policy=%.*s,host-nodes=%.*s",
			      pol ? (int)strcspn(pol + 7, ",") : 4, pol ? pol + 7 : "bind",
			      (int)strcspn(nodes + 6, ","), nodes + 6);
	}
	add(a, "--memory");
	add(a, "%s", m);
}

static void add_cpus(struct argv_buf *a, const struct vm_def *d)
{
	const char *s = vm_def_get(d, "sockets"), *aff = vm_def_get(d, "affinity");
	const char *pin = vm_def_get(d, "vcpupin");

	add(a, "--cpus");
	add(a, "%u", vm_def_vcpus(d));
	if (s && atoi(s) > 1) {
		add(a, "--topology");
		add(a, "sockets=%s,cores=%s,threads=1", s,
		    vm_def_get(d, "cores") ? vm_def_get(d, "cores") : "1");
	}
	if (vm_def_get(d, "cpu")) {
		add(a, "--cpu");
		add(a, "%s", vm_def_get(d, "cpu"));
	}
	if (aff) {
		add(a, "--cpu-affinity");
		add(a, "%s", aff);
	}
	if (pin) {
		char buf[1024], *p;

		/* The config separates vCPUs with spaces; the monitor's option with commas. */
		snprintf(buf, sizeof(buf), "%s", pin);
		for (p = buf; *p; p++)
			if (*p == ' ')
				*p = ',';
		add(a, "--vcpu-affinity");
		add(a, "%s", buf);
	}
}

/*
 * bios: ovmf runs OVMF on the VM's own variable store, efidisk0 (made at
 * create beside the definition, as Proxmox's efidisk0 volume); boot: the order.
 */
static void add_firmware(struct argv_buf *a, const struct vm_def *d)
{
	const char *bios = vm_def_get(d, "bios"), *boot = vm_def_get(d, "boot");
	const char *vars = vm_def_get(d, "efidisk0");
	char p[PATH_MAX];

	if (!bios)
		return;
	add(a, "--firmware");
	if (!strcmp(bios, "ovmf"))
		add(a, "uefi,vars=%s", vars ? vars : mgmt_path(p, "vms/%s/efivars.fd", d->name));
	else
		add(a, "bios");
	if (boot) {
		add(a, "--boot");
		add(a, "%s", boot);
	}
}

/* machine: q35 (pc, the default, needs nothing). */
static void add_machine(struct argv_buf *a, const struct vm_def *d)
{
	const char *m = vm_def_get(d, "machine");

	if (m && !strcmp(m, "q35")) {
		add(a, "--machine");
		add(a, "q35");
	}
}

int vm_build_argv(const struct vm_def *d, const char *exe, char ***out, struct vk_err *err)
{
	struct argv_buf a = { 0 };
	const char *v;
	unsigned int i;
	int ret = 0;

	add(&a, "%s", exe);
	add(&a, "run");
	add(&a, "--name");
	add(&a, "%s", d->name);
	v = vm_def_get(d, "kernel");
	if (!v && !vm_def_get(d, "bios")) {
		ret = vk_fail(err, -EINVAL, "VM '%s' has no kernel: (vmkit set %s kernel=/path, or bios=seabios)",
			      d->name, d->name);
		goto out;
	}
	if (v) {
		add(&a, "--kernel");
		add(&a, "%s", v);
	}
	add_firmware(&a, d);
	add_machine(&a, d);
	if ((v = vm_def_get(d, "initrd"))) {
		add(&a, "--initrd");
		add(&a, "%s", v);
	}
	if ((v = vm_def_get(d, "cmdline"))) {
		add(&a, "--cmdline");
		add(&a, "%s", v);
	}
	add_memory(&a, d);
	add_cpus(&a, d);
	add(&a, "--console");
	v = vm_def_get(d, "console");
	/* Relative: the monitor runs in its run directory, and sun_path is short. */
	add(&a, "%ssocket:console.sock", v && !strcmp(v, "virtio") ? "virtio:" : "");
	add(&a, "--qmp");
	add(&a, "qmp.sock");
	if (truthy(vm_def_get(d, "localtime"))) {
		add(&a, "--rtc");
		add(&a, "localtime");
	}
	if ((v = vm_def_get(d, "balloon")) && strcmp(v, "0"))
		add(&a, "--balloon");
	if ((v = vm_def_get(d, "vga")) && !strcmp(v, "std")) {
		add(&a, "--vga");
		add(&a, "std");
		/*
		 * The screen on a unix socket in the run directory, mode 0600:
		 * `vmkit vnc` prints it, `vmkit serve` joins noVNC to it. keyboard:
		 * (Proxmox's key) is the layout of clients that send keysyms.
		 */
		add(&a, "--vnc");
		if ((v = vm_def_get(d, "keyboard")))
			add(&a, "unix:vnc.sock,keymap=%s", v);
		else
			add(&a, "unix:vnc.sock");
	}
	/*
	 * virtio-tablet (issue 13): Proxmox's tablet: defaults to 1, which we
	 * take to mean "when there is a screen to point at" (vga: std).
	 */
	v = vm_def_get(d, "tablet");
	if (v ? truthy(v) : vga_std(d))
		add(&a, "--tablet");
	if ((v = vm_def_get(d, "scsihw"))) {
		add(&a, "--scsihw");
		add(&a, "%s", v);
	}
	if ((v = vm_def_get(d, "rng0")))
		add(&a, "--rng=file=%s", v[0] == '/' ? v : v + strlen("source="));
	for (i = 0; i < d->n && !ret; i++) {
		const char *k = d->kv[i].key;

		if (!strncmp(k, "virtio", 6))
			ret = add_disk(&a, k, d->kv[i].val, err);
		else if (is_media_key(k))
			ret = add_media_disk(&a, k, d->kv[i].val, err);
		else if (!strncmp(k, "net", 3))
			ret = add_net(&a, k, d->kv[i].val, err);
	}
out:
	if (!ret && a.oom)
		ret = vk_fail(err, -ENOMEM, "out of memory");
	if (ret) {
		mgmt_strv_free(a.v);
		return ret;
	}
	*out = a.v;
	return 0;
}
