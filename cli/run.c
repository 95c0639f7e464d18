// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmkit run: parse and check every option before anything starts (bad
 * input is one line and exit 2), then build and run the VM, building it
 * anew after each guest reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "run-firmware.h"
#include "run-media.h"
#include "run-incoming.h"
#include "vmkit/vm-dirty.h"
#include "run-resources.h"
#include "vmkit/blk-backend.h"
#include "vmkit/block.h"
#include "vmkit/console.h"
#include "vmkit/control.h"
#include "vmkit/sandbox.h"
#include "vmkit/vmm-sandbox.h"
#include "vmkit/util.h"
#include "vmkit/virtio-blk.h"
#include "vmkit/vm.h"

#define MIN_MEMORY (4 * MiB)

static const char run_usage[] =
	"usage: vmkit run --kernel FILE [OPTIONS]\n"
	"       vmkit run --firmware bios|uefi [OPTIONS]\n"
	"\n"
	"  --kernel FILE        bzImage, ELF vmlinux or PVH ELF image\n"
	"  --initrd FILE        initial ramdisk\n"
	"  --cmdline STR        kernel command line (default: console=ttyS0)\n"
	"  --cpus N             vCPUs, 1 to the host's CPU count (default 1)\n"
	"  --topology sockets=S,cores=C,threads=T\n"
	"  --memory SIZE[,hugepages=2M|1G][,mem-path=DIR][,prealloc=on][,thp=on|off]\n"
	"         [,merge=on|off][,policy=bind|preferred|interleave,host-nodes=LIST]\n"
	"                       guest RAM; K/M/G suffixes, bare numbers are MiB (default 256M);\n"
	"                       hugetlb pages, THP and KSM advice, NUMA placement\n"
	"  --cpu-affinity LIST  host CPUs for every vCPU thread (e.g. 0-3,6)\n"
	"  --vcpu-affinity V=LIST[,V=LIST...]  host CPUs per vCPU (e.g. 0=0-1,1=1)\n"
	"  --io-affinity LIST   host CPUs for the other threads (event loop, I/O)\n"
	"  --poll-max-ns N      the device loop and iothreads spin up to N ns for the\n"
	"                       guest's next request and disk completions before they\n"
	"                       sleep (QEMU's poll-max-ns; adaptive; default 100000, 0 off)\n"
	"  --console KIND       stdio (default), none, file:PATH, socket:PATH; on the UART,\n"
	"                       or with a virtio: prefix (virtio, virtio:file:PATH...) on hvc0\n"
	"  --cpu MODEL          host (all KVM offers) or baseline (default on PVM hosts)\n"
	"  --rtc utc|localtime  what the guest's CMOS clock shows (default utc)\n"
	"  --name NAME          the VM's name\n"
	"  --no-reboot          exit when the guest resets instead of booting again\n"
	"  --debug-exit[=PORT]  QEMU's isa-debug-exit (default port 0xf4), for test guests\n"
	"  --disk path=FILE[,format=FMT|auto][,readonly=on][,serial=STR]\n"
	"         [,cache=none|writeback|writethrough|directsync|unsafe]\n"
	"         [,aio=io_uring|native|threads][,iothread=on|off][,discard=unmap|ignore]\n"
	"         [,num-queues=N][,queue-size=N][,l2-cache-size=SIZE]\n"
	"         [,cache-clean-interval=SECS]\n"
	"                       a virtio-blk disk (repeatable); cache=none is O_DIRECT\n"
	"                       (on every file of a qcow2 chain); without format= the\n"
	"                       format is probed (auto), as QEMU; qcow2 has the same\n"
	"                       engines (its data I/O on aio=, metadata work in a thread);\n"
	"                       FMT: raw, qcow2, or vmdk, vpc, vdi, vhdx (read-only)\n"
	"         [,bus=virtio|scsi|sata][,media=disk|cdrom][,id=NAME]\n"
	"                       bus=scsi: virtio-scsi, bus=sata: AHCI; media=cdrom: a\n"
	"                       read-only CD-ROM (an ISO, or empty without path=)\n"
	"  --cdrom FILE         a CD-ROM on the SATA bus with FILE (an ISO 9660 image)\n"
	"  --scsihw virtio-scsi-pci|virtio-scsi-single\n"
	"                       one controller for every SCSI disk (default), or one each\n"
	"  --rng[=file=PATH]    a virtio-rng device fed from PATH (default /dev/urandom)\n"
	"  --qmp [unix:]PATH[,server=on,wait=off]\n"
	"                       serve QMP on a unix socket (mode 0600)\n"
	"  --balloon[=deflate-on-oom=on][,guest-stats-polling-interval=SECONDS]\n"
	"                       a virtio-balloon device (also --device virtio-balloon[,...])\n"
	"  --net tap[,ifname=NAME][,bridge=BR][,mac=MAC][,queues=N][,vhost=on|off][,mtu=N]\n"
	"                       a virtio-net NIC on a tap (repeatable); queues=N: multiqueue\n"
	"  --net user[,net=ADDR/PREFIX][,hostfwd=[tcp|udp]:[HADDR]:HPORT-[GADDR]:GPORT]...\n"
	"         [,host=ADDR][,dns=ADDR][,dhcpstart=ADDR][,restrict=on][,ipv6=off][,mtu=N]\n"
	"         [,mac=MAC]\n"
	"                       user-mode NAT (libslirp, in the vmkit-slirp helper next to\n"
	"                       vmkit): 10.0.2.0/24, host .2, DNS .3, DHCP from .15\n"
	"  --sandbox on|off     seccomp allow-lists per thread and no new privileges, for\n"
	"                       the monitor and its vmkit-slirp and vmkit-vnc helpers\n"
	"                       (default on; off is for debugging)\n"
	"  --runas USER         as root, with --sandbox on: run as USER, no capabilities\n"
	"  --chroot DIR         as root, with --sandbox on: DIR as the root (default: an\n"
	"                       empty private one)\n"
	"  --outdir DIR         with --runas: DIR, writable, in the private root: where\n"
	"                       QMP screendump and migrate file: may write\n"
	"  --vga std|none       a standard VGA (QEMU's -vga std: Bochs VBE, PCI 1234:1111)\n"
	"                       or none (default: keeps direct kernel boot fast)\n"
	"  --vnc [HOST]:N|unix:PATH[,password=on][,websocket=PORT][,keymap=LAYOUT]\n"
	"                       a VNC server on the screen: port 5900+N on HOST (default\n"
	"                       127.0.0.1), or a unix socket; password=on refuses clients\n"
	"                       until QMP change-vnc-password sets one\n"
	"  --firmware bios|uefi[,code=FILE][,vars=FILE]\n"
	"                       boot through SeaBIOS or OVMF (Debian's seabios, ovmf; the\n"
	"                       directory in $VMKIT_FIRMWARE_DIR instead of /usr/share);\n"
	"                       vars=: the VM's own copy of OVMF_VARS_4M.fd, kept up to date\n"
	"                       (without it the variables last until the VM stops);\n"
	"                       --kernel is then optional and loaded by the firmware\n"
	"  --boot order=LIST    firmware boot order: disk, cdrom, net or device names\n"
	"                       (virtio0, scsi0, sata0, ide2, net0), by , or ;\n"
	"  --debugcon file:PATH port 0x402 (the firmware's log) to PATH\n"
	"  --tablet             a virtio-tablet (absolute pointer: the VNC pointer without\n"
	"                       mouse acceleration; also --device virtio-tablet[-pci])\n"
	"  --machine pc|q35     the chipset: i440FX/PIIX3 (default) or Q35 (MCH with PCIe\n"
	"                       ECAM, ICH9 LPC), with or without --firmware\n"
	"  --incoming file:PATH start from a saved VM (QMP migrate file:, vmkit save)\n"
	"  --incoming tcp:ADDR:PORT  wait there for a VM migrating live (QMP migrate tcp:)\n"
	"                       instead of booting; the other options must be the ones\n"
	"                       it was saved with\n"
	"  --tls-creds DIR      migration's TLS credentials (ca-cert.pem, server-cert.pem,\n"
	"                       server-key.pem, client-cert.pem, client-key.pem): with\n"
	"                       them --incoming takes TLS only; QMP migrate-set-parameters\n"
	"                       tls-creds=tls0 sends over TLS\n"
	"\n"
	"On the stdio console, Ctrl-A x quits and Ctrl-A Ctrl-A sends Ctrl-A.\n";

enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_TOPOLOGY, OPT_MEMORY,
       OPT_CONSOLE, OPT_CPU, OPT_RTC, OPT_NAME, OPT_NO_REBOOT, OPT_DEBUG_EXIT, OPT_DISK,
       OPT_RNG, OPT_HELP, OPT_CPU_AFFINITY, OPT_VCPU_AFFINITY, OPT_IO_AFFINITY, OPT_POLL_MAX_NS,
       OPT_QMP, OPT_BALLOON, OPT_DEVICE, OPT_NET, OPT_SANDBOX, OPT_RUNAS, OPT_CHROOT, OPT_OUTDIR,
       OPT_VGA, OPT_VNC,
       /* firmware boot (issue 12) */
       OPT_FIRMWARE, OPT_BOOT, OPT_DEBUGCON,
       /* virtio-tablet (issue 13) */
       OPT_TABLET,
       /* disk controllers and CD-ROMs (issue 12) */
       OPT_CDROM, OPT_SCSIHW,
       /* the Q35 machine (issue 12) */
       OPT_MACHINE,
       /* save/restore (issue 15) */
       OPT_INCOMING, OPT_TLS_CREDS };

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "append", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "smp", required_argument, NULL, OPT_CPUS },
	{ "topology", required_argument, NULL, OPT_TOPOLOGY },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "rtc", required_argument, NULL, OPT_RTC },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "no-reboot", no_argument, NULL, OPT_NO_REBOOT },
	{ "debug-exit", optional_argument, NULL, OPT_DEBUG_EXIT },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "rng", optional_argument, NULL, OPT_RNG },
	{ "qmp", required_argument, NULL, OPT_QMP },
	{ "balloon", optional_argument, NULL, OPT_BALLOON },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "net", required_argument, NULL, OPT_NET },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "cpu-affinity", required_argument, NULL, OPT_CPU_AFFINITY },
	{ "vcpu-affinity", required_argument, NULL, OPT_VCPU_AFFINITY },
	{ "io-affinity", required_argument, NULL, OPT_IO_AFFINITY },
	{ "poll-max-ns", required_argument, NULL, OPT_POLL_MAX_NS },
	{ "sandbox", required_argument, NULL, OPT_SANDBOX },
	{ "runas", required_argument, NULL, OPT_RUNAS },
	{ "chroot", required_argument, NULL, OPT_CHROOT },
	{ "outdir", required_argument, NULL, OPT_OUTDIR },
	{ "vga", required_argument, NULL, OPT_VGA },
	{ "vnc", required_argument, NULL, OPT_VNC },
	/* firmware boot (issue 12) */
	{ "firmware", required_argument, NULL, OPT_FIRMWARE },
	{ "bios", required_argument, NULL, OPT_FIRMWARE },
	{ "boot", required_argument, NULL, OPT_BOOT },
	{ "debugcon", required_argument, NULL, OPT_DEBUGCON },
	/* virtio-tablet (issue 13) */
	{ "tablet", no_argument, NULL, OPT_TABLET },
	{ "cdrom", required_argument, NULL, OPT_CDROM },
	{ "scsihw", required_argument, NULL, OPT_SCSIHW },
	/* the Q35 machine (issue 12) */
	{ "machine", required_argument, NULL, OPT_MACHINE },
	/* save/restore (issue 15) */
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "tls-creds", required_argument, NULL, OPT_TLS_CREDS },
	{ 0 }
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vk_vmsg(fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static uint64_t host_memory(void)
{
	return (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
}

static unsigned int host_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? n : 1;
}

static int parse_memory(struct vm_config *c, const char *arg)
{
	uint64_t v, host = host_memory();
	const char *opts = strchr(arg, ',');
	char size[64];

	/* SIZE or size=SIZE, then the backing options (run-resources.c). */
	snprintf(size, sizeof(size), "%.*s", opts ? (int)(opts - arg) : (int)strlen(arg), arg);
	if (vk_parse_size(strncmp(size, "size=", 5) ? size : size + 5, MiB, &v))
		return usage_error("--memory %s: not a size (e.g. 512M, 2G)", arg);
	if (opts && run_parse_memory_backing(c, arg, opts + 1))
		return -EINVAL;
	if (v < MIN_MEMORY)
		return usage_error("--memory %s: too small (at least %llu MiB)", arg, MIN_MEMORY / MiB);
	if (v > host)
		return usage_error("--memory %s: more than the host's %llu MiB", arg,
				   (unsigned long long)(host / MiB));
	c->mem_bytes = ALIGN_UP(v, 2 * MiB);
	return run_check_memory_backing(c, v, arg);
}

static int parse_cpus(struct vm_config *c, const char *arg)
{
	uint64_t v;
	unsigned int host = host_cpus();

	if (vk_parse_uint(arg, 0, 1u << 20, &v))
		return usage_error("--cpus %s: not a number", arg);
	if (v == 0)
		return usage_error("--cpus 0: a VM needs at least one vCPU");
	if (v > host)
		return usage_error("--cpus %s: more than the host's %u CPUs", arg, host);
	c->cpus = v;
	return 0;
}

static int topo_kv(void *opaque, const char *key, const char *val)
{
	struct vm_topology *t = opaque;
	unsigned int *field;
	uint64_t v;

	if (!strcmp(key, "sockets"))
		field = &t->sockets;
	else if (!strcmp(key, "cores"))
		field = &t->cores;
	else if (!strcmp(key, "threads"))
		field = &t->threads;
	else
		return usage_error("--topology: unknown key '%s' (sockets, cores, threads)", key);
	if (vk_parse_uint(val, 1, 256, &v))
		return usage_error("--topology: %s=%s is not a number from 1 to 256", key, val);
	*field = v;
	return 0;
}

static int parse_console(struct vm_config *c, const char *arg)
{
	c->console_virtio = !strncmp(arg, "virtio", 6) && (!arg[6] || arg[6] == ':');
	if (c->console_virtio) {
		arg = arg[6] ? arg + 7 : "stdio";
		if (!*arg)
			return usage_error("--console virtio:: expected a backend after virtio:");
	}
	if (!strcmp(arg, "stdio")) {
		c->console = CONSOLE_STDIO;
	} else if (!strcmp(arg, "none")) {
		c->console = CONSOLE_NONE;
	} else if (!strncmp(arg, "file:", 5) && arg[5]) {
		c->console = CONSOLE_FILE;
		c->console_path = arg + 5;
	} else if (!strncmp(arg, "socket:", 7) && arg[7]) {
		c->console = CONSOLE_SOCKET;
		c->console_path = arg + 7;
	} else {
		return usage_error("--console %s: expected stdio, none, file:PATH or socket:PATH", arg);
	}
	return 0;
}

static int parse_debug_exit(struct vm_config *c, const char *arg)
{
	unsigned long port;
	char *end;

	if (!arg) {
		c->debug_exit_port = 0xf4;
		return 0;
	}
	port = strtoul(arg, &end, 0);
	if (*end || end == arg || port == 0 || port > 0xffff)
		return usage_error("--debug-exit=%s: not an I/O port (1-0xffff)", arg);
	c->debug_exit_port = port;
	return 0;
}

/* At most a second: a window is spent spinning, on a host CPU. */
static int parse_poll_max(struct vm_config *c, const char *arg)
{
	unsigned long long ns;
	char *end;

	errno = 0;
	ns = strtoull(arg, &end, 10);
	if (errno || *end || end == arg || *arg == '-' || ns > 1000000000ull)
		return usage_error("--poll-max-ns %s: expected nanoseconds from 0 to 1000000000", arg);
	c->poll_max_given = true;
	c->poll_max_ns = ns;
	return 0;
}

/* A number in [min, max] (and a power of two if pow2), or a usage error. */
static int disk_uint(const char *key, const char *val, unsigned int min, unsigned int max,
		     bool pow2, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno || end == val || *end || *val == '-' || v < min || v > max ||
	    (pow2 && (v & (v - 1))))
		return usage_error("--disk: %s=%s: expected %s%u..%u", key, val,
				   pow2 ? "a power of two in " : "", min, max);
	*out = v;
	return 0;
}

