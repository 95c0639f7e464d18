# SPDX-License-Identifier: GPL-2.0-or-later
"""The Linux guest's own virtio-blk driver on vmkit's virtio-pci disks.

What is checked is what the kernel reports: the PCI functions it enumerated,
each disk's size, and the partition table it read through the virtqueue
(MSI-X interrupts and all). Writing from the guest needs its user space, which
PVM hosts cannot run (see README); the tiny guests in tests/guest test writes.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from vmkit_harness import BUILD_DIR, require_host_cpus, require_vmkit, run_vmkit  # noqa: E402


def mbr(parts):
    """A DOS partition table: (first sector, sectors) per primary partition, type 0x83."""
    sector = bytearray(512)
    for i, (start, count) in enumerate(parts):
        e = 0x1BE + 16 * i
        sector[e + 4] = 0x83
        sector[e + 8:e + 12] = start.to_bytes(4, "little")
        sector[e + 12:e + 16] = count.to_bytes(4, "little")
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def make_disk(path: Path, mib: int, partitioned: bool):
    with open(path, "wb") as f:
        f.truncate(mib << 20)
        if partitioned:
            total = (mib << 20) // 512
            f.write(mbr([(2048, 32768), (34816, total - 34816)]))


def test_two_disks_found_and_partitions_read(tmp_path):
    require_vmkit()
    kernel = BUILD_DIR / "guest" / "vmlinux"
    if not kernel.is_file():
        pytest.fail(f"{kernel} is missing: make guest")
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    make_disk(a, 64, True)
    make_disk(b, 32, False)
    # No initrd: the kernel probes its devices, then panics for want of a root fs
    # and panic=-1 resets, which with --no-reboot exits.
    r = run_vmkit(kernel, memory="256M", no_reboot=True, timeout=240,
                  extra_args=["--cmdline", "console=ttyS0 panic=-1",
                              "--disk", f"path={a},serial=disk-a",
                              "--disk", f"path={b},readonly=on,cache=writeback"])
    assert r.returncode == 0, r.describe()
    out = r.stdout
    assert "pci 0000:00:01.0: [1af4:1042] type 00 class 0x018000" in out, r.describe()
    assert "pci 0000:00:02.0: [1af4:1042] type 00 class 0x018000" in out, r.describe()
    assert "[vda] 131072 512-byte logical blocks" in out, r.describe()
    assert "[vdb] 65536 512-byte logical blocks" in out, r.describe()
    # The MBR was read through the virtqueue: both partitions are known.
    assert " vda: vda1 vda2" in out, r.describe()


@pytest.mark.parametrize("opts", ["aio=native,cache=none,iothread=on,num-queues=2",
                                  pytest.param("aio=threads,cache=writeback,queue-size=1024,num-queues=2",
                                               marks=pytest.mark.pvm_slow)])
def test_engines_and_queues(tmp_path, opts):
    """Linux's driver on the other engines, an iothread and two queues (VIRTIO_BLK_F_MQ)."""
    require_vmkit()
    require_host_cpus(2)
    kernel = BUILD_DIR / "guest" / "vmlinux"
    if not kernel.is_file():
        pytest.fail(f"{kernel} is missing: make guest")
    a = tmp_path / "a.img"
    make_disk(a, 64, True)
    r = run_vmkit(kernel, memory="256M", cpus=2, no_reboot=True, timeout=240,
                  extra_args=["--cmdline", "console=ttyS0 panic=-1",
                              "--disk", f"path={a},serial=disk-a,{opts}"])
    assert r.returncode == 0, r.describe()
    out = r.stdout
    assert "virtio_blk virtio0: 2/0/0 default/read/poll queues" in out, r.describe()
    assert "[vda] 131072 512-byte logical blocks" in out, r.describe()
    assert " vda: vda1 vda2" in out, r.describe()


@pytest.mark.pvm_slow  # tests/guest/test_virtio_intx.py routes INTx in make check
def test_intx_with_pci_nomsi(tmp_path):
    """pci=nomsi: Linux routes INTA through the DSDT's _PRT, and the partition table
    it reads through the virtqueue completes on that interrupt."""
    require_vmkit()
    kernel = BUILD_DIR / "guest" / "vmlinux"
    if not kernel.is_file():
        pytest.fail(f"{kernel} is missing: make guest")
    a = tmp_path / "a.img"
    make_disk(a, 64, True)
    r = run_vmkit(kernel, memory="256M", no_reboot=True, timeout=240,
                  extra_args=["--cmdline", "console=ttyS0 panic=-1 pci=nomsi",
                              "--disk", f"path={a}"])
    assert r.returncode == 0, r.describe()
    out = r.stdout
    assert "PCI: Using ACPI for IRQ routing" in out, r.describe()
    assert "[vda] 131072 512-byte logical blocks" in out, r.describe()
    assert " vda: vda1 vda2" in out, r.describe()
    assert "nobody cared" not in out and "No irq handler" not in out, r.describe()
