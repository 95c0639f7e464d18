#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# virtio-blk throughput: vmkit and QEMU side by side on the same 1 GiB raw
# file, with fio on the host against that file as the limit (section 4 of
# bench/run.sh; runs on its own too: bash bench/blk.sh); then both again on
# three qcow2 images (BENCH_BLK_NO_QCOW2=1 skips them):
#   qcow2        the same bytes, every cluster allocated and written;
#   qcow2_meta   metadata preallocated, data never written (a new image per run);
#   qcow2_sparse empty (a new image per run): writes allocate clusters, reads of
#                what was never written are served from the metadata alone.
#
# Polling rows (raw): vmkit with --poll-max-ns 0, QEMU with an iothread (its polling).
#
# The guest is build/tests/guest/virtio_blkbench.elf: a polling virtio-pci
# driver at CPL3, no interrupts, that keeps a fixed number of requests in
# flight for BENCH_BLK_SECS seconds per test:
#   randread / randwrite   4 KiB random, queue depth 32
#   seqread / seqwrite     1 MiB sequential, queue depth 4
#   randread_qd1           4 KiB random reads, one at a time (latency)
#   randwrite_qd1          4 KiB random writes, one at a time (latency)
# fio runs the same six on the host (libaio, direct=1, same depths).
#
#   vmkit: --disk path=IMG,cache=none (its default engine), BENCH_BLK_RUNS runs;
#          then each aio= engine `vmkit run --help` lists, BENCH_BLK_AIO_RUNS runs
#   QEMU:  -M q35, -drive ...,cache=none,aio=io_uring (BENCH_BLK_QEMU_AIO) + virtio-blk-pci,disable-legacy=on
#
# The image is fallocated and then written once end to end (dd, O_DIRECT):
# reads of fallocated-but-unwritten extents return zeros without touching
# the disk, and first writes to them convert extents, which would flatter
# reads and punish writes. It is removed at the end (BENCH_BLK_KEEP=1 keeps it).
#
# Progress on stderr, the report on stdout (and build/bench/blk/report.txt).
# Knobs: BENCH_BLK_RUNS (3), BENCH_BLK_AIO_RUNS (1), BENCH_BLK_FIO_RUNS (3),
# BENCH_BLK_SECS (2), BENCH_BLK_SIZE_MIB (1024), BENCH_QEMU, BENCH_BLK_KEEP.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=build/bench
BLK=$OUT/blk
IMG=$OUT/blk.img
VMKIT=build/vmkit
GUEST=build/tests/guest/virtio_blkbench.elf
QEMU=${BENCH_QEMU:-qemu-system-x86_64}
RUNS=${BENCH_BLK_RUNS:-3}
AIO_RUNS=${BENCH_BLK_AIO_RUNS:-1}
FIO_RUNS=${BENCH_BLK_FIO_RUNS:-3}
SECS=${BENCH_BLK_SECS:-2}
SIZE_MIB=${BENCH_BLK_SIZE_MIB:-1024}
CMDLINE="secs=$SECS"
# Six tests of SECS each, boot and set-up on top.
RUN_TIMEOUT=$((6 * SECS + 90))