static int on_off(const char *key, const char *val, bool *out)
{
	if (!strcmp(val, "on") || !strcmp(val, "true") || !strcmp(val, "1"))
		*out = true;
	else if (!strcmp(val, "off") || !strcmp(val, "false") || !strcmp(val, "0"))
		*out = false;
	else
		return usage_error("--disk: %s=%s: expected on or off", key, val);
	return 0;
}

static int disk_kv(void *opaque, const char *key, const char *val)
{
	struct disk_config *d = opaque;

	if (!strcmp(key, "path") || !strcmp(key, "file")) {
		d->path = strdup(val);
	} else if (!strcmp(key, "format")) {
		if (blk_format_parse(val, d->format))
			return usage_error("--disk: format=%s: unknown format (vmkit reads %s, "
					   "or auto)", val, vk_blk_formats());
	} else if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
		d->readonly_given = true;
		return on_off(key, val, &d->readonly);
	} else if (!strcmp(key, "serial")) {
		if (strlen(val) > DISK_SERIAL_MAX)
			return usage_error("--disk: serial=%s: longer than %u characters", val,
					   DISK_SERIAL_MAX);
		strcpy(d->serial, val);
	} else if (!strcmp(key, "cache")) {
		int c = blk_cache_parse(val);

		if (c < 0)
			return usage_error("--disk: cache=%s: expected none, writeback, writethrough, directsync or unsafe",
					   val);
		d->cache = c;
	} else if (!strcmp(key, "aio")) {
		int a = blk_aio_parse(val);

		if (a < 0)
			return usage_error("--disk: aio=%s: expected io_uring, native or threads", val);
		d->aio = a;
	} else if (!strcmp(key, "iothread")) {
		return on_off(key, val, &d->iothread);
	} else if (!strcmp(key, "discard")) {
		/* QEMU's spellings: unmap/on pass discards to the file, ignore/off hide the feature. */
		if (!strcmp(val, "unmap") || !strcmp(val, "on"))
			d->discard_ignore = false;
		else if (!strcmp(val, "ignore") || !strcmp(val, "off"))
			d->discard_ignore = true;
		else
			return usage_error("--disk: discard=%s: expected unmap or ignore", val);
	} else if (!strcmp(key, "num-queues")) {
		return disk_uint(key, val, 1, VIRTIO_BLK_MAX_QUEUES, false, &d->num_queues);
	} else if (!strcmp(key, "queue-size")) {
		return disk_uint(key, val, 16, 1024, true, &d->queue_size);
	} else if (!strcmp(key, "l2-cache-size")) {
		/* QEMU's qcow2 option: bytes of L2 tables kept in memory (the image checks the rest). */
		if (vk_parse_size(val, 1, &d->l2_cache_size) || !d->l2_cache_size)
			return usage_error("--disk: l2-cache-size=%s: expected a size (K/M/G)", val);
	} else if (!strcmp(key, "cache-clean-interval")) {
		/* QEMU's qcow2 option: free metadata tables unused for that long (0: never). */
		unsigned int secs;
		int r = disk_uint(key, val, 0, 365 * 24 * 3600, false, &secs);

		d->cache_clean_interval = (int)secs;
		return r;
	} else {
		bool handled;
		int r = run_disk_media_kv(d, key, val, &handled);

		if (!handled)
			return usage_error("--disk: unknown option '%s'", key);
		return r;
	}
	return 0;
}

