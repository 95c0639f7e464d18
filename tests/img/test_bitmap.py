# SPDX-License-Identifier: GPL-2.0-or-later
"""Persistent dirty bitmaps: vmkit img bitmap against qemu-img bitmap, convert --bitmaps, measure,
and writes through vmkit keeping the bitmaps honest.

Byte-identical files where qemu-img's layout is deterministic: the bitmap command on its own
allocates the same clusters in the same order. Where vmkit writes guest data (commit, convert),
its data clusters are not placed where qemu-img places them (that is so without bitmaps too), so
those tests compare the bitmaps' contents, decoded from the files, and qemu-img check instead.

qemu-img names the image's node in a few messages ("#block1" and two random digits): those are
compared with the digits masked.
"""
import os
import re
import signal
import struct
import subprocess

import pytest

from imgtest import QEMU_IMG, ROOT, qemu_img, qemu_io, run, vmkit
from sametest import Pair

WRITER = os.path.join(ROOT, "build", "tests", "img", "crash-writer")
NODE = re.compile(r"#block\d+")


def bitmaps(path):
    """The bitmap directory of a qcow2 file: {name: (flags, granularity_bits, data)}, data the
    bitmap's bytes as stored (None while in use), or None when the autoclear bit is off."""
    d = open(path, "rb").read()
    if struct.unpack(">I", d[4:8])[0] < 3 or not struct.unpack(">Q", d[88:96])[0] & 1:
        return None
    cs = 1 << struct.unpack(">I", d[20:24])[0]
    pos = struct.unpack(">I", d[100:104])[0]
    out = {}
    while True:
        typ, ln = struct.unpack(">II", d[pos:pos + 8])
        if typ == 0:
            return out
        if typ == 0x23852875:
            nb, _, _, off = struct.unpack(">IIQQ", d[pos + 8:pos + 32])
            for _ in range(nb):
                toff, tsize, flags, _, gb, nlen, extra = struct.unpack(">QIIBBHI", d[off:off + 24])
                name = d[off + 24 + extra:off + 24 + extra + nlen].decode()
                data = b""
                for i in range(tsize):
                    e = struct.unpack(">Q", d[toff + 8 * i:toff + 8 * i + 8])[0]
                    c = e & 0x00fffffffffffe00
                    data += d[c:c + cs].ljust(cs, b"\0") if c else (b"\xff" if e & 1 else b"\0") * cs
                out[name] = (flags, gb, None if flags & 1 else data)
                off += (24 + extra + nlen + 7) // 8 * 8
        pos += 8 + (ln + 7) // 8 * 8


def set_granularity_bits(path, bits):
    """Every entry of the directory with a granularity the format does not allow."""
    d = bytearray(open(path, "rb").read())
    pos = struct.unpack(">I", d[100:104])[0]
    while True:
        typ, ln = struct.unpack(">II", d[pos:pos + 8])
        assert typ
        if typ == 0x23852875:
            nb, _, _, off = struct.unpack(">IIQQ", d[pos + 8:pos + 32])
            for _ in range(nb):
                d[off + 17] = bits
                off += (24 + struct.unpack(">H", d[off + 18:off + 20])[0] + 7) // 8 * 8
            break
        pos += 8 + (ln + 7) // 8 * 8
    open(path, "wb").write(d)


def set_in_use(path, name):
    """A bitmap left in use, as by a crash: its contents can no longer be trusted."""
    d = bytearray(open(path, "rb").read())
    pos = struct.unpack(">I", d[100:104])[0]
    while True:
        typ, ln = struct.unpack(">II", d[pos:pos + 8])
        assert typ
        if typ == 0x23852875:
            nb, _, _, off = struct.unpack(">IIQQ", d[pos + 8:pos + 32])
            for _ in range(nb):
                nlen = struct.unpack(">H", d[off + 18:off + 20])[0]
                if d[off + 24:off + 24 + nlen].decode() == name:
                    d[off + 15] |= 1
                off += (24 + nlen + 7) // 8 * 8
            break
        pos += 8 + (ln + 7) // 8 * 8
    open(path, "wb").write(d)


def same(p, *args, files=()):
    """Pair.same with qemu-img's random node names masked."""
    q, v = p.run(*args)
    qe, ve = NODE.sub("#block", q.stderr), NODE.sub("#block", v.stderr)
    assert (v.returncode, v.stdout, ve) == (q.returncode, q.stdout, qe), args
    p.same_files(*files)
    return q


