# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-blk (modern virtio-pci) under build/vmkit with --disk, checked from both sides.

The guests (tests/guest/virtio_blk.c, virtio_hostile.c) drive every
virtio-blk function they find with the polling driver in tests/guest/lib/;
these tests give them disk files and then read the files back:

- capacity is the file size / 512, GET_ID gives the serial
- what the guest read first (sum_<sector>, FNV-1a 64 of 64 KiB) is what the
  file held, and the pattern it wrote is in the file at the right offsets
- WRITE_ZEROES left zeros; writes past the end did not grow the file
- readonly=on: writes fail with IOERR and the file is unchanged
- two disks at once, each with its own file
- the hostile guest's crafted rings leave the monitor running (exit 0)

Every test skips while `vmkit run --help` does not mention --disk. With
VMKIT_TEST_QEMU=1 they run the same guests under qemu-system-x86_64
instead (VMKIT_TEST_QEMU_MACHINE=pc|q35, default q35), which is how the
guests and these checks were validated before vmkit had the device.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

import vmkit_harness as h

SECTOR = 512
REGION_SECTORS = 128  # the guest writes 64 KiB at each region
MiB = 1 << 20
TIMEOUT = 180.0  # 65,536+ requests in the idx_wrap step

USE_QEMU = os.environ.get("VMKIT_TEST_QEMU", "") not in ("", "0")
QEMU_MACHINE = os.environ.get("VMKIT_TEST_QEMU_MACHINE", "q35")


