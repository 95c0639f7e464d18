#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vmkit benchmarks, side by side with QEMU and a bare-KVM floor, in one run
# on the same files (called by `make bench` from the repository root):
#
#   1. start-up: whole-process wall time for a PVH guest whose first
#      instruction ends the monitor (build/tests/guest/firstinsn.elf writes
#      QEMU's isa-debug-exit port: vmkit --debug-exit, qemu -device
#      isa-debug-exit), via hyperfine:
#      vmkit, QEMU -M microvm, QEMU -M pc, and bench/floor.c (the least a
#      KVM monitor can do: VM, 128 MiB slot, one vCPU, run to the first OUT);
#   2. memory: peak RSS of the monitor minus the guest RAM it has resident,
#      1 vCPU, 128 MiB guest running hello.elf (bench/memprobe.py);
#   3. Linux boot: time to "Run /init as init process" on the console and
#      total time, vmkit and QEMU, PVH vmlinux and bzImage (bench/boottime.py);
#   and after them disks, networks, user space, vmkit img, firmware boot and
#   live migration (bench/migrate.py), backups (bench/backup.py), snapshots with
#   RAM (bench/savevm.py) and the VNC server's frame rate (bench/vnc.py), each with
#   its own report appended.
#
# Progress goes to stderr; the report goes to stdout and to
# build/bench/report.txt. A failing command is reported and the run goes on.
# Knobs (environment): BENCH_RUNS (hyperfine runs, default 30),
# BENCH_PC_RUNS (5), BENCH_MEM_RUNS (5), BENCH_BOOT_RUNS (3),
# BENCH_QEMU_BOOT_RUNS (1), BENCH_BOOT_TIMEOUT (300 s), BENCH_QEMU (binary),
# BENCH_FW_RUNS (3).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=build/bench
VMKIT=build/vmkit
TG=build/tests/guest
LG=build/guest
RUNS=${BENCH_RUNS:-30}
PC_RUNS=${BENCH_PC_RUNS:-5}
MEM_RUNS=${BENCH_MEM_RUNS:-5}
BOOT_RUNS=${BENCH_BOOT_RUNS:-3}
QEMU_BOOT_RUNS=${BENCH_QEMU_BOOT_RUNS:-1}
BOOT_TIMEOUT=${BENCH_BOOT_TIMEOUT:-300}
CMDLINE="console=ttyS0 panic=-1"
QEMU=${BENCH_QEMU:-qemu-system-x86_64}
# -cpu host,-arch-capabilities: QEMU refuses the PVM host's ARCH_CAPABILITIES.
QEMU_BASE=(-accel kvm -cpu host,-arch-capabilities -nodefaults -no-user-config -nographic)

T_START=$(date +%s.%N)
mkdir -p "$OUT"
rm -rf "$OUT/results" "$OUT/logs"
mkdir -p "$OUT/results" "$OUT/logs"
R=$OUT/results

