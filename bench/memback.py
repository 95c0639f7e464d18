#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest RAM backing, side by side: 4 KiB pages, THP, 2 MiB and 1 GiB hugetlb pages.

Boots build/tests/guest/memtouch.elf (writes one word in every 4 KiB page of
its RAM at CPL3, twice) with a 1 GiB guest under vmkit and QEMU (-M microvm)
and times, from the monitor's stdout lines as they arrive:

  start   process start to the guest's first line (memory set-up, prealloc)
  touch1  first pass over all RAM: the host's page faults
  touch2  second pass: TLB only
  total   process start to exit

Run as root (the hugetlb rows raise /proc/sys/vm/nr_hugepages and the 1 GiB
pool for the duration and put them back; hugetlbfs is mounted in a temporary
directory for QEMU's -mem-path). Medians of BENCH_MEM_RUNS runs (default 3).

    sudo bench/memback.py            # prints the table, writes build/bench/memback.txt
"""

from __future__ import annotations

import os
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("VMKIT_BUILD_DIR", ROOT / "build"))
VMKIT = BUILD / "vmkit"
GUEST = BUILD / "tests" / "guest" / "memtouch.elf"
QEMU = os.environ.get("BENCH_QEMU", "qemu-system-x86_64")
RUNS = int(os.environ.get("BENCH_MEM_RUNS", "3"))
SIZE_MIB = 1024
POOL_2M = Path("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
POOL_1G = Path("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages")
QEMU_BASE = ["-M", "microvm", "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-nodefaults",
             "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
             "-kernel", str(GUEST)]


def timed_run(argv: list[str], timeout: float = 120) -> dict[str, float]:
    """Times (ms) of the phases, from the monitor's stdout lines as they arrive."""
    marks: dict[str, float] = {}
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    buf = b""
    out = b""
    while time.monotonic() - t0 < timeout:
        if not sel.select(timeout=1):
            continue
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        now = (time.monotonic() - t0) * 1000
        buf += chunk
        out += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            text = line.decode(errors="replace")
            if "touch_mib=" in text:
                marks.setdefault("start", now)
            for phase in ("touch1", "touch2", "done"):
                if f"phase={phase}" in text:
                    marks[phase] = now
    p.kill() if p.poll() is None else None
    rc = p.wait()
    marks["total"] = (time.monotonic() - t0) * 1000
    err = p.stderr.read().decode(errors="replace")
    p.stdout.close()
    p.stderr.close()
    if "memtouch PASS" not in out.decode(errors="replace") or not {"touch1", "touch2", "done"} <= marks.keys():
        raise RuntimeError(f"{' '.join(argv)}: exit {rc}: {err.strip()[-300:]}")
    return {"start": marks["start"], "touch1": marks["touch2"] - marks["touch1"],
            "touch2": marks["done"] - marks["touch2"], "total": marks["total"]}


@contextmanager
def pool(path: Path, pages: int):
    old = int(path.read_text())
    try:
        path.write_text(str(old + pages))
        yield int(path.read_text()) - old >= pages
    finally:
        path.write_text(str(old))


@contextmanager
def hugetlbfs(pagesize: str):
    d = tempfile.mkdtemp(prefix="vmkit-hugetlbfs-")
    subprocess.run(["mount", "-t", "hugetlbfs", "-o", f"pagesize={pagesize}", "none", d],
                   check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", d], check=False)
        os.rmdir(d)


def rows(mnt2m: str) -> list[tuple[str, str, list[str]]]:
    """(label, pool: none|2M|1G, argv)."""
    m = f"{SIZE_MIB}M"
    vm = [str(VMKIT), "run", "--kernel", str(GUEST), "--console", "stdio", "--memory"]
    q = [QEMU] + QEMU_BASE + ["-m", m]
    be = f"memory-backend-memfd,id=ram,size={m},hugetlb=on"
    return [
        ("vmkit 4K (thp=off)", "none", vm + [f"{m},thp=off"]),
        ("vmkit THP (thp=on)", "none", vm + [f"{m},thp=on"]),
        ("vmkit 2M hugetlb", "2M", vm + [f"{m},hugepages=2M"]),
        ("vmkit 2M hugetlb prealloc", "2M", vm + [f"{m},hugepages=2M,prealloc=on"]),
        ("vmkit 2M mem-path", "2M", vm + [f"{m},mem-path={mnt2m}"]),
        ("vmkit 1G hugetlb", "1G", vm + [f"{m},hugepages=1G"]),
        ("qemu default (anon)", "none", q),
        ("qemu 2M memfd hugetlb", "2M", q + ["-object", be + ",hugetlbsize=2M",
                                             "-machine", "memory-backend=ram"]),
        ("qemu 2M memfd prealloc", "2M", q + ["-object", be + ",hugetlbsize=2M,prealloc=on",
                                              "-machine", "memory-backend=ram"]),
        ("qemu 2M -mem-path", "2M", q + ["-mem-path", mnt2m]),
        ("qemu 1G memfd hugetlb", "1G", q + ["-object", be + ",hugetlbsize=1G",
                                             "-machine", "memory-backend=ram"]),
    ]


def measure(argv: list[str]) -> dict[str, float] | str:
    try:
        runs = [timed_run(argv) for _ in range(RUNS)]
    except RuntimeError as e:
        return str(e)
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> int:
    if os.geteuid():
        print("memback.py: run as root (it resizes the hugepage pools)", file=sys.stderr)
        return 2
    if not VMKIT.exists() or not GUEST.exists():
        print(f"memback.py: build first ({VMKIT}, {GUEST})", file=sys.stderr)
        return 2
    have_qemu = shutil.which(QEMU) is not None
    lines = [f"guest RAM {SIZE_MIB} MiB, memtouch.elf, median of {RUNS} runs, times in ms",
             f"{'':28} {'start':>8} {'touch1':>8} {'touch2':>8} {'total':>8}"]
    with hugetlbfs("2M") as mnt:
        for label, need, argv in rows(mnt):
            if label.startswith("qemu") and not have_qemu:
                lines.append(f"{label:28} (no {QEMU})")
                continue
            if need == "none":
                res = measure(argv)
            else:
                path, pages = (POOL_2M, SIZE_MIB // 2) if need == "2M" else (POOL_1G, SIZE_MIB // 1024)
                with pool(path, pages) as ok:
                    res = measure(argv) if ok else f"the host could not give {pages} {need} pages"
            if isinstance(res, str):
                lines.append(f"{label:28} FAILED: {res}")
            else:
                lines.append(f"{label:28} {res['start']:8.1f} {res['touch1']:8.1f} "
                             f"{res['touch2']:8.1f} {res['total']:8.1f}")
            print(lines[-1], file=sys.stderr)
    report = "\n".join(lines) + "\n"
    print(report, end="")
    (BUILD / "bench").mkdir(parents=True, exist_ok=True)
    (BUILD / "bench" / "memback.txt").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