def clean(path):
    """qemu-img check finds nothing wrong, and vmkit's check says the same."""
    q = qemu_img("check", path)
    assert q.returncode == 0 and "No errors were found" in q.stdout, q.stdout + q.stderr
    v = vmkit("check", path)
    assert (v.returncode, v.stdout) == (q.returncode, q.stdout)


def info_same(path):
    for out in ("human", "json"):
        q, v = qemu_img("info", f"--output={out}", path), vmkit("info", f"--output={out}", path)
        assert (v.returncode, v.stdout) == (q.returncode, q.stdout)


def img(d, name="a.qcow2", size="64M", opts=None):
    o = ["-o", opts] if opts else []
    qemu_img("create", "-q", "-f", "qcow2", *o, os.path.join(d, name), size, check=True)


def test_actions_one_by_one(tmp_path):
    p = Pair(tmp_path, img)
    steps = [["--add"], ["--add", "-g", "512"], ["--add", "-g", "2M", "--disable"],
             ["--add", "--granularity", "1G"]]
    for i, s in enumerate(steps):
        same(p, "bitmap", *s, "a.qcow2", f"b{i}", files=["a.qcow2"])
    for s in (["--disable"], ["--enable"], ["--clear"], ["--remove"], ["--add"], ["--disable"],
              ["--clear", "--enable"]):
        same(p, "bitmap", *s, "a.qcow2", "b1", files=["a.qcow2"])
    same(p, "bitmap", "--remove", "a.qcow2", "b0", files=["a.qcow2"])
    same(p, "bitmap", "--remove", "a.qcow2", "b3", files=["a.qcow2"])
    a = os.path.join(p.v, "a.qcow2")
    clean(a)
    info_same(a)
    assert sorted(bitmaps(a)) == ["b1", "b2"]


def test_several_actions_in_one_call(tmp_path):
    p = Pair(tmp_path, img)
    same(p, "bitmap", "--add", "--disable", "--enable", "--clear", "-g", "4k", "a.qcow2", "x",
         files=["a.qcow2"])
    same(p, "bitmap", "--add", "--merge", "x", "--disable", "a.qcow2", "y", files=["a.qcow2"])
    same(p, "bitmap", "--remove", "--add", "--disable", "a.qcow2", "x", files=["a.qcow2"])
    # The first failure stops the rest; what came before it is written, as qemu-img does.
    same(p, "bitmap", "--add", "--merge", "nosuch", "--disable", "a.qcow2", "z",
         files=["a.qcow2"])
    same(p, "bitmap", "--remove", "--remove", "a.qcow2", "y", files=["a.qcow2"])
    clean(os.path.join(p.v, "a.qcow2"))
    info_same(os.path.join(p.v, "a.qcow2"))


@pytest.mark.parametrize("cs", ["512", "4k", "64k", "2M"])
def test_granularities(tmp_path, cs):
    p = Pair(tmp_path, lambda d: img(d, size="100M", opts=f"cluster_size={cs}"))
    same(p, "bitmap", "--add", "a.qcow2", "default", files=["a.qcow2"])
    for g in ("512", "1k", "64k", "1M", "2G", "4294967808"):
        same(p, "bitmap", "--add", "-g", g, "a.qcow2", f"g{g}", files=["a.qcow2"])
    a = os.path.join(p.v, "a.qcow2")
    clean(a)
    info_same(a)


def written(d):
    """An image with bitmaps made by qemu-img, written to by qemu-io (the same in both dirs)."""
    a = os.path.join(d, "a.qcow2")
    img(d)
    qemu_img("bitmap", "--add", a, "b0", check=True)
    qemu_img("bitmap", "--add", "-g", "512", a, "fine", check=True)
    qemu_img("bitmap", "--add", "-g", "1M", a, "coarse", check=True)
    qemu_img("bitmap", "--add", "--disable", a, "off", check=True)
    qemu_io(a, "write -P 1 100k 3k", "write -P 2 10M 1M", "write -z 20M 64k",
            "discard 30M 128k", "write 64511k 1k")
    o = os.path.join(d, "o.qcow2")
    img(d, "o.qcow2")
    qemu_img("bitmap", "--add", "-g", "4k", o, "other", check=True)
    qemu_io(o, "write 5M 5k")
    img(d, "small.qcow2", size="32M")
    qemu_img("bitmap", "--add", os.path.join(d, "small.qcow2"), "s", check=True)


