#!/usr/bin/env bash
# Copy Debian's stock cloud kernel to OUTDIR/debian-kernel (default
# build/guest), installing linux-image-cloud-amd64 with apt-get if missing.
# Used to check vmkit against a full distribution kernel (slow to boot).
set -euo pipefail

prog=guest-debian-kernel
die() { echo "$prog: error: $*" >&2; exit 1; }

outdir=${1:-build/guest}
meta=linux-image-cloud-amd64

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if ! installed "$meta"; then
	echo "$prog: installing $meta" >&2
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq || die "apt-get update failed"
	$sudo apt-get install -y -qq --no-install-recommends "$meta" >/dev/null ||
		die "apt-get install $meta failed"
fi

# The metapackage depends on the versioned image package that owns vmlinuz.
img=$(dpkg-query -W -f='${Depends}' "$meta" | tr ',' '\n' |
	awk '!n && $1 ~ /^linux-image-.*-cloud-amd64$/ { print $1; n = 1 }')
[ -n "$img" ] || die "cannot find the image package $meta depends on"
vmlinuz=$(dpkg-query -L "$img" | awk '/^\/boot\/vmlinuz-/ { v = $0 } END { print v }')
[ -n "$vmlinuz" ] || die "package $img has no /boot/vmlinuz-*"
[ -r "$vmlinuz" ] || die "$vmlinuz is missing or unreadable"

mkdir -p "$outdir"
if ! cmp -s "$vmlinuz" "$outdir/debian-kernel"; then
	cp "$vmlinuz" "$outdir/debian-kernel.tmp"
	mv "$outdir/debian-kernel.tmp" "$outdir/debian-kernel"
fi
echo "$prog: $outdir/debian-kernel is $vmlinuz"