static int parse_disk(struct vm_config *c, const char *arg)
{
	struct disk_config *d;
	char what[256];

	if (c->nr_disks == VM_MAX_DISKS)
		return usage_error("--disk: at most %u disks", VM_MAX_DISKS);
	d = &c->disks[c->nr_disks];
	*d = (struct disk_config){ .cache = CACHE_NONE, .cache_clean_interval = DISK_CLEAN_DEFAULT };
	/* A bare path is accepted too, as "--disk disk.img". */
	if (!strchr(arg, '='))
		d->path = strdup(arg);
	else if (vk_parse_kv(arg, disk_kv, d))
		return -EINVAL;
	snprintf(what, sizeof(what), "--disk %s", arg);
	if (run_check_disk_media(d, what))
		return -EINVAL;
	/* Linux AIO blocks in io_submit without O_DIRECT: QEMU refuses it too. */
	if (d->aio == AIO_NATIVE && d->cache != CACHE_NONE && d->cache != CACHE_DIRECTSYNC)
		return usage_error("--disk %s: aio=native was specified, but it requires cache=none or cache=directsync",
				   arg);
	c->nr_disks++;
	return 0;
}

static int balloon_kv(void *opaque, const char *key, const char *val)
{
	struct vm_config *c = opaque;

	if (!strcmp(key, "deflate-on-oom")) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return usage_error("--balloon: deflate-on-oom=%s: expected on or off", val);
		c->balloon_deflate_on_oom = !strcmp(val, "on");
		return 0;
	}
	if (!strcmp(key, "guest-stats-polling-interval")) {
		uint64_t v;

		if (vk_parse_uint(val, 0, 86400, &v))
			return usage_error("--balloon: guest-stats-polling-interval=%s: expected 0 to 86400 seconds",
					   val);
		c->balloon_stats_interval = v;
		return 0;
	}
	/* QEMU's -balloon virtio and -device virtio-balloon-pci spellings. */
	if ((!strcmp(key, "virtio") || !strncmp(key, "virtio-balloon", 14)) && !*val)
		return 0;
	return usage_error("--balloon: unknown option '%s' (deflate-on-oom, guest-stats-polling-interval)",
			   key);
}

