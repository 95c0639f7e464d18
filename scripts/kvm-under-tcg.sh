#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run a command on a machine that has /dev/kvm, when this one does not.
#
#   scripts/kvm-under-tcg.sh [-c CPUS] [-m MEM] [-t SECS] 'CMD'
#
# Why: some hosts offer no /dev/kvm at all (a PVM guest's kernel says "kvm-pvm:
# this kernel is itself a kvm-pvm guest; not binding"), so every test that
# starts a VM skips there. QEMU's software emulation (TCG) emulates AMD's SVM,
# nested paging included, so a Linux kernel running under TCG can load kvm-amd
# and offer a /dev/kvm of its own. This script boots Debian's own kernel
# (linux-image-*-amd64-unsigned, fetched with apt and cached in
# ~/.cache/vmkit/l1) under TCG with a busybox initramfs that loads kvm-amd,
# mounts this machine's root over virtio-9p, chroots into it (fresh /tmp and
# /run) and runs CMD there as root, then powers off. CMD's exit status is
# this script's.
#
# tsc=reliable: under TCG the two CPUs' TSCs look unsynchronized, the kernel
# marks the TSC unstable, KVM then gives its guests a kvmclock without the
# stable bit, and a Linux guest's clock stopped at 1.6 s. With it, the
# guest's clock runs. (QEMU's guest did not stop there, probably because it
# had the TSC-deadline timer, which vmkit did not offer until vmm/arch/x86/
# cpuid.c's add_emulated: without it Linux ticks from the PIT.)
#
# -c CPUS: the emulated machine's CPUs (default: this machine's). With two,
# a Linux guest of the nested KVM hangs now and then, early in its boot or
# later, whichever monitor runs it (seen with vmkit and with QEMU -accel kvm):
# one vCPU spins for ever on a kernel lock or seqcount that nobody holds, as
# if a write of its own had been lost. With one CPU, over 30 boots in a row
# (the Linux tests among them) ran to the end. So the Linux tests run with
# -c 1, where those that want two vCPUs skip (vmkit refuses more vCPUs than
# the host has); the tiny guests, which take no such locks, run with two.
#
# VMKIT_TCG_CMDLINE adds to that kernel's command line (for example
# "audit=1 audit_backlog_limit=65536", so that VMKIT_SANDBOX_LOG=1's records
# of calls missing from an allow-list reach dmesg); VMKIT_TCG_THREAD=multi
# runs TCG on several host threads (faster; seen to wedge the machine);
# VMKIT_TCG_QEMU names another qemu-system-x86_64 for the emulation, and
# VMKIT_TCG_CPU another -cpu model for it (default: qemu64 with SVM, NPT,
# SSE4 and x2APIC).
#
# Firmware: SeaBIOS runs there. OVMF does not: QEMU's TCG (7.2 and 10.0 alike)
# aborts the whole machine ("tcg_handle_interrupt: assertion failed") when
# a nested guest writes CR8 while its hypervisor waits for an interrupt
# window: helper_write_crN (target/i386/tcg/sysemu/misc_helper.c) calls
# cpu_interrupt without the big QEMU lock. OVMF writes CR8; Linux and
# SeaBIOS do not. The same happens with QEMU -accel kvm inside. With that
# call under the lock (a rebuilt QEMU) OVMF still gets nowhere, under QEMU
# -accel kvm as under vmkit (both vCPUs at RIP 0x1/0x5, timer exits only;
# the same with VMKIT_TCG_CPU=max).
#
# It is a developer's tool, not part of make check: everything runs emulated
# (the nested guest too), so timings mean nothing, but the monitor's code paths
# run against a real KVM. Files the command writes land on this machine.
set -euo pipefail

mem=6G
secs=3600
cpus=$(nproc)
usage="usage: $0 [-c CPUS] [-m MEM] [-t SECS] 'CMD'"
while getopts "c:m:t:" o; do
	case $o in
	c) cpus=$OPTARG ;;
	m) mem=$OPTARG ;;
	t) secs=$OPTARG ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "$usage" >&2; exit 2; }
case $cpus in ''|*[!0-9]*|0) echo "$0: -c $cpus: not a number of CPUs" >&2; exit 2 ;; esac

for t in qemu-system-x86_64 busybox depmod cpio; do
	command -v "$t" >/dev/null || { echo "$0: $t is missing (apt-get install qemu-system-x86 busybox-static kmod cpio)" >&2; exit 1; }
done

