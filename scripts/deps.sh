#!/usr/bin/env bash
# Install the Debian packages a make target needs, only when some are missing.
# Usage: scripts/deps.sh build|guest|check|bench|slow|fuzz
set -euo pipefail

build_pkgs=(gcc make meson ninja-build pkg-config libcmocka-dev zlib1g-dev libzstd-dev libslirp-dev
	libwebsockets-dev libssl-dev libpam0g-dev libseccomp-dev
	liburing-dev libaio-dev libjson-c-dev libglib2.0-dev nodejs npm
	libpng-dev libvncserver-dev libxkbcommon-dev xkb-data)
guest_pkgs=(linux-source-6.1 busybox-static cpio file patch e2fsprogs flex bison libelf-dev libssl-dev bc xz-utils lz4)
check_pkgs=(python3 python3-pytest qemu-utils qemu-system-x86 strace iproute2 procps mount util-linux
	chromium chromium-driver python3-selenium openssl passwd
	tesseract-ocr tesseract-ocr-eng vncsnapshot console-setup-linux python3-pil
	xorriso kmod)
# Firmware boot (issue 12): SeaBIOS and OVMF images for the --firmware boot tests.
check_pkgs+=(seabios ovmf)
# ... and the media they boot, built by tests/linux/bootmedia.py: an MBR disk
# with extlinux, isolinux CDs, Debian's installer (its netboot kernel and initrd).
check_pkgs+=(fdisk extlinux isolinux syslinux-common debian-installer-12-netboot-amd64)
# ... and under UEFI: GRUB for UEFI on a GPT disk's EFI system partition and on
# the CD's El Torito EFI image, FAT images made without a mount.
check_pkgs+=(grub-efi-amd64-bin grub-common mtools dosfstools)
bench_pkgs=(qemu-system-x86 hyperfine fio iproute2 seabios fdisk extlinux isolinux syslinux-common)
slow_pkgs=(linux-image-cloud-amd64)
fuzz_pkgs=(clang libclang-rt-14-dev qemu-utils)

want=()
for t in "$@"; do
	case "$t" in
	build) want+=("${build_pkgs[@]}") ;;
	guest) want+=("${guest_pkgs[@]}") ;;
	check) want+=("${build_pkgs[@]}" "${guest_pkgs[@]}" "${check_pkgs[@]}") ;;
	bench) want+=("${bench_pkgs[@]}") ;;
	slow) want+=("${slow_pkgs[@]}") ;;
	fuzz) want+=("${fuzz_pkgs[@]}") ;;
	*) echo "deps.sh: unknown target '$t'" >&2; exit 2 ;;
	esac
done

# nodejs and npm count as present when their commands are: a node from
# elsewhere (NodeSource's nodejs bundles npm and conflicts with Debian's npm
# package) serves scripts/web-vendor.sh as well.
have() {
	case "$1" in
	nodejs) command -v node >/dev/null && return 0 ;;
	npm) command -v npm >/dev/null && return 0 ;;
	esac
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${want[@]}"; do
	have "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