static int parse_balloon(struct vm_config *c, const char *arg)
{
	c->balloon = true;
	return arg ? vk_parse_kv(arg, balloon_kv, c) : 0;
}

/* --device NAME[,opts]: QEMU's -device, for the devices that have no option of their own. */
static int parse_device(struct vm_config *c, const char *arg)
{
	size_t n = strcspn(arg, ",");

	if ((n == 14 && !strncmp(arg, "virtio-balloon", n)) ||
	    (n == 18 && !strncmp(arg, "virtio-balloon-pci", n)))
		return parse_balloon(c, arg);
	/* virtio-tablet (issue 13): no options of its own. */
	if ((n == 13 && !strncmp(arg, "virtio-tablet", n)) ||
	    (n == 17 && !strncmp(arg, "virtio-tablet-pci", n))) {
		if (arg[n])
			return usage_error("--device %s: virtio-tablet takes no options", arg);
		c->tablet = true;
		return 0;
	}
	return usage_error("--device %s: unknown device (virtio-balloon, virtio-tablet)", arg);
}

static int parse_sandbox(struct vm_config *c, const char *arg)
{
	if (!strcmp(arg, "on"))
		c->sandbox = SANDBOX_ON;
	else if (!strcmp(arg, "off"))
		c->sandbox = SANDBOX_OFF;
	else
		return usage_error("--sandbox %s: expected on or off", arg);
	return 0;
}

/* --runas and --chroot: root only, with --sandbox on; checked before anything opens. */
static int check_sandbox(struct vm_config *c)
{
	struct stat st;
	unsigned int i;
	uid_t u;
	gid_t g;

	/*
	 * VMKIT_SANDBOX=on|off: the default of --sandbox, so that a whole test
	 * suite can run with the allow-lists off (to tell their failures apart).
	 */
	const char *env = getenv("VMKIT_SANDBOX");

	if (c->sandbox == SANDBOX_DEFAULT && env) {
		if (strcmp(env, "on") && strcmp(env, "off"))
			return usage_error("VMKIT_SANDBOX=%s: expected on or off", env);
		c->sandbox = strcmp(env, "on") ? SANDBOX_OFF : SANDBOX_ON;
	}
	/*
	 * On unless told otherwise, as Firecracker and libvirt's QEMU: the lists
	 * ran tests/guest, tests/linux, display, management and the REST API's
	 * VMs on a real KVM (README "Hardening").
	 */
	if (c->sandbox == SANDBOX_DEFAULT)
		c->sandbox = SANDBOX_ON;
	for (i = 0; i < c->nr_nets; i++)
		c->nets[i].user_sandbox_off = c->sandbox == SANDBOX_OFF;
	if (c->outdir && (!c->runas || c->chroot_dir))
		return usage_error("--outdir needs --runas (and no --chroot)");
	if (c->outdir && (stat(c->outdir, &st) < 0 || !S_ISDIR(st.st_mode)))
		return usage_error("--outdir %s: not a directory", c->outdir);
	if (!c->runas && !c->chroot_dir)
		return 0;
	if (c->sandbox != SANDBOX_ON)
		return usage_error("--%s needs --sandbox on", c->runas ? "runas" : "chroot");
	if (geteuid() != 0)
		return usage_error("--%s: only root can change user or root",
				   c->runas ? "runas" : "chroot");
	if (c->runas && sandbox_lookup_user(c->runas, &u, &g, NULL) < 0)
		return usage_error("--runas %s: no such user", c->runas);
	if (c->chroot_dir && (stat(c->chroot_dir, &st) < 0 || !S_ISDIR(st.st_mode)))
		return usage_error("--chroot %s: not a directory", c->chroot_dir);
	return 0;
}

