#!/usr/bin/env bash
# Build the vmkit test guest's root disk: an ext4 image with static busybox
# (init, shell and tools), the files in guest/rootfs/ (inittab, rcS, acpid's
# power-button action, udhcpc's hook in /etc/udhcpc, Debian busybox's place) and the Debian programs the tests run
# in the guest (mkfs.ext4, e2fsck), with their shared libraries, and
# vmkit-sysbench (guest/tools/sysbench.c, built static here).
#
# Usage: scripts/guest-rootfs.sh [OUTDIR]      (default: build/guest)
#
# Writes OUTDIR/rootfs.ext4 (raw, 96 MiB, label vmkit-root; boot it with
# root=/dev/vda rw), rebuilding only when an input is newer.  The image is
# made with mkfs.ext4 -d from a staging directory (no mount, no loop device)
# and put in place with a rename, so an interrupted build leaves no half image.
set -euo pipefail

prog=guest-rootfs
die() { echo "$prog: error: $*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=${1:-build/guest}
busybox=/bin/busybox
tree=$root/guest/rootfs
tools=$root/guest/tools
self=$root/scripts/guest-rootfs.sh
# Debian programs the guest-level tests use, beyond busybox.
programs=(/sbin/mke2fs /sbin/e2fsck)
size=96M

. "$root/scripts/busybox-tree.sh"
busybox_check
[ -d "$tree" ] || die "missing $tree"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 not found (install e2fsprogs: scripts/deps.sh guest)"
for p in "${programs[@]}"; do [ -x "$p" ] || die "missing $p (scripts/deps.sh guest)"; done

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
out=$outdir/rootfs.ext4

newest=$(find "$tree" "$tools" "$self" "$root/scripts/busybox-tree.sh" "$busybox" "${programs[@]}" -newer "$out" -print -quit 2>/dev/null || true)
if [ -f "$out" ] && [ -z "$newest" ]; then
	echo "$prog: up to date: $out"
	exit 0
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/vmkit-rootfs.XXXXXX")
trap 'rm -rf "$stage" "$out.tmp"' EXIT

cd "$stage"
mkdir -p bin sbin usr/bin usr/sbin dev proc sys tmp run root mnt etc lib64 \
	lib/x86_64-linux-gnu var/log
busybox_install
[ -L sbin/init ] || die "busybox has no init applet"
cp -a "$tree"/. .

# Debian programs and the libraries ldd says they load (same paths as on
# the host, so the dynamic loader finds them without a cache).
for p in "${programs[@]}"; do
	rm -f ".$p"
	cp -L "$p" ".$p"
	ldd "$p" | grep -o '/[^ ]*' | while IFS= read -r lib; do
		mkdir -p ".$(dirname "$lib")"
		[ -e ".$lib" ] || cp -L "$lib" ".$lib"
	done
done
cc -static -O2 -Wall -o usr/bin/vmkit-sysbench "$tools/sysbench.c" ||
	die "cannot build $tools/sysbench.c (static glibc: libc6-dev)"
ln -sf mke2fs sbin/mkfs.ext4
ln -sf e2fsck sbin/fsck.ext4
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf etc/

mkfs.ext4 -q -F -L vmkit-root -E root_owner=0:0 -d "$stage" "$out.tmp" "$size" >/dev/null ||
	die "mkfs.ext4 -d failed"
e2fsck -fn "$out.tmp" >/dev/null 2>&1 || die "the new image does not pass e2fsck"
sync -f "$out.tmp" 2>/dev/null || sync
mv "$out.tmp" "$out"
echo "$prog: built $out ($(du -h --apparent-size "$out" | cut -f1), $(du -h "$out" | cut -f1) used)"
