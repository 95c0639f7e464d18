#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vmkit img against qemu-img, side by side on the same files in one run
# (section 7 of bench/run.sh; runs on its own too: bash bench/img.sh).
# The same suite runs twice: on disk (build/bench/img) and on tmpfs
# (/dev/shm), where the file system costs nearly nothing and what is left is
# the tools' own work:
#
#   convert raw->qcow2, qcow2->raw, -c (compressed) of an image of mixed data
#   (random, compressible, explicit zeros) and holes, and an overlay with its
#   backing file flattened into one qcow2;
#   commit of an overlay holding 1/16 of the image in 64 KiB pieces into its base;
#   rebase (safe mode) of that overlay onto a base that differs in 1/48 of it;
#   compare of the raw source with its qcow2 copy; measure of both;
#   check of a 1 TiB sparse qcow2 with scattered clusters;
#   bench: 4 KiB requests at a pseudo-random spread (step of 1 MiB + 4 KiB,
#   wrapping) over a fully allocated qcow2, reads and writes, and reads of
#   the same data in a raw file (qcow2 reads against raw's).
#
# Each is run BENCH_IMG_RUNS times per tool (BENCH_IMG_SLOW_RUNS for convert -c),
# alternating, after one warm-up run each; the medians of wall time and of CPU
# time (user + system) count. Both tools run with their defaults (qemu-img
# convert: cache=unsafe; commit: writeback) on a warm page cache.
# Ratio = qemu-img's time / vmkit's time (above 1: vmkit is faster).
# Knobs: BENCH_IMG_MIB (4096: the disk suite's image), BENCH_IMG_TMPFS_MIB
# (2048: tmpfs holds the source and four copies), BENCH_IMG_MEDIA ("disk tmpfs"),
# BENCH_IMG_TMPFS (/dev/shm/vmkit-bench-img), BENCH_IMG_RUNS (7: on this PVM host
# one run in four or so of a 1-second copy takes 4x as long, for either tool),
# BENCH_IMG_SLOW_RUNS (3), BENCH_IMG_COUNT (200000 bench requests),
# BENCH_IMG_KEEP (keep the files).
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=build/bench/img
VMKIT=$PWD/build/vmkit
QI=${BENCH_QEMU_IMG:-qemu-img}
MIB=${BENCH_IMG_MIB:-4096}
TMPFS_MIB=${BENCH_IMG_TMPFS_MIB:-2048}
MEDIA=${BENCH_IMG_MEDIA:-disk tmpfs}
TMPFS=${BENCH_IMG_TMPFS:-/dev/shm/vmkit-bench-img}
RUNS=${BENCH_IMG_RUNS:-7}
SLOW_RUNS=${BENCH_IMG_SLOW_RUNS:-3}
COUNT=${BENCH_IMG_COUNT:-200000}
T0=$(date +%s.%N)
log() { printf '[img %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*" >&2; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/*.txt
cleanup() {
	[ -n "${BENCH_IMG_KEEP:-}" ] && return
	rm -f "$OUT"/*.raw "$OUT"/*.qcow2
	rm -rf "$TMPFS"
}
trap cleanup EXIT
if [ ! -x "$VMKIT" ] || ! command -v "$QI" > /dev/null; then
	echo "img: $VMKIT or $QI missing" | tee "$OUT/report.txt"
	exit 1
fi

# mksrc PATH MIB: 1 MiB pieces, 45% random, 15% compressible, 10% zeros, 30% holes.
mksrc() {
	python3 - "$1" "$2" <<'PY'
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
}

# t CMD...: one timed run: "wall-seconds cpu-seconds" (user + system) on stdout.
t() {
	if ! /usr/bin/time -f "%e %U %S" -o "$OUT/time.out" "$@" > /dev/null 2>> "$OUT/errors.txt"; then
		echo "FAILED: $*" >> "$OUT/errors.txt"
		echo "fail fail"
		return 0
	fi
	awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$OUT/time.out"
}

# pair NAME PREP VMKIT-CMD -- QEMU-CMD: RUNS timed runs of each, alternating; PREP
# runs before each. Commands run in the suite's directory, on relative names.
pair() {
	local name="$MEDIUM: $1" prep=$2 i v q
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
fresh() { rm -f v.qcow2 v.raw c.qcow2 flat.qcow2; sync; }
# A new overlay on q.qcow2 with 1/16 of the image written in 64 KiB pieces (commit
# and rebase change it, so each run gets its own).
mktop() {
	rm -f top.qcow2
	"$QI" create -q -f qcow2 -b q.qcow2 -F qcow2 top.qcow2
	"$QI" bench -w -c $((SMIB / 16 * 16)) -s 64k -S 1M --pattern=7 top.qcow2 > /dev/null
	sync
}
# commit writes into q.qcow2: give each run a fresh copy of the base as well.
mkcommit() { cp --sparse=always q0.qcow2 q.qcow2; mktop; }

# suite MEDIUM DIR MIB: every measurement on files in DIR, of a MIB MiB source.
suite() {
	MEDIUM=$1
	local dir=$2
	SMIB=$3
	mkdir -p "$dir"
	pushd "$dir" > /dev/null
	log "$MEDIUM: making src.raw ($SMIB MiB of mixed data and holes) in $dir"
	mksrc src.raw "$SMIB"

	# --- convert -----------------------------------------------------------------
	"$QI" convert -O qcow2 src.raw q0.qcow2
	cp --sparse=always q0.qcow2 q.qcow2
	pair "convert raw->qcow2" fresh "$VMKIT" img convert -O qcow2 src.raw v.qcow2 -- \
		"$QI" convert -O qcow2 src.raw v.qcow2
	pair "convert qcow2->raw" fresh "$VMKIT" img convert -O raw q.qcow2 v.raw -- \
		"$QI" convert -O raw q.qcow2 v.raw
	RUNS=$SLOW_RUNS pair "convert -c raw->qcow2" fresh "$VMKIT" img convert -c -O qcow2 src.raw c.qcow2 -- \
		"$QI" convert -c -O qcow2 src.raw c.qcow2
	"$QI" compare -q c.qcow2 src.raw || echo "FAILED: $MEDIUM compressed image differs" >> "$OUT/errors.txt"
	mktop
	pair "convert overlay->qcow2" fresh "$VMKIT" img convert -O qcow2 top.qcow2 flat.qcow2 -- \
		"$QI" convert -O qcow2 top.qcow2 flat.qcow2
	"$QI" compare -q flat.qcow2 top.qcow2 || echo "FAILED: $MEDIUM flattened overlay differs" >> "$OUT/errors.txt"

	# --- commit, rebase ------------------------------------------------------------
	pair "commit" mkcommit "$VMKIT" img commit -q top.qcow2 -- "$QI" commit -q top.qcow2
	cp --sparse=always q0.qcow2 q.qcow2
	# The new base: the old one with 1/48 of it rewritten (64 KiB pieces every 3 MiB).
	cp --sparse=always q0.qcow2 nb.qcow2
	"$QI" bench -w -c $((SMIB / 3)) -s 64k -S 3M --pattern=9 nb.qcow2 > /dev/null
	pair "rebase (safe)" mktop "$VMKIT" img rebase -b nb.qcow2 -F qcow2 top.qcow2 -- \
		"$QI" rebase -b nb.qcow2 -F qcow2 top.qcow2

	# --- compare, measure ------------------------------------------------------------
	pair "compare raw qcow2" none "$VMKIT" img compare -f raw -F qcow2 src.raw q.qcow2 -- \
		"$QI" compare -f raw -F qcow2 src.raw q.qcow2
	pair "measure raw" none "$VMKIT" img measure -f raw -O qcow2 src.raw -- \
		"$QI" measure -f raw -O qcow2 src.raw
	pair "measure qcow2" none "$VMKIT" img measure -f qcow2 -O qcow2 q.qcow2 -- \
		"$QI" measure -f qcow2 -O qcow2 q.qcow2

	# --- check of a large sparse image ----------------------------------------------
	"$QI" create -q -f qcow2 check.qcow2 1T
	"$QI" bench -w -c 20000 -s 64k -S $((50 << 20)) -f qcow2 check.qcow2 > /dev/null
	pair "check 1T sparse" none "$VMKIT" img check check.qcow2 -- "$QI" check check.qcow2

	# --- bench: 4 KiB at a wide stride, qcow2 (allocated) and raw -----------------
	local bmib=$((SMIB < 1024 ? SMIB : 1024)) step=$((1048576 + 4096))
	head -c $((bmib << 20)) /dev/zero | tr '\0' '\1' > bench.raw
	"$QI" convert -O qcow2 -f raw bench.raw bench.qcow2
	pair "bench read qcow2" none "$VMKIT" img bench -c "$COUNT" -s 4k -S $step -f qcow2 bench.qcow2 -- \
		"$QI" bench -c "$COUNT" -s 4k -S $step -f qcow2 bench.qcow2
	pair "bench write qcow2" none "$VMKIT" img bench -w -c "$COUNT" -s 4k -S $step -f qcow2 bench.qcow2 -- \
		"$QI" bench -w -c "$COUNT" -s 4k -S $step -f qcow2 bench.qcow2
	pair "bench read raw" none "$VMKIT" img bench -c "$COUNT" -s 4k -S $step -f raw bench.raw -- \
		"$QI" bench -c "$COUNT" -s 4k -S $step -f raw bench.raw

	rm -f ./*.raw ./*.qcow2
	popd > /dev/null
}

rm -f "$OUT/times.txt" "$OUT/errors.txt"
for m in $MEDIA; do
	case $m in
	disk) suite disk "$OUT" "$MIB" ;;
	tmpfs) suite tmpfs "$TMPFS" "$TMPFS_MIB" ;;
	*) echo "img: unknown medium '$m' in BENCH_IMG_MEDIA (disk, tmpfs)" >&2; exit 1 ;;
	esac
done

log "done"
python3 - "$OUT/times.txt" "$MIB" "$TMPFS_MIB" "$COUNT" <<'PY' | tee "$OUT/report.txt"
import statistics, sys
times, mib, tmib, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = {}
for line in open(times):
    *name, tool, wall, cpu = line.split()
    rows.setdefault(" ".join(name), {}).setdefault(tool, []).append((wall, cpu))
print(f"vmkit img vs qemu-img: medians of runs; source image {mib} MiB on disk, {tmib} MiB on tmpfs;")
print(f"bench {count} requests")
print("ratio = qemu-img / vmkit (above 1: vmkit faster), of median wall times, of median CPU")
print("times (user+sys: a busy host disturbs them less) and of the best (shortest) wall times,")
print("which this host's occasional slow runs (of either tool) do not reach")
print(f"{'test':<32} {'vmkit s':>8} {'qemu s':>8} {'ratio':>6}   {'vmkit cpu':>9} {'qemu cpu':>8} {'ratio':>6}   {'best':>6}")
med = {}
for name, t in rows.items():
    try:
        v = [statistics.median(float(x[i]) for x in t["vmkit"]) for i in (0, 1)]
        q = [statistics.median(float(x[i]) for x in t["qemu"]) for i in (0, 1)]
    except (ValueError, KeyError):
        print(f"{name:<32} failed (see errors.txt)")
        continue
    med[name] = (v, q)
    r = [q[i] / v[i] if v[i] else float("inf") for i in (0, 1)]
    vb, qb = (min(float(x[0]) for x in t[k]) for k in ("vmkit", "qemu"))
    best = qb / vb if vb else float("inf")
    print(f"{name:<32} {v[0]:8.3f} {q[0]:8.3f} {r[0]:5.2f}x   {v[1]:9.2f} {q[1]:8.2f} {r[1]:5.2f}x   {best:5.2f}x")
for medium in ("disk", "tmpfs"):
    raw, q2 = med.get(f"{medium}: bench read raw"), med.get(f"{medium}: bench read qcow2")
    if raw and q2 and q2[0][0]:
        print(f"{medium}: vmkit qcow2 random reads vs raw (raw time / qcow2 time): {raw[0][0] / q2[0][0]:.2f}x")
PY
if [ -s "$OUT/errors.txt" ]; then echo "errors:"; cat "$OUT/errors.txt"; fi