def test_read_what_qemu_wrote(tmp_path):
    p = Pair(tmp_path, written)
    for f in ("a.qcow2", "o.qcow2"):
        p.same_here("info", f)
        p.same_here("info", "--output=json", f)
        p.same_here("check", f)
        p.same_here("check", "--output=json", f)


def test_merge(tmp_path):
    p = Pair(tmp_path, written)
    same(p, "bitmap", "--merge", "b0", "a.qcow2", "off", files=["a.qcow2"])
    same(p, "bitmap", "--merge", "fine", "a.qcow2", "coarse", files=["a.qcow2"])
    same(p, "bitmap", "--merge", "coarse", "a.qcow2", "fine", files=["a.qcow2"])
    same(p, "bitmap", "--merge", "other", "-b", "o.qcow2", "a.qcow2", "b0", files=["a.qcow2"])
    same(p, "bitmap", "--merge", "other", "-b", "o.qcow2", "-F", "qcow2", "a.qcow2", "off",
         files=["a.qcow2", "o.qcow2"])
    same(p, "bitmap", "--add", "-g", "16k", "--merge", "other", "-b", "o.qcow2", "a.qcow2",
         "new", files=["a.qcow2"])
    a = os.path.join(p.v, "a.qcow2")
    clean(a)
    info_same(a)


def test_errors(tmp_path):
    def setup(d):
        written(d)
        img(d, "v2.qcow2", opts="compat=0.10")
        qemu_img("create", "-q", "-f", "raw", os.path.join(d, "r.img"), "1M", check=True)
        img(d, "huge.qcow2", size="4T")
        img(d, "bad.qcow2")
        qemu_img("bitmap", "--add", os.path.join(d, "bad.qcow2"), "broken", check=True)
        qemu_img("bitmap", "--add", os.path.join(d, "bad.qcow2"), "good", check=True)
        set_in_use(os.path.join(d, "bad.qcow2"), "broken")
        img(d, "zero.qcow2", size="0")
        img(d, "gran.qcow2")
        qemu_img("bitmap", "--add", os.path.join(d, "gran.qcow2"), "g", check=True)
        set_granularity_bits(os.path.join(d, "gran.qcow2"), 40)

    p = Pair(tmp_path, setup)
    files = ["a.qcow2", "v2.qcow2", "r.img", "huge.qcow2", "bad.qcow2", "gran.qcow2", "zero.qcow2"]
    cases = [
        [], ["a.qcow2"], ["a.qcow2", "b0"], ["--add", "a.qcow2"],
        ["--add", "a.qcow2", "x", "y"], ["--bogus", "a.qcow2", "x"], ["--merge"],
        ["--add", "-g"], ["--add", "-g", "1x", "a.qcow2", "x"], ["--add", "-g", "-1", "a.qcow2", "x"],
        ["--add", "-g", "100", "a.qcow2", "x"], ["--add", "-g", "256", "a.qcow2", "x"],
        ["--add", "-g", "4G", "a.qcow2", "x"], ["--add", "-g", "3000", "a.qcow2", "x"],
        ["--add", "-g", "4k", "--add", "a.qcow2", "x"],
        ["-g", "64k", "--remove", "a.qcow2", "b0"], ["-F", "qcow2", "--remove", "a.qcow2", "b0"],
        ["-b", "o.qcow2", "--remove", "a.qcow2", "b0"],
        ["--add", "a.qcow2", "b0"], ["--add", "a.qcow2", ""], ["--add", "a.qcow2", "n" * 1024],
        ["--remove", "a.qcow2", "nosuch"], ["--clear", "a.qcow2", "nosuch"],
        ["--enable", "a.qcow2", "nosuch"], ["--disable", "a.qcow2", "nosuch"],
        ["--merge", "b0", "a.qcow2", "nosuch"], ["--merge", "nosuch", "a.qcow2", "b0"],
        ["--merge", "s", "-b", "small.qcow2", "a.qcow2", "b0"],
        ["--merge", "b0", "-b", "nofile.qcow2", "a.qcow2", "b0"],
        ["--add", "nofile.qcow2", "x"], ["--add", "v2.qcow2", "x"], ["--remove", "v2.qcow2", "x"],
        ["--add", "r.img", "x"], ["--add", "-f", "raw", "r.img", "x"],
        ["--add", "-f", "raw", "a.qcow2", "x"], ["--clear", "-f", "raw", "r.img", "x"],
        ["--add", "-g", "512", "huge.qcow2", "x"], ["--add", "-f", "qcow2", "r.img", "x"],
        ["--clear", "bad.qcow2", "broken"], ["--enable", "bad.qcow2", "broken"],
        ["--disable", "bad.qcow2", "broken"], ["--merge", "broken", "bad.qcow2", "good"],
        ["--merge", "good", "bad.qcow2", "broken"], ["--add", "bad.qcow2", "broken"],
        ["--add", "gran.qcow2", "x"], ["--remove", "gran.qcow2", "g"],
        # Size 0: no bitmap table can be written; qemu-img says so on closing, and exits 0.
        ["--add", "zero.qcow2", "x"], ["--add", "--disable", "zero.qcow2", "x"],
    ]
    for c in cases:
        same(p, "bitmap", *c, files=files)
    # A directory qemu-img refuses fails every open, reading ones too.
    for args in (["info", "gran.qcow2"], ["check", "gran.qcow2"], ["check", "-r", "all", "gran.qcow2"],
                 ["map", "gran.qcow2"], ["measure", "-O", "qcow2", "gran.qcow2"]):
        same(p, *args, files=files)
    # An inconsistent bitmap can be removed; the good one stays as it was.
    same(p, "bitmap", "--remove", "bad.qcow2", "broken", files=files)
    clean(os.path.join(p.v, "bad.qcow2"))
    clean(os.path.join(p.v, "huge.qcow2"))


