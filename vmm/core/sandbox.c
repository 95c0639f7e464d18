// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitor's allow-lists per thread kind (include/vmkit/vmm-sandbox.h).
 *
 * Written from reading vmm/core (vcpu.c, evloop.c, iothread.c, vm.c,
 * ram.c), vmm/control, vmm/block, vmm/net, vmm/virtio and the console
 * backends, then completed from a run of tests/guest with every VM under
 * them (VMKIT_SANDBOX=on VMKIT_SANDBOX_LOG=1 on a KVM nested under TCG,
 * README "Hosts without /dev/kvm"), then from tests/linux the same way.
 *
 * vcpu: KVM_RUN and the vCPU's state, plus what a guest's port and MMIO
 *   accesses reach synchronously: device registers (virtio activation
 *   registers ioeventfds and hands features to a tap or vhost-net), the
 *   UART and console backends, interrupts, balloon madvise, pausing.
 * iothread: an event loop over ioeventfds and an I/O engine (io_uring,
 *   Linux AIO, the thread pool's preadv/pwritev), interrupts out.
 * control: the QMP socket: accept, read, write, epoll, timers.
 * devices: the main thread. It serves the device event loop and also
 *   builds the VM again at each guest reset (open /dev/kvm, the kernel,
 *   the disks; create memory, vCPUs and threads), so it is the widest,
 *   and every thread it creates starts under it (filters stack).
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/vhost.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>

#include "vmkit/vmm-sandbox.h"

/* Every thread: memory (never executable), locks, time, signals, its end. */
#define COMMON								\
	SB_ALLOW(read), SB_ALLOW(readv), SB_ALLOW(writev), SB_ALLOW(close),	\
	SB_ALLOW(futex), SB_ALLOW(brk), SB_ALLOW(munmap), SB_ALLOW(mremap),	\
	SB_ALLOW(madvise),							\
	SB_ALLOW_ARG(mmap, 2, PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE),	\
	SB_ALLOW_ARG(mprotect, 2, PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE), \
	SB_ALLOW(clock_gettime), SB_ALLOW(gettimeofday), SB_ALLOW(nanosleep),	\
	SB_ALLOW(clock_nanosleep), SB_ALLOW(restart_syscall),		\
	SB_ALLOW(sched_yield), SB_ALLOW(getrandom), SB_ALLOW(getpid),		\
	SB_ALLOW(gettid), SB_ALLOW(rt_sigprocmask), SB_ALLOW(rt_sigtimedwait),	\
	SB_ALLOW_ARG(tgkill, 2, SIGUSR1, SIGABRT),				\
	SB_ALLOW(set_robust_list), SB_ALLOW(rseq),		\
	SB_ALLOW(epoll_wait), SB_ALLOW(epoll_pwait), SB_ALLOW(epoll_ctl),	\
	SB_ALLOW(eventfd2), SB_ALLOW(pread64), SB_ALLOW(pwrite64),		\
	SB_ALLOW(timerfd_settime), SB_ALLOW(timerfd_gettime)

/* The vCPU's own ioctls and what a device register write can lead to. */
#define VCPU_IOCTLS								\
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS,	\
	KVM_GET_FPU, KVM_SET_FPU, KVM_TRANSLATE, KVM_GET_LAPIC, KVM_SET_LAPIC,	\
	KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_SET_MSRS, KVM_SET_CPUID2,	\
	KVM_IRQ_LINE, KVM_SIGNAL_MSI, KVM_IOEVENTFD, KVM_CREATE_PIT2,		\
	KVM_GET_PIT2, KVM_SET_PIT2, TUNSETOFFLOAD, TUNSETQUEUE,		\
	VHOST_SET_OWNER, VHOST_GET_FEATURES, VHOST_SET_FEATURES,		\
	VHOST_SET_MEM_TABLE, VHOST_SET_VRING_NUM, VHOST_SET_VRING_ADDR,	\
	VHOST_SET_VRING_BASE, VHOST_GET_VRING_BASE, VHOST_SET_VRING_KICK,	\
	VHOST_SET_VRING_CALL, VHOST_NET_SET_BACKEND, FIONREAD, FIONBIO

/*
 * Save/restore (issue 15, vmm/arch/x86/cpu-state.c): QMP migrate reads the
 * vCPUs' and the VM's state on the control thread; --incoming writes it
 * back on the main thread before the vCPUs start.
 */
#define STATE_IOCTLS								\
	KVM_CHECK_EXTENSION, KVM_GET_MSR_INDEX_LIST, KVM_GET_SREGS2,		\
	KVM_SET_SREGS2, KVM_GET_XSAVE, KVM_GET_XSAVE2, KVM_SET_XSAVE,		\
	KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_MSRS, KVM_GET_MP_STATE,		\
	KVM_SET_MP_STATE, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,		\
	KVM_GET_TSC_KHZ, KVM_SET_TSC_KHZ, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP,	\
	KVM_GET_CLOCK, KVM_SET_CLOCK

/* An I/O engine's calls: io_uring, Linux AIO, the pool's vectored I/O, discard. */
#define IO_ENGINE								\
	SB_ALLOW(io_uring_enter), SB_ALLOW(io_submit), SB_ALLOW(io_getevents),	\
	SB_ALLOW(io_pgetevents), SB_ALLOW(preadv), SB_ALLOW(pwritev),		\
	SB_ALLOW(preadv2), SB_ALLOW(pwritev2), SB_ALLOW(fdatasync),		\
	SB_ALLOW(fsync), SB_ALLOW(fallocate)

/*
 * Opening a disk image or a CD-ROM's medium: the devices thread at each
 * build, and the control thread for QMP's blockdev-change-medium (found by
 * tests/linux/test_linux_scsi.py's media changes under VMKIT_SANDBOX_LOG).
 * The file's flags as cache= and readonly make them, its size, its lock
 * (lib/block/lock.c, as QEMU's) and its engine's setup.
 */
#define DISK_OPEN_FLAGS								\
	O_RDONLY | O_CLOEXEC, O_RDWR | O_CLOEXEC,				\
	O_RDWR | O_CLOEXEC | O_DIRECT, O_RDONLY | O_CLOEXEC | O_DIRECT,		\
	O_RDWR | O_CLOEXEC | O_DSYNC, O_RDONLY | O_CLOEXEC | O_DSYNC,		\
	O_RDWR | O_CLOEXEC | O_DIRECT | O_DSYNC,				\
	O_RDONLY | O_CLOEXEC | O_DIRECT | O_DSYNC, O_WRONLY | O_CLOEXEC
#define DISK_IOCTLS								\
	BLKGETSIZE64, BLKSSZGET, BLKDISCARD, BLKZEROOUT, FS_IOC_FSGETXATTR
#define DISK_FCNTLS								\
	F_GETFL, F_SETFL, F_GETFD, F_SETFD, F_DUPFD_CLOEXEC, F_OFD_SETLK, F_OFD_GETLK
#define DISK_OPEN								\
	SB_ALLOW(newfstatat), SB_ALLOW(fstat), SB_ALLOW(statx), SB_ALLOW(lseek),	\
	SB_ALLOW(fstatfs), SB_ALLOW(io_uring_setup), SB_ALLOW(io_uring_register),	\
	SB_ALLOW(io_setup), SB_ALLOW(io_destroy),					\
	/* realpath(): a vmdk's extents must lie in its descriptor's directory */	\
	SB_ALLOW(readlink), SB_ALLOW(getcwd)

/*
 * Starting a thread: vCPUs, iothreads, a disk's thread pool; their names and
 * CPUs. Each starts under its creator's filter and installs its own on top
 * (filters stack), which takes no-new-privs and seccomp(2).
 */
#define THREAD_START								\
	SB_ALLOW(clone), SB_ALLOW(clone3), SB_ALLOW(sched_setaffinity),		\
	SB_ALLOW(sched_getaffinity),						\
	SB_ALLOW_ARG(prctl, 0, PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS),	\
	SB_ALLOW(seccomp), SB_ALLOW(rt_sigaction), SB_ALLOW(sigaltstack)

static const struct sandbox_rule vcpu_rules[] = {
	COMMON,
	SB_ALLOW_ARG(ioctl, 1, VCPU_IOCTLS,
		     KVM_SET_USER_MEMORY_REGION),	/* a guest moving the VGA's VRAM BAR */
	SB_ALLOW(sendto), SB_ALLOW(sendmsg),		/* socket: console backend */
	SB_ALLOW(pwritev),				/* file: console backend */
	/*
	 * an event a vCPU emits (balloon, reset) to a QMP client whose output
	 * is full: qmp_emit cuts that client off (control/server.c)
	 */
	SB_ALLOW(shutdown),
	SB_ALLOW(rt_sigreturn),				/* the kick (SIGUSR1) */
	/*
	 * AHCI and SCSI commands are submitted from the register write that
	 * issues them (a CD-ROM's data transfer too); the file layer asks
	 * whether an EINVAL read was an O_DIRECT one. Found by tests/linux
	 * under VMKIT_SANDBOX_LOG. On a qcow2 disk a write of whole new
	 * clusters is allocated there too (vmm/block/image-alloc.c), and the
	 * library looks at the file's size when it reaches past what it saw
	 * (found by tests/linux/test_firmware_boot.py's SATA disk).
	 */
	SB_ALLOW(io_uring_enter), SB_ALLOW(io_submit), SB_ALLOW_ARG(fcntl, 1, F_GETFL),
	SB_ALLOW(newfstatat), SB_ALLOW(fstat),
	/*
	 * UEFI's variable store: the flash chip's file is synced when the guest
	 * puts a changed chip back into read mode (vmm/hw/pflash.c), from the
	 * write that does it. Found by OVMF's first variable write on a PVM host,
	 * some minutes into its boot.
	 */
	SB_ALLOW(fdatasync),
};

static const struct sandbox_rule iothread_rules[] = {
	COMMON,
	IO_ENGINE,
	SB_ALLOW(newfstatat), SB_ALLOW(fstat),		/* the image library's slow path */
	SB_ALLOW_ARG(ioctl, 1, KVM_IRQ_LINE, KVM_SIGNAL_MSI, BLKDISCARD, BLKZEROOUT),
	SB_ALLOW(sendto), SB_ALLOW(recvfrom),		/* net backends' frames */
};

static const struct sandbox_rule control_rules[] = {
	COMMON,
	SB_ALLOW(accept4), SB_ALLOW(accept), SB_ALLOW(recvfrom), SB_ALLOW(sendto),
	SB_ALLOW(sendmsg), SB_ALLOW(recvmsg), SB_ALLOW(shutdown), SB_ALLOW(getsockopt),
	SB_ALLOW_ARG(fcntl, 1, DISK_FCNTLS),
	SB_ALLOW(timerfd_create),
	/*
	 * glibc makes every thread run setresuid/setresgid/setgroups when the
	 * main thread drops privileges (--runas), and this thread starts first.
	 */
	SB_ALLOW(setresuid), SB_ALLOW(setresgid), SB_ALLOW(setgroups),
	/* screendump: a temporary file (mkstemp) written, synced and renamed into place */
	SB_ALLOW_ARG(openat, 2, O_RDWR | O_CREAT | O_EXCL, DISK_OPEN_FLAGS),
	SB_ALLOW(write), SB_ALLOW(fchmod), SB_ALLOW(fsync), SB_ALLOW(rename), SB_ALLOW(unlink),
	SB_ALLOW(dup),
	/* blockdev-change-medium: a CD-ROM's new medium, and its pool's threads */
	DISK_OPEN, THREAD_START,
	/*
	 * send-key and input-send-event reach the devices from this thread (the
	 * i8042 raises IRQ 1/12, virtio-tablet an MSI-X message or INTx), and
	 * migrate to file: (issue 15) takes the vCPUs' state: VCPU_IOCTLS has the
	 * interrupt calls, STATE_IOCTLS the rest.
	 */
	SB_ALLOW_ARG(ioctl, 1, VCPU_IOCTLS, STATE_IOCTLS, DISK_IOCTLS,
		     /* live migration's thread: dirty logging on, read, off */
		     KVM_SET_USER_MEMORY_REGION, KVM_GET_DIRTY_LOG),
	/*
	 * live migration's thread: its connection to the destination (numeric
	 * addresses); handing the disks over (raw files synced, qcow2 metadata
	 * written and read again, found by tests/linux/test_linux_migrate.py)
	 */
	SB_ALLOW_ARG(socket, 0, AF_INET, AF_INET6), SB_ALLOW(connect), SB_ALLOW(setsockopt),
	SB_ALLOW(poll), SB_ALLOW(ppoll), SB_ALLOW(fdatasync),
	/* x-vmkit-snapshot: the qcow2 library grows the image for its tables */
	SB_ALLOW(ftruncate), SB_ALLOW(fallocate),
	/*
	 * x-vmkit-backup: its targets, made O_EXCL, then written by
	 * vk_blk_create; its thread (started here) submits the guest writes it
	 * held to the disks' engines.
	 */
	SB_ALLOW_ARG(openat, 2, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC),
	IO_ENGINE,
};

static const struct sandbox_rule devices_rules[] = {
	COMMON,
	IO_ENGINE,
	SB_ALLOW_ARG(ioctl, 1, VCPU_IOCTLS,
		     /* building the VM again at a guest reset */
		     KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_GET_VCPU_MMAP_SIZE,
		     KVM_CHECK_EXTENSION, KVM_ENABLE_CAP, KVM_SET_TSS_ADDR,
		     KVM_SET_IDENTITY_MAP_ADDR, KVM_CREATE_IRQCHIP, KVM_CREATE_VCPU,
		     KVM_SET_USER_MEMORY_REGION, KVM_GET_SUPPORTED_CPUID,
		     /* a tap under vhost-net: still there? (vmm/virtio/net.c) */
		     TUNGETIFF,
		     /* disks, the console's terminal */
		     DISK_IOCTLS, TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ,
		     /* --incoming (issue 15) */
		     STATE_IOCTLS),
	SB_ALLOW_ARG(openat, 2, DISK_OPEN_FLAGS,
		     /* glibc: /proc/self/task/TID/comm (a vCPU's name), /sys files */
		     O_RDWR, O_RDONLY,
		     /* mem-path=DIR: RAM in an unlinked file (mkostemp), at each build */
		     O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		     /* --debugcon file: at each build; --console file: */
		     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC),
	DISK_OPEN,
	SB_ALLOW(statfs), SB_ALLOW(ftruncate), SB_ALLOW(memfd_create), SB_ALLOW(mbind),
	SB_ALLOW(epoll_create1), SB_ALLOW(timerfd_create), SB_ALLOW(signalfd4),
	SB_ALLOW(pipe2), SB_ALLOW(dup), SB_ALLOW(dup3),
	SB_ALLOW(access),	/* /sys/module/kvm_pvm, /dev/vhost-net, taps */
	SB_ALLOW_ARG(fcntl, 1, DISK_FCNTLS),
	THREAD_START, SB_ALLOW(rt_sigreturn),
	/* frames: tap and the slirp helper's socket; the helper's end */
	SB_ALLOW(sendto), SB_ALLOW(recvfrom), SB_ALLOW(sendmsg), SB_ALLOW(recvmsg),
	SB_ALLOW(recvmmsg), SB_ALLOW(sendmmsg), SB_ALLOW(wait4),
	SB_ALLOW_ARG(kill, 1, SIGKILL),
	SB_ALLOW(accept4), SB_ALLOW(shutdown), SB_ALLOW(getsockopt), SB_ALLOW(setsockopt),
	SB_ALLOW(unlink),	/* the control socket's file at exit */
	SB_ALLOW(poll), SB_ALLOW(ppoll),	/* --incoming tcp: the source's stream */
};

const struct sandbox_kind vmm_sandbox_vcpu = SANDBOX_KIND("vcpu", vcpu_rules);
const struct sandbox_kind vmm_sandbox_iothread = SANDBOX_KIND("iothread", iothread_rules);
const struct sandbox_kind vmm_sandbox_control = SANDBOX_KIND("control", control_rules);
const struct sandbox_kind vmm_sandbox_devices = SANDBOX_KIND("devices", devices_rules);

static bool enabled;

void vmm_sandbox_enable(bool on)
{
	enabled = on;
	/*
	 * The RTC's localtime_r runs on a vCPU thread, whose list has no
	 * openat: glibc reads /etc/localtime once, so let it do that now.
	 */
	if (on)
		tzset();
}

void vmm_sandbox_enter(const struct sandbox_kind *kind)
{
	struct vk_err err = { 0 };

	if (!enabled)
		return;
	if (sandbox_install(kind, &err) < 0) {
		vk_report(&err);
		exit(1);
	}
}
