#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Seed corpus for the vmdk fuzzer, made here with qemu-img and qemu-io (not
# downloaded): monolithicSparse with data and zeroed grains, streamOptimized
# (deflated grains behind markers) and one whose header defers to its footer.
# 256 KiB disks of 64 KiB grains keep each under 256 KiB. Usage: vmdk-corpus.sh DIR
set -euo pipefail
DIR=${1:?usage: vmdk-corpus.sh DIR}
mkdir -p "$DIR"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
seed() {	# seed OPTS QEMU-IO-COMMANDS...
	local opts=$1 img=$T/s.vmdk
	shift
	n=$((n + 1))
	rm -f "$img"
	qemu-img create -q -f vmdk -o "$opts" "$img" 256k
	for c in "$@"; do qemu-io -f vmdk -c "$c" "$img" > /dev/null; done
	cp "$img" "$DIR/seed-$n.vmdk"
}
seed subformat=monolithicSparse "write -P 1 0 4k" "write -P 2 130k 4k"
seed subformat=monolithicSparse,zeroed_grain=on "write -P 3 0 64k" "write -z 64k 64k"
head -c 60000 /dev/urandom > "$T/r.raw"
truncate -s 256k "$T/r.raw"
qemu-img convert -O vmdk -o subformat=streamOptimized "$T/r.raw" "$DIR/seed-stream.vmdk"
# The same with GD_AT_END in the header and the real header in a footer.
python3 - "$DIR/seed-stream.vmdk" "$DIR/seed-footer.vmdk" <<'P'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
hdr = bytes(b[:512])
b = b[:-512] + struct.pack("<QII", 0, 0, 3).ljust(512, b"\0") + hdr + bytes(512)
struct.pack_into("<Q", b, 56, 0xffffffffffffffff)
open(sys.argv[2], "wb").write(b)
P
ls "$DIR" | wc -l
