# SPDX-License-Identifier: GPL-2.0-or-later
"""Disks through a Linux guest's own virtio_blk driver and tools.

The guest boots from the test root disk (root=/dev/vda), formats other disks
with Debian's mkfs.ext4, writes files, syncs, reboots, trims; the host then
checks the images with its own e2fsck, debugfs and qemu-img.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from linuxvm import LinuxVM, guest_file, root_overlay

MiB = 1 << 20


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def raw_disk(tmp: Path, name: str, size: int) -> Path:
    p = tmp / name
    with open(p, "wb") as f:
        f.truncate(size)
    return p


def debugfs_cat(image: Path, path: str) -> bytes:
    r = subprocess.run(["debugfs", "-R", f"cat {path}", str(image)], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def qcow2_as_raw(tmp: Path, image: Path) -> Path:
    out = tmp / (image.name + ".raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(out)], check=True)
    return out


def fsck_clean(image: Path) -> None:
    """Replay the journal (as a mount would), then a forced read-only check must pass."""
    r = subprocess.run(["e2fsck", "-fy", str(image)], capture_output=True, text=True)
    assert r.returncode in (0, 1), f"e2fsck -fy: {r.returncode}\n{r.stdout}{r.stderr}"
    r = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True)
    assert r.returncode == 0, f"e2fsck -fn: {r.returncode}\n{r.stdout}{r.stderr}"


# A file of N MiB made in guest user space (the guest's kernel is slow on PVM
# hosts; /dev/urandom would spend most of the test in it), different per seed.
def guest_sha(vm: LinuxVM, path: str) -> str:
    return vm.sh(f"sha256sum {path}").split()[0]


def test_root_disk_raw_and_two_linked_clones_at_once(tmp_path):
    """One VM boots from a raw root disk, two at the same time from qcow2
    overlays of one shared base; each writes its own file; the base is unchanged."""
    base = guest_file("rootfs.ext4")
    base_sum = sha256(base)
    raw = tmp_path / "root.raw"
    subprocess.run(["cp", "--sparse=always", str(base), str(raw)], check=True)
    vms = {
        "raw": LinuxVM(tmp_path, disks=[f"path={raw},format=raw"], name="rawroot"),
        "ov1": LinuxVM(tmp_path, disks=[f"path={root_overlay(tmp_path, 'ov1.qcow2')},format=qcow2"]),
        "ov2": LinuxVM(tmp_path, disks=[f"path={root_overlay(tmp_path, 'ov2.qcow2')},format=qcow2"]),
    }
    try:
        for vm in vms.values():
            vm.start()
        errors = []

        def drive(name, vm):
            try:
                vm.boot()
                mounts = vm.sh("cat /proc/mounts")
                assert re.search(r"^/dev/root / ext4 rw", mounts, re.M), mounts
                vm.sh(f"echo written-by-{name} > /root/who && sync")
                assert vm.sh("cat /root/who") == f"written-by-{name}"
                vm.type("poweroff\n")
                assert vm.wait_exit(120) == 0, vm.describe()
                assert "VMKIT-ROOTFS-STOPPED" in vm.text(), vm.describe()
            except BaseException as e:  # reported from the main thread
                errors.append((name, e))

        threads = [threading.Thread(target=drive, args=kv) for kv in vms.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0][1]
    finally:
        for vm in vms.values():
            vm.close()
    assert sha256(base) == base_sum, "the shared base changed"
    fsck_clean(raw)
    assert debugfs_cat(raw, "/root/who") == b"written-by-raw\n"
    for name in ("ov1", "ov2"):
        img = tmp_path / f"{name}.qcow2"
        r = subprocess.run(["qemu-img", "check", str(img)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        flat = qcow2_as_raw(tmp_path, img)
        fsck_clean(flat)
        assert debugfs_cat(flat, "/root/who") == f"written-by-{name}\n".encode()


def allocated(image: Path) -> int:
    """Bytes the image's data takes: the raw file's blocks, or qcow2's allocated clusters."""
    if image.suffix == ".qcow2":
        r = subprocess.run(["qemu-img", "map", "--output=json", "-U", str(image)],
                           capture_output=True, text=True, check=True)
        return sum(e["length"] for e in json.loads(r.stdout) if e["data"])
    return os.stat(image).st_blocks * 512


