# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit backup / restore-backup (issue 15), as Proxmox's vzdump and qmrestore.

A shut-off VM's disks are read by vmkit itself: those tests need no /dev/kvm.
Data is written into the disk with Debian's qemu-io, which also marks the
image's persistent dirty bitmap as QEMU does, so the incremental backup is
checked against QEMU's idea of what changed, and the restored disks are
compared with Debian's qemu-img. A running VM's backup is in
test_backup_of_a_running_vm (the guest writes throughout).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vmkit_harness as h

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
import test_backup as tb  # noqa: E402  (the point-in-time check of tests/guest)

MiB = 1 << 20


def qemu(tool):
    p = shutil.which(tool)
    if not p:
        pytest.skip(f"Debian's {tool} is needed")
    return p


def qemu_io(image, *cmds):
    args = [qemu("qemu-io"), "-f", "qcow2"]
    for c in cmds:
        args += ["-c", c]
    subprocess.run(args + [str(image)], check=True, capture_output=True)


def same(a, b):
    r = subprocess.run([qemu("qemu-img"), "compare", str(a), str(b)], capture_output=True,
                       text=True)
    return r.returncode == 0, r.stdout + r.stderr


def backups(d: Path):
    return sorted(p for p in d.iterdir() if p.name.startswith("vzdump-vmkit-"))


def vm_with_disk(vk, size="64M"):
    n = vk.name()
    vk("vol", "create", "local", f"{n}.qcow2", size)
    vk("create", "--name", n, "--kernel", str(h.guest("hello")), "--memory", "64",
       "--disk", f"local:{n}.qcow2,cache=none")
    return n, vk.home / "images" / f"{n}.qcow2"


def test_full_and_incremental_of_a_shut_off_vm(vk, tmp_path):
    n, disk = vm_with_disk(vk)
    qemu_io(disk, "write -P 0x11 0 8M", "write -P 0x22 40M 1M")
    out = tmp_path / "dump"
    out.mkdir()
    r = vk("backup", n, str(out))
    assert "backed up to" in r.stdout, r.stdout
    (full,) = backups(out)
    idx = json.loads((full / "index.json").read_text())
    assert idx["mode"] == "full" and idx["vm"] == n and idx["compress"] == "zstd", idx
    assert (full / "vm.conf").read_text() == vk.config(n)
    ok, why = same(full / "drive-virtio0.qcow2", disk)
    assert ok, why
    # The disk's bitmap starts over: QEMU marks what it writes from now on.
    info = json.loads(subprocess.run([qemu("qemu-img"), "info", "--output=json", str(disk)],
                                     capture_output=True, text=True, check=True).stdout)
    assert [b["name"] for b in info["format-specific"]["data"]["bitmaps"]] == ["vmkit-backup"]
    qemu_io(disk, "write -P 0x33 4M 1M", "write -z 40M 1M")
    time.sleep(1.1)     # a new second: a new directory name
    vk("backup", n, str(out))
    inc = backups(out)[-1]
    idx = json.loads((inc / "index.json").read_text())
    assert idx["mode"] == "incremental" and idx["parent"] == full.name, idx
    # Only the 2 MiB QEMU wrote were copied: the incremental image is small.
    size = (inc / "drive-virtio0.qcow2").stat().st_size
    assert size < 1 * MiB, size
    ok, why = same(inc / "drive-virtio0.qcow2", disk)   # read through the full one
    assert ok, why
    # Nothing changed: the next one copies nothing.
    time.sleep(1.1)
    vk("backup", n, str(out))
    ok, why = same(backups(out)[-1] / "drive-virtio0.qcow2", disk)
    assert ok, why
    # --mode full ignores the chain.
    time.sleep(1.1)
    vk("backup", n, str(out), "--mode", "full", "--compress", "0")
    idx = json.loads((backups(out)[-1] / "index.json").read_text())
    assert idx["mode"] == "full" and idx["compress"] == "none", idx
    assert not list(out.glob(".*")), "a temporary directory was left"
    # Into a pool: its dump/ directory, as Proxmox's storage keeps backups; not a volume.
    r = vk("backup", n, "local")
    assert str(vk.home / "images" / "dump" / "vzdump-vmkit-") in r.stdout, r.stdout
    assert "dump" not in vk("vol", "list", "local").stdout

    # Restored under a new name, from the newest incremental: the disk as it was.
    r = vk("restore-backup", str(inc), "back")
    assert "VM back restored" in r.stdout, r.stdout
    conf = vk.config("back")
    assert "local:back-virtio0.qcow2" in conf and "cache=none" in conf, conf
    ok, why = same(vk.home / "images" / "back-virtio0.qcow2", inc / "drive-virtio0.qcow2")
    assert ok, why
    r = vk("restore-backup", str(inc), "back", check=False)
    assert r.returncode != 0 and "VM 'back' already exists" in r.stderr, r.stderr
    r = vk("restore-backup", str(full), check=False)
    assert r.returncode != 0 and f"VM '{n}' already exists" in r.stderr, r.stderr


