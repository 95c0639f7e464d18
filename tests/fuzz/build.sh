#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the qcow2 and vmdk libFuzzer targets with clang, ASan and UBSan, into its own
# directory (not part of the gcc build): build-fuzz/qcow2-fuzz, build-fuzz/vmdk-fuzz.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT"
# Library sources only: lib/util and lib/block know nothing of the monitor.
for t in qcow2 vmdk; do
	$CC -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer -Wall -Wno-unused-parameter \
		lib/util/*.c lib/block/*.c tests/fuzz/fuzz-image.c tests/fuzz/$t-fuzz.c \
		-lz -lzstd -lpthread -o "$OUT/$t-fuzz"
	echo "$OUT/$t-fuzz"
done
