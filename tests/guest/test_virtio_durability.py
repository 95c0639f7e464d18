# SPDX-License-Identifier: GPL-2.0-or-later
"""Durability of virtio-blk writes under build/vmkit, per cache mode.

The guest (tests/guest/virtio_flush.c) writes 1 MiB of a seeded pattern at
sector 2048 of its first disk, FLUSHes when the device offers
VIRTIO_BLK_F_FLUSH, prints `VMKIT-INFO flushed=1` and spins at CPL3 for
ever. The test SIGKILLs the monitor the moment that line appears, so that
nothing of vmkit's (no exit path, no close) runs after the guest was told
its data is safe, and then reads the disk file.

What each cache mode promises (as QEMU defines them) and what is checked:

  mode          open flags          FLUSH      a completed write is...
  none          O_DIRECT            fdatasync  in the file (the kernel has it); on
                                               stable storage after FLUSH (the
                                               disk's volatile cache)
  writeback     (page cache)        fdatasync  in the file; on stable storage
                                               after FLUSH
  writethrough  O_DSYNC             not shown  on stable storage at once
  directsync    O_DIRECT|O_DSYNC    not shown  on stable storage at once
  unsafe        (page cache)        ignored    in the file; never promised to
                                               reach stable storage

A SIGKILL of the monitor is not a power cut: data the kernel holds
(page cache) survives it, so the file check alone passes for every mode
whose writes leave vmkit before completing. It catches a monitor that
completes writes it still holds in its own memory, or writes to the wrong
place. The parts of the promise beyond the process are checked from the
host kernel's side:

- open flags (/proc/<pid>/fdinfo) of the image's descriptor, per mode
- dirty pages (cachestat(2), Linux 6.5+) in the written range after
  flushed=1: none for every mode but unsafe, whose ignored FLUSH leaves them
  dirty (the probe's own negative control)
- under strace with aio=threads (its flush is a visible fdatasync(2); an
  io_uring flush is not a syscall): the fdatasync on the image's descriptor
  comes after the writes and before the guest says flushed=1 (none,
  writeback); unsafe issues none

Negative control: the guest's `wait` variant stops before writing until
it reads a byte on the serial port; killed there, the file holds zeros and
the pattern check fails on it (so it can fail). The same variant given the
byte is the positive control.

Each mode runs with vmkit's default I/O engine and, when `vmkit run --help`
lists aio=, with each engine (native only with O_DIRECT modes).

The images live on a file system with writeback: pytest's directory, or
one under /var/tmp (VMKIT_DISK_TMPDIR) when /tmp is a tmpfs. A tmpfs has
no stable storage to flush to, cachestat never counts its pages dirty
(cache=unsafe's negative control would fail) and before Linux 6.6 it
refuses O_DIRECT (cache=none and directsync).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
import secrets
import selectors
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import pytest

import vmkit_harness as h

SECTOR = 512
MiB = 1 << 20
DISK_BYTES = 64 * MiB
START_SECTOR = 2048
WRITE_BYTES = 1 * MiB
START_TIMEOUT = 60.0

CACHE_MODES = ["none", "writeback", "writethrough", "directsync", "unsafe"]
FLUSH_OFFERED = {"none": True, "writeback": True, "writethrough": False,
                 "directsync": False, "unsafe": True}
O_DIRECT = 0o40000
O_DSYNC = 0o10000
OPEN_FLAGS = {"none": O_DIRECT, "writeback": 0, "writethrough": O_DSYNC,
              "directsync": O_DIRECT | O_DSYNC, "unsafe": 0}
DIRECT_MODES = {"none", "directsync"}

M64 = (1 << 64) - 1


# ---- what the guest writes ----

def mix(x: int) -> int:
    """splitmix64's finaliser, as virtio_flush.c."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & M64
    x ^= x >> 31
    return x


def pattern(seed: int, offset: int, length: int) -> bytes:
    """The guest's words for disk bytes [offset, offset + length)."""
    return struct.pack(f"<{length // 8}Q", *(mix(seed ^ o) for o in range(offset, offset + length, 8)))


