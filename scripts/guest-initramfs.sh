#!/usr/bin/env bash
# Build the vmkit test guest's initramfs: static busybox + guest/init.
#
# Usage: scripts/guest-initramfs.sh [OUTDIR]      (default: build/guest)
#
# Writes OUTDIR/initramfs.cpio.gz (newc, gzip) and the same archive
# uncompressed as OUTDIR/initramfs.cpio, rebuilding only when /bin/busybox,
# guest/init or this script is newer.  The uncompressed one boots faster where
# guest kernel code is slow: on a PVM host inflating the gzip archive costs
# ~20 s of boot, unpacking the plain cpio ~7 s.  Both are deterministic
# (fixed order, timestamps, owners, inode numbers).  Needs root (or
# CAP_MKNOD) for the /dev/console node.
set -euo pipefail

prog=guest-initramfs
die() { echo "$prog: error: $*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=${1:-build/guest}
busybox=/bin/busybox
init=$root/guest/init
self=$root/scripts/guest-initramfs.sh

. "$root/scripts/busybox-tree.sh"
busybox_check
[ -f "$init" ] || die "missing $init"

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
out=$outdir/initramfs.cpio.gz
raw=$outdir/initramfs.cpio

uptodate() {
	[ -f "$1" ] && [ "$1" -nt "$busybox" ] && [ "$1" -nt "$init" ] && [ "$1" -nt "$self" ] &&
		[ "$1" -nt "$root/scripts/busybox-tree.sh" ]
}
if uptodate "$out" && uptodate "$raw"; then
	echo "$prog: up to date: $out"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root to create the /dev/console node"

stage=$(mktemp -d "${TMPDIR:-/tmp}/vmkit-initramfs.XXXXXX")
trap 'rm -rf "$stage" "$raw.tmp" "$out.tmp"' EXIT

cd "$stage"
mkdir -p bin sbin usr/bin usr/sbin dev proc sys tmp root mnt etc
busybox_install
cp "$init" init
chmod 0755 init
mknod -m 0600 dev/console c 5 1

# Deterministic archive: fixed mtime, root owner, sorted names, renumbered
# inodes, gzip without name/timestamp.
find . -exec touch -h -d @0 {} +
find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible >"$raw.tmp" ||
	die "cpio failed"
gzip -9 -n <"$raw.tmp" >"$out.tmp" || die "gzip failed"
mv "$raw.tmp" "$raw"
mv "$out.tmp" "$out"
echo "$prog: built $out ($(stat -c %s "$out") bytes) and $raw ($(stat -c %s "$raw") bytes)"
