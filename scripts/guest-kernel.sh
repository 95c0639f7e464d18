#!/usr/bin/env bash
# Build the vmkit test-guest kernel from Debian's linux-source-6.1 package.
#
# Usage: scripts/guest-kernel.sh [OUTDIR]      (default: build/guest)
#
# The source tarball is extracted once into $VMKIT_CACHE/src/ and the kernel
# is built out of tree into $VMKIT_CACHE/kernel-<key>/, where <key> hashes
# guest/kernel.config, guest/patches/*.patch and the source package version;
# a cached bzImage is reused as is.  The patches (applied in name order to a
# source tree of their own) are what the guest needs beyond Debian's source:
# 0001 completes the system calls a PVM host leaves unfinished (README, PVM).  Writes OUTDIR/kernel (bzImage) and OUTDIR/vmlinux (ELF with
# the PVH entry note, debug info stripped).  VMKIT_CACHE defaults to
# ~/.cache/vmkit.
set -euo pipefail

prog=guest-kernel
die() { echo "$prog: error: $*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=${1:-build/guest}
fragment=$root/guest/kernel.config
patches=("$root"/guest/patches/*.patch)
cache=${VMKIT_CACHE:-$HOME/.cache/vmkit}
srcpkg=linux-source-6.1
tarball=/usr/src/$srcpkg.tar.xz
# Bump when the build recipe below changes in a way that alters the output.
recipe=1

[ "$(uname -m)" = x86_64 ] || die "needs an x86_64 build host (got $(uname -m))"
[ -f "$fragment" ] || die "missing config fragment $fragment"
[ -f "$tarball" ] || die "missing $tarball (install the $srcpkg package: scripts/deps.sh guest)"
srcver=$(dpkg-query -W -f='${Version}' "$srcpkg" 2>/dev/null) ||
	die "package $srcpkg is not installed (scripts/deps.sh guest)"
[ -n "$srcver" ] || die "cannot determine the version of $srcpkg"

[ -f "${patches[0]}" ] || die "no kernel patches in $root/guest/patches"
patchkey=$(cat "${patches[@]}" | sha256sum | cut -c1-12)
key=$({ echo "recipe=$recipe"; echo "$srcpkg=$srcver"; cat "$fragment" "${patches[@]}"; } |
	sha256sum | cut -c1-16)
src=$cache/src/$srcpkg-$srcver-$patchkey
build=$cache/kernel-$key
bzimage=$build/arch/x86/boot/bzImage

mkdir -p "$cache/src"

# One builder at a time per cache (parallel test runs may all call us).
exec 9>"$cache/.lock"
flock 9

if [ -f "$bzimage" ] && [ -f "$build/vmlinux" ]; then
	echo "$prog: using cached kernel $build"
else
	start=$SECONDS

	if [ ! -f "$src/.vmkit-extracted" ]; then
		echo "$prog: extracting $tarball into $src" >&2
		rm -rf "$src" "$src.tmp"
		mkdir -p "$src.tmp"
		tar -C "$src.tmp" -xJf "$tarball" || die "failed to extract $tarball"
		[ -f "$src.tmp/$srcpkg/Makefile" ] || die "$tarball does not contain $srcpkg/"
		for p in "${patches[@]}"; do
			patch -d "$src.tmp/$srcpkg" -p1 --quiet --forward <"$p" ||
				die "patch $(basename "$p") does not apply to $srcpkg $srcver"
		done
		mv "$src.tmp/$srcpkg" "$src"
		rmdir "$src.tmp"
		touch "$src/.vmkit-extracted"
	fi

	mkdir -p "$build"
	log=$build/build.log
	echo "$prog: building kernel in $build (log: $log)" >&2
	# Reproducible-ish build metadata.
	export KBUILD_BUILD_USER=vmkit KBUILD_BUILD_HOST=vmkit \
		KBUILD_BUILD_TIMESTAMP="$srcpkg $srcver" KBUILD_BUILD_VERSION=1
	kmake() { make -C "$src" O="$build" "$@" >>"$log" 2>&1; }
	fail() {
		echo "$prog: error: $1; last lines of $log:" >&2
		tail -n 40 "$log" >&2
		exit 1
	}
	: >"$log"

	# allnoconfig + fragment, then let Kconfig fill in dependencies.
	kmake allnoconfig || fail "make allnoconfig failed"
	(cd "$src" && scripts/kconfig/merge_config.sh -m -O "$build" \
		"$build/.config" "$fragment") >>"$log" 2>&1 || fail "merge_config.sh failed"
	kmake olddefconfig || fail "make olddefconfig failed"

	# Every line of the fragment must have survived.
	lost=()
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			grep -qxF -- "$line" "$build/.config" || {
				got=$(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$build/.config" || true)
				lost+=("$line (got: ${got:-absent})")
			}
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			got=$(grep -E "^${BASH_REMATCH[1]}=" "$build/.config" || true)
			[ -z "$got" ] || lost+=("$line (got: $got)")
		fi
	done <"$fragment"
	if [ ${#lost[@]} -gt 0 ]; then
		echo "$prog: error: options from $fragment did not survive olddefconfig:" >&2
		printf '  %s\n' "${lost[@]}" >&2
		exit 1
	fi

	kmake -j"$(nproc)" bzImage || fail "kernel build failed"
	if [ ! -f "$bzimage" ] || [ ! -f "$build/vmlinux" ]; then
		fail "build produced no bzImage/vmlinux"
	fi
	echo "$prog: built kernel $build in $((SECONDS - start))s"
fi

# PVH boot needs the XEN_ELFNOTE_PHYS32_ENTRY note (type 0x12, owner "Xen").
readelf -n "$build/vmlinux" 2>/dev/null | grep -q 'Xen.*0x00000012' ||
	readelf -n "$build/vmlinux" 2>/dev/null | grep -q 'PHYS32_ENTRY' ||
	die "$build/vmlinux has no PVH entry note (CONFIG_PVH)"

# Copy out, touching OUTDIR only when the content changes.
mkdir -p "$outdir" || die "cannot create $outdir"
install_if_changed() { # src dst
	if ! cmp -s "$1" "$2"; then
		cp "$1" "$2.tmp" && mv "$2.tmp" "$2"
	fi
}
install_if_changed "$bzimage" "$outdir/kernel"
objcopy --strip-debug "$build/vmlinux" "$outdir/vmlinux.stripped" ||
	die "objcopy --strip-debug failed"
install_if_changed "$outdir/vmlinux.stripped" "$outdir/vmlinux"
rm -f "$outdir/vmlinux.stripped"
