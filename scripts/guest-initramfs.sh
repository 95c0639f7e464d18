#!/usr/bin/env bash
# Build the vmkit test guest's initramfs: static busybox + guest/init.
#
# Usage: scripts/guest-initramfs.sh [OUTDIR]      (default: build/guest)
#
# Writes OUTDIR/initramfs.cpio.gz (newc, gzip), rebuilding only when
# /bin/busybox, guest/init or this script is newer than it.  The archive is
# deterministic: fixed order, timestamps, owners and inode numbers.  Needs
# root (or CAP_MKNOD) for the /dev/console node.
set -euo pipefail

prog=guest-initramfs
die() { echo "$prog: error: $*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=${1:-build/guest}
out=$outdir/initramfs.cpio.gz
busybox=/bin/busybox
init=$root/guest/init
self=$root/scripts/guest-initramfs.sh

[ -x "$busybox" ] || die "missing $busybox (install busybox-static: scripts/deps.sh guest)"
[ -f "$init" ] || die "missing $init"
file -L "$busybox" | grep -q 'statically linked' ||
	die "$busybox is not statically linked (install busybox-static, not busybox)"

if [ -f "$out" ] && [ "$out" -nt "$busybox" ] && [ "$out" -nt "$init" ] &&
	[ "$out" -nt "$self" ]; then
	echo "$prog: up to date: $out"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root to create the /dev/console node"

mkdir -p "$outdir"
out=$(cd "$outdir" && pwd)/initramfs.cpio.gz
stage=$(mktemp -d "${TMPDIR:-/tmp}/vmkit-initramfs.XXXXXX")
trap 'rm -rf "$stage" "$stage.cpio" "$out.tmp"' EXIT

cd "$stage"
mkdir -p bin sbin usr/bin usr/sbin dev proc sys tmp root mnt etc
cp "$busybox" bin/busybox
chmod 0755 bin/busybox
cp "$init" init
chmod 0755 init
mknod -m 0600 dev/console c 5 1
# Same links as `busybox --install -s`, made without running it inside a
# chroot.
"$busybox" --list-full | LC_ALL=C sort | while IFS= read -r applet; do
	case "$applet" in
	linuxrc | bin/busybox) continue ;;
	esac
	mkdir -p "$(dirname "$applet")"
	[ -e "$applet" ] || ln -s /bin/busybox "$applet"
done
[ -L bin/sh ] || die "busybox has no sh applet"

# Deterministic archive: fixed mtime, root owner, sorted names, renumbered
# inodes, gzip without name/timestamp.
find . -exec touch -h -d @0 {} +
find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible >"$stage.cpio" ||
	die "cpio failed"
gzip -9 -n <"$stage.cpio" >"$out.tmp" || die "gzip failed"
mv "$out.tmp" "$out"
echo "$prog: built $out ($(stat -c %s "$out") bytes)"
