# SPDX-License-Identifier: GPL-2.0-or-later
"""Consoles, entropy, the balloon and the power button, seen from inside Linux.

The shell on ttyS0 is what every other Linux test types into; here the shell
is on hvc0 (--console virtio), virtio-rng feeds /dev/hwrng, the balloon moves
the guest's own MemTotal, and QMP system_powerdown makes the guest's acpid
power it off cleanly. A guest `reboot` and QMP system_reset boot it again.
"""
import re
import time

import pytest

from linuxvm import LinuxVM, root_overlay, READY


def meminfo_kb(vm: LinuxVM, key: str) -> int:
    out = vm.sh(f"grep '^{key}:' /proc/meminfo")
    return int(re.search(r"(\d+) kB", out).group(1))


def wait_guest(vm: LinuxVM, cond, timeout: float, what: str):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}{vm.describe()}")
        time.sleep(1)


@pytest.mark.pvm_slow  # test_virtio_console.py, test_virtio_rng.py, test_linux_balloon.py stay
def test_virtio_console_shell_rng_balloon_and_power_button(tmp_path):
    vm = LinuxVM(tmp_path, console="virtio", memory="384M",
                 disks=[f"path={root_overlay(tmp_path)},format=qcow2"],
                 extra=["--rng", "--balloon"])
    with vm:
        vm.boot()
        # The shell is on hvc0: the console device itself, and typed input answered.
        assert vm.sh("readlink /proc/self/fd/0") == "/dev/hvc0"
        assert vm.sh("echo $((6 * 7))") == "42"

        # Entropy: virtio_rng is the current hw_random source and /dev/hwrng reads.
        assert vm.sh("cat /sys/class/misc/hw_random/rng_current").startswith("virtio_rng")
        n = vm.sh("dd if=/dev/hwrng bs=64 count=4 2>/dev/null | wc -c")
        assert n == "256", n
        a = vm.sh("dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -tx1 | tr -d ' \\n'")
        b = vm.sh("dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -tx1 | tr -d ' \\n'")
        assert len(a) == 64 and a != b, (a, b)

        # Balloon: inflating lowers the guest's MemTotal by what the balloon holds;
        # deflating gives it back.
        total0 = meminfo_kb(vm, "MemTotal")
        with vm.qmp() as q:
            q.cmd("balloon", {"value": 256 << 20})
            wait_guest(vm, lambda: q.cmd("query-balloon")["actual"] <= (256 << 20) + (1 << 20),
                       240, "the balloon to inflate to 256 MiB")
            total1 = meminfo_kb(vm, "MemTotal")
            assert total1 <= total0 - 100 * 1024, (total0, total1)
            q.cmd("balloon", {"value": 384 << 20})
            wait_guest(vm, lambda: q.cmd("query-balloon")["actual"] >= (384 << 20) - (1 << 20),
                       240, "the balloon to deflate")
            total2 = meminfo_kb(vm, "MemTotal")
            assert total2 >= total0 - 1024, (total0, total2)

            # The ACPI power button: acpid runs the guest's power-off, which
            # stops its services and unmounts before the machine goes off.
            q.cmd("system_powerdown")
        assert vm.wait_exit(180) == 0, vm.describe()
        text = vm.text()
        assert "VMKIT-ACPI power button" in text, vm.describe()
        assert "VMKIT-ROOTFS-STOPPED" in text, vm.describe()


@pytest.mark.pvm_slow  # two more boots; test_linux.py::test_reset_boots_again stays
def test_guest_reboot_and_system_reset(tmp_path):
    """`reboot` in the guest and QMP system_reset each boot the guest again."""
    vm = LinuxVM(tmp_path, no_reboot=False, disks=[f"path={root_overlay(tmp_path)},format=qcow2"])
    with vm:
        vm.boot()
        first = vm.sh("cat /proc/sys/kernel/random/boot_id")
        mark = vm.mark()
        vm.type("reboot\n")
        vm.wait_for("VMKIT-ROOTFS-STOPPED", 120, since=mark)
        vm.boot()
        second = vm.sh("cat /proc/sys/kernel/random/boot_id")
        assert second != first
        with vm.qmp() as q:
            q.cmd("system_reset")
        vm.wait_for("Linux version 6.1", 120)
        vm.boot()
        assert vm.sh("cat /proc/sys/kernel/random/boot_id") not in (first, second)
        vm.type("poweroff\n")
        assert vm.wait_exit(120) == 0, vm.describe()