cache=${VMKIT_CACHE:-$HOME/.cache/vmkit}/l1
mkdir -p "$cache"
root=$cache/root
if [ ! -d "$root/boot" ]; then
	pkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64-unsigned$' |
		awk '{print $1}' | sort -V | tail -1)
	[ -n "$pkg" ] || { echo "$0: no linux-image-*-amd64-unsigned package in apt's lists" >&2; exit 1; }
	(cd "$cache" && rm -f ./*.deb && apt-get download "$pkg" 2>/dev/null)
	rm -rf "$root.tmp" && dpkg-deb -x "$cache"/*.deb "$root.tmp"
	kver=$(ls "$root.tmp/lib/modules")
	depmod -b "$root.tmp" "$kver"
	mv "$root.tmp" "$root"
fi
kver=$(ls "$root/lib/modules")
kernel=$root/boot/vmlinuz-$kver

# Named after this script's contents too: a changed init is a new initramfs.
initrd=$cache/initrd-$kver-$(sha256sum "$0" | cut -c1-12).cpio.gz
if [ ! -f "$initrd" ]; then
	ird=$(mktemp -d)
	mkdir -p "$ird"/{bin,proc,sys,dev,host,lib/modules/"$kver"}
	cp "$(command -v busybox)" "$ird/bin/"
	M=$root/lib/modules/$kver
	cp "$M"/modules.dep "$M"/modules.alias "$M"/modules.builtin "$ird/lib/modules/$kver/"
	# loop: tests/linux/bootmedia.py mounts the disk it installs extlinux on.
	mods="virtio_pci virtio_blk crc32c_generic ext4 9pnet_virtio 9p kvm-amd tun bridge veth overlay vhost_net loop"
	for m in $mods; do
		line=$(grep -E "/$m\.ko:" "$M/modules.dep")
		for f in ${line%%:*} ${line#*:}; do
			mkdir -p "$ird/lib/modules/$kver/$(dirname "$f")"
			cp -n "$M/$f" "$ird/lib/modules/$kver/$f"
		done
	done
	cat >"$ird/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup	# vmkit's resource controls (start, serve)
for m in $mods; do modprobe \$m || echo "l1: modprobe \$m failed"; done
[ -c /dev/kvm ] || echo "l1: no /dev/kvm"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 host /host || echo "l1: 9p mount failed"
mkdir -p /dev/pts /dev/shm; mount -t devpts -o ptmxmode=666 devpts /dev/pts; mount -t tmpfs shm /dev/shm
mkdir -p /dev/hugepages; mount -t hugetlbfs none /dev/hugepages 2>/dev/null
for d in proc sys dev; do mount --rbind /\$d /host/\$d; done
# /tmp on a disk of its own: tests open files there with O_DIRECT, which
# neither tmpfs nor 9p offers.
i=0; while [ ! -b /dev/vda ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
mount -t ext4 /dev/vda /host/tmp || mount -t tmpfs tmp /host/tmp
chmod 1777 /host/tmp
mount -t tmpfs run /host/run
ip link set lo up
echo 0 > /proc/sys/kernel/printk_ratelimit
job=\$(sed -n 's/.*l1job=\([^ ]*\).*/\1/p' /proc/cmdline)
chroot /host /bin/bash "\$job/run"
echo "l1: exit \$?"
poweroff -f
EOF
	chmod +x "$ird/init"
	# A file of its own: two runs started at once both build it.
	tmp=$(mktemp "$initrd.XXXXXX")
	(cd "$ird" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$tmp"
	mv -f "$tmp" "$initrd"
	rm -rf "$ird"
fi

# The command reaches the emulated machine as a script in a directory of this
# machine's (it sees the same files), named on the kernel command line.
job=$(mktemp -d /var/tmp/vmkit-l1.XXXXXX)
echo "$0: the emulated machine's console and ps are in $job" >&2
trap 'rm -rf "$job"' EXIT
printf '%s\n' "$1" >"$job/cmd"
# $job/ps: what runs in there, every 20 s, for a command that seems stuck
# (the console is the emulated machine's, and quiet).
cat >"$job/run" <<EOF
cd '$PWD'
export PATH=$PATH HOME=$HOME
(while sleep 20; do ps -eo pid,stat,etime,wchan:24,args --forest > '$job/ps.tmp' 2>&1; mv '$job/ps.tmp' '$job/ps'; done) &
bash '$job/cmd'
echo "\$?" > '$job/rc'
EOF
log=$job/console
scratch=$job/scratch.img
rm -f "$scratch"
truncate -s 32G "$scratch"
mkfs.ext4 -q -F -E lazy_itable_init=1,nodiscard "$scratch"
set +e
timeout "$secs" "${VMKIT_TCG_QEMU:-qemu-system-x86_64}" -L /usr/share/seabios -L /usr/share/qemu -accel tcg,thread=${VMKIT_TCG_THREAD:-single} -smp "$cpus" -m "$mem" \
	-cpu "${VMKIT_TCG_CPU:-qemu64,+svm,+npt,+sse4.1,+sse4.2,+ssse3,+popcnt,+x2apic}" \
	-nographic -nic none -no-reboot -kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 quiet panic=-1 tsc=reliable l1job=$job ${VMKIT_TCG_CMDLINE:-}" \
	-fsdev local,id=h,path=/,security_model=passthrough,multidevs=remap \
	-device virtio-9p-pci,fsdev=h,mount_tag=host \
	-drive file="$scratch",if=virtio,format=raw,cache=unsafe 2>/dev/null | tee "$log" | grep -v '^l1: exit'
set -e
[ -f "$job/rc" ] || { echo "$0: the command did not finish (timeout ${secs}s or the machine died)" >&2; exit 1; }
exit "$(cat "$job/rc")"
