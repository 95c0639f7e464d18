# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash consistency: a writer (build/tests/img/crash-writer, the image library) is killed
with SIGKILL at random moments while it writes, zeroes, discards, compresses and flushes.
After every kill Debian's qemu-img check must find no corruption (leaks are allowed) and
everything flushed before the kill must read back (qemu-img convert -O raw)."""
import os
import random
import signal
import struct
import subprocess
import time

import pytest

from imgtest import ROOT, pattern_raw, qemu_img, read

WRITER = os.path.join(ROOT, "build", "tests", "img", "crash-writer")
SIZE = 4 << 20
KILLS_PER_CONFIG = 22
# (name, create options, backing file?)
CONFIGS = [
    ("512-v3", "cluster_size=512", False),
    ("4k-v2", "cluster_size=4k,compat=0.10", False),
    ("64k-zstd", "cluster_size=64k,compression_type=zstd", False),
    ("64k-backing", "cluster_size=64k", True),
    ("4k-refcount8-backing", "cluster_size=4k,refcount_bits=8", True),
]


def pattern(gen, off, length):
    return b"".join(struct.pack("<QQ", gen, off + i) * 32 for i in range(0, length, 512))


class Model:
    """The image's content as of the last completed flush, and the operations since."""

    def __init__(self, data, backing, cs):
        self.data = bytearray(data)
        self.backing = backing
        self.cs = cs
        self.pending = []

    def ranges(self, op):
        kind, off, length = op[0], op[1], op[2]
        if kind == "D":      # only whole clusters are dropped
            start = -(-off // self.cs) * self.cs
            end = SIZE if off + length == SIZE else off + length - (off + length) % self.cs
            return (start, max(start, end))
        return (off, off + length)

    def apply(self, op):
        kind, off, length, gen = op
        if kind in ("W", "C"):
            self.data[off:off + length] = pattern(gen, off, length)
        elif kind == "Z":
            self.data[off:off + length] = bytes(length)
        else:
            start, end = self.ranges(op)
            self.data[start:end] = self.backing[start:end] if self.backing else bytes(end - start)

    def feed(self, line):
        f = line.split()
        if f[0] == "F":
            for op in self.pending:
                self.apply(op)
            self.pending = []
        elif f[0] == "W":
            self.pending.append(("W", int(f[1]), int(f[2]), int(f[3])))
        elif f[0] in ("Z", "D"):
            self.pending.append((f[0], int(f[1]), int(f[2]), 0))
        elif f[0] == "C":
            off = int(f[1])
            self.pending.append(("C", off, min(self.cs, SIZE - off), int(f[2])))

    def verify(self, actual):
        """Bytes no unflushed operation touched must be as flushed; then adopt what is there."""
        mask = bytearray(b"\1") * SIZE
        for op in self.pending:
            start, end = self.ranges(op)
            mask[start:end] = bytes(end - start)
        bad = [i for i in range(0, SIZE, 512)
               if mask[i] and actual[i:i + 512] != self.data[i:i + 512]
               and any(mask[i:i + 512])]
        self.data = bytearray(actual)
        self.pending = []
        return bad


def run_writer(img, seed, kill_after, engine=()):
    p = subprocess.Popen([WRITER, img, str(seed), *(["1000000000", *engine] if engine else [])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.set_blocking(p.stdout.fileno(), False)
    out = b""
    deadline = time.monotonic() + 10
    while b"R\n" not in out and p.poll() is None and time.monotonic() < deadline:
        chunk = p.stdout.read()
        out += chunk or b""
        time.sleep(0.001)
    time.sleep(kill_after)
    p.send_signal(signal.SIGKILL)
    rest, err = p.communicate(timeout=10)
    out += rest or b""
    return p.returncode, out.decode(), err.decode()


# Through the block backend a VM's disk uses (the image engine, many requests in flight):
# (name, create options, backing file?, aio engine, cache mode)
ENGINE_CONFIGS = [
    ("64k-io_uring-writeback", "cluster_size=64k", False, "io_uring", "writeback"),
    ("64k-backing-threads-unsafe", "cluster_size=64k", True, "threads", "unsafe"),
    ("4k-io_uring-none", "cluster_size=4k", False, "io_uring", "none"),
    ("64k-backing-native-directsync", "cluster_size=64k", True, "native", "directsync"),
]


def direct_io_works(d):
    try:
        fd = os.open(os.path.join(d, "odirect"), os.O_RDWR | os.O_CREAT | os.O_DIRECT)
    except OSError:
        return False
    os.close(fd)
    return True


@pytest.mark.parametrize("name,opts,with_backing,aio,cache", ENGINE_CONFIGS,
                         ids=[c[0] for c in ENGINE_CONFIGS])
def test_sigkill_engine(tmp_path, name, opts, with_backing, aio, cache):
    """The same, with the writes, zeroes, discards and flushes going through the image engine
    (hot path and library path, up to 32 in flight), as a guest's would."""
    if cache in ("none", "directsync") and not direct_io_works(str(tmp_path)):
        pytest.skip(f"{tmp_path}: no O_DIRECT on this file system")
    test_sigkill(tmp_path, name, opts, with_backing, engine=(aio, cache))


@pytest.mark.parametrize("name,opts,with_backing", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_sigkill(tmp_path, name, opts, with_backing, engine=()):
    if not os.path.exists(WRITER):
        pytest.skip(f"{WRITER} not built (ninja -C build)")
    rnd = random.Random(name)
    img = str(tmp_path / "c.qcow2")
    backing = None
    args = ["create", "-q", "-f", "qcow2", "-o", opts]
    if with_backing:
        base = pattern_raw(str(tmp_path / "base.raw"), SIZE, seed=5)
        backing = read(base)
        args += ["-b", "base.raw", "-F", "raw"]
    qemu_img(*args, img, str(SIZE), check=True)
    cs = int(qemu_img("info", "--output=json", img).stdout.split('"cluster-size": ')[1].split(",")[0])
    model = Model(backing or bytes(SIZE), backing, cs)
    out_raw = str(tmp_path / "out.raw")
    ops = 0
    for kill in range(KILLS_PER_CONFIG):
        rc, out, err = run_writer(img, rnd.randrange(1, 1 << 30), rnd.uniform(0.005, 0.12), engine)
        assert rc == -signal.SIGKILL, f"writer ended by itself ({rc}): {err}"
        lines = out.splitlines()
        assert lines and lines[0] == "R", (out, err)
        for line in lines[1:]:
            model.feed(line)
        ops += len(lines) - 1
        chk = qemu_img("check", "--output=json", img)
        assert chk.returncode in (0, 3), f"kill {kill}: qemu-img check {chk.returncode}: {chk.stdout}{chk.stderr}"
        assert '"corruptions"' not in chk.stdout or '"corruptions": 0' in chk.stdout, chk.stdout
        qemu_img("convert", "-O", "raw", img, out_raw, check=True)
        bad = model.verify(read(out_raw))
        assert not bad, f"kill {kill}: flushed data lost at sectors {bad[:8]} (config {name})"
    # The writer really wrote: many operations, and flushes among them.
    assert ops > 100 * KILLS_PER_CONFIG // 10, ops
