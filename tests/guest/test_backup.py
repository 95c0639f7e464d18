# SPDX-License-Identifier: GPL-2.0-or-later
"""Backups of a running VM (issue 15): QMP x-vmkit-backup and the block job commands.

The blkwriter guest (tests/guest/blkwriter.c) rewrites its disk pass after
pass, one block at a time, in order, each block stamped with its pass: a
backup taken at one point in time holds blocks of pass g+1 and then blocks of
pass g, nothing else. The guest keeps writing while the job copies, so its
writes meet chunks not copied yet and are held (copy-before-write). Targets
are read back with Debian's qemu-img, not with vmkit's own library.
"""
import shutil
import struct
import subprocess
import time

import pytest

import vmkit_harness as h
from qmp_client import QMP, QMPError, Monitor

BS = 16 << 10
BLOCKS = 2048          # 32 MiB written, pass after pass
DISK = 48 << 20        # the rest stays zeros: a full backup leaves it out


def qemu_img():
    q = shutil.which("qemu-img")
    if not q:
        pytest.skip("Debian's qemu-img is needed to read the backups")
    return q


def start(tmp_path, disk, fmt, cache="writeback"):
    h.require_vmkit()
    sock = tmp_path / "qmp.sock"
    argv = h.vmkit_argv(h.guest("blkwriter"), memory="64",
                        extra_args=["--disk", f"path={disk},format={fmt},cache={cache}",
                                    "--cmdline", f"blocks={BLOCKS} bs={BS}",
                                    "--qmp", f"unix:{sock},server=on,wait=off"])
    m = Monitor(argv, tmp_path)
    assert m.wait_output("pass=2"), m.describe()
    q = QMP(sock)
    q.negotiate()
    return m, q


def make_disk(tmp_path, fmt):
    disk = tmp_path / f"disk.{fmt}"
    subprocess.run([qemu_img(), "create", "-q", "-f", fmt, str(disk), str(DISK)], check=True)
    return disk


def passes(m):
    return [int(x.split("=")[1]) for x in m.stdout().split() if x.startswith("pass=")]