static int parse_one(struct vm_config *c, int opt, const char *arg)
{
	switch (opt) {
	case OPT_KERNEL: c->kernel = arg; return 0;
	case OPT_INITRD: c->initrd = arg; return 0;
	case OPT_CMDLINE: c->cmdline = arg; return 0;
	case OPT_NAME: c->name = arg; return 0;
	case OPT_SANDBOX: return parse_sandbox(c, arg);
	case OPT_RUNAS:
		if (!*arg)
			return usage_error("--runas: needs a user name");
		c->runas = arg;
		return 0;
	case OPT_CHROOT:
		if (!*arg)
			return usage_error("--chroot: needs a directory");
		c->chroot_dir = arg;
		return 0;
	case OPT_OUTDIR:
		if (!*arg)
			return usage_error("--outdir: needs a directory");
		c->outdir = arg;
		return 0;
	case OPT_NO_REBOOT: c->no_reboot = true; return 0;
	case OPT_VGA: return run_parse_vga(c, arg);
	case OPT_VNC: return run_parse_vnc(c, arg);
	case OPT_CPUS: return parse_cpus(c, arg);
	case OPT_MEMORY: return parse_memory(c, arg);
	case OPT_CONSOLE: return parse_console(c, arg);
	case OPT_DEBUG_EXIT: return parse_debug_exit(c, arg);
	case OPT_DISK: return parse_disk(c, arg);
	case OPT_CDROM: return run_parse_cdrom(c, arg);
	case OPT_SCSIHW: return run_parse_scsihw(c, arg);
	case OPT_CPU_AFFINITY: return run_parse_cpu_affinity(c, arg);
	case OPT_VCPU_AFFINITY: return run_parse_vcpu_affinity(c, arg);
	case OPT_IO_AFFINITY: return run_parse_io_affinity(c, arg);
	case OPT_POLL_MAX_NS: return parse_poll_max(c, arg);
	case OPT_BALLOON: return parse_balloon(c, arg);
	case OPT_QMP: {
		struct vk_err err = { 0 };
		char *path;

		/* The last --qmp wins; a bad one leaves the one before intact (not freed). */
		if (control_parse_spec(arg, &path, &err)) {
			vk_report(&err);
			return -EINVAL;
		}
		free(c->qmp_path);
		c->qmp_path = path;
		return 0;
	}
	case OPT_DEVICE: return parse_device(c, arg);
	case OPT_FIRMWARE: return run_parse_firmware(c, arg);
	case OPT_BOOT: return run_parse_boot(c, arg);
	case OPT_DEBUGCON: return run_parse_debugcon(c, arg);
	case OPT_TABLET: c->tablet = true; return 0;
	case OPT_MACHINE: return run_parse_machine(c, arg);
	case OPT_INCOMING: return run_parse_incoming(c, arg);
	case OPT_TLS_CREDS: c->tls_dir = arg; return 0;
	case OPT_NET: return run_parse_net(c, arg);
	case OPT_RNG:
		if (!arg)
			c->rng_source = "/dev/urandom";
		else if (!strncmp(arg, "file=", 5) && arg[5])
			c->rng_source = arg + 5;
		else
			return usage_error("--rng=%s: expected file=PATH", arg);
		return 0;
	case OPT_TOPOLOGY: return vk_parse_kv(arg, topo_kv, &c->topo);
	case OPT_CPU:
		if (!strcmp(arg, "host"))
			c->cpu_model = CPU_MODEL_HOST;
		else if (!strcmp(arg, "baseline") || !strcmp(arg, "kvm64"))
			c->cpu_model = CPU_MODEL_BASELINE;
		else
			return usage_error("--cpu %s: expected host or baseline", arg);
		return 0;
	case OPT_RTC:
		if (!strcmp(arg, "utc") || !strcmp(arg, "base=utc"))
			c->rtc_localtime = false;
		else if (!strcmp(arg, "localtime") || !strcmp(arg, "base=localtime"))
			c->rtc_localtime = true;
		else
			return usage_error("--rtc %s: expected utc or localtime", arg);
		return 0;
	}
	return -EINVAL;
}

