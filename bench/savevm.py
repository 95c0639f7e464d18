#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Snapshots with RAM, side by side with QEMU's savevm/loadvm (issue 15).

The same tiny guest with 1 GiB of RAM and a 64 MiB qcow2 disk, vmkit and
QEMU (-M microvm):

  save    vmkit: QMP x-vmkit-snapshot {"vmstate": FILE} (what `vmkit snapshot
          create --memory` does: the disk's internal snapshot, RAM and state to
          a file); QEMU: HMP savevm (the disk's internal snapshot with RAM and
          state inside the qcow2). From the command to its answer; the VM runs
          on after both.
  load    vmkit: the disk reverted (vmkit img snapshot -a) and a new monitor
          started from the file (`vmkit run ... --incoming file:`, what
          `vmkit snapshot revert` does), until QMP says running; QEMU: HMP
          loadvm in the running VM, until it answers.

Guests: idle (counter.elf, a few pages written) and busy (dirtier.elf, 32 MiB
rewritten). Medians of BENCH_SAVEVM_RUNS runs (default 3); ratios vmkit/QEMU.

    bench/savevm.py         # prints the table, writes build/bench/savevm.txt
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
RUNS = int(os.environ.get("BENCH_SAVEVM_RUNS", "3"))
MEM_MIB = 1024
GUESTS = {"idle": ("counter", b"count="), "busy": ("dirtier", b"round=")}


def argv(monitor: str, guest: Path, disk: Path, sock: Path, incoming: str = "") -> list[str]:
    if monitor == "vmkit":
        a = [str(VMKIT), "run", "--kernel", str(guest), "--memory", str(MEM_MIB), "--console",
             "stdio", "--disk", f"path={disk},format=qcow2", "--qmp",
             f"unix:{sock},server=on,wait=off"]
        return a + (["--incoming", incoming] if incoming else [])
    return [QEMU, "-M", "microvm", "-accel", "kvm", "-cpu", "host,-arch-capabilities",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", str(guest), "-m", str(MEM_MIB),
            "-drive", f"file={disk},format=qcow2,if=none,id=d0",
            "-device", "virtio-blk-device,drive=d0", "-qmp", f"unix:{sock},server=on,wait=off"]


def wait_file(path: Path, text: bytes, timeout: float = 60, after: int = 0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.read_bytes().count(text) > after:
            return
        time.sleep(0.01)
    raise RuntimeError(f"no {text!r} in {path} after {timeout} s")


def hmp(q: QMP, line: str) -> None:
    out = q.cmd("human-monitor-command", {"command-line": line})
    if out.strip():
        raise RuntimeError(f"QEMU {line}: {out.strip()}")


def one(monitor: str, workload: str, tmp: Path) -> dict[str, float]:
    name, mark = GUESTS[workload]
    guest = BUILD / "tests" / "guest" / f"{name}.elf"
    disk, state = tmp / "disk.qcow2", tmp / "s1.state"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    procs = []
    try:
        out = tmp / "out"
        with open(out, "wb") as f:
            procs.append(subprocess.Popen(argv(monitor, guest, disk, tmp / "q.sock"),
                                          stdin=subprocess.DEVNULL, stdout=f,
                                          stderr=subprocess.STDOUT))
        wait_file(out, mark)
        q = QMP(tmp / "q.sock")
        q.negotiate()
        time.sleep(0.3)
        t0 = time.monotonic()
        if monitor == "vmkit":
            q.cmd("x-vmkit-snapshot", {"name": "s1", "vmstate": str(state)})
        else:
            hmp(q, "savevm s1")
        save = (time.monotonic() - t0) * 1000
        if q.cmd("query-status")["status"] != "running":
            raise RuntimeError(f"{monitor}: not running after the save")
        if monitor == "qemu":
            t0 = time.monotonic()
            hmp(q, "loadvm s1")
            load = (time.monotonic() - t0) * 1000
        else:
            q.cmd("quit")
            procs[0].wait(30)
            t0 = time.monotonic()
            subprocess.run([str(VMKIT), "img", "snapshot", "-a", "s1", str(disk)], check=True)
            with open(tmp / "out2", "wb") as f:
                procs.append(subprocess.Popen(argv(monitor, guest, disk, tmp / "q2.sock",
                                                   f"file:{state}"),
                                              stdin=subprocess.DEVNULL, stdout=f,
                                              stderr=subprocess.STDOUT))
            q2 = None
            while q2 is None and time.monotonic() - t0 < 60:
                try:
                    q2 = QMP(tmp / "q2.sock")
                    q2.negotiate()
                except OSError:
                    q2 = None
                    time.sleep(0.002)
            while q2 and q2.cmd("query-status")["status"] != "running":
                time.sleep(0.002)
            load = (time.monotonic() - t0) * 1000
            out = tmp / "out2"
        # it runs on from the snapshot
        n = out.read_bytes().count(mark)
        wait_file(out, mark, after=n)
        size = state.stat().st_size if state.exists() else disk.stat().st_size
        return {"save": save, "load": load, "mib": size / (1 << 20)}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def main() -> int:
    if not VMKIT.exists():
        print(f"savevm.py: build first ({VMKIT})", file=sys.stderr)
        return 2
    monitors = ["vmkit"] + (["qemu"] if shutil.which(QEMU) else [])
    res: dict[tuple[str, str], dict[str, float] | str] = {}
    for workload in GUESTS:
        for m in monitors:
            runs = []
            try:
                for _ in range(RUNS):
                    with tempfile.TemporaryDirectory(prefix="vmkit-sv-") as d:
                        runs.append(one(m, workload, Path(d)))
                res[(m, workload)] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                res[(m, workload)] = str(e)
            print(f"{m} {workload}: {res[(m, workload)]}", file=sys.stderr)
    lines = [f"snapshot with RAM (savevm) and back (loadvm), {MEM_MIB} MiB guest, "
             f"median of {RUNS}",
             f"{'':12} {'save ms':>8} {'load ms':>8} {'state MiB':>10}"]
    for workload in GUESTS:
        for m in monitors:
            v = res[(m, workload)]
            if isinstance(v, str):
                lines.append(f"{m + ' ' + workload:12} failed: {v[:200]}")
                continue
            lines.append(f"{m + ' ' + workload:12} {v['save']:8.0f} {v['load']:8.0f} "
                         f"{v['mib']:10.1f}")
        a, b = res.get(("vmkit", workload)), res.get(("qemu", workload))
        if isinstance(a, dict) and isinstance(b, dict):
            lines.append(f"{'  vmkit/QEMU':12} {a['save'] / b['save']:8.2f} "
                         f"{a['load'] / b['load']:8.2f}")
    lines.append("(QEMU's state is inside its qcow2: its size column is the whole image)")
    text = "\n".join(lines)
    print(text)
    out = BUILD / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "savevm.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
