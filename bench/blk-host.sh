#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The block layer without a guest: `vmkit img bench` (which drives the same
# block backend, engines and qcow2 hot path a VM's disk uses) against
# `qemu-img bench` (QEMU's block layer), with fio on the same file as the
# host's own limit (section 4b of bench/run.sh; runs on its own too:
# bash bench/blk-host.sh). Needs no /dev/kvm, so it measures where the
# guest benchmark (bench/blk.sh) cannot run.
#
# Files (1 GiB, on disk under build/bench/blkhost): a raw file written end to
# end; a qcow2 made by qemu-img and written end to end (allocated, its own
# layout); the same qcow2 again (metadata preallocated by qemu-img, then
# written); and an empty qcow2 for first (allocating) writes.
#
#   rand4k_qd32  4 KiB, 32 in flight, a pseudo-random spread (step 1 MiB + 4 KiB)
#   rand4k_qd1   the same, one at a time (latency)
#   seq1m_qd4    1 MiB sequential, 4 in flight
# each as reads and writes; alloc1m_qd4: 1 MiB sequential writes into the
# empty qcow2 (every one allocates clusters).
#
# Both tools: -t none (O_DIRECT on every file), -i io_uring (BENCH_BLKHOST_AIO).
# fio: --direct=1, the same engine, depth and block size; random offsets for
# the 4 KiB tests (fio's randread/randwrite), run for BENCH_BLKHOST_SECS.
# Each vmkit/qemu-img figure is the median of BENCH_BLKHOST_RUNS runs,
# alternating. Ratios: vmkit/qemu-img (above 1: vmkit is faster), vmkit/fio.
# Knobs: BENCH_BLKHOST_RUNS (3), BENCH_BLKHOST_SECS (3), BENCH_BLKHOST_MIB (1024),
# BENCH_BLKHOST_AIO (io_uring), BENCH_BLKHOST_SCALE (1: multiplies the counts),
# BENCH_BLKHOST_KEEP (keep the files).
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=build/bench/blkhost
VMKIT=${BENCH_VMKIT:-$PWD/build/vmkit}
QI=${BENCH_QEMU_IMG:-qemu-img}
RUNS=${BENCH_BLKHOST_RUNS:-3}
SECS=${BENCH_BLKHOST_SECS:-3}
MIB=${BENCH_BLKHOST_MIB:-1024}
AIO=${BENCH_BLKHOST_AIO:-io_uring}
SCALE=${BENCH_BLKHOST_SCALE:-1}
T0=$(date +%s.%N)
log() { printf '[blkhost %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*" >&2; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cleanup() {
	[ -n "${BENCH_BLKHOST_KEEP:-}" ] && return
	rm -f "$OUT"/*.raw "$OUT"/*.qcow2
}
trap cleanup EXIT
for t in "$VMKIT" "$QI" fio; do
	command -v "$t" > /dev/null || { echo "blkhost: $t missing" | tee "$OUT/report.txt"; exit 1; }
done

# Every file written end to end once, O_DIRECT, so no test reads holes or converts extents.
fill() { "$QI" bench -q -f "${1##*.}" -w -c $((MIB)) -s 1M -d 8 -t none -i "$AIO" --pattern=165 "$1" > /dev/null; }
log "files: ${MIB} MiB each"
rm -f "$OUT"/*.raw "$OUT"/*.qcow2
"$QI" create -q -f raw "$OUT/a.raw" "${MIB}M"
fallocate -l "${MIB}M" "$OUT/a.raw"
fill "$OUT/a.raw"
"$QI" create -q -f qcow2 "$OUT/a.qcow2" "${MIB}M"
fill "$OUT/a.qcow2"
"$QI" create -q -f qcow2 -o preallocation=metadata "$OUT/p.qcow2" "${MIB}M"
fill "$OUT/p.qcow2"

# bench_secs TOOL ARGS... FILE: the run's seconds ("Run completed in N seconds.").
bench_secs() {
	"$@" | sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p'
}

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# fio IOPS for one test on FILE.
fio_iops() {
	local file=$1 rw=$2 bs=$3 depth=$4
	fio --name=t --filename="$file" --direct=1 --ioengine="$AIO" --rw="$rw" --bs="$bs" \
		--iodepth="$depth" --time_based --runtime="$SECS" --size="${MIB}M" \
		--output-format=json 2> /dev/null |
		python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]
print(round(j["read"]["iops"] + j["write"]["iops"]))'
}

# name rw(read|write) bs depth count step
TESTS="rand4k_qd32 read 4k 32 $((100000 * SCALE)) 1052672
rand4k_qd32 write 4k 32 $((100000 * SCALE)) 1052672
rand4k_qd1 read 4k 1 $((20000 * SCALE)) 1052672
rand4k_qd1 write 4k 1 $((20000 * SCALE)) 1052672
seq1m_qd4 read 1M 4 $((2000 * SCALE)) 1048576
seq1m_qd4 write 1M 4 $((2000 * SCALE)) 1048576"

declare -A FIO
log "fio on the raw file (the host's limit)"
while read -r name rw bs depth count step; do
	case $name in rand*) frw=rand$rw ;; *) frw=$rw ;; esac
	FIO[$name.$rw]=$(fio_iops "$OUT/a.raw" "$frw" "$bs" "$depth")
done <<< "$TESTS"

REPORT=$OUT/report.txt
{
	echo "Block layer, no guest: vmkit img bench vs qemu-img bench ($("$QI" --version | head -1)), fio as the limit"
	echo "(-t none -i $AIO; medians of $RUNS runs; requests per second; ratio = vmkit/qemu-img, host = vmkit/fio on the raw file)"
	printf '%-8s %-12s %-6s %10s %10s %10s %8s %8s\n' file test rw fio qemu-img vmkit ratio host
} > "$REPORT"

for f in a.raw a.qcow2 p.qcow2; do
	while read -r name rw bs depth count step; do
		w=; [ "$rw" = write ] && w=-w
		args=(-f "${f##*.}" -c "$count" -d "$depth" -s "$bs" -S "$step" -t none -i "$AIO" $w)
		log "$f $name $rw"
		vs=() qs=()
		for ((i = 0; i < RUNS; i++)); do
			vs+=("$(bench_secs "$VMKIT" img bench "${args[@]}" "$OUT/$f")")
			qs+=("$(bench_secs "$QI" bench "${args[@]}" "$OUT/$f")")
		done
		v=$(printf '%s\n' "${vs[@]}" | median)
		q=$(printf '%s\n' "${qs[@]}" | median)
		vi=$(echo "$count / $v" | bc)
		qi=$(echo "$count / $q" | bc)
		printf '%-8s %-12s %-6s %10s %10s %10s %8.2f %8.2f\n' "$f" "$name" "$rw" "${FIO[$name.$rw]}" \
			"$qi" "$vi" "$(echo "$vi / $qi" | bc -l)" "$(echo "$vi / ${FIO[$name.$rw]}" | bc -l)" >> "$REPORT"
	done <<< "$TESTS"
done

# First writes: every request allocates (the library's path in vmkit, one at a time).
count=$((MIB / 2))
vs=() qs=()
for ((i = 0; i < RUNS; i++)); do
	for t in vmkit qemu; do
		rm -f "$OUT/e.qcow2"
		"$QI" create -q -f qcow2 "$OUT/e.qcow2" "${MIB}M"
		if [ $t = vmkit ]; then
			vs+=("$(bench_secs "$VMKIT" img bench -w -c $count -d 4 -s 1M -t none -i "$AIO" "$OUT/e.qcow2")")
		else
			qs+=("$(bench_secs "$QI" bench -w -c $count -d 4 -s 1M -t none -i "$AIO" "$OUT/e.qcow2")")
		fi
	done
done
v=$(printf '%s\n' "${vs[@]}" | median)
q=$(printf '%s\n' "${qs[@]}" | median)
printf '%-8s %-12s %-6s %10s %10s %10s %8.2f %8s\n' e.qcow2 alloc1m_qd4 write - \
	"$(echo "$count / $q" | bc)" "$(echo "$count / $v" | bc)" "$(echo "$q / $v" | bc -l)" - >> "$REPORT"
cat "$REPORT"