static int check_readable(const char *what, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return usage_error("%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		close(fd);
		return usage_error("%s %s: not a regular file", what, path);
	}
	close(fd);
	return 0;
}

/* Cross-option checks and defaults, once every option is known. */
static int finish_config(struct vm_config *c, bool cpus_given)
{
	struct vm_topology *t = &c->topo;
	unsigned int n;

	if (run_check_firmware(c))
		return -EINVAL;
	if (!c->kernel && c->firmware == FIRMWARE_NONE)
		return usage_error("no kernel given (--kernel FILE, or --firmware bios|uefi)");
	if (c->kernel && check_readable("--kernel", c->kernel))
		return -EINVAL;
	if (c->initrd && check_readable("--initrd", c->initrd))
		return -EINVAL;
	run_finish_nets(c);
	if (t->sockets || t->cores || t->threads) {
		t->sockets = t->sockets ? t->sockets : 1;
		t->threads = t->threads ? t->threads : 1;
		if (!t->cores)
			t->cores = MAX(1u, c->cpus / (t->sockets * t->threads));
		n = t->sockets * t->cores * t->threads;
		if (cpus_given && n != c->cpus)
			return usage_error("--topology: %u sockets x %u cores x %u threads is %u vCPUs, but --cpus is %u",
					   t->sockets, t->cores, t->threads, n, c->cpus);
		if (n > host_cpus())
			return usage_error("--topology: %u vCPUs, more than the host's %u CPUs", n,
					   host_cpus());
		c->cpus = n;
	} else {
		*t = (struct vm_topology){ 1, c->cpus, 1 };
	}
	return run_check_affinity(c);
}

static int parse_args(struct vm_config *c, int argc, char **argv)
{
	bool cpus_given = false;
	int opt;

	*c = (struct vm_config){ .cpus = 1, .mem_bytes = 256 * MiB, .console = CONSOLE_STDIO };
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", run_options, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(run_usage, stdout);
			return 1;
		}
		if (opt == '?' || opt == ':')
			return usage_error("run: %s '%s' (see 'vmkit run --help')",
					   opt == ':' ? "option needs a value" : "unknown option",
					   argv[optind - 1]);
		if (parse_one(c, opt, optarg))
			return -EINVAL;
		cpus_given |= opt == OPT_CPUS;
	}
	if (optind < argc)
		return usage_error("run: unexpected argument '%s'", argv[optind]);
	if (check_sandbox(c))
		return -EINVAL;
	return finish_config(c, cpus_given);
}

/* SIGINT/SIGTERM/SIGHUP arrive through a signalfd in the event loop; SIGUSR1 kicks vCPUs. */
static int setup_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigdelset(&set, SIGUSR1);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/*
 * --runas: the sockets the monitor serves (QMP, console, VNC) belong to the
 * user it becomes, still mode 0600, as libvirt's QEMU's do: that user and
 * root may connect, nobody else.
 */
static void give_sockets(const struct vm_config *cfg, struct control *ctl)
{
	uid_t uid;
	gid_t gid;

	if (!cfg->runas || sandbox_lookup_user(cfg->runas, &uid, &gid, NULL))
		return;
	if (ctl && lchown(control_path(ctl), uid, gid) < 0)
		vk_msg("--qmp %s: %s", control_path(ctl), strerror(errno));
	if (cfg->console == CONSOLE_SOCKET && cfg->console_path &&
	    lchown(cfg->console_path, uid, gid) < 0)
		vk_msg("--console socket:%s: %s", cfg->console_path, strerror(errno));
	run_give_display(uid, gid);
}

static int run_vm(struct vm_config *cfg, struct console *con, struct control *ctl,
		  int sfd, struct run_incoming *incoming)
{
	struct vk_err err = { 0 };
	enum vm_stop why;
	struct vm *vm;
	bool again;
	int status = 0;

	for (;;) {
		if (vm_create(&vm, cfg, con, &err)) {
			vk_report(&err);
			if (ctl)
				control_detach(ctl, VM_STOP_ERROR, false);
			/* Short of host memory (a hugepage pool): not a usage error. */
			return err.code == -ENOMEM ? EXIT_GUEST_ERROR : EXIT_USAGE;
		}
		/* --incoming: the first VM takes the saved one's RAM and state; resets boot. */
		if (run_incoming_pending(incoming) && run_restore_incoming(vm, incoming)) {
			vm_destroy(vm);
			if (ctl)
				control_detach(ctl, VM_STOP_ERROR, false);
			return EXIT_GUEST_ERROR;
		}
		/* The disks are this VM's now: a VM built after a reset opens them as usual. */
		for (unsigned int i = 0; i < cfg->nr_disks; i++)
			cfg->disks[i].inactive = false;
		if (ctl)
			control_attach(ctl, vm);
		why = vm_run(vm, sfd);
		if (why == VM_STOP_QUIT)
			vk_msg("%s", vm->stop_msg);
		status = why == VM_STOP_DEBUG_EXIT ? vm->debug_exit_status :
			 why == VM_STOP_ERROR ? EXIT_GUEST_ERROR : 0;
		again = why == VM_STOP_RESET && !cfg->no_reboot;
		if (ctl && !control_detach(ctl, why, again) && again) {
			vk_msg("quit from the control socket");
			again = false;
		}
		vm_destroy(vm);
		if (!again)
			break;
	}
	return status;
}