def test_vmkit_writes_set_bits(tmp_path):
    """Data committed into an image with bitmaps sets the enabled ones, as qemu-img commit does."""
    def setup(d):
        written(d)
        qemu_img("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2",
                 os.path.join(d, "top.qcow2"), check=True)
        qemu_img("bitmap", "--add", os.path.join(d, "top.qcow2"), "t", check=True)
        qemu_io(os.path.join(d, "top.qcow2"), "write -P 7 200k 10k", "write 40M 2M",
                "write -z 50M 4k", "write 64000k 512")

    p = Pair(tmp_path, setup)
    p.run("commit", "top.qcow2")
    q, v = os.path.join(p.q, "a.qcow2"), os.path.join(p.v, "a.qcow2")
    assert bitmaps(v) == bitmaps(q)
    assert any(bitmaps(v)["fine"][2]) and not any(bitmaps(v)["off"][2])
    # Emptying the top after commit changes nothing the guest reads: its bitmap keeps what
    # the guest wrote, no more.
    qt, vt = os.path.join(p.q, "top.qcow2"), os.path.join(p.v, "top.qcow2")
    assert bitmaps(vt) == bitmaps(qt) and any(bitmaps(vt)["t"][2])
    clean(vt)
    clean(v)
    info_same(v)


def test_convert_bitmaps(tmp_path):
    def setup(d):
        written(d)
        img(d, "bad.qcow2")
        qemu_img("bitmap", "--add", os.path.join(d, "bad.qcow2"), "broken", check=True)
        qemu_img("bitmap", "--add", os.path.join(d, "bad.qcow2"), "good", check=True)
        qemu_io(os.path.join(d, "bad.qcow2"), "write 1M 1M")
        set_in_use(os.path.join(d, "bad.qcow2"), "broken")
        qemu_img("create", "-q", "-f", "raw", os.path.join(d, "r.img"), "64M", check=True)
        img(d, "big.qcow2", size="128M")

    p = Pair(tmp_path, setup)
    # Data clusters are placed differently (see the top): bitmaps are compared decoded.
    p.run("convert", "--bitmaps", "-O", "qcow2", "a.qcow2", "c.qcow2")
    q, v = os.path.join(p.q, "c.qcow2"), os.path.join(p.v, "c.qcow2")
    assert bitmaps(v) == bitmaps(q) == bitmaps(os.path.join(p.v, "a.qcow2"))
    assert list(bitmaps(v)) == list(bitmaps(q))
    clean(v)
    p.run("convert", "--bitmaps", "--skip-broken-bitmaps", "-O", "qcow2", "bad.qcow2",
          "s.qcow2")
    assert bitmaps(os.path.join(p.v, "s.qcow2")) == bitmaps(os.path.join(p.q, "s.qcow2"))
    assert list(bitmaps(os.path.join(p.v, "s.qcow2"))) == ["good"]
    clean(os.path.join(p.v, "s.qcow2"))
    for c in (["--bitmaps", "-O", "raw", "a.qcow2", "o.raw"],
              ["--bitmaps", "-O", "qcow2", "-o", "compat=0.10", "a.qcow2", "o2.qcow2"],
              ["--bitmaps", "-f", "raw", "-O", "qcow2", "r.img", "o3.qcow2"],
              ["--bitmaps", "-O", "qcow2", "bad.qcow2", "o4.qcow2"],
              ["--skip-broken-bitmaps", "-O", "qcow2", "a.qcow2", "o5.qcow2"],
              ["--bitmaps", "-n", "bad.qcow2", "a.qcow2"],
              ["--bitmaps", "-n", "-O", "qcow2", "a.qcow2", "big.qcow2"]):
        same(p, "convert", *c, files=["o.raw", "o2.qcow2", "o3.qcow2", "o4.qcow2", "o5.qcow2"])


