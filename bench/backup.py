#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Backups of a running VM, side by side with QEMU (issue 15).

One 1 GiB raw disk (256 MiB random, 256 MiB of text, the rest zeros) on an
idle tiny guest (counter.elf), backed up in full into a new qcow2 image:
vmkit's x-vmkit-backup and QEMU's drive-backup (sync=full, format=qcow2,
-M microvm), each compressed (vmkit: zstd; QEMU: its qcow2 default, zlib)
and not. Reported: the job's time from the command to its end (polling
query-block-jobs), the target's size, ratios vmkit/QEMU (below 1: vmkit
takes less), and as the host's own limit `cp` of the disk file (page cache
warm for all). Medians of BENCH_BACKUP_RUNS runs (default 3).

    bench/backup.py         # prints the table, writes build/bench/backup.txt
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("VMKIT_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "tests" / "guest"))
from qmp_client import QMP  # noqa: E402

VMKIT = BUILD / "vmkit"
QEMU = os.environ.get("BENCH_QEMU", "qemu-system-x86_64")
RUNS = int(os.environ.get("BENCH_BACKUP_RUNS", "3"))
GUEST = BUILD / "tests" / "guest" / "counter.elf"
DISK = 1 << 30


def make_disk(path: Path) -> None:
    with open(path, "wb") as f:
        f.write(os.urandom(256 << 20))
        line = b"vmkit backup benchmark: a line of text that compresses well, 0123456789\n"
        f.write((line * ((256 << 20) // len(line) + 1))[:256 << 20])
        f.truncate(DISK)


def argv(monitor: str, disk: Path, sock: Path) -> list[str]:
    if monitor == "vmkit":
        return [str(VMKIT), "run", "--kernel", str(GUEST), "--memory", "128", "--console",
                "stdio", "--disk", f"path={disk},format=raw", "--qmp",
                f"unix:{sock},server=on,wait=off"]
    return [QEMU, "-M", "microvm", "-accel", "kvm", "-cpu", "host,-arch-capabilities",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", str(GUEST), "-m", "128",
            "-drive", f"file={disk},format=raw,if=none,id=d0,cache=writeback",
            "-device", "virtio-blk-device,drive=d0",
            "-qmp", f"unix:{sock},server=on,wait=off"]


def wait_file(path: Path, text: bytes, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and text in path.read_bytes():
            return
        time.sleep(0.02)
    raise RuntimeError(f"no {text!r} in {path} after {timeout} s")


def one(monitor: str, compress: bool, disk: Path, tmp: Path) -> dict[str, float]:
    sock, out, target = tmp / "q.sock", tmp / "out", tmp / "backup.qcow2"
    with open(out, "wb") as f:
        p = subprocess.Popen(argv(monitor, disk, sock), stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
    try:
        wait_file(out, b"count=")
        q = QMP(sock)
        q.negotiate()
        t0 = time.monotonic()
        if monitor == "vmkit":
            q.cmd("x-vmkit-backup", {"disks": [{"device": "virtio0", "target": str(target)}],
                                     "compress": compress})
        else:
            q.cmd("drive-backup", {"job-id": "backup", "device": "d0", "target": str(target),
                                   "sync": "full", "format": "qcow2", "compress": compress})
        while True:
            jobs = q.cmd("query-block-jobs")
            if not jobs or jobs[0].get("status") == "concluded":
                break
            time.sleep(0.005)
        ms = (time.monotonic() - t0) * 1000
        if jobs and jobs[0].get("error"):
            raise RuntimeError(f"{monitor}: {jobs[0]['error']}")
        q.cmd("quit")
        p.wait(30)
        chk = subprocess.run(["qemu-img", "compare", "-f", "raw", str(disk), str(target)],
                             capture_output=True, text=True)
        if chk.returncode:
            raise RuntimeError(f"{monitor}: the backup differs: {chk.stdout}{chk.stderr}")
        return {"ms": ms, "mib": target.stat().st_size / (1 << 20)}
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def host_copy(disk: Path, tmp: Path) -> float:
    t0 = time.monotonic()
    subprocess.run(["cp", "--sparse=always", str(disk), str(tmp / "copy.raw")], check=True)
    os.sync()
    return (time.monotonic() - t0) * 1000


def main() -> int:
    if not VMKIT.exists() or not GUEST.exists():
        print(f"backup.py: build first ({VMKIT}, {GUEST})", file=sys.stderr)
        return 2
    monitors = ["vmkit"] + (["qemu"] if shutil.which(QEMU) else [])
    res: dict[tuple[str, bool], dict[str, float] | str] = {}
    with tempfile.TemporaryDirectory(prefix="vmkit-bk-") as d:
        disk = Path(d) / "disk.raw"
        make_disk(disk)
        with tempfile.TemporaryDirectory(prefix="vmkit-bk-") as t:
            cp_ms = statistics.median(host_copy(disk, Path(t)) for _ in range(RUNS))
        for compress in (True, False):
            for m in monitors:
                runs = []
                try:
                    for _ in range(RUNS):
                        with tempfile.TemporaryDirectory(prefix="vmkit-bk-") as t:
                            runs.append(one(m, compress, disk, Path(t)))
                    res[(m, compress)] = {k: statistics.median(r[k] for r in runs)
                                          for k in runs[0]}
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    res[(m, compress)] = str(e)
                print(f"{m} compress={compress}: {res[(m, compress)]}", file=sys.stderr)
    lines = [f"full backup of a running VM's 1 GiB raw disk (512 MiB data), median of {RUNS}",
             f"{'':22} {'ms':>8} {'target MiB':>11}",
             f"{'host cp (the limit)':22} {cp_ms:8.0f} {'':>11}"]
    for compress in (True, False):
        label = "compressed" if compress else "plain"
        for m in monitors:
            v = res[(m, compress)]
            name = f"{m} {label}"
            if isinstance(v, str):
                lines.append(f"{name:22} failed: {v[:200]}")
                continue
            lines.append(f"{name:22} {v['ms']:8.0f} {v['mib']:11.1f}")
        a, b = res.get(("vmkit", compress)), res.get(("qemu", compress))
        if isinstance(a, dict) and isinstance(b, dict):
            lines.append(f"{'  vmkit/QEMU':22} {a['ms'] / b['ms']:8.2f} {a['mib'] / b['mib']:11.2f}")
        if isinstance(a, dict):
            lines.append(f"{'  vmkit/host cp':22} {a['ms'] / cp_ms:8.2f}")
    text = "\n".join(lines)
    print(text)
    out = BUILD / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "backup.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