int cmd_run(int argc, char **argv)
{
	struct vk_err err = { 0 };
	struct control *ctl = NULL;
	struct vm_config cfg;
	struct console *con;
	struct run_incoming incoming = { .listen_fd = -1 };
	int r, fd, sfd;

	r = parse_args(&cfg, argc, argv);
	if (r)
		return r > 0 ? 0 : EXIT_USAGE;
	if (!cfg.cmdline)
		cfg.cmdline = "console=ttyS0";
	/* Taps and bridges are the user's input too: checked before anything starts. */
	if (run_open_nets(&cfg))
		return EXIT_USAGE;
	if (run_open_debugcon(&cfg)) {
		run_close_nets(&cfg);
		return EXIT_USAGE;
	}
	/* Before any privilege drop: live migration reads it, where /proc is out of reach. */
	vm_ram_pagemap_open();
	/* A damaged saved VM, or one from other options, is refused before KVM is needed. */
	if (run_open_incoming(&cfg, &incoming)) {
		run_close_nets(&cfg);
		return EXIT_USAGE;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		vk_msg("/dev/kvm: %s (KVM is not available on this host)", strerror(errno));
		run_close_incoming(&incoming);
		return EXIT_GUEST_ERROR;
	}
	close(fd);
	if (vm_host_is_pvm()) {
		if (cfg.cpu_model == CPU_MODEL_DEFAULT)
			cfg.cpu_model = CPU_MODEL_BASELINE;
		vk_msg("host KVM is PVM (kvm_pvm): guest kernel code runs emulated; CPU model %s",
		       cfg.cpu_model == CPU_MODEL_HOST ? "host" : "baseline");
	} else if (cfg.cpu_model == CPU_MODEL_DEFAULT) {
		cfg.cpu_model = CPU_MODEL_HOST;
	}
	if (run_apply_io_affinity(&cfg))
		return EXIT_USAGE;
	if (console_open(&con, cfg.console, cfg.console_path, &err)) {
		vk_report(&err);
		return EXIT_USAGE;
	}
	/* The screen and its VNC server outlive guest resets; a port in use is the user's error. */
	if (run_open_display(&cfg)) {
		console_close(con);
		return EXIT_USAGE;
	}
	/* Signals first: the control thread must inherit the blocked set. */
	sfd = setup_signals();
	/* Before any thread starts: each installs its own kind (vmm/core/sandbox.c). */
	vmm_sandbox_enable(cfg.sandbox == SANDBOX_ON);
	/* Before any thread starts: the socket is bound under a temporary umask. */
	if (cfg.qmp_path && control_bind(&ctl, cfg.qmp_path, &cfg, VMKIT_VERSION, &err)) {
		vk_report(&err);
		console_close(con);
		if (sfd >= 0)
			close(sfd);
		return EXIT_USAGE;
	}
	if (cfg.sandbox == SANDBOX_ON) {
		give_sockets(&cfg, ctl);
		/* /dev/kvm before the drop: the user we become may not open it. */
		if (((cfg.runas || cfg.chroot_dir) && vm_kvm_preopen(&err) < 0) ||
		    vmm_sandbox_drop(&cfg, &err) < 0) {
			vk_report(&err);
			control_close(ctl);
			run_close_nets(&cfg);
			console_close(con);
			if (sfd >= 0)
				close(sfd);
			return EXIT_GUEST_ERROR;
		}
	}
	/*
	 * Threads only now: one started before the drop would keep the host's
	 * mount namespace and root (unshare moves only its caller), as the QMP
	 * and VNC reader threads once did. And before this thread's own filter,
	 * which would stack on theirs.
	 */
	if (ctl && control_start(ctl, &err) < 0) {
		vk_report(&err);
		r = EXIT_GUEST_ERROR;
	} else if (run_start_display(&cfg) < 0) {
		r = EXIT_GUEST_ERROR;
	} else {
		if (cfg.sandbox == SANDBOX_ON)
			vmm_sandbox_enter(&vmm_sandbox_devices);
		r = run_vm(&cfg, con, ctl, sfd, &incoming);
	}
	run_close_incoming(&incoming);	/* empty once the first VM took it */
	run_close_display(&cfg);
	control_close(ctl);
	run_close_nets(&cfg);
	console_close(con);
	if (sfd >= 0)
		close(sfd);
	return r;
}