def check_pattern(img: Path, seed: int, what: str = "") -> None:
    """The pattern is at [START_SECTOR, +WRITE_BYTES); the 64 KiB either side are zeros."""
    off = START_SECTOR * SECTOR
    with open(img, "rb") as f:
        f.seek(off - 64 * 1024)
        before = f.read(64 * 1024)
        got = f.read(WRITE_BYTES)
        after = f.read(64 * 1024)
    assert os.path.getsize(img) == DISK_BYTES, f"image is {os.path.getsize(img)} bytes{what}"
    want = pattern(seed, off, WRITE_BYTES)
    if got != want:
        bad = next(i for i in range(0, len(want), 8) if got[i:i + 8] != want[i:i + 8])
        nz = sum(1 for i in range(0, len(got), SECTOR) if got[i:i + SECTOR] != want[i:i + SECTOR])
        raise AssertionError(
            f"{nz} of {WRITE_BYTES // SECTOR} sectors differ from what the guest wrote; first at "
            f"byte {off + bad}: {got[bad:bad + 8].hex()}, want {want[bad:bad + 8].hex()}{what}")
    assert before == bytes(len(before)), f"bytes before the written range changed{what}"
    assert after == bytes(len(after)), f"bytes after the written range changed{what}"


# statfs(2) f_type of the file systems that keep files in memory only.
TMPFS_MAGIC = 0x01021994
RAMFS_MAGIC = 0x858458F6