def wait_job(q, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        jobs = q.cmd("query-block-jobs")
        assert len(jobs) == 1, jobs
        if jobs[0]["status"] == "concluded":
            return jobs[0]
        time.sleep(0.05)
    pytest.fail(f"backup still running after {timeout} s: {jobs}")


def read_raw(tmp_path, image, name):
    """The image's guest-visible bytes, as Debian's qemu-img reads them."""
    subprocess.run([qemu_img(), "check", "-q", str(image)], check=True)
    out = tmp_path / name
    subprocess.run([qemu_img(), "convert", "-O", "raw", str(image), str(out)], check=True)
    return out.read_bytes()


def check_point_in_time(data):
    """Blocks of pass g+1, then of pass g; each block whole; zeros past the written span."""
    gens = []
    for b in range(BLOCKS):
        blk = data[b * BS:(b + 1) * BS]
        stamp = struct.unpack_from("<Q", blk)[0]
        assert blk == struct.pack("<Q", stamp) * (BS // 8), f"block {b} is torn"
        g, idx = stamp >> 32, stamp & 0xffffffff
        assert g == 0 or idx == b, f"block {b} holds block {idx}'s data"
        gens.append(g)
    assert data[BLOCKS * BS:] == bytes(len(data) - BLOCKS * BS), "bytes past the written span"
    top = gens[0]
    k = next((i for i, g in enumerate(gens) if g != top), BLOCKS)
    assert all(g == top - 1 for g in gens[k:]), \
        f"not one point in time: passes {sorted(set(gens))} (first change at block {k})"
    return top, k


def backup(q, target, sync="full", bitmap=None, compress=True, device="virtio0"):
    d = {"device": device, "target": str(target), "sync": sync}
    if bitmap:
        d["bitmap"] = bitmap
    q.cmd("x-vmkit-backup", {"disks": [d], "compress": compress})
    return wait_job(q)


def tb_passes_grow(m, timeout=10):
    """The guest goes on writing (its writes are held only until their chunks are copied)."""
    n = passes(m)[-1]
    return m.wait_output(f"pass={n + 1}", timeout)


def quit(m, q):
    try:
        q.cmd("quit")
    except (QMPError, EOFError, OSError):
        pass
    m.wait(10)


@pytest.mark.parametrize("fmt,compress,cache", [("qcow2", True, "writeback"),
                                                ("raw", False, "none"),
                                                ("raw", True, "writeback")])
def test_full_backup_is_one_point_in_time(tmp_path, fmt, compress, cache):
    h.require_vmkit()
    disk = make_disk(tmp_path, fmt)
    m, q = start(tmp_path, disk, fmt, cache)
    try:
        # Paused, a raw disk's file is exactly what the guest sees: the backup must equal it.
        q.cmd("stop")
        at_start = disk.read_bytes() if fmt == "raw" else None
        before = passes(m)[-1]
        q.cmd("x-vmkit-backup", {"disks": [{"device": "virtio0", "target": str(tmp_path / "b1.qcow2")}],
                                 "compress": compress})
        assert q.cmd("query-status")["status"] == "paused"   # a paused VM stays so
        q.cmd("cont")
        job = wait_job(q)
        after = passes(m)[-1]
        assert "error" not in job, job
        assert job["len"] == DISK and job["offset"] == DISK, job
        print("held writes:", job["x-held-writes"])
        assert q.cmd("query-status")["status"] == "running"
        data = read_raw(tmp_path, tmp_path / "b1.qcow2", "b1.raw")
        top, k = check_point_in_time(data)
        if at_start is not None:
            # The guest wrote on while the job copied: none of that is in the backup.
            assert data == at_start, "the backup holds writes made after its start"
        assert before <= top <= after + 1, (before, top, after)
        info = subprocess.run([qemu_img(), "info", str(tmp_path / "b1.qcow2")],
                              capture_output=True, text=True, check=True).stdout
        assert ("compression type: zstd" in info) == compress, info
        # Zeros were left out: far smaller than the disk even uncompressed.
        assert (tmp_path / "b1.qcow2").stat().st_size < BLOCKS * BS + (4 << 20)
        assert "FAIL" not in m.stdout(), m.describe()
        q.cmd("job-dismiss", {"id": "backup"})
        assert q.cmd("query-block-jobs") == []
    finally:
        quit(m, q)


def test_incremental_backup_copies_only_what_changed(tmp_path):
    h.require_vmkit()
    disk = make_disk(tmp_path, "qcow2")
    m, q = start(tmp_path, disk, "qcow2")
    try:
        # Without a bitmap there is nothing to be incremental from.
        with pytest.raises(QMPError, match="no incremental backup.*not found"):
            q.cmd("x-vmkit-backup", {"disks": [{"device": "virtio0", "sync": "incremental",
                                            "bitmap": "vmkit-backup",
                                            "target": str(tmp_path / "x.qcow2")}]})
        assert not (tmp_path / "x.qcow2").exists()
        job = backup(q, tmp_path / "full.qcow2", bitmap="vmkit-backup")
        assert "error" not in job, job
        full = read_raw(tmp_path, tmp_path / "full.qcow2", "full.raw")
        check_point_in_time(full)
        n = passes(m)[-1]
        assert m.wait_output(f"pass={n + 2}"), m.describe()
        job = backup(q, tmp_path / "inc.qcow2", sync="incremental", bitmap="vmkit-backup")
        assert "error" not in job, job
        # Changed since: the 32 MiB the guest rewrites, not the 48 MiB disk.
        assert job["len"] <= BLOCKS * BS, job
        subprocess.run([qemu_img(), "rebase", "-u", "-F", "qcow2", "-b", "full.qcow2",
                        str(tmp_path / "inc.qcow2")], check=True, cwd=tmp_path)
        top, k = check_point_in_time(read_raw(tmp_path, tmp_path / "inc.qcow2", "inc.raw"))
        assert top >= n + 1
        # A guest that writes nothing between two backups: the second copies nothing.
    finally:
        quit(m, q)


def test_incremental_after_idle_is_empty(tmp_path):
    h.require_vmkit()
    disk = make_disk(tmp_path, "qcow2")
    sock = tmp_path / "qmp.sock"
    argv = h.vmkit_argv(h.guest("blkwriter"), memory="64",
                        extra_args=["--disk", f"path={disk},format=qcow2",
                                    "--cmdline", "blocks=64 bs=65536 passes=1",
                                    "--qmp", f"unix:{sock},server=on,wait=off"])
    m = Monitor(argv, tmp_path)
    try:
        assert m.wait_output("done=1"), m.describe()
        q = QMP(sock)
        q.negotiate()
        job = backup(q, tmp_path / "full.qcow2", bitmap="b")
        assert job["len"] == DISK and "error" not in job, job
        job = backup(q, tmp_path / "inc.qcow2", sync="incremental", bitmap="b")
        assert job["len"] == 0 and "error" not in job, job
        size = subprocess.run([qemu_img(), "info", "--output=json", str(tmp_path / "inc.qcow2")],
                              capture_output=True, text=True, check=True).stdout
        assert '"actual-size"' in size
        assert (tmp_path / "inc.qcow2").stat().st_size < 1 << 20
    finally:
        quit(m, q)


def test_cancel_leaves_nothing_and_gives_the_bitmap_back(tmp_path):
    h.require_vmkit()
    disk = make_disk(tmp_path, "qcow2")
    m, q = start(tmp_path, disk, "qcow2")
    try:
        # Slowed down (QEMU's "speed"): the 16 MiB the guest never writes take 16 s.
        q.cmd("x-vmkit-backup", {"disks": [{"device": "virtio0", "bitmap": "bm",
                                            "target": str(tmp_path / "c.qcow2")}],
                                 "speed": 1 << 20})
        assert q.cmd("query-block-jobs")[0]["speed"] == 1 << 20
        # The guest is not slowed: its writes wait only for their own chunks.
        assert tb_passes_grow(m), m.describe()
        assert q.cmd("query-block-jobs")[0]["status"] == "running"
        # While it runs, no migration (its disks would be handed over under it), no second job.
        with pytest.raises(QMPError, match="backup job 'backup' is running"):
            q.cmd("migrate", {"uri": f"file:{tmp_path / 'x.state'}"})
        with pytest.raises(QMPError, match="job 'backup' is running"):
            q.cmd("x-vmkit-backup", {"disks": [{"device": "virtio0",
                                                "target": str(tmp_path / "d.qcow2")}]})
        with pytest.raises(QMPError, match="state 'running' cannot accept"):
            q.cmd("job-dismiss", {"id": "backup"})
        q.cmd("block-job-cancel", {"device": "backup"})
        job = wait_job(q, timeout=5)
        assert job.get("error") == "cancelled", job
        assert not (tmp_path / "c.qcow2").exists() and not (tmp_path / "d.qcow2").exists()
        assert q.cmd("query-status")["status"] == "running"
        # The bitmap got back all it had: the next incremental copies the whole disk.
        job = backup(q, tmp_path / "again.qcow2", sync="incremental", bitmap="bm")
        assert "error" not in job and job["len"] == DISK, job
        check_point_in_time(read_raw(tmp_path, tmp_path / "again.qcow2", "a.raw"))
    finally:
        quit(m, q)


@pytest.mark.parametrize("disk_args,words", [
    ({"device": "virtio9", "target": "T"}, "Device 'virtio9' not found"),
    ({"device": "virtio0"}, "'device' and 'target'"),
    ({"device": "virtio0", "target": "T", "sync": "top"}, "'sync' is full or incremental"),
    ({"device": "virtio0", "target": "T", "bitmap": ""}, "'bitmap' is a name"),
    ({"device": "virtio0", "target": "T", "sync": "incremental"}, "needs a bitmap"),
    ({"device": "virtio0", "target": "EXISTS"}, "exists"),
    ({"device": "virtio0", "target": "/nonexistent/dir/t.qcow2"}, "backup target"),
])
def test_bad_backup_requests(tmp_path, disk_args, words):
    h.require_vmkit()
    disk = make_disk(tmp_path, "raw")
    m, q = start(tmp_path, disk, "raw")
    try:
        (tmp_path / "EXISTS").write_bytes(b"keep me")
        d = {k: (str(tmp_path / v) if k == "target" and not v.startswith("/") else v)
             for k, v in disk_args.items()}
        with pytest.raises(QMPError, match=words):
            q.cmd("x-vmkit-backup", {"disks": [d]})
        assert (tmp_path / "EXISTS").read_bytes() == b"keep me"
        assert not (tmp_path / "T").exists()
        assert q.cmd("query-block-jobs") == []
        assert q.cmd("query-status")["status"] == "running"
        # A raw disk keeps no bitmap.
        with pytest.raises(QMPError, match="raw, and only qcow2"):
            q.cmd("x-vmkit-backup", {"disks": [{"device": "virtio0", "bitmap": "b",
                                            "target": str(tmp_path / "T")}]})
        with pytest.raises(QMPError, match="not found"):
            q.cmd("block-job-cancel", {"device": "backup"})
        assert "FAIL" not in m.stdout(), m.describe()
    finally:
        quit(m, q)
