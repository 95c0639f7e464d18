#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the qcow2 and vmdk fuzzers (tests/fuzz/build.sh), make their seed
# corpora (tests/fuzz/make-corpus.sh, vmdk-corpus.sh) and fuzz: qcow2 for SECS
# seconds (default 60), vmdk for a quarter of that (at least 5 s). New inputs
# collect in build-fuzz/corpus and build-fuzz/vmdk-corpus; a crash leaves its
# input in build-fuzz/ and fails. Usage: tests/fuzz/run.sh [SECS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-60}
OUT=${FUZZ_BUILD:-build-fuzz}
tests/fuzz/build.sh > /dev/null

# fuzz TARGET PREFIX SEED-SCRIPT SECS MAX-LEN: one target on its own corpus; 0 when clean.
fuzz() {
	local target=$1 pre=$2 seeds=$3 secs=$4 maxlen=$5 log rc=0
	[ -d "$OUT/${pre}seeds" ] || "$seeds" "$OUT/${pre}seeds" > /dev/null
	mkdir -p "$OUT/${pre}corpus"
	log=$OUT/$target.log
	"$OUT/$target" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 -rss_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix="$OUT/$pre" \
		"$OUT/${pre}corpus" "$OUT/${pre}seeds" > "$log" 2>&1 || rc=$?
	grep -E '^Done|stat::number_of_executed_units|^==.*ERROR|SUMMARY' "$log" || true
	[ "$rc" -eq 0 ] || { echo "$target failed ($rc): see $log"; tail -40 "$log"; }
	return "$rc"
}

rc=0
fuzz qcow2-fuzz "" tests/fuzz/make-corpus.sh "$SECS" 131072 || rc=$?
fuzz vmdk-fuzz vmdk- tests/fuzz/vmdk-corpus.sh "$(( SECS / 4 > 5 ? SECS / 4 : 5 ))" 262144 || rc=$?
exit "$rc"