def test_measure_bitmaps(tmp_path):
    p = Pair(tmp_path, written)
    for f in ("a.qcow2", "o.qcow2"):
        for o in ([], ["-o", "cluster_size=512"], ["-o", "cluster_size=2M"]):
            p.same_here("measure", "-O", "qcow2", *o, f)
            p.same_here("measure", "--output=json", "-O", "qcow2", *o, f)
    # Measured after vmkit made the bitmaps: the same as qemu-img's count for its own.
    same(p, "bitmap", "--add", "-g", "512", "a.qcow2", "more", files=["a.qcow2"])
    q, v = p.run("measure", "--output=json", "-O", "qcow2", "a.qcow2")
    assert v.stdout == q.stdout and '"bitmaps"' in v.stdout


def test_crash_leaves_bitmaps_in_use(tmp_path):
    """Killed while writing: the bitmaps stay marked in use (unknown), never 'nothing changed'."""
    a = str(tmp_path / "a.qcow2")
    img(str(tmp_path))
    qemu_img("bitmap", "--add", a, "b0", check=True)
    qemu_img("bitmap", "--add", "--disable", a, "off", check=True)
    w = subprocess.Popen([WRITER, a, "7"], stdout=subprocess.PIPE, text=True)
    for _ in range(20):
        w.stdout.readline()
    w.send_signal(signal.SIGKILL)
    w.wait()
    b = bitmaps(a)
    assert b["b0"][0] & 1 and b["off"][0] & 1
    out = qemu_img("info", a).stdout
    assert out.count("in-use") == 2, out
    assert vmkit("info", a).stdout == out
    # qemu-img refuses to use them and lets them be removed; the image stays clean.
    r = qemu_img("bitmap", "--clear", a, "b0")
    assert r.returncode == 1 and "inconsistent" in r.stderr
    vmkit("bitmap", "--remove", a, "b0", check=True)
    # What the killed writer had not flushed leaks (as any crash may); nothing else is wrong.
    r = qemu_img("check", "-r", "leaks", a)
    assert r.returncode == 0, r.stdout + r.stderr
    clean(a)
    assert list(bitmaps(a)) == ["off"] and bitmaps(a)["off"][0] & 1


def test_writer_sets_the_bits_it_wrote(tmp_path):
    """The library's writes (data, zeroes, discards, compressed) land in the enabled bitmaps."""
    a = str(tmp_path / "a.qcow2")
    img(str(tmp_path), size="16M")
    qemu_img("bitmap", "--add", "-g", "4k", a, "b", check=True)
    qemu_img("bitmap", "--add", "-g", "4k", "--disable", a, "off", check=True)
    w = run([WRITER, a, "3", "40"], check=True)
    want = set()
    for line in w.stdout.splitlines():
        f = line.split()
        if f[0] in "WZD":
            off, ln = int(f[1]), int(f[2])
        elif f[0] == "C":
            off, ln = int(f[1]), 65536
        else:
            continue
        want |= set(range(off >> 12, (off + ln - 1 >> 12) + 1))
    b = bitmaps(a)
    data = b["b"][2]
    got = {i for i in range(16 << 8) if data[i >> 3] >> (i & 7) & 1}
    assert got == want
    assert not any(b["off"][2])
    clean(a)


