#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Seed corpus for the qcow2 fuzzer, made here with qemu-img and qemu-io (not
# downloaded): small images covering versions 2 and 3, cluster sizes 512 B
# to 64 KiB, refcount widths, zero, compressed (zlib, zstd) and
# preallocated clusters, backing file names and formats, snapshots, lazy
# refcounts, a dirty image and external data files; with `bitmaps`, persistent
# bitmaps too. Usage: make-corpus.sh DIR [bitmaps]
set -euo pipefail
DIR=${1:?usage: make-corpus.sh DIR}
mkdir -p "$DIR"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
seed() {	# seed OPTS QEMU-IO-COMMANDS...
	local opts=$1 img=$T/s.qcow2
	shift
	n=$((n + 1))
	rm -f "$img"
	qemu-img create -q -f qcow2 -o "$opts" "$img" 1M
	for c in "$@"; do qemu-io -f qcow2 -c "$c" "$img" > /dev/null; done
	cp "$img" "$DIR/seed-$n.qcow2"
}
seed cluster_size=512
seed cluster_size=512 "write -P 1 0 8k" "write -z 16k 4k" "discard 0 1k"
seed cluster_size=512,compat=0.10 "write -P 2 4k 8k"
seed cluster_size=4k,refcount_bits=1 "write -P 3 0 12k"
seed cluster_size=4k,refcount_bits=64 "write -P 4 8k 4k" "write -z 0 4k"
seed cluster_size=4k,lazy_refcounts=on "write -P 5 0 8k"
seed cluster_size=4k,preallocation=metadata
seed cluster_size=1k,refcount_bits=8 "write -c -P 6 0 1k" "write -c -P 7 2k 1k"
seed cluster_size=4k,compression_type=zstd "write -c -P 8 0 4k" "write -P 9 8k 4k"
seed cluster_size=64k "write -P 10 0 4k"
truncate -s 1M "$T/base.raw"
seed cluster_size=4k,backing_file=base.raw,backing_fmt=raw "write -P 11 4k 4k"
seed cluster_size=4k,refcount_bits=4,compat=1.1 "write -P 12 0 4k" "write -P 13 0 4k"
# Internal snapshots: shared clusters (refcount 2), the snapshot table.
img=$T/snap.qcow2
qemu-img create -q -f qcow2 -o cluster_size=4k "$img" 1M
qemu-io -f qcow2 -c "write -P 14 0 8k" "$img" > /dev/null
qemu-img snapshot -c one "$img"
qemu-io -f qcow2 -c "write -P 15 4k 4k" "$img" > /dev/null
cp "$img" "$DIR/seed-snap.qcow2"
# A dirty image (lazy refcounts, killed writer): the repair path.
img=$T/dirty.qcow2
qemu-img create -q -f qcow2 -o cluster_size=4k,lazy_refcounts=on "$img" 1M
sh -c 'qemu-io -f qcow2 -c "write -P 16 0 8k" -c abort "$1"' sh "$img" > /dev/null 2>&1 || true
cp "$img" "$DIR/seed-dirty.qcow2"
# Extended L2 entries (subclusters): data, zero and unwritten subclusters.
seed cluster_size=16k,extended_l2=on "write -P 17 0 1k" "write -z 2k 1k" "write -P 18 20k 512"
# External data files: the name extension, host offsets into the data file
# (not opened by the fuzzer), a raw one with every cluster mapped.
seed cluster_size=4k,data_file=$T/d.raw "write -P 19 0 8k" "write -z 8k 4k"
seed cluster_size=4k,data_file=$T/d2.raw,data_file_raw=on "write -P 20 4k 4k" "discard 0 4k"
# Persistent bitmaps (qcow2rw): enabled, disabled, in several granularities, with data.
if [ "${2:-}" = bitmaps ]; then
	for cs in 512 4k 64k; do
		img=$T/bm.qcow2
		qemu-img create -q -f qcow2 -o cluster_size=$cs "$img" 1M
		qemu-img bitmap --add "$img" b0
		qemu-img bitmap --add -g 512 "$img" b1
		qemu-img bitmap --add -g 64k --disable "$img" b2
		qemu-io -f qcow2 -c "write -P 19 4k 8k" -c "write -z 600k 3k" "$img" > /dev/null
		cp "$img" "$DIR/seed-bitmaps-$cs.qcow2"
	done
fi
ls "$DIR" | wc -l