log() { printf '[bench %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T_START" | bc)" "$*" >&2; }
# fail NAME MESSAGE: record why NAME has no result.
fail() { printf '%s\n' "$2" > "$R/$1.err"; log "FAILED $1: $2"; }
have() { command -v "$1" >/dev/null 2>&1; }

# --- environment -------------------------------------------------------------
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "host: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	kvm_mods=$(ls /sys/module 2>/dev/null | grep '^kvm' | tr '\n' ' ' || true)
	echo "kvm modules: ${kvm_mods:-unknown}"
	echo "vmkit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (modified tree)')"
	echo "qemu: $($QEMU --version 2>/dev/null | head -1 || echo missing)"
	echo "hyperfine: $(hyperfine --version 2>/dev/null || echo missing)"
	echo "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo '?')"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$R/env.txt"

# --- 1. start-up ---------------------------------------------------------------
log "building the floor (bench/floor.c)"
if ! gcc -O2 -Wall -o "$OUT/floor" bench/floor.c 2> "$OUT/logs/floor-gcc.txt"; then
	fail floor "gcc failed: $(head -1 "$OUT/logs/floor-gcc.txt")"
fi

# check NAME EXPECT CMD...: run CMD once with the console on stdout and
# require EXPECT in it (proves the guest ran and the command exits).
check() {
	local name=$1 expect=$2 rc=0
	shift 2
	timeout 60 "$@" < /dev/null > "$OUT/logs/check-$name.out" 2> "$OUT/logs/check-$name.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "hf-$name" "check run exited with status $rc: $(grep -m1 . "$OUT/logs/check-$name.err" || true)"
		return 1
	fi
	if [ -n "$expect" ] && ! grep -q "$expect" "$OUT/logs/check-$name.out"; then
		fail "hf-$name" "check run did not print '$expect'"
		return 1
	fi
}

# hf NAME WARMUP RUNS CMD...: hyperfine without a shell, JSON to results.
hf() {
	local name=$1 warmup=$2 runs=$3
	shift 3
	log "hyperfine $name ($runs runs): $*"
	if ! have hyperfine; then
		fail "hf-$name" "hyperfine not installed"
		return 0
	fi
	if ! hyperfine -N -i --style basic --warmup "$warmup" --runs "$runs" \
		--export-json "$R/hf-$name.json" --command-name "$name" \
		-- "$(printf '%q ' "$@")" > "$OUT/logs/hf-$name.txt" 2>&1; then
		rm -f "$R/hf-$name.json"
		fail "hf-$name" "hyperfine failed: $(grep -m1 -i 'error\|fail' "$OUT/logs/hf-$name.txt" || tail -1 "$OUT/logs/hf-$name.txt")"
	fi
}

FI=$TG/firstinsn.elf
# The guest's first instruction writes port 0xf4: with this device QEMU exits there.
DEBUG_EXIT="-device isa-debug-exit,iobase=0xf4,iosize=1"
if [ ! -f "$FI" ]; then
	for n in vmkit microvm pc; do fail "hf-$n" "$FI missing (run make build)"; done
else
	if [ -x "$OUT/floor" ]; then
		if "$OUT/floor"; then
			hf floor 3 "$RUNS" "$OUT/floor"
			# Diagnostics: the floor plus the in-kernel devices vmkit creates.
			hf floor-irqchip 3 "$RUNS" "$OUT/floor" irqchip
			hf floor-pit 3 "$RUNS" "$OUT/floor" pit
		else
			fail hf-floor "floor exited with status $? (no KVM_EXIT_IO to 0x3f8)"
		fi
	fi
	if check vmkit "firstinsn PASS" "$VMKIT" run --kernel "$FI" --memory 128M --console stdio; then
		hf vmkit 3 "$RUNS" "$VMKIT" run --kernel "$FI" --memory 128M --console none --debug-exit
	fi
	if check microvm "firstinsn PASS" $QEMU -M microvm "${QEMU_BASE[@]}" -m 128 -no-reboot -serial stdio -kernel "$FI"; then
		hf microvm 3 "$RUNS" $QEMU -M microvm "${QEMU_BASE[@]}" -m 128 -no-reboot -serial null -kernel "$FI" $DEBUG_EXIT
	fi
	if check pc "firstinsn PASS" $QEMU -M pc "${QEMU_BASE[@]}" -m 128 -no-reboot -serial stdio -kernel "$FI"; then
		hf pc 1 "$PC_RUNS" $QEMU -M pc "${QEMU_BASE[@]}" -m 128 -no-reboot -serial null -kernel "$FI" $DEBUG_EXIT
	fi
fi

# --- 2. memory -------------------------------------------------------------------
# mem NAME GUEST_MIB CMD...: MEM_RUNS runs of bench/memprobe.py, one JSON a line.
mem() {
	local name=$1 mib=$2 i
	shift 2
	log "memory $name ($MEM_RUNS runs): $*"
	for i in $(seq "$MEM_RUNS"); do
		if ! python3 bench/memprobe.py "$mib" -- "$@" >> "$R/mem-$name.jsonl" 2>> "$OUT/logs/mem-$name.err"; then
			fail "mem-$name" "memprobe failed: $(tail -1 "$OUT/logs/mem-$name.err")"
			return 0
		fi
	done
}
HE=$TG/hello.elf
if [ ! -f "$HE" ]; then
	for n in vmkit-128 vmkit-512 microvm-128 microvm-512; do fail "mem-$n" "$HE missing"; done
else
	for m in 128 512; do
		mem "vmkit-$m" "$m" "$VMKIT" run --kernel "$HE" --memory "${m}M" --console none
		mem "microvm-$m" "$m" $QEMU -M microvm "${QEMU_BASE[@]}" -m "$m" -no-reboot -serial null -kernel "$HE"
	done
fi

# --- 3. Linux boot ---------------------------------------------------------------
INITRD=$OUT/initramfs.cpio
if [ -f "$LG/initramfs.cpio.gz" ]; then
	if [ ! -f "$INITRD" ] || [ "$LG/initramfs.cpio.gz" -nt "$INITRD" ]; then
		log "decompressing $LG/initramfs.cpio.gz"
		gzip -dc "$LG/initramfs.cpio.gz" > "$INITRD.tmp" && mv "$INITRD.tmp" "$INITRD"
	fi
fi

# boot NAME RUNS KERNEL CMD...: RUNS runs of bench/boottime.py.
boot() {
	local name=$1 runs=$2 kernel=$3 i
	shift 3
	if [ ! -f "$kernel" ] || [ ! -f "$INITRD" ]; then
		fail "boot-$name" "$kernel or $INITRD missing (run make guest)"
		return 0
	fi
	for i in $(seq "$runs"); do
		log "boot $name run $i/$runs"
		if ! python3 bench/boottime.py --log "$OUT/logs/boot-$name-$i.txt" --timeout "$BOOT_TIMEOUT" \
			-- "$@" >> "$R/boot-$name.jsonl" 2>> "$OUT/logs/boot-$name.err"; then
			fail "boot-$name" "boottime.py failed: $(tail -1 "$OUT/logs/boot-$name.err")"
			return 0
		fi
	done
}
for k in vmlinux:vmlinux kernel:bzImage; do
	f=$LG/${k%%:*} n=${k##*:}
	boot "vmkit-$n" "$BOOT_RUNS" "$f" "$VMKIT" run --kernel "$f" --initrd "$INITRD" \
		--cmdline "$CMDLINE" --memory 256M --console stdio --no-reboot
done
for mach in microvm pc; do
	for k in vmlinux:vmlinux kernel:bzImage; do
		f=$LG/${k%%:*} n=${k##*:}
		boot "$mach-$n" "$QEMU_BOOT_RUNS" "$f" $QEMU -M "$mach" "${QEMU_BASE[@]}" -m 256 \
			-no-reboot -serial stdio -kernel "$f" -initrd "$INITRD" -append "$CMDLINE"
	done
done

# --- report ----------------------------------------------------------------------
ELAPSED=$(echo "$(date +%s.%N) - $T_START" | bc)
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$R/env.txt"
log "done; writing $OUT/report.txt"
python3 bench/report.py "$R" "$ELAPSED" "$CMDLINE" > "$OUT/report.txt" ||
	echo "bench: report.py failed; raw results are in $R" >> "$OUT/report.txt"
cat "$OUT/report.txt"

# --- 4. virtio-blk ------------------------------------------------------------------
# bench/blk.sh: 4 KiB random and 1 MiB sequential I/O from a polling guest on a 1 GiB
# raw file, vmkit and QEMU, fio on the host as the limit; its report is appended.
log "virtio-blk (bench/blk.sh)"
{ echo; bash bench/blk.sh || echo "bench: blk.sh failed; see $OUT/blk/"; } | tee -a "$OUT/report.txt"

# bench/blk-host.sh: the block layer without a guest (vmkit img bench, the block backend a
# VM's disk uses, against qemu-img bench), raw and qcow2, with fio as the limit.
log "block layer (bench/blk-host.sh)"
{ echo; bash bench/blk-host.sh || echo "bench: blk-host.sh failed; see $OUT/blkhost/"; } | tee -a "$OUT/report.txt"

# --- 5. virtio-net ------------------------------------------------------------------
# bench/net.sh: packets/s and throughput over a tap from a polling guest, guest->host
# and host->guest, vmkit and QEMU (both without vhost: no /dev/vhost-net here), a veth
# pair as the host's limit; its report is appended.
log "virtio-net (bench/net.sh)"
{ echo; bash bench/net.sh || echo "bench: net.sh failed; see $OUT/net/"; } | tee -a "$OUT/report.txt"

# bench/net-user.sh: the same guest side over user-mode NAT (--net user vs QEMU's
# -netdev user), UDP through slirp both ways; its report is appended.
log "user networking (bench/net-user.sh)"
{ echo; bash bench/net-user.sh || echo "bench: net-user.sh failed; see $OUT/net-user/"; } | tee -a "$OUT/report.txt"

# --- 6. Linux user space ----------------------------------------------------------------
# bench/guest_user.py: boot to the root disk's shell prompt, a system call and a
# fork+exec in the guest, vmkit and QEMU on the same kernel and disk, the host as the limit.
log "Linux guest user space (bench/guest_user.py)"
{ echo; /usr/bin/python3 bench/guest_user.py || echo "bench: guest_user.py failed; see $OUT/guest-user/"; } |
	tee -a "$OUT/report.txt"

# --- 7. vmkit img ---------------------------------------------------------------------
# bench/img.sh: convert, commit, rebase, compare, measure, check and bench, vmkit img
# and qemu-img on the same files, on disk and on tmpfs; its report is appended.
log "vmkit img (bench/img.sh)"
{ echo; bash bench/img.sh || echo "bench: img.sh failed; see $OUT/img/"; } | tee -a "$OUT/report.txt"

# --- 8. firmware boot -------------------------------------------------------------------
# bench/fwboot.py: SeaBIOS booting an isolinux CD (SATA) and an extlinux disk
# (virtio-blk), vmkit and QEMU on the same bios-256k.bin and media: time to the
# boot loader's banner and to user space; its report is appended.
log "firmware boot (bench/fwboot.py)"
{ echo; /usr/bin/python3 bench/fwboot.py "${BENCH_FW_RUNS:-3}" ||
	echo "bench: fwboot.py failed; see $OUT/fwboot/"; } | tee -a "$OUT/report.txt"

# --- 9. live migration (issue 15) -------------------------------------------------------
# bench/migrate.py: a 1 GiB tiny guest, idle and rewriting 32 MiB, migrated over
# 127.0.0.1 by vmkit and by QEMU: total time, downtime, bytes sent; appended.
log "live migration (bench/migrate.py)"
{ echo; /usr/bin/python3 bench/migrate.py || echo "bench: migrate.py failed"; } |
	tee -a "$OUT/report.txt"

# --- 10. backups (issue 15) --------------------------------------------------------------
# bench/backup.py: a running tiny guest's 1 GiB raw disk backed up in full into qcow2,
# compressed and not, by vmkit (x-vmkit-backup) and QEMU (drive-backup), against cp.
log "backups (bench/backup.py)"
{ echo; /usr/bin/python3 bench/backup.py || echo "bench: backup.py failed"; } |
	tee -a "$OUT/report.txt"

# --- 11. snapshots with RAM (issue 15) ---------------------------------------------------
# bench/savevm.py: a 1 GiB tiny guest's snapshot with RAM and back, vmkit against QEMU's
# savevm/loadvm.
log "snapshots with RAM (bench/savevm.py)"
{ echo; /usr/bin/python3 bench/savevm.py || echo "bench: savevm.py failed"; } |
	tee -a "$OUT/report.txt"

# --- 12. the VNC server (issue 13) ------------------------------------------------------
# bench/vnc.py: a tiny guest rewriting its whole 1024x768x32 VBE screen as fast as it can,
# one VNC viewer taking updates from vmkit's server and QEMU's: frames/s, MiB/s, CPU.
log "VNC frame rate (bench/vnc.py)"
{ echo; /usr/bin/python3 bench/vnc.py || echo "bench: vnc.py failed; see $OUT/vnc/"; } |
	tee -a "$OUT/report.txt"
