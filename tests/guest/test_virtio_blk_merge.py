# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-blk merges the reads and writes of one drain that continue one another.

virtio_blkbench keeps 8 sequential 64 KiB requests in flight (seqbs=64
seqqd=8); with aio=threads every request the device makes is one
preadv/pwritev in the pool, so strace shows their sizes: runs of adjacent
requests go as one call of more than 64 KiB and at most 1 MiB through the
page cache (4 MiB with cache=none), and random 4 KiB reads (which never
continue one another) stay 4 KiB. The data itself
is checked by test_virtio_blk.py's batch_rw step on the same code path.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import vmkit_harness as h

CALL = re.compile(r"\b(preadv|pwritev)\(.*\)\s+=\s+(\d+)$")


def io_sizes(tmp_path: Path, tests: str, cache: str = "writeback",
             extra: str = "seqbs=64 seqqd=8") -> dict[str, list[int]]:
    h.require_vmkit()
    if not shutil.which("strace"):
        pytest.skip("needs strace")
    img = tmp_path / "m.img"
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    trace = tmp_path / "trace.txt"
    argv = ["strace", "-f", "-qq", "-e", "trace=preadv,pwritev", "-o", str(trace),
            str(h.VMKIT), "run", "--kernel", str(h.guest("virtio_blkbench")), "--memory", "256M",
            "--console", "stdio", "--cmdline", f"secs=1 tests={tests} {extra}",
            "--disk", f"path={img},aio=threads,cache={cache}"]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=120)
    assert "VMKIT-TEST virtio_blkbench PASS" in p.stdout, p.stdout + p.stderr
    sizes: dict[str, list[int]] = {"preadv": [], "pwritev": []}
    for line in trace.read_text().splitlines():
        m = CALL.search(line)
        if m:
            sizes[m.group(1)].append(int(m.group(2)))
    return sizes


def test_sequential_requests_merge(tmp_path: Path) -> None:
    s = io_sizes(tmp_path, "seqread,seqwrite")
    for call in ("preadv", "pwritev"):
        assert s[call], f"no {call} calls traced"
        assert all(n % 65536 == 0 and n <= 1 << 20 for n in s[call]), (call, sorted(set(s[call])))
        assert max(s[call]) > 65536, f"{call}: no merged request, sizes {sorted(set(s[call]))}"


def test_direct_merges_reach_4mib(tmp_path: Path) -> None:
    """cache=none: 1 MiB requests, four in flight, merge up to 4 MiB; never beyond."""
    s = io_sizes(tmp_path, "seqread,seqwrite", cache="none", extra="seqqd=8")
    for call in ("preadv", "pwritev"):
        assert s[call] and all(n % (1 << 20) == 0 and n <= 4 << 20 for n in s[call]), \
            (call, sorted(set(s[call])))
        assert max(s[call]) > 1 << 20, f"{call}: no merged request, sizes {sorted(set(s[call]))}"


def test_buffered_big_requests_stay_apart(tmp_path: Path) -> None:
    """Through the page cache 1 MiB requests are not merged (see vmm/virtio/blk.c)."""
    s = io_sizes(tmp_path, "seqread", extra="seqqd=8")
    assert s["preadv"] and set(s["preadv"]) == {1 << 20}, sorted(set(s["preadv"]))


def test_random_requests_stay_apart(tmp_path: Path) -> None:
    s = io_sizes(tmp_path, "randread")
    assert s["preadv"] and set(s["preadv"]) == {4096}, sorted(set(s["preadv"]))
