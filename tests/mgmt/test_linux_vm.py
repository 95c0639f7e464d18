# SPDX-License-Identifier: GPL-2.0-or-later
"""A Linux VM managed end to end, as a user of virsh or qm would:

a pool, the root disk uploaded as a volume, `vmkit create` with it and user
networking, `start`, a shell through `vmkit console` (typed commands
answered, a DHCP lease), `shutdown` (the guest's acpid powers it off),
`start` again with the data still there.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linux"))
from linuxvm import LinuxVM, guest_file  # noqa: E402

import vmkit_harness as h  # noqa: E402


def console(vk, name: str, tmp: Path) -> LinuxVM:
    """`vmkit console NAME`, typed into as LinuxVM types into a monitor's stdio."""
    c = LinuxVM(tmp)
    c.argv = [str(h.VMKIT), "console", name]
    c.start(env=vk.env)
    c.wait_prompt()
    return c


def test_create_start_console_shutdown_start(vk, kvm, tmp_path):
    n = vk.name("linux")
    pool = tmp_path / "pool"
    pool.mkdir()
    vk("pool", "define", "p", "--type", "dir", "--path", str(pool))
    vk("vol", "create", "p", "root", "96M", "--format", "raw")
    vk("vol", "upload", "p:root", str(guest_file("rootfs.ext4")))
    vk("create", "--name", n, "--kernel", str(guest_file("vmlinux")), "--memory", "256M",
       "--cmdline", "console=ttyS0 root=/dev/vda rw", "--disk", "p:root", "--net", "virtio,user")
    vk("start", n, timeout=60)
    c = console(vk, n, tmp_path)
    try:
        assert c.sh("echo $((40 + 2))") == "42"
        out = c.sh("udhcpc -i eth0 -n -q -t 10 -T 2 2>&1", timeout=120)
        assert "VMKIT-DHCP eth0 10.0.2.15/24" in out, out
        c.sh("echo kept-across-boots > /root/data && sync")
    finally:
        c.close()
    # The ACPI power button; acpid in the guest powers it off cleanly.
    vk("shutdown", n, "--timeout", "240", timeout=260)
    assert vk.state(n) == "shut off"

    vk("start", n, timeout=60)
    c = console(vk, n, tmp_path)
    try:
        assert c.sh("cat /root/data") == "kept-across-boots"
        # The file system was unmounted cleanly at the shutdown: no recovery needed.
        dmesg = c.sh("dmesg | grep -i 'EXT4-fs (vda)'")
        assert "recovery complete" not in dmesg, dmesg
    finally:
        c.close()
    vk("shutdown", n, "--timeout", "240", timeout=260)
    assert vk.state(n) == "shut off"
