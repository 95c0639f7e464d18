#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the fuzz targets (tests/fuzz/build.sh), make their seed corpora
# (make-corpus.sh, vmdk-corpus.sh and foreign-corpus.sh for the image formats, make-seeds.py for
# the rest), replay the inputs that once crashed (tests/fuzz/regress/TARGET/)
# and fuzz each target SECS seconds (default 20). New inputs collect in
# build-fuzz/corpus/TARGET; a crash leaves its input in build-fuzz/ and fails.
# Usage: tests/fuzz/run.sh [SECS [TARGET...]]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-20}
shift || true
OUT=${FUZZ_BUILD:-build-fuzz}
ALL="qcow2 qcow2rw vmdk vpc vdi vhdx names virtq blk net console rng balloon x86 qmp config runopts serve savestate"
ALL="$ALL i8042"
ALL="$ALL vga"
ALL="$ALL fwcfg"	# firmware boot (issue 12)
ALL="$ALL tablet"	# virtio-tablet (issue 13)
# Disk controllers (issue 12).
ALL="$ALL scsi ahci"
ALL="$ALL q35"	# the Q35 machine (issue 12)
ALL="$ALL devstate"	# device state for save/restore (issue 15)
ALL="$ALL migrate"	# live migration's receiving end (issue 15)
TARGETS=${*:-$ALL}
tests/fuzz/build.sh > /dev/null

# What each target's input is, at most (bytes), and its seed script.
max_len() {
	case $1 in
	qcow2|qcow2rw) echo 131072 ;; vmdk|vpc|vdi) echo 262144 ;; vhdx) echo 1114112 ;;
	virtq) echo 65536 ;; x86) echo 1024 ;;
	*) echo 8192 ;;
	esac
}
seeds() {
	case $1 in
	qcow2) tests/fuzz/make-corpus.sh "$2" ;;
	qcow2rw) tests/fuzz/make-corpus.sh "$2" bitmaps ;;
	vmdk) tests/fuzz/vmdk-corpus.sh "$2" ;;
	vpc|vdi|vhdx) tests/fuzz/foreign-corpus.sh "$1" "$2" ;;
	*) tests/fuzz/make-seeds.py "$1" "$2" ;;
	esac
}
# runopts: the parsers keep their allocations for the process's life, as
# `vmkit run` does, and print a line for each refused option.
options() {
	case $1 in
	runopts) echo "-close_fd_mask=2" ;;
	serve) echo "-max_len=4096" ;;
	esac
}
# qmp: allocation-bound (json-c objects); a small quarantine makes it 2.5x faster.
environment() {
	case $1 in
	runopts) echo "ASAN_OPTIONS=detect_leaks=0" ;;
	qmp) echo "ASAN_OPTIONS=quarantine_size_mb=16" ;;
	*) echo "ASAN_OPTIONS=" ;;
	esac
}

# fuzz TARGET: replay its regression inputs, then fuzz it; 0 when clean.
fuzz() {
	local t=$1 bin=$OUT/$1-fuzz seeds=$OUT/seeds/$1 corpus=$OUT/corpus/$1 log=$OUT/$1.log rc=0
	[ -d "$seeds" ] || seeds "$t" "$seeds" > /dev/null
	mkdir -p "$corpus"
	if [ -d "tests/fuzz/regress/$t" ]; then
		env "$(environment "$t")" "$bin" $(options "$t") tests/fuzz/regress/"$t"/* \
			> "$log" 2>&1 || { echo "$t: a regression input fails again: see $log"; \
					   tail -40 "$log"; return 1; }
	fi
	# FUZZ_SEED (make check: 1) makes a run explore the same inputs each time, so
	# a check that passed here passes in CI on the same machine; make fuzz leaves
	# it random to explore further.
	env "$(environment "$t")" "$bin" $(options "$t") -max_total_time="$SECS" \
		${FUZZ_SEED:+-seed="$FUZZ_SEED"} \
		-max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/$t-" "$corpus" "$seeds" > "$log" 2>&1 || rc=$?
	printf '%-8s %s\n' "$t" "$(grep -E '^#[0-9]+.*DONE' "$log" | sed 's/ *lim:.*exec/ exec/;s/ rss:.*//')"
	grep -E '^==.*ERROR|SUMMARY|runtime error' "$log" || true
	[ "$rc" -eq 0 ] || { echo "$t-fuzz failed ($rc): see $log"; tail -40 "$log"; }
	return "$rc"
}

# FUZZ_JOBS targets at a time (default: one per CPU; each target is one
# process on one CPU), so make check's 20 s per target costs half the wall
# time on this 2-CPU host. A failure is recorded in a file per target.
JOBS=${FUZZ_JOBS:-$(nproc)}
failed=$(mktemp -d)
trap 'rm -rf "$failed"' EXIT
for t in $TARGETS; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n || true
	done
	{ fuzz "$t" > "$failed/$t.out" 2>&1 || touch "$failed/$t.failed"; cat "$failed/$t.out"; } &
done
wait
[ -z "$(ls "$failed"/*.failed 2>/dev/null)" ]