def test_resize_keeps_bitmaps(tmp_path):
    """Bitmaps follow the new size (new bits clear, bits past a new end dropped), as in QEMU."""
    p = Pair(tmp_path, written)
    same(p, "resize", "a.qcow2", "3G", files=["a.qcow2"])
    # Shrinking: qemu-img zeroes the data clusters it frees, vmkit leaves them (free either
    # way), so the files differ there; the bitmaps must not.
    p.run("resize", "--shrink", "a.qcow2", "10M")
    q, v = os.path.join(p.q, "a.qcow2"), os.path.join(p.v, "a.qcow2")
    assert bitmaps(v) == bitmaps(q)
    clean(v)
    info_same(v)
    set_in_use(os.path.join(p.q, "o.qcow2"), "other")
    set_in_use(os.path.join(p.v, "o.qcow2"), "other")
    q, v = p.run("resize", "o.qcow2", "1G")
    assert q.returncode == v.returncode == 1
    p.same_files("o.qcow2")


def test_snapshot_apply_refused_with_bitmaps(tmp_path):
    def setup(d):
        written(d)
        qemu_img("snapshot", "-c", "s1", os.path.join(d, "o.qcow2"), check=True)
        qemu_img("snapshot", "-c", "s1", os.path.join(d, "a.qcow2"), check=True)
        qemu_img("bitmap", "--remove", os.path.join(d, "o.qcow2"), "other", check=True)

    p = Pair(tmp_path, setup)
    for args in (["-a", "s1", "a.qcow2"], ["-a", "nosuch", "a.qcow2"], ["-c", "s2", "a.qcow2"],
                 ["-d", "s1", "a.qcow2"], ["-l", "a.qcow2"], ["-a", "s1", "o.qcow2"]):
        same(p, "snapshot", *args)
    clean(os.path.join(p.v, "a.qcow2"))
    assert sorted(bitmaps(os.path.join(p.v, "a.qcow2"))) == ["b0", "coarse", "fine", "off"]


def test_stale_bitmaps(tmp_path):
    """Bitmaps a program without their support left behind (autoclear bit off): QEMU's warning
    on every open, the extension dropped when opened for writing, the clusters then leaks."""
    def setup(d):
        written(d)
        for f in ("a.qcow2", "o.qcow2"):
            path = os.path.join(d, f)
            data = bytearray(open(path, "rb").read())
            data[95] &= 0xfe
            open(path, "wb").write(data)

    p = Pair(tmp_path, setup)
    for args in (["info", "a.qcow2"], ["info", "--output=json", "a.qcow2"], ["check", "a.qcow2"],
                 ["measure", "-O", "qcow2", "a.qcow2"]):
        p.same_here(*args)
    same(p, "bitmap", "--add", "a.qcow2", "new", files=["a.qcow2"])
    same(p, "bitmap", "--remove", "o.qcow2", "other", files=["o.qcow2"])
    # The repair's output is the same; how it rewrites refcount blocks is its own business.
    same(p, "check", "-r", "leaks", "a.qcow2")
    clean(os.path.join(p.v, "a.qcow2"))
    info_same(os.path.join(p.v, "a.qcow2"))


def test_read_only_file(tmp_path):
    """A file that cannot be opened for writing (immutable: root may not write it either)."""
    p = Pair(tmp_path, written)
    for d in (p.q, p.v):
        if run(["chattr", "+i", os.path.join(d, "a.qcow2")]).returncode:
            pytest.skip("chattr +i is not supported here")
    try:
        same(p, "bitmap", "--add", "a.qcow2", "x", files=["a.qcow2"])
        same(p, "bitmap", "--merge", "other", "-b", "a.qcow2", "o.qcow2", "other",
             files=["a.qcow2", "o.qcow2"])
    finally:
        for d in (p.q, p.v):
            run(["chattr", "-i", os.path.join(d, "a.qcow2")])
