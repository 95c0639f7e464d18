# Sourced by the guest image scripts (guest-initramfs.sh, guest-rootfs.sh):
# Debian's static busybox and a tree of its applets. Needs die() and $busybox.

# Refuse a busybox that is not the static one: the guest has no libraries for it.
busybox_check() {
	[ -x "$busybox" ] || die "missing $busybox (install busybox-static: scripts/deps.sh guest)"
	file -L "$busybox" | grep -q 'statically linked' ||
		die "$busybox is not statically linked (install busybox-static, not busybox)"
}

# busybox_install: /bin/busybox in the current directory and a symlink for each
# applet, the same links as `busybox --install -s`, made without running it in
# a chroot.
busybox_install() {
	mkdir -p bin
	cp "$busybox" bin/busybox
	chmod 0755 bin/busybox
	"$busybox" --list-full | LC_ALL=C sort | while IFS= read -r applet; do
		case "$applet" in
		linuxrc | bin/busybox) continue ;;
		esac
		mkdir -p "$(dirname "$applet")"
		[ -e "$applet" ] || ln -s /bin/busybox "$applet"
	done
	[ -L bin/sh ] || die "busybox has no sh applet"
}
