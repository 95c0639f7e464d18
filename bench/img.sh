#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vmkit img against qemu-img, side by side on the same files in one run
# (section 5 of bench/run.sh; runs on its own too: bash bench/img.sh):
#
#   convert raw->qcow2, qcow2->raw and -c (compressed) of a BENCH_IMG_MIB
#   image of mixed data (random, compressible, explicit zeros) and holes;
#   commit of an overlay holding 1/16 of the image in 64 KiB pieces;
#   bench: 4 KiB requests at a pseudo-random spread (step of 1 MiB + 4 KiB,
#   wrapping) over a fully allocated qcow2, reads and writes, and reads of
#   the same data in a raw file (qcow2 reads against raw's);
#   check of a 1 TiB sparse qcow2 with scattered clusters.
#
# Each is run BENCH_IMG_RUNS times per tool (BENCH_IMG_SLOW_RUNS for convert -c,
# which takes a minute a run), alternating, after one warm-up
# run each; the medians of wall time and of CPU time (user + system) count. Both tools run with their defaults
# (qemu-img convert: cache=unsafe; commit: writeback) on a warm page cache.
# Ratio = qemu-img's time / vmkit's time (above 1: vmkit is faster).
# Knobs: BENCH_IMG_MIB (4096), BENCH_IMG_RUNS (7: on this PVM host one run in
# four or so of a 1-second copy takes 4x as long, for either tool), BENCH_IMG_SLOW_RUNS (3),
# BENCH_IMG_COUNT (200000
# bench requests), BENCH_IMG_KEEP (keep the files).
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=build/bench/img
VMKIT=build/vmkit
QI=${BENCH_QEMU_IMG:-qemu-img}
MIB=${BENCH_IMG_MIB:-4096}
RUNS=${BENCH_IMG_RUNS:-7}
SLOW_RUNS=${BENCH_IMG_SLOW_RUNS:-3}
COUNT=${BENCH_IMG_COUNT:-200000}
T0=$(date +%s.%N)
log() { printf '[img %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*" >&2; }

mkdir -p "$OUT"
rm -f "$OUT"/*.txt
cleanup() { [ -n "${BENCH_IMG_KEEP:-}" ] || rm -f "$OUT"/*.raw "$OUT"/*.qcow2; }
trap cleanup EXIT
if [ ! -x "$VMKIT" ] || ! command -v "$QI" > /dev/null; then
	echo "img: $VMKIT or $QI missing" | tee "$OUT/report.txt"
	exit 1
fi

# --- the source: 1 MiB pieces, 45% random, 15% compressible, 10% zeros, 30% holes ---
SRC=$OUT/src.raw
log "making $SRC ($MIB MiB of mixed data and holes)"
python3 - "$SRC" "$MIB" <<'PY'
import os, random, sys
path, mib = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
block = os.urandom(1 << 20)
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for i in range(mib):
        k = rnd.random()
        if k < 0.45:
            f.seek(i << 20)
            # random data that differs per piece without paying for urandom each time
            f.write(block[(i * 4096) % (1 << 20):] + block[:(i * 4096) % (1 << 20)])
        elif k < 0.60:
            f.seek(i << 20)
            f.write(bytes([i % 251 + 1]) * 4096 * 64 + bytes(range(256)) * 3072)
        elif k < 0.70:
            f.seek(i << 20)
            f.write(bytes(1 << 20))
PY

# t CMD...: one timed run: "wall-seconds cpu-seconds" (user + system) on stdout.
t() {
	if ! /usr/bin/time -f "%e %U %S" -o "$OUT/time.out" "$@" > /dev/null 2>> "$OUT/errors.txt"; then
		echo "FAILED: $*" >> "$OUT/errors.txt"
		echo "fail fail"
		return 0
	fi
	awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$OUT/time.out"
}

# pair NAME PREP VMKIT-CMD -- QEMU-CMD: RUNS timed runs of each, alternating; PREP runs before each.
pair() {
	local name=$1 prep=$2 i v q
	shift 2
	local -a vc=() qc=()
	while [ "$1" != "--" ]; do vc+=("$1"); shift; done
	shift
	qc=("$@")
	log "$name"
	$prep; t "${vc[@]}" > /dev/null
	$prep; t "${qc[@]}" > /dev/null
	for i in $(seq "$RUNS"); do
		$prep; v=$(t "${vc[@]}"); echo "$name vmkit $v" >> "$OUT/times.txt"
		$prep; q=$(t "${qc[@]}"); echo "$name qemu $q" >> "$OUT/times.txt"
	done
}
none() { :; }
# Before a convert: no output file, and no dirty pages left by the previous run, whose
# writeback (2-3 GiB) would otherwise land on whichever tool runs next and swamp the figure.
fresh() { rm -f "$OUT/v.qcow2" "$OUT/v.raw" "$OUT/c.qcow2"; sync; }
rm -f "$OUT/times.txt" "$OUT/errors.txt"

# --- convert -------------------------------------------------------------------------
Q=$OUT/q.qcow2
"$QI" convert -O qcow2 "$SRC" "$Q"
pair "convert raw->qcow2" fresh "$VMKIT" img convert -O qcow2 "$SRC" "$OUT/v.qcow2" -- \
	"$QI" convert -O qcow2 "$SRC" "$OUT/v.qcow2"
pair "convert qcow2->raw" fresh "$VMKIT" img convert -O raw "$Q" "$OUT/v.raw" -- \
	"$QI" convert -O raw "$Q" "$OUT/v.raw"
RUNS=$SLOW_RUNS pair "convert -c raw->qcow2" fresh "$VMKIT" img convert -c -O qcow2 "$SRC" "$OUT/c.qcow2" -- \
	"$QI" convert -c -O qcow2 "$SRC" "$OUT/c.qcow2"
"$QI" compare -q "$OUT/c.qcow2" "$SRC" || echo "FAILED: compressed image differs" >> "$OUT/errors.txt"

# --- commit ----------------------------------------------------------------------------
TOP=$OUT/top.qcow2
mktop() {
	rm -f "$TOP"
	"$QI" create -q -f qcow2 -b q.qcow2 -F qcow2 "$TOP"
	"$QI" bench -w -c $((MIB / 16 * 16)) -s 64k -S 1M --pattern=7 "$TOP" > /dev/null
	sync
}
pair "commit" mktop "$VMKIT" img commit -q "$TOP" -- "$QI" commit -q "$TOP"

# --- bench: 4 KiB at a wide stride, qcow2 (allocated) and raw ----------------------
BQ=$OUT/bench.qcow2 BR=$OUT/bench.raw
BMIB=$((MIB < 1024 ? MIB : 1024))
head -c $((BMIB << 20)) /dev/zero | tr '\0' '\1' > "$BR"
"$QI" convert -O qcow2 -f raw "$BR" "$BQ"
STEP=$((1048576 + 4096))
pair "bench read qcow2" none "$VMKIT" img bench -c "$COUNT" -s 4k -S $STEP -f qcow2 "$BQ" -- \
	"$QI" bench -c "$COUNT" -s 4k -S $STEP -f qcow2 "$BQ"
pair "bench write qcow2" none "$VMKIT" img bench -w -c "$COUNT" -s 4k -S $STEP -f qcow2 "$BQ" -- \
	"$QI" bench -w -c "$COUNT" -s 4k -S $STEP -f qcow2 "$BQ"
pair "bench read raw" none "$VMKIT" img bench -c "$COUNT" -s 4k -S $STEP -f raw "$BR" -- \
	"$QI" bench -c "$COUNT" -s 4k -S $STEP -f raw "$BR"

# --- check of a large sparse image ------------------------------------------------
CK=$OUT/check.qcow2
"$QI" create -q -f qcow2 "$CK" 1T
"$QI" bench -w -c 20000 -s 64k -S $((50 << 20)) -f qcow2 "$CK" > /dev/null
pair "check 1T sparse" none "$VMKIT" img check "$CK" -- "$QI" check "$CK"

log "done"
python3 - "$OUT/times.txt" "$MIB" "$COUNT" <<'PY' | tee "$OUT/report.txt"
import statistics, sys
times, mib, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(times):
    *name, tool, wall, cpu = line.split()
    rows.setdefault(" ".join(name), {}).setdefault(tool, []).append((wall, cpu))
print(f"vmkit img vs qemu-img: medians of runs, {mib} MiB source image, bench {count} requests")
print("ratio = qemu-img / vmkit (above 1: vmkit faster), of median wall times, of median CPU")
print("times (user+sys: a busy host disturbs them less) and of the best (shortest) wall times,")
print("which this host's occasional slow runs (of either tool) do not reach")
print(f"{'test':<24} {'vmkit s':>8} {'qemu s':>8} {'ratio':>6}   {'vmkit cpu':>9} {'qemu cpu':>8} {'ratio':>6}   {'best':>6}")
med = {}
for name, t in rows.items():
    try:
        v = [statistics.median(float(x[i]) for x in t["vmkit"]) for i in (0, 1)]
        q = [statistics.median(float(x[i]) for x in t["qemu"]) for i in (0, 1)]
    except (ValueError, KeyError):
        print(f"{name:<24} failed (see errors.txt)")
        continue
    med[name] = (v, q)
    r = [q[i] / v[i] if v[i] else float("inf") for i in (0, 1)]
    vb, qb = (min(float(x[0]) for x in t[k]) for k in ("vmkit", "qemu"))
    best = qb / vb if vb else float("inf")
    print(f"{name:<24} {v[0]:8.3f} {q[0]:8.3f} {r[0]:5.2f}x   {v[1]:9.2f} {q[1]:8.2f} {r[1]:5.2f}x   {best:5.2f}x")
if "bench read qcow2" in med and "bench read raw" in med:
    raw, q2 = med["bench read raw"][0][0], med["bench read qcow2"][0][0]
    if q2:
        print(f"vmkit qcow2 random reads vs raw (raw time / qcow2 time): {raw / q2:.2f}x")
PY
if [ -s "$OUT/errors.txt" ]; then echo "errors:"; cat "$OUT/errors.txt"; fi