def test_incremental_needs_a_chain(vk, tmp_path):
    n, disk = vm_with_disk(vk, "16M")
    out = tmp_path / "dump"
    out.mkdir()
    r = vk("backup", n, str(out), "--mode", "incremental", check=False)
    assert r.returncode != 0 and "no incremental backup" in r.stderr \
        and "no earlier backup" in r.stderr, r.stderr
    vk("backup", n, str(out))
    # The bitmap gone (another tool removed it): auto falls back to a full backup.
    subprocess.run([qemu("qemu-img"), "bitmap", "--remove", str(disk), "vmkit-backup"],
                   check=True)
    time.sleep(1.1)
    vk("backup", n, str(out))
    idx = json.loads((backups(out)[-1] / "index.json").read_text())
    assert idx["mode"] == "full", idx
    # Another directory: no parent there, so a full one.
    other = tmp_path / "other"
    other.mkdir()
    vk("backup", n, str(other))
    assert json.loads((backups(other)[0] / "index.json").read_text())["mode"] == "full"


def test_bad_backup_and_restore_input(vk, tmp_path):
    r = vk("backup", "ghost", str(tmp_path), check=False)
    assert r.returncode != 0 and "ghost" in r.stderr, r.stderr
    n, disk = vm_with_disk(vk, "16M")
    r = vk("backup", n, str(tmp_path / "nowhere"), check=False)
    assert r.returncode != 0 and "nowhere: No such file" in r.stderr, r.stderr
    r = vk("backup", n, "nopool", check=False)
    assert r.returncode != 0 and "nopool: neither a directory nor a storage pool" in r.stderr, \
        r.stderr
    r = vk("backup", n, str(tmp_path), "--bwlimit", "fast", check=False)
    assert r.returncode == 2 and "--bwlimit is KiB/s" in r.stderr, r.stderr
    r = vk("backup", n, str(tmp_path), "--mode", "sometimes", check=False)
    assert r.returncode == 2 and "--mode is auto, full or incremental" in r.stderr, r.stderr
    r = vk("restore-backup", str(tmp_path), check=False)
    assert r.returncode != 0 and "vm.conf" in r.stderr, r.stderr

    out = tmp_path / "dump"
    out.mkdir()
    vk("backup", n, str(out))
    (good,) = backups(out)
    vk("delete", n)

    def variant(name):
        d = tmp_path / name
        shutil.copytree(good, d)
        return d

    # An index that is not one.
    d = variant("badindex")
    (d / "index.json").write_text("{\"format\": \"tar\"}")
    r = vk("restore-backup", str(d), check=False)
    assert r.returncode != 0 and "not a vmkit backup" in r.stderr, r.stderr
    # A disk image that names a file outside the backups as its backing file.
    d = variant("hostile")
    secret = tmp_path / "secret"
    secret.write_bytes(b"S" * 65536)
    subprocess.run([qemu("qemu-img"), "rebase", "-u", "-f", "qcow2", "-F", "raw", "-b",
                    str(secret), str(d / "drive-virtio0.qcow2")], check=True)
    r = vk("restore-backup", str(d), check=False)
    assert r.returncode != 0 and "is not this disk in another backup" in r.stderr, r.stderr
    d2 = variant("hostile2")
    subprocess.run([qemu("qemu-img"), "rebase", "-u", "-f", "qcow2", "-F", "qcow2", "-b",
                    "../../x/drive-virtio0.qcow2", str(d2 / "drive-virtio0.qcow2")], check=True)
    r = vk("restore-backup", str(d2), check=False)
    assert r.returncode != 0 and "is not this disk in another backup" in r.stderr, r.stderr
    # A disk the definition has and the backup lacks.
    d = variant("nodisk")
    (d / "drive-virtio0.qcow2").unlink()
    r = vk("restore-backup", str(d), check=False)
    assert r.returncode != 0 and "drive-virtio0.qcow2" in r.stderr, r.stderr
    # None of that defined a VM or left a volume.
    assert vk("list", "--all").stdout.count("\n") <= 1
    assert not list((vk.home / "images").glob("*-virtio0.qcow2"))
    # The good one restores.
    vk("restore-backup", str(good))
    assert n in vk("list", "--all").stdout


def test_backup_of_a_running_vm(vk, kvm, tmp_path):
    """The blkwriter guest rewrites its disk throughout; the backup is one moment of it."""
    n = vk.name()
    vk("vol", "create", "local", f"{n}.qcow2", "48M")
    vk("create", "--name", n, "--kernel", str(h.guest("blkwriter")), "--memory", "64",
       "--cmdline", f"blocks={tb.BLOCKS} bs={tb.BS}", "--disk", f"local:{n}.qcow2")
    vk("start", n, timeout=30)
    out = tmp_path / "dump"
    out.mkdir()
    try:
        time.sleep(2)
        vk("backup", n, str(out), timeout=120)
        time.sleep(1.1)
        vk("backup", n, str(out), "--bwlimit", "65536", timeout=120)
        assert vk.state(n) == "running"
    finally:
        vk("destroy", n)
    full, inc = backups(out)
    assert json.loads((inc / "index.json").read_text())["mode"] == "incremental"
    for b in (full, inc):
        raw = tmp_path / f"{b.name}.raw"
        subprocess.run([qemu("qemu-img"), "convert", "-O", "raw",
                        str(b / "drive-virtio0.qcow2"), str(raw)], check=True)
        tb.check_point_in_time(raw.read_bytes())
    vk("restore-backup", str(inc), "again")
    ok, why = same(vk.home / "images" / "again-virtio0.qcow2", inc / "drive-virtio0.qcow2")
    assert ok, why
