/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one description of a VM that the CLI fills and the builder consumes. */
#ifndef VMKIT_CONFIG_H
#define VMKIT_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

enum console_kind { CONSOLE_STDIO, CONSOLE_NONE, CONSOLE_FILE, CONSOLE_SOCKET };

enum cpu_model { CPU_MODEL_DEFAULT, CPU_MODEL_HOST, CPU_MODEL_BASELINE };

/* The five cache modes of QEMU/libvirt/Proxmox (seed 003). */
enum disk_cache { CACHE_NONE, CACHE_WRITEBACK, CACHE_WRITETHROUGH, CACHE_DIRECTSYNC,
		  CACHE_UNSAFE };

/*
 * How a disk's requests reach the host (QEMU's aio=). AIO_DEFAULT (none
 * given) is io_uring, for raw disks and for the files of an image's chain.
 */
enum disk_aio { AIO_DEFAULT, AIO_IO_URING, AIO_NATIVE, AIO_THREADS };

/*
 * A disk's format is a block driver's name (vk_blk_find_driver): raw is served
 * straight by the engines, the others (qcow2, vmdk, vpc, vdi, vhdx) through
 * the image library. "" (auto) is the zero value: as QEMU, a disk whose
 * format is not named is probed, never taken for raw.
 */
#define DISK_FORMAT_MAX 16

/* Which controller a disk is on: virtio-blk, virtio-scsi, AHCI (SATA). */
enum disk_bus { DISK_BUS_VIRTIO, DISK_BUS_SCSI, DISK_BUS_SATA };

#define VM_MAX_DISKS 16
#define DISK_SERIAL_MAX 20	/* virtio-blk's ID string */
#define DISK_CLEAN_DEFAULT (-1)
#define DISK_CLEAN_DEFAULT_SECS 600	/* QEMU's cache-clean-interval default on Linux */

struct disk_config {
	const char *path;
	/* --incoming tcp: opened inactive until the migration hands it over (VK_BLK_INACTIVE). */
	bool inactive;
	bool readonly;
	enum disk_cache cache;
	char serial[DISK_SERIAL_MAX + 1];
	enum disk_aio aio;
	char format[DISK_FORMAT_MAX];	/* a format driver's name; "": probe */
	bool iothread;			/* notifications and completions on a thread of its own */
	unsigned int num_queues;	/* 0: the default, one per vCPU */
	unsigned int queue_size;	/* 0: the default (256) */
	bool discard_ignore;		/* discard=ignore: DISCARD not offered to the guest */
	uint64_t l2_cache_size;		/* qcow2 l2-cache-size= (QEMU's name) in bytes, 0: default */
	/*
	 * qcow2 cache-clean-interval= in seconds: metadata tables unused that
	 * long are freed. -1 (DISK_CLEAN_DEFAULT): QEMU's default, 600; 0: never.
	 */
	int cache_clean_interval;
	/* Controllers and CD-ROMs (issue 12). */
	enum disk_bus bus;
	bool cdrom;			/* media=cdrom: read-only, removable; path NULL: empty */
	bool readonly_given;		/* readonly= was written (readonly=off on a CD-ROM is an error) */
	bool bus_given;			/* bus= was written (a CD-ROM's default is SATA) */
	const char *id;			/* QMP's name for it ("scsi0", "sata2", "ide2"); NULL: made up */
};

/* An on/off option whose zero value leaves the host's default alone. */
enum vk_switch { SWITCH_DEFAULT, SWITCH_OFF, SWITCH_ON };

/* NUMA placement of guest RAM (libvirt's numatune modes, QEMU's policy=). */
enum mem_policy { MEM_POLICY_DEFAULT, MEM_POLICY_BIND, MEM_POLICY_PREFERRED,
		  MEM_POLICY_INTERLEAVE };

#define VM_MAX_HOST_NODES 1024

/* How guest RAM is backed (QEMU's memory-backend-memfd/-file options). */
struct mem_backing {
	uint64_t hugepage_size;		/* 0: the host's normal pages */
	const char *mem_path;		/* directory (a hugetlbfs mount) for the backing file */
	bool prealloc;			/* fault every page in before the guest runs */
	enum vk_switch thp;		/* MADV_HUGEPAGE (default on anonymous RAM) / MADV_NOHUGEPAGE */
	enum vk_switch merge;		/* MADV_MERGEABLE (KSM); default on for anonymous RAM */
	enum mem_policy policy;
	unsigned long host_nodes[VM_MAX_HOST_NODES / (8 * sizeof(unsigned long))];
};

struct net_backend;

/* A NIC (--net): virtio-net on a host backend. */
enum net_kind { NET_TAP, NET_USER };

#define VM_MAX_NICS 8

struct net_config {
	enum net_kind kind;
	const char *spec;		/* the option as given, for messages */
	uint8_t mac[6];
	bool mac_given;
	unsigned int queues;		/* queue pairs, 1 to NET_MAX_QUEUES */
	/* tap */
	char ifname[16];		/* "" : vmkit-tap%d, the first free */
	const char *bridge;		/* NULL: none */
	int vhost;			/* -1: on when /dev/vhost-net exists; 0 off; 1 on */
	unsigned int mtu;		/* 0: leave the interface's */
	/* user: the options for vmkit-slirp, --net user's minus mac= (include/vmkit/net-user.h) */
	char *user_opts;
	bool user_sandbox_off;		/* vmkit-slirp --sandbox=off (vmkit run --sandbox off) */
	/* Opened by the CLI before the first build: it lives across guest resets. */
	struct net_backend *backend;
};

