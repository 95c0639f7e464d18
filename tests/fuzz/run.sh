#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the qcow2 fuzzer (tests/fuzz/build.sh), make its seed corpus
# (tests/fuzz/make-corpus.sh) and fuzz for SECS seconds (default 60). New
# inputs collect in build-fuzz/corpus; a crash leaves its input in build-fuzz/
# and fails. Usage: tests/fuzz/run.sh [SECS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-60}
OUT=${FUZZ_BUILD:-build-fuzz}
tests/fuzz/build.sh > /dev/null
[ -d "$OUT/seeds" ] || tests/fuzz/make-corpus.sh "$OUT/seeds" > /dev/null
mkdir -p "$OUT/corpus"
log=$OUT/fuzz.log
rc=0
"$OUT/qcow2-fuzz" -max_total_time="$SECS" -max_len=131072 -timeout=10 -rss_limit_mb=1024 \
	-print_final_stats=1 -artifact_prefix="$OUT/" "$OUT/corpus" "$OUT/seeds" > "$log" 2>&1 || rc=$?
grep -E '^Done|stat::number_of_executed_units|^==.*ERROR|SUMMARY' "$log" || true
[ "$rc" -eq 0 ] || { echo "qcow2 fuzzer failed ($rc): see $log"; tail -40 "$log"; }
# The vmdk target, for a quarter of the time (at least 5 s), on its own corpus.
[ -d "$OUT/vmdk-seeds" ] || tests/fuzz/vmdk-corpus.sh "$OUT/vmdk-seeds" > /dev/null
mkdir -p "$OUT/vmdk-corpus"
vlog=$OUT/vmdk-fuzz.log
vrc=0
"$OUT/vmdk-fuzz" -max_total_time="$(( SECS / 4 > 5 ? SECS / 4 : 5 ))" -max_len=262144 \
	-timeout=10 -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$OUT/vmdk-" \
	"$OUT/vmdk-corpus" "$OUT/vmdk-seeds" > "$vlog" 2>&1 || vrc=$?
grep -E '^Done|stat::number_of_executed_units|^==.*ERROR|SUMMARY' "$vlog" || true
[ "$vrc" -eq 0 ] || { echo "vmdk fuzzer failed ($vrc): see $vlog"; tail -40 "$vlog"; rc=$vrc; }
exit "$rc"
