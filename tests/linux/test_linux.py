# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot the minimal Linux guest (build/guest, from Debian's linux-source) under vmkit.

What a boot shows is read from the kernel's own log on the serial console (the
CPUs it brought up, the memory it found in the e820 map, the date it read from
the CMOS RTC) and from the initramfs's /init, which reports what user space sees
(VMKIT-INFO cpus=...) and powers off. On PVM hosts (kvm_pvm) that user space
runs only because of the guest kernel's patch for the host's unfinished
`syscall` (guest/patches, README "PVM hosts"). The tests that boot from the
root disk and use the devices through Linux are in test_linux_*.py.
"""
import os
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from vmkit_harness import BUILD_DIR, require_host_cpus, require_vmkit, run_vmkit  # noqa: E402

GUEST = BUILD_DIR / "guest"
BOOT_TIMEOUT = 240.0


def guest_file(name: str) -> Path:
    p = GUEST / name
    if not p.is_file():
        pytest.fail(f"{p} is missing: build the Linux guest first (make guest)")
    return p


def boot(kernel: str, cpus: int, memory: str, *, no_reboot=True, initrd=True,
         action="info", stop_when=None):
    require_vmkit()
    args = ["--cmdline", f"console=ttyS0 panic=-1 vmkit.action={action}"]
    if initrd:
        args += ["--initrd", str(guest_file("initramfs.cpio"))]
    start = time.time()
    r = run_vmkit(guest_file(kernel), cpus=cpus, memory=memory, no_reboot=no_reboot,
                  extra_args=args, timeout=BOOT_TIMEOUT, stop_when=stop_when)
    return r, start, time.time()


def kernel_facts(r):
    out = r.stdout
    facts = {}
    m = re.search(r"Brought up \d+ nodes?, (\d+) CPUs?", out)
    if m:
        facts["cpus"] = int(m.group(1))
    m = re.search(r"Memory: \d+K/(\d+)K available", out)
    if m:
        facts["mem_kb"] = int(m.group(1))
    m = re.search(r"setting system clock to \S+ UTC \((\d+)\)", out)
    if m:
        facts["rtc_epoch"] = int(m.group(1))
    return facts


def check_boot(r, start, end, cpus, mem_mib):
    assert r.returncode == 0, "poweroff must exit 0" + r.describe()
    assert "Linux version 6.1" in r.stdout, r.describe()
    assert "Run /init as init process" in r.stdout, r.describe()
    # The host bridge, found through the DSDT's PCI0 and config mechanism 1.
    assert "pci 0000:00:00.0: [8086:0d57] type 00 class 0x060000" in r.stdout, r.describe()
    facts = kernel_facts(r)
    assert facts.get("cpus") == cpus, f"{facts}{r.describe()}"
    total = mem_mib * 1024
    assert total - 2048 <= facts.get("mem_kb", 0) <= total, f"{facts}{r.describe()}"
    # The RTC is read once during the boot: the host's UTC time at that moment.
    assert start - 5 <= facts.get("rtc_epoch", 0) <= end + 5, f"{facts}{r.describe()}"
    # User space ran: /init's report, then its poweroff (exit 0, not a panic).
    assert r.info.get("cpus") == str(cpus), r.describe()
    assert total * 9 // 10 <= int(r.info.get("mem_kb", 0)) <= total, r.describe()  # MemTotal
    assert "VMKIT-INIT-POWEROFF" in r.stdout, r.describe()
    assert "Kernel panic" not in r.stdout, r.describe()


@pytest.mark.pvm_slow  # two_cpus below checks the same, and every LinuxVM test boots vmlinux
def test_pvh_vmlinux_one_cpu():
    r, start, end = boot("vmlinux", 1, "256M")
    check_boot(r, start, end, 1, 256)


def test_pvh_vmlinux_two_cpus():
    require_host_cpus(2)
    r, start, end = boot("vmlinux", 2, "384M")
    check_boot(r, start, end, 2, 384)


def test_bzimage():
    """vmkit's bzImage loader (LinuxVM boots the PVH vmlinux; the boot loaders' tests load
    this bzImage themselves, and the VGA console test boots it for vgacon's screen_info)."""
    r, start, end = boot("kernel", 1, "256M")
    check_boot(r, start, end, 1, 256)


def test_reset_boots_again():
    """Without --no-reboot a guest reset boots the kernel again."""
    def two_boots(out: str) -> bool:
        return out.count("Linux version 6.1") >= 2 and "Kernel command line" in out.split(
            "Linux version 6.1")[-1]

    # No initrd: the kernel panics at once for want of a root fs, and panic=-1 resets.
    r, _, _ = boot("vmlinux", 1, "128M", no_reboot=False, initrd=False, stop_when=two_boots)
    assert r.stopped, "expected a second boot" + r.describe()
    assert "VFS: Unable to mount root fs" in r.stdout, r.describe()


def test_no_reboot_exits_zero_on_reset():
    r, _, _ = boot("vmlinux", 1, "128M", no_reboot=True, initrd=False)
    assert r.returncode == 0, r.describe()
    assert r.stdout.count("Linux version 6.1") == 1, r.describe()