@pytest.mark.pvm_slow  # 5 min on PVM; test_linux_scsi's mkfs/fsck and tests/guest's discard stay
def test_second_disks_mkfs_reboot_and_fstrim(tmp_path):
    """mkfs.ext4 on a raw and a qcow2 data disk, files written and synced,
    `reboot` in the guest, the files intact after; fstrim gives space back."""
    vdb = raw_disk(tmp_path, "data.raw", 128 * MiB)
    vdc = tmp_path / "data.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(vdc), "128M"], check=True)
    # The files' bytes come from a read-only source disk made here (vdd), copied
    # by dd a MiB at a time: generating them in the guest (awk, a write per
    # line) took minutes on a PVM host, where each guest system call and page
    # fault runs emulated kernel code.
    src = tmp_path / "src.raw"
    src.write_bytes(os.urandom(7 * MiB))
    keep_sum = hashlib.sha256(src.read_bytes()[:MiB]).hexdigest()
    vm = LinuxVM(tmp_path, no_reboot=False, disks=[
        f"path={root_overlay(tmp_path)},format=qcow2",
        f"path={vdb},format=raw,discard=unmap",
        f"path={vdc},format=qcow2,discard=unmap",
        f"path={src},format=raw,readonly=on"])
    with vm:
        vm.boot()
        for dev, mnt in (("vdb", "/mnt/b"), ("vdc", "/mnt/c")):
            vm.sh(f"mkfs.ext4 -q -F /dev/{dev} && mkdir -p {mnt} && mount /dev/{dev} {mnt}",
                  timeout=300)
            vm.sh(f"dd if=/dev/vdd of={mnt}/keep bs=1M count=1 2>/dev/null")
            vm.sh(f"dd if=/dev/vdd of={mnt}/big bs=1M skip=1 count=6 2>/dev/null")
            assert guest_sha(vm, f"{mnt}/keep") == keep_sum, f"{dev}: keep differs from its source"
        vm.sh("sync")
        before = {d: allocated(p) for d, p in (("vdb", vdb), ("vdc", vdc))}

        mark = vm.mark()
        vm.type("reboot\n")
        vm.wait_for("VMKIT-ROOTFS-STOPPED", 120, since=mark)
        vm.boot()  # the second boot, to its prompt
        for dev, mnt in (("vdb", "/mnt/b"), ("vdc", "/mnt/c")):
            vm.sh(f"mkdir -p {mnt} && mount /dev/{dev} {mnt}")
            assert guest_sha(vm, f"{mnt}/keep") == keep_sum, f"{dev} lost data over a reboot"
            vm.sh(f"rm {mnt}/big && sync && fstrim -v {mnt}", timeout=300)
        vm.sh("sync")
        after = {d: allocated(p) for d, p in (("vdb", vdb), ("vdc", vdc))}
        for dev in ("vdb", "vdc"):
            assert after[dev] <= before[dev] - 5 * MiB, \
                f"fstrim freed too little on {dev}: {before[dev]} -> {after[dev]}"
        vm.type("poweroff\n")
        assert vm.wait_exit(120) == 0, vm.describe()
    fsck_clean(vdb)
    r = subprocess.run(["qemu-img", "check", str(vdc)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    fsck_clean(qcow2_as_raw(tmp_path, vdc))


@pytest.mark.pvm_slow  # tests/guest/test_virtio_durability.py covers each mode in make check
def test_fsynced_data_survives_sigkill_per_cache_mode(tmp_path):
    """cache=none, writethrough and directsync: what the guest fsynced is on the
    disk when the monitor is killed right after, and the file system checks clean."""
    modes = ["none", "writethrough", "directsync"]
    # O_DIRECT needs a file system that has it; /tmp may be tmpfs.
    d = Path(os.environ.get("VMKIT_DISK_TMP", "/var/tmp"))
    work = Path(__import__("tempfile").mkdtemp(prefix="vmkit-durab-", dir=d))
    try:
        disks = {m: raw_disk(work, f"{m}.raw", 64 * MiB) for m in modes}
        src = tmp_path / "src.raw"  # the files' bytes (vde), as in the test above
        src.write_bytes(os.urandom(len(modes) * MiB))
        vm = LinuxVM(tmp_path, disks=[f"path={root_overlay(tmp_path)},format=qcow2"] +
                     [f"path={p},format=raw,cache={m}" for m, p in disks.items()] +
                     [f"path={src},format=raw,readonly=on"])
        sums = {}
        with vm:
            vm.boot()
            for i, m in enumerate(modes):
                dev = f"vd{chr(ord('b') + i)}"
                vm.sh(f"mkfs.ext4 -q -F /dev/{dev} && mkdir -p /mnt/{m} && mount /dev/{dev} /mnt/{m}",
                      timeout=300)
                vm.sh(f"dd if=/dev/vde of=/tmp/{m} bs=1M skip={i} count=1 2>/dev/null")
                # dd conv=fsync: fsync(2) on the file before dd exits.
                vm.sh(f"dd if=/tmp/{m} of=/mnt/{m}/f bs=64k conv=fsync 2>/dev/null")
                sums[m] = guest_sha(vm, f"/tmp/{m}")
            vm.kill()  # SIGKILL right after the last fsync returned
        for m, p in disks.items():
            fsck_clean(p)
            data = debugfs_cat(p, "/f")
            assert hashlib.sha256(data).hexdigest() == sums[m], f"cache={m}: fsynced data lost"
    finally:
        shutil.rmtree(work, ignore_errors=True)