@functools.lru_cache(maxsize=None)
def _vmkit_has_disk() -> bool:
    try:
        p = subprocess.run([str(h.VMKIT), "run", "--help"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--disk" in p.stdout + p.stderr


@pytest.fixture(autouse=True)
def _needs_disk_support() -> None:
    if USE_QEMU:
        if not h.kvm_usable():
            pytest.skip("needs /dev/kvm")
        if not shutil.which("qemu-system-x86_64"):
            pytest.skip("no qemu-system-x86_64")
        return
    h.require_vmkit()
    if not _vmkit_has_disk():
        pytest.skip("vmkit has no --disk yet")


@dataclass
class Disk:
    path: Path
    readonly: bool = False
    serial: Optional[str] = None
    opts: str = ""  # more --disk options (vmkit only), e.g. "aio=threads,iothread=on"


def run_guest(name: str, disks: list[Disk], cmdline: str = "") -> h.Result:
    kernel = h.guest(name)
    if USE_QEMU:
        argv = ["qemu-system-x86_64", "-M", QEMU_MACHINE, "-accel", "kvm",
                "-cpu", "host,-arch-capabilities", "-m", "128", "-nodefaults",
                "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
                "-kernel", str(kernel)]
        if cmdline:
            argv += ["-append", cmdline]
        for i, d in enumerate(disks):
            argv += ["-drive", f"file={d.path},format=raw,if=none,id=d{i}"
                     + (",readonly=on" if d.readonly else "")]
            argv += ["-device", f"virtio-blk-pci,drive=d{i},disable-legacy=on"
                     + (f",serial={d.serial}" if d.serial else "")]
        return h.run_argv(argv, timeout=TIMEOUT)
    extra: list[str] = []
    if cmdline:
        extra += ["--cmdline", cmdline]
    for d in disks:
        opt = f"path={d.path}"
        if d.readonly:
            opt += ",readonly=on"
        if d.serial:
            opt += f",serial={d.serial}"
        if d.opts:
            opt += "," + d.opts
        extra += ["--disk", opt]
    return h.run_vmkit(kernel, memory="128M", extra_args=extra, timeout=TIMEOUT)


def per_disk(r: h.Result) -> list[dict[str, str]]:
    """The guest's VMKIT-INFO lines split at each `disk=<i>`, in order."""
    out: list[dict[str, str]] = []
    for k, v in r.info_all:
        if k == "disk":
            assert int(v) == len(out), r.describe()
            out.append({})
        elif out:
            out[-1][k] = v
    return out


def by_serial(r: h.Result, disks: list[Disk]) -> dict[str, tuple[int, dict[str, str]]]:
    infos = per_disk(r)
    assert len(infos) == len(disks), f"guest saw {len(infos)} disks{r.describe()}"
    assert r.info.get("disks") == str(len(disks)), r.describe()
    return {i["serial"]: (n, i) for n, i in enumerate(infos)}


def make_disk(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def fnv1a64(b: bytes) -> int:
    x = 0xcbf29ce484222325
    for c in b:
        x = ((x ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return x


def pattern(sector: int, count: int, disk: int) -> bytes:
    """What virtio_blk.c writes: per 8 bytes, (sector, 0x564d0000 | disk << 12 | offset)."""
    return b"".join(struct.pack("<II", s & 0xFFFFFFFF, 0x564D0000 | disk << 12 | off)
                    for s in range(sector, sector + count) for off in range(0, SECTOR, 8))


def regions(info: dict[str, str]) -> list[int]:
    return sorted(int(k[len("sum_"):]) for k in info if k.startswith("sum_"))


def sector_range(info: dict[str, str], key: str) -> Optional[range]:
    v = info.get(key)
    if not v or "+" not in v:
        return None
    s, n = (int(x) for x in v.split("+"))
    return range(s, s + n)


def check_reads(r: h.Result, info: dict[str, str], before: bytes) -> None:
    """The guest's sum_<sector> is the FNV-1a of what the file held there."""
    regs = regions(info)
    assert len(regs) == 3, f"regions {regs}{r.describe()}"
    for s in regs:
        want = fnv1a64(before[s * SECTOR:(s + REGION_SECTORS) * SECTOR])
        got = int(info[f"sum_{s}"], 16)
        assert got == want, f"guest read {got:016x} at sector {s}, file had {want:016x}{r.describe()}"


def check_writes(r: h.Result, info: dict[str, str], after: bytes, disk: int) -> None:
    """The pattern is in the file at each region, zeros where WRITE_ZEROES went."""
    zeroed = sector_range(info, "write_zeroes")
    discarded = sector_range(info, "discard")
    for s in regions(info):
        want = pattern(s, REGION_SECTORS, disk)
        for i in range(REGION_SECTORS):
            sec = s + i
            got = after[sec * SECTOR:(sec + 1) * SECTOR]
            if discarded is not None and sec in discarded:
                continue  # contents after DISCARD are up to the device
            exp = bytes(SECTOR) if zeroed is not None and sec in zeroed else \
                want[i * SECTOR:(i + 1) * SECTOR]
            assert got == exp, f"disk {disk} sector {sec}: file does not hold what the guest wrote" \
                f" (first bytes {got[:16].hex()}, want {exp[:16].hex()}){r.describe()}"


def check_common(r: h.Result, info: dict[str, str], size: int, serial: Optional[str]) -> None:
    assert int(info["capacity"]) == size // SECTOR, r.describe()
    if serial is not None:
        assert info.get("serial") == serial, r.describe()
    feats = int(info["features"], 16)
    assert feats & (1 << 32), f"VERSION_1 not negotiated{r.describe()}"


def test_disk_read_write(tmp_path: Path) -> None:
    img = tmp_path / "disk.img"
    size = 8 * MiB
    before = make_disk(img, size)
    d = Disk(img, serial="vmkit-serial-1")
    r = run_guest("virtio_blk", [d], "no-any-layout")
    h.assert_test_passed(r, "virtio_blk")
    (_, info), = by_serial(r, [d]).values()
    check_common(r, info, size, d.serial)
    assert "readonly" not in info, r.describe()
    check_reads(r, info, before)
    after = img.read_bytes()
    assert len(after) == size, f"file is {len(after)} bytes after the run, was {size}{r.describe()}"
    check_writes(r, info, after, 0)


@pytest.mark.skipif(USE_QEMU, reason="vmkit's discard= option")
@pytest.mark.parametrize("mode", ["ignore", "unmap"])
def test_discard_option(tmp_path: Path, mode: str) -> None:
    """discard=ignore hides DISCARD from the guest (WRITE_ZEROES stays); unmap offers it."""
    img = tmp_path / "disk.img"
    size = 8 * MiB
    before = make_disk(img, size)
    d = Disk(img, serial="dsc", opts=f"discard={mode}")
    r = run_guest("virtio_blk", [d], "no-any-layout")
    h.assert_test_passed(r, "virtio_blk")
    (_, info), = by_serial(r, [d]).values()
    feats = int(info["features"], 16)
    if mode == "ignore":
        assert not feats & (1 << 13) and "discard" not in info, r.describe()
    else:
        assert feats & (1 << 13) and "discard" in info, r.describe()
    assert feats & (1 << 14) and "write_zeroes" in info, r.describe()
    check_reads(r, info, before)
    check_writes(r, info, img.read_bytes(), 0)


def test_odd_size_and_ring_options(tmp_path: Path) -> None:
    """A capacity that is no multiple of 8; no indirect, no EVENT_IDX, an 8-entry
    queue; BARs cleared by the guest and placed again (moved) by its PCI code."""
    img = tmp_path / "odd.img"
    size = 4 * MiB + 7 * SECTOR
    before = make_disk(img, size)
    d = Disk(img, serial="odd")
    r = run_guest("virtio_blk", [d],
                  "no-indirect no-event-idx qsize=8 no-idx-wrap no-any-layout pci-reassign")
    h.assert_test_passed(r, "virtio_blk")
    (_, info), = by_serial(r, [d]).values()
    check_common(r, info, size, "odd")
    feats = int(info["features"], 16)
    assert not feats & (1 << 28) and not feats & (1 << 29), r.describe()
    assert info.get("queue_size") == "8", r.describe()
    placed = [k for k, v in info.items() if k.startswith("bar") and v.endswith(",placed")]
    assert placed, f"no BAR was placed by the guest{r.describe()}"
    check_reads(r, info, before)
    after = img.read_bytes()
    assert len(after) == size, r.describe()
    check_writes(r, info, after, 0)


def test_readonly(tmp_path: Path) -> None:
    img = tmp_path / "ro.img"
    size = 4 * MiB
    before = make_disk(img, size)
    digest = hashlib.sha256(before).hexdigest()
    d = Disk(img, readonly=True, serial="ro")
    r = run_guest("virtio_blk", [d], "no-idx-wrap no-any-layout")
    h.assert_test_passed(r, "virtio_blk")
    (_, info), = by_serial(r, [d]).values()
    check_common(r, info, size, "ro")
    assert info.get("readonly") == "1", f"VIRTIO_BLK_F_RO not offered{r.describe()}"
    check_reads(r, info, before)
    assert hashlib.sha256(img.read_bytes()).hexdigest() == digest, \
        f"read-only disk file changed{r.describe()}"


def test_two_disks(tmp_path: Path) -> None:
    """--disk twice: one writable, one read-only, each with its own file and serial."""
    disks = [Disk(tmp_path / "a.img", serial="disk-a"),
             Disk(tmp_path / "b.img", readonly=True, serial="disk-b")]
    sizes = [6 * MiB, 2 * MiB]
    before = [make_disk(d.path, s) for d, s in zip(disks, sizes)]
    r = run_guest("virtio_blk", disks, "no-idx-wrap no-any-layout")
    h.assert_test_passed(r, "virtio_blk")
    seen = by_serial(r, disks)
    assert sorted(seen) == sorted(d.serial for d in disks), r.describe()
    for d, size, b in zip(disks, sizes, before):
        n, info = seen[d.serial]
        check_common(r, info, size, d.serial)
        check_reads(r, info, b)
        after = d.path.read_bytes()
        if d.readonly:
            assert info.get("readonly") == "1", r.describe()
            assert after == b, f"read-only {d.path.name} changed{r.describe()}"
        else:
            assert "readonly" not in info, r.describe()
            assert len(after) == size, r.describe()
            # The pattern carries the guest's index of the device: each file got its own.
            check_writes(r, info, after, n)


def test_serial_absent(tmp_path: Path) -> None:
    """No serial= : GET_ID still answers (empty) or says UNSUPP; the rest works."""
    img = tmp_path / "noserial.img"
    make_disk(img, 1 * MiB)
    r = run_guest("virtio_blk", [Disk(img)], "no-idx-wrap no-any-layout")
    h.assert_test_passed(r, "virtio_blk")
    info, = per_disk(r)
    assert info.get("serial") == "", r.describe()


@pytest.mark.parametrize("readonly", [False, True])
def test_any_layout(tmp_path: Path, readonly: bool) -> None:
    """VERSION_1 means any framing (2.6.4): header in two pieces, status at the
    end of the data buffer, header and data in one buffer (writable disk only)."""
    img = tmp_path / "layout.img"
    before = make_disk(img, 1 * MiB)
    r = run_guest("virtio_blk", [Disk(img, readonly=readonly, serial="layout")], "no-idx-wrap")
    ways = ["split_header", "status_in_data"] + ([] if readonly else ["header_with_data"])
    bad = {w: r.info.get(f"any_layout_{w}") for w in ways if r.info.get(f"any_layout_{w}") != "ok"}
    assert not bad, f"framings the device refused: {bad}{r.describe()}"
    h.assert_test_passed(r, "virtio_blk")
    if readonly:
        assert img.read_bytes() == before, r.describe()


# Outcomes the hostile guest may report, and the cases where a device cannot
# honestly complete the request with OK (it has no end, no place for the
# status, or names descriptors that do not exist).
HOSTILE_OUTCOMES = {"needs_reset", "ioerr", "unsupp", "ignored", "ok", "returned", "done",
                    "skipped"}
HOSTILE_NEVER_OK = {"loop", "head_oob", "next_oob", "no_writable", "short_header",
                    "indirect_len", "indirect_empty", "indirect_loop", "indirect_next_oob",
                    "indirect_addr"}


def test_hostile(tmp_path: Path) -> None:
    img = tmp_path / "hostile.img"
    make_disk(img, 1 * MiB)
    r = run_guest("virtio_hostile", [Disk(img, serial="hostile")])
    assert not r.timed_out, r.describe()
    # The monitor kept running and shut down normally: no crash, no signal.
    assert r.returncode == 0, r.describe()
    h.assert_test_passed(r, "virtio_hostile")
    results = {k[len("hostile_"):]: v for k, v in r.info_all
               if k.startswith("hostile_") and k != "hostile_cases"}
    assert len(results) >= 18, r.describe()
    for case, outcome in results.items():
        assert outcome in HOSTILE_OUTCOMES, f"hostile_{case}={outcome}{r.describe()}"
        if case in HOSTILE_NEVER_OK:
            assert outcome != "ok", f"hostile_{case}: the device completed it with OK{r.describe()}"
    if not USE_QEMU:
        # QEMU 7.2 lets addr + len wrap and writes the guest's page 0; vmkit must not.
        assert r.info.get("wrap_page0") == "intact", r.describe()
        # The BAR over the guest's RAM: RAM is what the guest reads and writes there.
        assert r.info.get("bar_over_ram") == "ram", r.describe()
    # Device reset in flight, MSI-X gone wild, BARs everywhere: each came back.
    for case in ("reset_inflight", "msix_garbage", "bar_abuse"):
        assert case in results, f"hostile_{case} missing{r.describe()}"
    # 4.1.4.3: queue_size reads 0 for a queue that does not exist. (QEMU
    # ignores a queue_select of 0xffff and keeps queue 0 selected.)
    assert r.info.get("queue_size_of_num_queues") == "0", r.describe()


# The engines behind the device: every aio= with and without an iothread,
# and the cache modes each may use (native needs O_DIRECT).
ENGINE_MATRIX = [(aio, cache, iothread)
                 for aio, caches in (("io_uring", ("none", "writeback", "unsafe")),
                                     ("native", ("none", "directsync")),
                                     ("threads", ("none", "writeback", "writethrough")))
                 for cache in caches for iothread in ("off", "on")]


@pytest.mark.parametrize("aio,cache,iothread", ENGINE_MATRIX)
def test_engines(tmp_path: Path, aio: str, cache: str, iothread: str) -> None:
    if USE_QEMU:
        pytest.skip("vmkit's --disk options")
    img = tmp_path / "engine.img"
    size = 4 * MiB
    before = make_disk(img, size)
    d = Disk(img, serial="engine", opts=f"aio={aio},cache={cache},iothread={iothread}")
    r = run_guest("virtio_blk", [d], "no-any-layout")
    h.assert_test_passed(r, "virtio_blk")
    (_, info), = by_serial(r, [d]).values()
    check_common(r, info, size, "engine")
    assert int(info.get("batch_rw", "0")) > 1, f"no requests in flight at once{r.describe()}"
    check_reads(r, info, before)
    after = img.read_bytes()
    assert len(after) == size, r.describe()
    check_writes(r, info, after, 0)


def test_queue_options(tmp_path: Path) -> None:
    """num-queues= shows in the config (the guest drives queue 0), queue-size= is the maximum."""
    if USE_QEMU:
        pytest.skip("vmkit's --disk options")
    disks = [Disk(tmp_path / "a.img", serial="mq", opts="num-queues=4,queue-size=1024"),
             Disk(tmp_path / "b.img", serial="small", opts="queue-size=16,iothread=on")]
    before = [make_disk(d.path, 2 * MiB) for d in disks]
    r = run_guest("virtio_blk", disks, "no-idx-wrap no-any-layout")
    h.assert_test_passed(r, "virtio_blk")
    seen = by_serial(r, disks)
    n, info = seen["mq"]
    assert info.get("queue_size_max") == "1024", r.describe()
    assert info.get("num_queues") == "4", r.describe()
    check_reads(r, info, before[0])
    check_writes(r, info, disks[0].path.read_bytes(), n)
    n, info = seen["small"]
    assert info.get("queue_size_max") == "16", r.describe()
    check_reads(r, info, before[1])
    check_writes(r, info, disks[1].path.read_bytes(), n)


@pytest.mark.parametrize("opts,words", [
    ("aio=bogus", ["aio=bogus"]),
    ("aio=native,cache=writeback", ["aio=native", "cache"]),
    ("cache=unsafe,aio=native", ["aio=native", "cache"]),
    ("queue-size=3", ["queue-size=3"]),
    ("queue-size=2048", ["queue-size=2048"]),
    ("queue-size=48", ["queue-size=48"]),
    ("num-queues=0", ["num-queues=0"]),
    ("num-queues=x", ["num-queues=x"]),
    ("iothread=maybe", ["iothread=maybe"]),
    ("discard=sometimes", ["discard=sometimes"]),
])
def test_bad_disk_options(tmp_path: Path, opts: str, words: list[str]) -> None:
    """One line naming the problem, exit 2, the guest never starts."""
    if USE_QEMU:
        pytest.skip("vmkit's --disk options")
    img = tmp_path / "bad.img"
    make_disk(img, 1 * MiB)
    r = h.run_argv([str(h.VMKIT), "run", "--kernel", str(h.guest("virtio_blk")),
                    "--disk", f"path={img},{opts}"], timeout=10)
    assert r.returncode == 2, r.describe()
    errs = [l for l in r.stderr.splitlines() if not l.startswith("vmkit: host KVM is PVM")]
    assert len(errs) == 1, f"expected one error line{r.describe()}"
    assert errs[0].startswith("vmkit: "), r.describe()
    for w in words:
        assert w in errs[0], f"'{w}' not in the error line{r.describe()}"
    assert "VMKIT-" not in r.stdout, "the guest must not have started" + r.describe()
