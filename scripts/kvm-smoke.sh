#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make check's guarantee that the monitor ran on a real KVM, also on a host
# without /dev/kvm (this project's CI machine has none): where /dev/kvm is
# missing, a part of the guest suite runs on the KVM of a Linux kernel under
# QEMU's emulation (scripts/kvm-under-tcg.sh), with VMKIT_REQUIRE_KVM=1 so
# that nothing there passes by skipping. Where /dev/kvm exists, make check's
# own pytest run has started every VM already and this does nothing.
#
# The part: the tiny guests (boot, exits, devices on the legacy buses), virtio-blk
# through the guest's own requests, QMP, and the sandbox (seccomp on every
# thread kind, --runas), save/restore, the q35 machine; then the Linux guest's
# tests (tests/linux, SeaBIOS booting disks and CDs among them). Some minutes.
# Not in it: test_emulated_instructions (TCG's ldmxcsr does not raise #GP for
# reserved bits, as hardware does) and OVMF (test_ovmf_on_q35: QEMU's TCG
# aborts under it, see kvm-under-tcg.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -c /dev/kvm ] && [ -z "${VMKIT_SMOKE_FORCE:-}" ]; then
	echo "kvm-smoke: /dev/kvm is here: the guest tests ran on it already"
	exit 0
fi
PYTEST=${PYTEST:-/usr/bin/python3 -m pytest}
tests="tests/guest/test_tiny.py tests/guest/test_virtio_blk.py tests/guest/test_qmp.py tests/guest/test_sandbox.py"
# Save and restore of a running guest (issue 15); the q35 machine under SeaBIOS.
tests="$tests tests/guest/test_savestate.py tests/guest/test_q35.py"
echo "kvm-smoke: no /dev/kvm here: $tests on a KVM under QEMU's emulation"
scripts/kvm-under-tcg.sh -t "${VMKIT_SMOKE_SECS:-1500}" \
	"VMKIT_REQUIRE_KVM=1 $PYTEST -q -rs -p no:cacheprovider $tests \
	 --deselect tests/guest/test_tiny.py::test_emulated_instructions \
	 --deselect tests/guest/test_qmp.py::test_guest_reset_event \
	 --deselect tests/guest/test_q35.py::test_ovmf_on_q35"

# The Linux guest, from its root disk, through its own drivers and shell. On
# a one-CPU emulated machine: with two, its kernel hangs now and then whatever
# the monitor (kvm-under-tcg.sh's -c); the tests that want two vCPUs skip.
# With it, what SeaBIOS and isolinux draw on the VGA (OCR, VNC). Not here:
# test_guest_image, which runs QEMU's TCG for itself (far too slow under TCG
# again).
echo "kvm-smoke: tests/linux on a one-CPU KVM under QEMU's emulation"
exec scripts/kvm-under-tcg.sh -c 1 -t "${VMKIT_SMOKE_SECS:-1500}" \
	"VMKIT_REQUIRE_KVM=1 $PYTEST -q -rs -p no:cacheprovider tests/linux \
	 tests/display/test_firmware_screen.py \
	 --deselect tests/linux/test_guest_image.py"
