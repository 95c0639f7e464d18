#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the qcow2 libFuzzer target with clang, ASan and UBSan, into its own
# directory (not part of the gcc build): build-fuzz/qcow2-fuzz.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT"
# Library sources only: lib/util and lib/block know nothing of the monitor.
$CC -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -Wall -Wno-unused-parameter \
	lib/util/*.c lib/block/*.c tests/fuzz/qcow2-fuzz.c \
	-lz -lzstd -lpthread -o "$OUT/qcow2-fuzz"
echo "$OUT/qcow2-fuzz"