def in_memory(path: Path) -> bool:
    """True when path's file system has no disk behind it (tmpfs, ramfs)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type is its first field
    if libc.statfs(os.fsencode(path), buf) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(path))
    return ctypes.c_long.from_buffer(buf).value in (TMPFS_MAGIC, RAMFS_MAGIC)


@pytest.fixture
def disk_path(tmp_path: Path):
    """A directory for the images on a file system with writeback: pytest's, unless that
    is in memory (a tmpfs /tmp); then a new one under /var/tmp, which the FHS keeps on
    disk (VMKIT_DISK_TMPDIR to choose another), removed afterwards."""
    if not in_memory(tmp_path):
        yield tmp_path
        return
    d = Path(tempfile.mkdtemp(prefix="vmkit-durability-",
                              dir=os.environ.get("VMKIT_DISK_TMPDIR", "/var/tmp")))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def make_image(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    img = tmp_path / "durability.img"
    with open(img, "wb") as f:
        f.truncate(DISK_BYTES)
    return img


# ---- the monitor ----

@functools.lru_cache(maxsize=None)
def vmkit_help() -> str:
    try:
        p = subprocess.run([str(h.VMKIT), "run", "--help"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return p.stdout + p.stderr


def aio_engines() -> list[str]:
    m = re.search(r"aio=([a-z_|]+)", vmkit_help())
    return m.group(1).split("|") if m else []


def matrix() -> list[tuple[str, Optional[str]]]:
    """(cache, aio) pairs: each mode with the default engine (None) and each listed one."""
    out: list[tuple[str, Optional[str]]] = [(c, None) for c in CACHE_MODES]
    for aio in aio_engines():
        for c in CACHE_MODES:
            if aio == "native" and c not in DIRECT_MODES:
                continue  # Linux AIO needs O_DIRECT; vmkit (like QEMU) refuses it
            out.append((c, aio))
    return out


def param_id(p: tuple[str, Optional[str]]) -> str:
    return p[0] + ("" if p[1] is None else f"-{p[1]}")


@pytest.fixture(autouse=True)
def _needs_vmkit_disk() -> None:
    h.require_vmkit()
    if "--disk" not in vmkit_help():
        pytest.skip("vmkit has no --disk yet")


class Monitor:
    """vmkit running virtio_flush, its console read as it comes."""

    def __init__(self, img: Path, cache: str, aio: Optional[str], seed: int, *,
                 wait: bool = False, wrap: Optional[list[str]] = None) -> None:
        opt = f"path={img},cache={cache}" + (f",aio={aio}" if aio else "")
        cmdline = f"seed={seed:#x} sector={START_SECTOR} bytes={WRITE_BYTES}" + (" wait" if wait else "")
        self.argv = (wrap or []) + h.vmkit_argv(
            h.guest("virtio_flush"), memory="64M",
            extra_args=["--disk", opt, "--cmdline", cmdline])
        self.img = img
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = bytearray()
        self.err = bytearray()
        self.sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for f, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            os.set_blocking(f.fileno(), False)
            self.sel.register(f, selectors.EVENT_READ, buf)
        self.killed_at: Optional[float] = None

    @property
    def stdout(self) -> str:
        return self.out.decode(errors="replace")

    def info(self) -> dict[str, str]:
        return dict(h.parse_info(self.stdout.splitlines()))

    def _pump(self, timeout: float) -> bool:
        """Read what is there (waiting up to timeout); False once both pipes are at EOF."""
        if not self.sel.get_map():
            return False
        for key, _ in self.sel.select(timeout=timeout):
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if chunk:
                key.data.extend(chunk)
            else:
                self.sel.unregister(key.fileobj)
        return True

    def wait_for(self, key: str, timeout: float = START_TIMEOUT) -> None:
        """Until the whole `VMKIT-INFO <key>=...` line is on the console (the UART sends
        it a byte at a time); fails on a FAIL line, an exit or time."""
        needle = re.compile(rb"VMKIT-INFO " + re.escape(key.encode()) + rb"=[^\n]*\n")
        end = time.monotonic() + timeout
        while not needle.search(self.out):
            if b"VMKIT-TEST" in self.out and b" FAIL" in self.out:
                pytest.fail(f"guest failed{self.describe()}")
            if self.proc.poll() is not None and not self._pump(0):
                pytest.fail(f"monitor exited before {key}={self.describe()}")
            if time.monotonic() > end:
                pytest.fail(f"no {key}= within {timeout:.0f} s{self.describe()}")
            self._pump(0.05)

    def kill(self, pid: Optional[int] = None) -> None:
        """SIGKILL (the monitor, or the given process), then collect what is left."""
        os.kill(pid or self.proc.pid, signal.SIGKILL)
        self.killed_at = time.monotonic()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        while self._pump(0.1):
            pass
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sel.close()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f:
                try:
                    f.close()
                except OSError:
                    pass

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def image_fd_flags(self, pid: Optional[int] = None) -> int:
        """The open flags of the monitor's descriptor for the image (fdinfo, octal)."""
        pid = pid or self.proc.pid
        want = os.path.realpath(self.img)
        fds = Path(f"/proc/{pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd) != want:
                    continue
                text = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
            except OSError:
                continue
            m = re.search(r"^flags:\s*([0-7]+)", text, re.M)
            assert m, text
            return int(m.group(1), 8)
        raise AssertionError(f"no descriptor of {pid} is {want}{self.describe()}")

    def describe(self) -> str:
        return (f"\n$ {' '.join(self.argv)}\nexit code: {self.proc.returncode}\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.err.decode(errors='replace')}")


def start(img: Path, cache: str, aio: Optional[str], seed: int, **kw) -> Monitor:
    return Monitor(img, cache, aio, seed, **kw)


def check_flush_feature(m: Monitor, cache: str) -> None:
    info = m.info()
    want = "1" if FLUSH_OFFERED[cache] else "0"
    assert info.get("flush_offered") == want, \
        f"cache={cache}: VIRTIO_BLK_F_FLUSH offered={info.get('flush_offered')}, want {want}{m.describe()}"
    assert info.get("flush") == ("done" if FLUSH_OFFERED[cache] else "not_offered"), m.describe()


# ---- page cache state (cachestat(2)) ----

class _CachestatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Cachestat(ctypes.Structure):
    _fields_ = [("nr_cache", ctypes.c_uint64), ("nr_dirty", ctypes.c_uint64),
                ("nr_writeback", ctypes.c_uint64), ("nr_evicted", ctypes.c_uint64),
                ("nr_recently_evicted", ctypes.c_uint64)]


SYS_cachestat = 451  # x86-64, Linux 6.5


def cachestat(path: Path, off: int, length: int) -> Optional[_Cachestat]:
    """Page cache pages of [off, off+length) of the file: cached, dirty, under writeback."""
    libc = ctypes.CDLL(None, use_errno=True)
    rng = _CachestatRange(off, length)
    cs = _Cachestat()
    fd = os.open(path, os.O_RDONLY)
    try:
        r = libc.syscall(ctypes.c_long(SYS_cachestat), ctypes.c_int(fd), ctypes.byref(rng),
                         ctypes.byref(cs), ctypes.c_uint(0))
    finally:
        os.close(fd)
    if r != 0:
        e = ctypes.get_errno()
        if e in (errno.ENOSYS, errno.EPERM):
            return None
        raise OSError(e, os.strerror(e))
    return cs


# ---- tests ----

def run_to_flushed(tmp_path: Path, cache: str, aio: Optional[str]) -> tuple[Monitor, Path, int]:
    img = make_image(tmp_path)
    seed = secrets.randbits(64)
    m = start(img, cache, aio, seed)
    try:
        m.wait_for("flushed")
        m.kill()
    finally:
        m.close()
    check_flush_feature(m, cache)
    check_pattern(img, seed, m.describe())
    return m, img, seed


@pytest.mark.parametrize("cache,aio", matrix(), ids=[param_id(p) for p in matrix()])
def test_sigkill_after_flush(disk_path: Path, cache: str, aio: Optional[str]) -> None:
    """flushed=1, SIGKILL at once: the pattern is in the file, nothing around it changed,
    and (cachestat) no page of it is dirty unless the mode is unsafe."""
    # A sync(2) anywhere on the host (tests/img calls one) cleans unsafe's dirty
    # pages; three runs in a row that all lose that race mean the pages were clean.
    for attempt in range(3 if cache == "unsafe" else 1):
        m, img, _ = run_to_flushed(disk_path / str(attempt), cache, aio)
        if in_memory(img):
            pytest.skip(f"{img.parent} is in memory (VMKIT_DISK_TMPDIR to put it on a disk): "
                        "its pages are never dirty, whatever the cache mode")
        cs = cachestat(img, START_SECTOR * SECTOR, WRITE_BYTES)
        if cs is None:
            return
        pages = f"cached {cs.nr_cache}, dirty {cs.nr_dirty}, writeback {cs.nr_writeback} " \
                f"of {WRITE_BYTES // 4096} pages"
        if cache != "unsafe":
            assert cs.nr_dirty == 0 and cs.nr_writeback == 0, \
                f"cache={cache}: after flushed=1 the written range still has {pages}{m.describe()}"
            return
        # FLUSH ignored: the data is only in the page cache (the kernel writes dirty
        # pages back after 30 s, dirty_expire_centisecs).
        if cs.nr_dirty + cs.nr_writeback > 0:
            return
    pytest.fail(f"cache=unsafe left no dirty page ({pages}): was the FLUSH not ignored?"
                f"{m.describe()}")


@pytest.mark.parametrize("cache", CACHE_MODES)
def test_open_flags_and_wait_variant(disk_path: Path, cache: str) -> None:
    """The image's descriptor has the mode's flags; the `wait` variant writes once given
    its byte (the positive control for test_negative_control_killed_before_write)."""
    img = make_image(disk_path)
    seed = secrets.randbits(64)
    m = start(img, cache, None, seed, wait=True)
    try:
        m.wait_for("ready")
        flags = m.image_fd_flags()
        want = OPEN_FLAGS[cache]
        assert flags & (O_DIRECT | O_DSYNC) == want, \
            f"cache={cache}: image open with flags {flags:#o}, want O_DIRECT|O_DSYNC bits " \
            f"{want:#o}{m.describe()}"
        assert flags & os.O_ACCMODE == os.O_RDWR, f"flags {flags:#o}{m.describe()}"
        m.send(b"g")
        m.wait_for("flushed")
        m.kill()
    finally:
        m.close()
    check_flush_feature(m, cache)
    check_pattern(img, seed, m.describe())


def test_negative_control_killed_before_write(disk_path: Path) -> None:
    """Killed while the guest waits to write: the file holds zeros, and the check that
    passes after a completed write fails on it."""
    img = make_image(disk_path)
    seed = secrets.randbits(64)
    m = start(img, "none", None, seed, wait=True)
    try:
        m.wait_for("ready")
        m.kill()
    finally:
        m.close()
    assert "written" not in m.info(), m.describe()
    data = img.read_bytes()
    assert data == bytes(DISK_BYTES), f"the image changed though nothing was written{m.describe()}"
    with pytest.raises(AssertionError, match="sectors differ"):
        check_pattern(img, seed)


def test_pattern_check_sees_a_wrong_seed(disk_path: Path) -> None:
    """The check is specific to this run's data: the right bytes under another seed fail."""
    img = make_image(disk_path)
    with open(img, "r+b") as f:
        f.seek(START_SECTOR * SECTOR)
        f.write(pattern(1, START_SECTOR * SECTOR, WRITE_BYTES))
    check_pattern(img, 1)
    with pytest.raises(AssertionError, match="sectors differ"):
        check_pattern(img, 2)


# ---- the flush as syscalls (strace) ----

_SYSCALL_RE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>(.*)|(\w+)\((.*))$")


def strace_events(log: str, images: set[str]) -> tuple[list[tuple[str, int, str]], Optional[int]]:
    """Events on the image's descriptor and the console, in the order strace finished them:
    ('open', fd, flags), ('write', offset, ''), ('flush', fd, ''), ('flushed', 0, '').
    Also returns the image's descriptor."""
    pending: dict[int, tuple[str, str]] = {}
    events: list[tuple[str, int, str]] = []
    console = ""
    said_flushed = False
    img_fd: Optional[int] = None
    for line in log.splitlines():
        m = _SYSCALL_RE.match(line)
        if not m:
            continue
        pid = int(m.group(1))
        if m.group(2):  # resumed: the call is complete now
            name, args = pending.pop(pid, (m.group(2), ""))
            args += m.group(3)
        else:
            name, args = m.group(4), m.group(5)
            if "<unfinished ...>" in args:
                pending[pid] = (name, args.replace("<unfinished ...>", ""))
                continue
        res = re.search(r"\)\s+=\s+(-?\d+)", args)
        ret = int(res.group(1)) if res else None
        if name == "openat" and any(f'"{i}"' in args for i in images) and ret is not None \
                and ret >= 0:
            img_fd = ret
            events.append(("open", ret, args))
        elif name in ("pwritev", "pwrite64", "pwritev2") and img_fd is not None and \
                args.startswith(f"{img_fd},"):
            # pwrite64/pwritev: the offset is the last argument; pwritev2: then flags.
            off = re.search(r",\s*(\d+)\s*\)\s+=", args) if name != "pwritev2" else \
                re.search(r",\s*(\d+)\s*,\s*\w+\s*\)\s+=", args)
            events.append(("write", int(off.group(1)) if off else -1, ""))
        elif name in ("fdatasync", "fsync") and img_fd is not None and args.startswith(f"{img_fd})"):
            events.append(("flush", img_fd, ""))
        elif name == "write" and args.startswith("1, "):
            s = re.match(r'1, "((?:[^"\\]|\\.)*)"', args)
            if s:
                console += s.group(1).encode().decode("unicode_escape")
                if not said_flushed and "flushed=1" in console:
                    said_flushed = True
                    events.append(("flushed", 0, ""))
    return events, img_fd


def monitor_child(tracer: int, timeout: float = 10.0) -> int:
    """The process strace started (its child)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for t in Path(f"/proc/{tracer}/task").iterdir():
            kids = (t / "children").read_text().split()
            if kids:
                return int(kids[0])
        time.sleep(0.01)
    raise AssertionError("strace started no process")


@pytest.mark.parametrize("cache", CACHE_MODES)
def test_flush_reaches_the_host(disk_path: Path, cache: str) -> None:
    """Under strace, aio=threads: the guest's FLUSH is an fdatasync of the image after its
    writes and before flushed=1 (none, writeback), no fdatasync at all (unsafe), and no
    FLUSH but an O_DSYNC descriptor (writethrough, directsync)."""
    if not shutil.which("strace"):
        pytest.skip("no strace")
    engines = aio_engines()
    if engines and "threads" not in engines:
        pytest.skip("vmkit has no aio=threads (an io_uring flush is no syscall)")
    img = make_image(disk_path)
    seed = secrets.randbits(64)
    log = disk_path / "strace.log"
    wrap = ["strace", "-f", "-qq", "-s", "16", "-o", str(log),
            "-e", "trace=openat,pwrite64,pwritev,pwritev2,fdatasync,fsync,write"]
    m = start(img, cache, "threads" if engines else None, seed, wrap=wrap)
    try:
        m.wait_for("flushed")
        m.kill(monitor_child(m.proc.pid))
    finally:
        m.close()
    check_flush_feature(m, cache)
    check_pattern(img, seed, m.describe())

    events, fd = strace_events(log.read_text(errors="replace"),
                               {str(img), os.path.realpath(img)})
    trace = "\n".join(map(str, events[:40]))
    where = f"\n--- image/console events ---\n{trace}{m.describe()}"
    assert fd is not None, f"no openat of the image in the trace{where}"
    opened = next(e for e in events if e[0] == "open")
    if OPEN_FLAGS[cache] & O_DSYNC:
        assert "O_DSYNC" in opened[2] or "O_SYNC" in opened[2], f"cache={cache}: {opened}{where}"
    kinds = [e[0] for e in events]
    assert "flushed" in kinds, f"flushed=1 not seen in the traced console writes{where}"
    done_at = kinds.index("flushed")
    region = range(START_SECTOR * SECTOR, START_SECTOR * SECTOR + WRITE_BYTES)
    writes = [i for i, e in enumerate(events) if e[0] == "write" and e[1] in region]
    assert writes, f"no write to the image's range before flushed=1{where}"
    assert max(writes) < done_at, f"a write completed after flushed=1{where}"
    flushes = [i for i, e in enumerate(events) if e[0] == "flush"]
    if cache in ("none", "writeback"):
        ok = [i for i in flushes if max(writes) < i < done_at]
        assert ok, f"cache={cache}: no fdatasync of the image between the last write and " \
            f"flushed=1{where}"
    else:
        # writethrough/directsync: no FLUSH to send; unsafe: the FLUSH is ignored.
        assert not [i for i in flushes if i < done_at], \
            f"cache={cache}: fdatasync of the image before flushed=1{where}"
