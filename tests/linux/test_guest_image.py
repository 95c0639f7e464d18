# SPDX-License-Identifier: GPL-2.0-or-later
"""The test guest itself (kernel, root disk), checked without /dev/kvm.

Every Linux-level vmkit test stands on build/guest: the kernel built from
Debian's source with guest/kernel.config and guest/patches, and the root
disk scripts/guest-rootfs.sh makes. This boots that pair under Debian's QEMU
with software emulation (TCG), so a broken guest image shows here as what it
is, on any host, rather than as every vmkit test failing on a KVM host (or
passing unseen on a host without KVM, where they skip). It tests the guest,
not vmkit: the vmkit tests are the test_linux_*.py beside it.
"""
import re
import shutil
import subprocess

import pytest

from linuxvm import LinuxVM, guest_file, root_overlay


def entry_syscall_64() -> str:
    """The address of the kernel's SYSCALL entry, from vmlinux's symbol table."""
    out = subprocess.run(["nm", str(guest_file("vmlinux"))], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"^([0-9a-f]+) T entry_SYSCALL_64$", out, re.M)
    assert m, "no entry_SYSCALL_64 in build/guest/vmlinux"
    return m.group(1)


def test_guest_image_boots_and_its_tools_work_under_tcg(tmp_path):
    if not shutil.which("qemu-system-x86_64"):
        pytest.fail("qemu-system-x86_64 missing: scripts/deps.sh check installs qemu-system-x86")
    data = tmp_path / "data.raw"
    with open(data, "wb") as f:
        f.truncate(64 << 20)
    vm = LinuxVM(tmp_path, monitor="qemu-tcg", cpus=2, extra=["--rng", "--balloon"],
                 disks=[f"path={root_overlay(tmp_path)},format=qcow2",
                        f"path={data},format=raw"], nets=["user"])
    with vm:
        vm.boot()
        assert vm.sh("cat /proc/cmdline").startswith("console=ttyS0 root=/dev/vda rw")
        assert re.search(r"^/dev/root / ext4 rw", vm.sh("cat /proc/mounts"), re.M)
        assert vm.sh("grep -c ^processor /proc/cpuinfo") == "2"
        # The tools the vmkit tests use: Debian's mkfs.ext4 and e2fsck, busybox's
        # udhcpc (with the rootfs's hook), acpid, the entropy and balloon drivers.
        vm.sh("mkfs.ext4 -q -F /dev/vdb && e2fsck -fn /dev/vdb >/dev/null", timeout=300)
        out = vm.sh("udhcpc -i eth0 -n -q -t 10 -T 2 2>&1", timeout=120)
        assert "VMKIT-DHCP eth0 10.0.2.15/24 router=10.0.2.2" in out, out
        assert vm.sh("cat /sys/class/misc/hw_random/rng_current").startswith("virtio_rng")
        assert vm.sh("ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio") == "1"
        assert "VMKIT-BENCH syscall n=100" in vm.sh("vmkit-sysbench syscall 100")
        assert vm.sh("pidof acpid") != ""
        # The guest kernel patch (guest/patches/0001): a system call entered the
        # way a PVM host leaves SYSCALL (RAX/RCX/R11 set, then a user-mode fetch
        # at entry_SYSCALL_64) is completed, here on any CPU.
        out = vm.sh(f"vmkit-sysbench pvm-entry 1000 {entry_syscall_64()}")
        assert "VMKIT-PVM-ENTRY write ok" in out and "VMKIT-BENCH pvm-entry n=1000" in out, out
        with vm.qmp() as q:
            q.cmd("system_powerdown")
        assert vm.wait_exit(120) == 0, vm.describe()
        assert "VMKIT-ROOTFS-STOPPED" in vm.text(), vm.describe()