T0=$(date +%s.%N)
log() { printf '[blk %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

rm -rf "$BLK"
mkdir -p "$BLK/logs"

if [ ! -f "$GUEST" ] || [ ! -x "$VMKIT" ]; then
	echo "virtio-blk: $GUEST or $VMKIT missing (ninja -C build)" | tee "$BLK/report.txt"
	exit 1
fi

# fio is the host-side limit; install it when we can.
if ! have fio && [ "$(id -u)" = 0 ] && have apt-get; then
	log "installing fio"
	apt-get install -y -qq fio > "$BLK/logs/apt.txt" 2>&1 ||
		{ apt-get update -qq >> "$BLK/logs/apt.txt" 2>&1 &&
		  apt-get install -y -qq fio >> "$BLK/logs/apt.txt" 2>&1; } || true
fi

# --- the image ----------------------------------------------------------------
log "creating $IMG ($SIZE_MIB MiB: fallocate, then written once with O_DIRECT)"
rm -f "$IMG"
fallocate -l "${SIZE_MIB}M" "$IMG" 2>/dev/null || truncate -s "${SIZE_MIB}M" "$IMG"
dd if=/dev/zero of="$IMG" bs=4M count=$((SIZE_MIB / 4)) oflag=direct conv=notrunc,fsync status=none
# The same bytes in a qcow2 (issue 11: qcow2 at raw speed): metadata preallocated by
# qemu-img, then written end to end through QEMU's block layer with O_DIRECT, so every
# cluster is allocated and the guest's writes go in place.
QIMG=$OUT/blk.qcow2
if [ -z "${BENCH_BLK_NO_QCOW2:-}" ] && command -v qemu-img > /dev/null; then
	log "creating $QIMG (qcow2, metadata preallocated, written once)"
	rm -f "$QIMG"
	qemu-img create -q -f qcow2 -o preallocation=metadata "$QIMG" "${SIZE_MIB}M"
	qemu-img bench -q -f qcow2 -w -c "$SIZE_MIB" -s 1M -d 8 -t none "$QIMG" > /dev/null
else
	QIMG=
fi
# fresh_qcow2 KIND: a new image for one run of the qcow2_meta / qcow2_sparse rows.
FIMG=$OUT/blk-fresh.qcow2
fresh_qcow2() {
	rm -f "$FIMG"
	if [ "$1" = meta ]; then
		qemu-img create -q -f qcow2 -o preallocation=metadata "$FIMG" "${SIZE_MIB}M"
	else
		qemu-img create -q -f qcow2 "$FIMG" "${SIZE_MIB}M"
	fi
}
cleanup() { [ -n "${BENCH_BLK_KEEP:-}" ] || rm -f "$IMG" "$OUT/blk.qcow2" "$FIMG"; }
trap cleanup EXIT

{
	echo "image: $IMG, $SIZE_MIB MiB raw, $(filefrag "$IMG" 2>/dev/null | sed 's/.*: //' || echo '? extents'), on $(findmnt -no SOURCE,FSTYPE -T "$IMG" 2>/dev/null | tr -s ' ' || echo '?')"
	echo "vmkit: $("$VMKIT" run --help 2>&1 | grep -o 'aio=[a-z_|]*' | head -1 || true)"
	echo "qemu: $($QEMU --version 2>/dev/null | head -1 || echo missing)"
	echo "fio: $(fio --version 2>/dev/null || echo missing)"
	echo "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), cpu MHz $(grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
	echo "host tsc flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o 'constant_tsc\|nonstop_tsc\|tsc_known_freq' | tr '\n' ' ')"
	echo "kvm modules: $(ls /sys/module 2>/dev/null | grep '^kvm' | tr '\n' ' ' || true)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$BLK/env.txt"

# guest NAME CMD...: one guest run, console to logs/NAME.txt; a failure is noted, not fatal.
guest() {
	local name=$1 rc=0
	shift
	printf '%s\n' "$*" >> "$BLK/commands.txt"
	timeout "$RUN_TIMEOUT" "$@" < /dev/null > "$BLK/logs/$name.txt" 2> "$BLK/logs/$name.err" || rc=$?
	if [ "$rc" -ne 0 ] || ! grep -q 'VMKIT-TEST virtio_blkbench PASS' "$BLK/logs/$name.txt"; then
		log "FAILED $name (exit $rc): $(grep -m1 'FAIL' "$BLK/logs/$name.txt" || tail -1 "$BLK/logs/$name.err" || true)"
		echo "$name: exit $rc" >> "$BLK/failures.txt"
	fi
}

# Like for like: QEMU with the engine vmkit uses by default (BENCH_BLK_QEMU_AIO to change).
QEMU_AIO=${BENCH_BLK_QEMU_AIO:-io_uring}
QEMU_ARGS=(-M q35 -accel kvm -cpu host,-arch-capabilities -m 256 -nodefaults -no-user-config
	-nographic -serial stdio -no-reboot -kernel "$GUEST" -append "$CMDLINE"
	-drive "file=$IMG,format=raw,if=none,id=d0,cache=none,aio=$QEMU_AIO"
	-device virtio-blk-pci,drive=d0,disable-legacy=on)
VMKIT_ARGS=(run --kernel "$GUEST" --memory 256M --console stdio --cmdline "$CMDLINE")

have_qemu=1
have "$QEMU" || have_qemu=0
# Interleaved, so that drift on the host falls on both alike.
for i in $(seq "$RUNS"); do
	log "vmkit run $i/$RUNS"
	guest "vmkit-$i" "$VMKIT" "${VMKIT_ARGS[@]}" --disk "path=$IMG,cache=none"
	if [ "$have_qemu" = 1 ]; then
		log "QEMU run $i/$RUNS"
		guest "qemu-$i" "$QEMU" "${QEMU_ARGS[@]}"
	fi
done
# Polling, raw: vmkit without it (--poll-max-ns 0), and QEMU at its best, with an
# iothread (whose loop polls, adaptively, up to QEMU's default poll-max-ns, 32 us;
# its main loop does not poll).
QEMU_IOTHREAD_ARGS=("${QEMU_ARGS[@]/virtio-blk-pci,drive=d0,/virtio-blk-pci,drive=d0,iothread=io0,}"
	-object iothread,id=io0)
for i in $(seq "$RUNS"); do
	log "vmkit --poll-max-ns 0 run $i/$RUNS"
	guest "vmkit_nopoll-$i" "$VMKIT" "${VMKIT_ARGS[@]}" --poll-max-ns 0 --disk "path=$IMG,cache=none"
	if [ "$have_qemu" = 1 ]; then
		log "QEMU iothread run $i/$RUNS"
		guest "qemu_iothread-$i" "$QEMU" "${QEMU_IOTHREAD_ARGS[@]}"
	fi
done
# qcow2: vmkit and QEMU on the same image, same cache and engine.
if [ -n "$QIMG" ]; then
	for i in $(seq "$RUNS"); do
		log "vmkit qcow2 run $i/$RUNS"
		guest "vmkit_qcow2-$i" "$VMKIT" "${VMKIT_ARGS[@]}" --disk "path=$QIMG,format=qcow2,cache=none"
		if [ "$have_qemu" = 1 ]; then
			log "QEMU qcow2 run $i/$RUNS"
			guest "qemu_qcow2-$i" "$QEMU" "${QEMU_ARGS[@]/file=$IMG,format=raw/file=$QIMG,format=qcow2}"
		fi
	done
	for kind in meta sparse; do
		for i in $(seq "$RUNS"); do
			log "vmkit qcow2_$kind run $i/$RUNS"
			fresh_qcow2 "$kind"
			guest "vmkit_qcow2_$kind-$i" "$VMKIT" "${VMKIT_ARGS[@]}" --disk "path=$FIMG,format=qcow2,cache=none"
			if [ "$have_qemu" = 1 ]; then
				log "QEMU qcow2_$kind run $i/$RUNS"
				fresh_qcow2 "$kind"
				guest "qemu_qcow2_$kind-$i" "$QEMU" "${QEMU_ARGS[@]/file=$IMG,format=raw/file=$FIMG,format=qcow2}"
			fi
		done
	done
fi
for aio in $("$VMKIT" run --help 2>&1 | grep -o 'aio=[a-z_|]*' | head -1 | cut -d= -f2 | tr '|' ' '); do
	for i in $(seq "$AIO_RUNS"); do
		log "vmkit aio=$aio run $i/$AIO_RUNS"
		guest "vmkit_aio=$aio-$i" "$VMKIT" "${VMKIT_ARGS[@]}" --disk "path=$IMG,cache=none,aio=$aio"
	done
done

# --- fio on the host ------------------------------------------------------------
if have fio; then
	for spec in randread:randread:4k:32 randwrite:randwrite:4k:32 seqread:read:1m:4 \
		    seqwrite:write:1m:4 randread_qd1:randread:4k:1 randwrite_qd1:randwrite:4k:1; do
		IFS=: read -r name rw bs qd <<< "$spec"
		for i in $(seq "$FIO_RUNS"); do
			log "fio $name run $i/$FIO_RUNS"
			fio --name="$name" --filename="$IMG" --direct=1 --ioengine=libaio --rw="$rw" \
				--bs="$bs" --iodepth="$qd" --runtime="$SECS" --time_based \
				--randrepeat=0 --output-format=json > "$BLK/logs/fio-$name-$i.json" \
				2> "$BLK/logs/fio-$name-$i.err" || echo "fio-$name-$i" >> "$BLK/failures.txt"
		done
	done
	echo "fio --direct=1 --ioengine=libaio --time_based --runtime=$SECS (rw/bs/iodepth per test)" >> "$BLK/commands.txt"
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$BLK/env.txt"
ELAPSED=$(echo "$(date +%s.%N) - $T0" | bc)
log "done; writing $BLK/report.txt"
python3 bench/blk_report.py "$BLK" "$ELAPSED" > "$BLK/report.txt" ||
	echo "virtio-blk: blk_report.py failed; raw results are in $BLK/logs" >> "$BLK/report.txt"
cat "$BLK/report.txt"