/* The graphical console (issue 13: include/vmkit/display.h, vnc.h). */
enum vga_kind { VGA_NONE, VGA_STD };
struct display;
struct vnc;
/* Firmware boot (issue 12): none is the direct kernel boot, the default. */
enum vm_firmware { FIRMWARE_NONE, FIRMWARE_BIOS, FIRMWARE_UEFI };

#define VM_MAX_BOOT_ORDER 16

/* The chipset (--machine, issue 12): QEMU's pc (i440FX/PIIX3) or q35 (MCH/ICH9). */
enum vm_machine { MACHINE_PC, MACHINE_Q35 };

struct vm_topology {
	unsigned int sockets, cores, threads;
};

struct vm_config {
	const char *name;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	unsigned int cpus;
	struct vm_topology topo;
	uint64_t mem_bytes;
	enum console_kind console;
	bool console_virtio;		/* the console is hvc0 (virtio-console), not the UART */
	const char *console_path;
	enum cpu_model cpu_model;
	bool no_reboot;
	bool rtc_localtime;
	uint16_t debug_exit_port;	/* 0: no isa-debug-exit device */
	struct disk_config disks[VM_MAX_DISKS];
	unsigned int nr_disks;
	bool scsi_single;		/* scsihw virtio-scsi-single: a controller per SCSI disk */
	const char *rng_source;		/* NULL: no virtio-rng */
	struct mem_backing mem;
	/*
	 * Host CPUs for vCPU threads: vCPU i takes vcpu_affinity[i] if
	 * i < nr_vcpu_affinity and that set is not empty, else cpu_affinity
	 * (NULL: the monitor's own). io_affinity: every other thread.
	 */
	cpu_set_t *vcpu_affinity;
	unsigned int nr_vcpu_affinity;
	cpu_set_t *cpu_affinity;
	cpu_set_t *io_affinity;
	/*
	 * --poll-max-ns (QEMU's iothread poll-max-ns): how long the device
	 * loop and iothreads may spin for the guest's next request and the
	 * disks' completions before they block; see vm_poll_max_ns.
	 */
	bool poll_max_given;
	uint64_t poll_max_ns;
	bool balloon;			/* a virtio-balloon device */
	bool balloon_deflate_on_oom;
	unsigned int balloon_stats_interval;	/* seconds, 0: stats refreshed on read only */
	char *qmp_path;			/* --qmp: the control socket, or NULL */
	struct net_config nets[VM_MAX_NICS];
	unsigned int nr_nets;
	/*
	 * --sandbox (include/vmkit/sandbox.h, vmm/core/sandbox.c): by default
	 * the monitor runs without filters (its allow-lists have not yet run
	 * under KVM) and vmkit-slirp with them; on: both; off: neither.
	 */
	enum { SANDBOX_DEFAULT, SANDBOX_ON, SANDBOX_OFF } sandbox;
	const char *runas;		/* --runas USER (root only, with --sandbox on) */
	const char *chroot_dir;		/* --chroot DIR (root only, with --sandbox on) */
	const char *outdir;		/* --outdir DIR: writable in the private root (--runas) */

	/* The graphical console (issue 13) */
	enum vga_kind vga;		/* --vga std|none (default none) */
	const char *vnc_spec;		/* --vnc as given, or NULL */
	/* Made by the CLI before the first build, kept across guest resets (NULL: none). */
	struct display *display;
	struct vnc *vnc;
	/*
	 * Firmware boot (--firmware, --boot, --debugcon; vmm/hw/fw-cfg.c,
	 * vmm/arch/x86/firmware.c, vmm/hw/pflash.c). firmware_code is the BIOS
	 * image or OVMF_CODE, firmware_vars the VM's own copy of OVMF_VARS (the
	 * guest's writes land in it). boot_order: device kinds (disk, cdrom,
	 * net) or names (virtio0, scsi0, ide2, net0) in the order to try.
	 */
	enum vm_firmware firmware;
	const char *firmware_code;
	const char *firmware_vars;
	const char *boot_order[VM_MAX_BOOT_ORDER];
	unsigned int nr_boot_order;
	const char *debugcon_path;	/* port 0x402 output (SeaBIOS's log) to this file */

	/* virtio-tablet (issue 13): --tablet, --device virtio-tablet, tablet: 1 */
	bool tablet;
	/* --machine pc|q35 (vmm/hw/q35-mch.c, ich9-lpc.c; include/vmkit/q35.h) */
	enum vm_machine machine;
	/* Save/restore (issue 15): --incoming file:PATH, the saved VM to start from (NULL: boot). */
	const char *incoming;
	/* Live migration (issue 15): --incoming tcp:ADDR:PORT, whole (NULL: none). */
	const char *incoming_tcp;
	/*
	 * --tls-creds DIR: migration's TLS credentials (QEMU's tls-creds-x509
	 * layout), loaded before the sandbox; with them --incoming tcp: takes
	 * TLS only, and QMP migrate-set-parameters tls-creds may use them.
	 */
	const char *tls_dir;
	struct migrate_tls *tls;
};

/*
 * The device loop's polling window when --poll-max-ns is not given: long
 * enough to span a fast disk's completion (about 70 us here), so a guest
 * with one request at a time never waits for a wake-up; the window adapts
 * below it and closes while nothing comes (QEMU's default is 32 us).
 */
#define VM_POLL_MAX_DEFAULT_NS	100000

static inline uint64_t vm_poll_max_ns(const struct vm_config *c)
{
	return c->poll_max_given ? c->poll_max_ns : VM_POLL_MAX_DEFAULT_NS;
}

#endif
