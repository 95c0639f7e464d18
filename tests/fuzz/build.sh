#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the libFuzzer targets with clang, ASan and UBSan into their own
# directory (not part of the gcc build): build-fuzz/NAME-fuzz for each name in
# tests/fuzz/targets. Objects are shared between targets and rebuilt only when
# their sources or headers change (a ninja file written here, not meson: the
# fuzzers link the monitor's sources against fakes of its own files).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT"
# One build at a time (run.sh may be started twice, for targets side by side).
exec 9> "$OUT/.build.lock"
flock 9

# Sources by group. A target links its own file, the groups it names, and
# the fakes it needs (tests/fuzz/targets).
util=$(ls lib/util/*.c)
block=$(ls lib/block/*.c)
mgmt=$(ls lib/mgmt/*.c)
net=$(ls lib/net/*.c)
sandbox=$(ls lib/sandbox/*.c)
vmm=$(ls vmm/*/*.c vmm/arch/x86/*.c | sort -u)
cli="cli/run-resources.c cli/run-net.c cli/run-display.c cli/run-firmware.c cli/run-media.c cli/run-incoming.c"
serve=$(ls serve/*.c | grep -v '/main.c$')
virtio="vmm/virtio/queue.c vmm/virtio/core.c vmm/core/memory.c vmm/core/evloop.c \
	vmm/core/iothread.c vmm/core/sandbox.c tests/fuzz/fake-vm.c tests/fuzz/fake-driver.c"
virtio="$virtio vmm/virtio/state.c"	# the devices' save/restore (issue 15)
virtio="$virtio vmm/core/dirty.c"	# memory.c marks what devices write, for live migration

obj() { local s; for s in "$@"; do printf ' $o/%s.o' "${s%.c}"; done; }

{
	cat <<-NINJA
	builddir = $OUT
	o = $OUT/obj
	cc = $CC
	san = -fsanitize=address,undefined -fno-sanitize-recover=undefined
	cflags = -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -I. -I/usr/include/json-c \$san \$
	    -DVMKIT_VERSION='"fuzz"' -DVMKIT_WEBDIR='"/nonexistent"' \$
	    -fsanitize=fuzzer-no-link -fno-omit-frame-pointer -Wall -Wno-unused-parameter
	rule cc
	  command = \$cc -MD -MF \$out.d \$cflags -c \$in -o \$out
	  depfile = \$out.d
	  deps = gcc
	  description = CC \$in
	rule ar
	  command = rm -f \$out && ar crs \$out \$in
	  description = AR \$out
	rule link
	  command = \$cc \$san -fsanitize=fuzzer \$in \$libs -o \$out
	  description = LINK \$out
	NINJA
	for s in $util $block $mgmt $net $sandbox $vmm $cli $serve tests/fuzz/*.c; do
		echo "build \$o/${s%.c}.o: cc $s"
	done
	# The x87 instructions' stubs (assembly; the emulator runs them).
	echo "build \$o/vmm/arch/x86/x87-stubs.o: cc vmm/arch/x86/x87-stubs.S"
	echo "build \$o/libutil.a: ar$(obj $util)"
	echo "build \$o/libblock.a: ar$(obj $block)"
	echo "build \$o/libmgmt.a: ar$(obj $mgmt)"
	echo "build \$o/libnet.a: ar$(obj $net)"
	echo "build \$o/libsandbox.a: ar$(obj $sandbox)"
	echo "build \$o/libvmm.a: ar$(obj $vmm) \$o/vmm/arch/x86/x87-stubs.o"
	libs='$o/libutil.a'
	sys='-lz -lzstd -lpthread'
	vmmlibs='$o/libvmm.a $o/libnet.a $o/libblock.a $o/libmgmt.a $o/libsandbox.a $o/libutil.a'
	vmmsys="-luring -laio -ljson-c -lseccomp -lpng -lssl -lcrypto $sys"
	# name: objects, archives, system libraries
	link() { printf 'build %s/%s-fuzz: link%s %s\n  libs = %s\n' "$OUT" "$1" "$2" "$3" "$4"; }
	link qcow2 "$(obj tests/fuzz/fuzz-image.c tests/fuzz/qcow2-fuzz.c)" "\$o/libblock.a $libs" "$sys"
	link qcow2rw "$(obj tests/fuzz/qcow2rw-fuzz.c)" "\$o/libblock.a $libs" "$sys"
	link vmdk "$(obj tests/fuzz/fuzz-image.c tests/fuzz/vmdk-fuzz.c)" "\$o/libblock.a $libs" "$sys"
	for f in vpc vdi vhdx; do
		link "$f" "$(obj tests/fuzz/fuzz-image.c tests/fuzz/$f-fuzz.c)" "\$o/libblock.a $libs" "$sys"
	done
	link names "$(obj tests/fuzz/names-fuzz.c)" "\$o/libblock.a $libs" "$sys"
	link savestate "$(obj tests/fuzz/savestate-fuzz.c)" "$libs" "$sys"
	link virtq "$(obj vmm/virtio/queue.c tests/fuzz/virtq-fuzz.c)" "" ""
	for d in blk rng console balloon net; do
		link "$d" "$(obj $virtio vmm/virtio/$d.c tests/fuzz/$d-fuzz.c)" "\$o/libsandbox.a $libs" \
			"-lseccomp -lpthread -lz"
	done
	# tablet: virtio-input with its tablet model and the input router (issue 13).
	link tablet "$(obj $virtio vmm/virtio/input.c vmm/virtio/tablet.c vmm/input/input.c \
		tests/fuzz/tablet-fuzz.c)" "\$o/libsandbox.a $libs" "-lseccomp -lpthread -lz"
	# virtio-scsi and the SCSI target emulation behind it (issue 12).
	scsi=$(ls vmm/scsi/*.c)
	link scsi "$(obj $virtio $scsi vmm/virtio/scsi.c vmm/block/format.c tests/fuzz/fake-blk.c tests/fuzz/scsi-fuzz.c)" \
		"\$o/libsandbox.a \$o/libblock.a $libs" "-lseccomp -lpthread $sys"
	link ahci "$(obj $virtio $scsi vmm/hw/ahci.c vmm/hw/ahci-ata.c vmm/hw/pci.c vmm/hw/pci-dev.c \
		vmm/core/bus.c vmm/block/format.c tests/fuzz/fake-blk.c tests/fuzz/ahci-fuzz.c)" \
		"\$o/libsandbox.a \$o/libblock.a $libs" "-lseccomp -lpthread $sys"
	link x86 "$(obj vmm/arch/x86/emulate.c tests/fuzz/x86-fuzz.c) \$o/vmm/arch/x86/x87-stubs.o" "" ""
	link qmp "$(obj tests/fuzz/qmp-fuzz.c)" "$vmmlibs" "$vmmsys"
	link i8042 "$(obj tests/fuzz/i8042-fuzz.c)" "$vmmlibs" "$vmmsys"
	# fwcfg: fw_cfg's ports and DMA and the PAM registers, on the monitor's own objects (issue 12).
	link fwcfg "$(obj tests/fuzz/fwcfg-fuzz.c)" "$vmmlibs" "$vmmsys"
	# q35: the MCH, ECAM and the ICH9 LPC through config cycles and ports (issue 12).
	link q35 "$(obj tests/fuzz/q35-fuzz.c)" "$vmmlibs" "$vmmsys"
	link config "$(obj tests/fuzz/config-fuzz.c)" "\$o/libmgmt.a \$o/libsandbox.a \$o/libnet.a \$o/libblock.a $libs" "-ljson-c -lpthread $sys"
	link runopts "$(obj tests/fuzz/runopts-fuzz.c $cli)" "$vmmlibs" "$vmmsys"
	# devstate: the devices' state loads (issue 15), on the monitor's own objects.
	link devstate "$(obj tests/fuzz/devstate-fuzz.c)" "$vmmlibs" "$vmmsys"
	# migrate: live migration's receiving end (issue 15), on the monitor's own objects.
	link migrate "$(obj tests/fuzz/migrate-fuzz.c)" "$vmmlibs" "$vmmsys"
	# vga: the adapter with the PCI host bridge and the display, from the monitor's archive.
	link vga "$(obj tests/fuzz/vga-fuzz.c)" "$vmmlibs" "$vmmsys"
	# serve: the server's parsers, linked with all of serve/ but main.c (the
	# route table names every handler), against the shared libraries it uses.
	link serve "$(obj $serve tests/fuzz/serve-fuzz.c)" "\$o/libmgmt.a \$o/libsandbox.a \$o/libblock.a \$o/libnet.a $libs" \
		"-lwebsockets -lssl -lcrypto -lpam -luring -laio -ljson-c $sys"
} > "$OUT/build.ninja.new"
mv "$OUT/build.ninja.new" "$OUT/build.ninja"
ninja -f "$OUT/build.ninja" > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
