# SPDX-License-Identifier: GPL-2.0-or-later
"""Linux on the Q35 machine (--machine q35), booted directly (issue 12).

Linux finds the MCH (8086:29c0) and the ICH9 LPC (8086:2918) on bus 0, takes
ECAM from the MCFG table (reserved in e820, so it is used), reads the host
bridge's 4 KiB config space through it, negotiates _OSC on the PNP0A08
root, and uses the ACPI PM timer the FADT names. Needs /dev/kvm (runs in
make check's kvm-smoke stage on hosts without one).
"""
from linuxvm import LinuxVM, require_vmkit, root_overlay


def test_linux_direct_boot_on_q35(tmp_path):
    require_vmkit()
    vm = LinuxVM(tmp_path, disks=[f"path={root_overlay(tmp_path)},format=qcow2"],
                 extra=["--machine", "q35", "--rng"])
    with vm:
        vm.boot()
        dev = "/sys/bus/pci/devices/0000:00"
        assert vm.sh(f"cat {dev}:00.0/vendor {dev}:00.0/device") == "0x8086\n0x29c0"
        assert vm.sh(f"cat {dev}:1f.0/device {dev}:1f.0/class") == "0x2918\n0x060100"
        # ECAM in use: the host bridge's extended config space is readable (Linux
        # sizes it 4 KiB only when a read at 0x100 through ECAM answers; through
        # CF8/CFC it would be 256), and the MCFG window named in the log. The
        # virtio functions on bus 0 are conventional PCI, 256 bytes, as QEMU's
        # on pcie.0 are.
        assert vm.sh(f"wc -c < {dev}:00.0/config") == "4096"
        assert vm.sh(f"wc -c < {dev}:01.0/config") == "256"
        log = vm.sh("dmesg | grep -i -e mmconfig -e ecam -e _OSC -e acpi_pm")
        assert "0xb0000000" in log.lower() or "b0000000" in log.lower(), log
        assert "acpi_pm" in log, log
        # The disk, the RNG and INTx/MSI-X still work on the new bus.
        assert vm.sh("cat /sys/class/misc/hw_random/rng_current").startswith("virtio_rng")
        assert vm.sh("echo $((6 * 7))") == "42"
