# SPDX-License-Identifier: GPL-2.0-or-later
"""convert -c/-B, commit, rebase, dd and bench, checked against the real qemu-img 7.2."""
import os
import subprocess

import pytest

import qcow2hdr
from imgtest import VMKIT, pattern_raw, qemu_img, qemu_io, read, vmkit

SIZE = 8 << 20


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return pattern_raw(str(tmp_path_factory.mktemp("src") / "src.raw"), SIZE)


@pytest.mark.parametrize("ctype", ["zlib", "zstd"])
@pytest.mark.parametrize("cs", ["512", "4k", "64k", "2M"])
def test_convert_compressed(tmp_path, src, ctype, cs):
    v, q = str(tmp_path / "v.qcow2"), str(tmp_path / "q.qcow2")
    opts = f"cluster_size={cs},compression_type={ctype}"
    vmkit("convert", "-c", "-O", "qcow2", "-o", opts, src, v, check=True)
    assert qemu_img("check", v).returncode == 0
    assert qemu_img("compare", v, src).returncode == 0
    qemu_img("convert", "-c", "-O", "qcow2", "-o", opts, src, q, check=True)
    # About as small as qemu-img's, and really compressed (the source is half random).
    assert os.path.getsize(v) <= os.path.getsize(q) * 1.05
    info = qemu_img("check", "--output=json", v).stdout
    assert '"compressed-clusters": 0' not in info
    # vmkit reads its own and qemu-img's compressed clusters back.
    for img in (v, q):
        out = str(tmp_path / "back.raw")
        vmkit("convert", "-O", "raw", img, out, check=True)
        assert read(out) == read(src)


def test_convert_compressed_then_overwrite(tmp_path, src):
    """Writes over compressed clusters free their shared host clusters correctly."""
    v = str(tmp_path / "v.qcow2")
    vmkit("convert", "-c", "-O", "qcow2", "-o", "cluster_size=4k", src, v, check=True)
    other = pattern_raw(str(tmp_path / "o.raw"), SIZE, seed=9)
    vmkit("convert", "-n", "-O", "qcow2", other, v, check=True)
    assert qemu_img("check", v).returncode == 0
    assert qemu_img("compare", v, other).returncode == 0


def test_convert_compressed_errors(tmp_path, src):
    p = vmkit("convert", "-c", "-O", "raw", src, str(tmp_path / "x.raw"))
    assert p.returncode == 1 and p.stderr == "vmkit: Compression not supported for this file format\n"
    for m in ("0", "17", "x"):
        p = vmkit("convert", "-m", m, "-O", "raw", src, str(tmp_path / "x.raw"))
        assert p.returncode == 1 and "Invalid number of coroutines" in p.stderr
    vmkit("convert", "-W", "-m", "16", "-O", "raw", src, str(tmp_path / "w.raw"), check=True)
    assert read(str(tmp_path / "w.raw")) == read(src)


def overlay_of(tmp_path, src):
    base = str(tmp_path / "base.qcow2")
    qemu_img("convert", "-O", "qcow2", src, base, check=True)
    mod = str(tmp_path / "mod.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", mod, check=True)
    qemu_io(mod, "write -P 9 1M 200k", "write -z 3M 64k", "write -P 0x44 5000000 70000")
    return base, mod


@pytest.mark.parametrize("how", [["-B", "base.qcow2", "-F", "qcow2"],
                                 ["-o", "backing_file=base.qcow2,backing_fmt=qcow2"]])
def test_convert_backing(tmp_path, src, how):
    base, mod = overlay_of(tmp_path, src)
    v, q = str(tmp_path / "v.qcow2"), str(tmp_path / "q.qcow2")
    vmkit("convert", *how, "-O", "qcow2", mod, v, check=True)
    qemu_img("convert", *how, "-O", "qcow2", mod, q, check=True)
    assert qemu_img("check", v).returncode == 0
    assert qemu_img("compare", v, mod).returncode == 0
    # Everything after the disk size line (which counts file system blocks) is alike.
    assert qemu_img("info", v).stdout.replace("v.qcow2", "q.qcow2").split("disk size")[1] \
        .split("\n", 1)[1] == qemu_img("info", q).stdout.split("disk size")[1].split("\n", 1)[1]
    # Only what differs from the backing file was written: no more than qemu-img writes.
    assert os.path.getsize(v) <= os.path.getsize(q)
    p = vmkit("convert", "-B", "base.qcow2", "-O", "qcow2", mod, str(tmp_path / "x.qcow2"))
    assert p.returncode == 1 and "requires explicit backing format" in p.stderr
    p = vmkit("convert", "-B", "base.qcow2", "-F", "qcow2", "-O", "raw", mod, str(tmp_path / "x.raw"))
    assert p.returncode == 1 and "Backing file not supported for file format 'raw'" in p.stderr


def chain3(tmp_path, compat="1.1", cs="64k"):
    names = [str(tmp_path / f"c{i}.qcow2") for i in range(3)]
    opts = f"compat={compat},cluster_size={cs}"
    qemu_img("create", "-q", "-f", "qcow2", "-o", opts, names[0], "4M", check=True)
    for i in (1, 2):
        qemu_img("create", "-q", "-f", "qcow2", "-o", opts, "-b", os.path.basename(names[i - 1]),
                 "-F", "qcow2", names[i], check=True)
    qemu_io(names[0], "write -P 1 0 1M", "write -P 7 3M 512k")
    qemu_io(names[1], "write -P 2 64k 100k", "write -P 8 2M 64k")
    qemu_io(names[2], "write -P 3 512k 4k", "write -P 4 3M 4k")
    if compat == "1.1":
        qemu_io(names[2], "write -z 0 64k")
    return names


@pytest.mark.parametrize("compat", ["0.10", "1.1"])
@pytest.mark.parametrize("cs", ["512", "64k"])
def test_commit_matches_qemu(tmp_path, compat, cs):
    (tmp_path / "v").mkdir()
    (tmp_path / "q").mkdir()
    v, q = chain3(tmp_path / "v", compat, cs), chain3(tmp_path / "q", compat, cs)
    before = str(tmp_path / "before.raw")
    qemu_img("convert", "-O", "raw", v[2], before, check=True)
    blocks = os.stat(v[2]).st_blocks
    pv, pq = vmkit("commit", v[2]), qemu_img("commit", q[2])
    # The emptied top gives its data clusters back to the file system (in whole
    # file system blocks: not with 512-byte clusters).
    if cs == "64k":
        assert os.stat(v[2]).st_blocks < blocks
    assert (pv.returncode, pv.stdout) == (pq.returncode, pq.stdout) == (0, "Image committed.\n")
    for img in v:
        assert qemu_img("check", img).returncode == 0, img
    for a, b in zip(v, q):
        ra, rb = str(tmp_path / "a.raw"), str(tmp_path / "b.raw")
        qemu_img("convert", "-O", "raw", a, ra, check=True)
        qemu_img("convert", "-O", "raw", b, rb, check=True)
        assert read(ra) == read(rb), a
    assert qemu_img("compare", v[2], before).returncode == 0
    # The top is empty again: everything reads through from its backing file.
    assert "c2.qcow2" not in qemu_img("map", v[2]).stdout.split("File", 1)[1]


def test_commit_base_and_drop(tmp_path):
    v = chain3(tmp_path)
    before = str(tmp_path / "before.raw")
    qemu_img("convert", "-O", "raw", v[2], before, check=True)
    top_map = qemu_img("map", "--output=json", v[2]).stdout
    p = vmkit("commit", "-q", "-b", v[0], v[2])
    assert (p.returncode, p.stdout) == (0, "")
    assert qemu_img("compare", v[0], before).returncode == 0
    assert qemu_img("check", v[0]).returncode == 0
    # -b implies -d: the top keeps its data.
    assert qemu_img("map", "--output=json", v[2]).stdout == top_map
    p = vmkit("commit", "-b", "nothere.qcow2", v[2])
    assert p.returncode == 1 and "Did not find 'nothere.qcow2' in the backing chain" in p.stderr
    p = vmkit("commit", v[0])
    assert (p.returncode, p.stderr) == (1, "vmkit: Image does not have a backing file\n")
    qemu_io(v[2], "write -P 0x33 8k 4k")
    p = vmkit("commit", "-d", "-p", v[2])
    # (text mode reads the progress line's \r as a line end)
    assert p.returncode == 0 and p.stdout.endswith("(100.00/100%)\nImage committed.\n")
    assert "c2.qcow2" in qemu_img("map", v[2]).stdout     # -d: the top keeps its data
    assert qemu_img("compare", v[1], v[2]).returncode == 0


@pytest.mark.parametrize("base_fmt", ["qcow2", "raw"])
def test_commit_into_a_smaller_base(tmp_path, base_fmt):
    """An overlay grown past its base (seed 001: resize the guest's disk, then merge):
    the base grows to the overlay's size first, as qemu-img commit does."""
    out = {}
    for tool, run in (("v", vmkit), ("q", qemu_img)):
        d = tmp_path / tool
        d.mkdir()
        base, top = str(d / f"base.{base_fmt}"), str(d / "top.qcow2")
        qemu_img("create", "-q", "-f", base_fmt, base, "1M", check=True)
        qemu_io(base, "write -P 1 0 1M", fmt=base_fmt)
        qemu_img("create", "-q", "-f", "qcow2", "-b", os.path.basename(base), "-F", base_fmt,
                 top, check=True)
        qemu_img("resize", "-q", top, "3M", check=True)
        qemu_io(top, "write -P 2 512k 4k", "write -P 3 2M 64k")
        before = str(d / "before.raw")
        qemu_img("convert", "-O", "raw", top, before, check=True)
        p = run("commit", top)
        out[tool] = (p.returncode, p.stdout, p.stderr)
        assert qemu_img("info", "--output=json", base).returncode == 0
        assert '"virtual-size": 3145728' in qemu_img("info", "--output=json", base).stdout
        assert qemu_img("compare", "-f", base_fmt, "-F", "raw", base, before).returncode == 0
    assert out["v"] == out["q"]


def rebase_setup(tmp_path, compat="1.1", cs="64k"):
    o = f"compat={compat},cluster_size={cs}"
    b1, b2, t = (str(tmp_path / n) for n in ("b1.qcow2", "b2.raw", "t.qcow2"))
    qemu_img("create", "-q", "-f", "qcow2", "-o", o, b1, "4M", check=True)
    qemu_io(b1, "write -P 1 0 128k", "write -P 6 1M 300k")
    pattern_raw(b2, 4 << 20, seed=3)
    qemu_img("create", "-q", "-f", "qcow2", "-o", o, "-b", "b1.qcow2", "-F", "qcow2", t, check=True)
    qemu_io(t, "write -P 2 100k 4k", "write -P 3 1100k 8k")
    return b1, b2, t


@pytest.mark.parametrize("compat", ["0.10", "1.1"])
@pytest.mark.parametrize("cs", ["512", "64k"])
def test_rebase_safe(tmp_path, compat, cs):
    b1, b2, t = rebase_setup(tmp_path, compat, cs)
    before = str(tmp_path / "before.raw")
    qemu_img("convert", "-O", "raw", t, before, check=True)
    p = vmkit("rebase", "-b", "b2.raw", "-F", "raw", t)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert qemu_img("check", t).returncode == 0
    assert qemu_img("compare", t, before).returncode == 0
    info = qemu_img("info", "--output=json", t).stdout
    assert '"backing-filename": "b2.raw"' in info and '"backing-filename-format": "raw"' in info
    assert vmkit("info", "--output=json", t).stdout == info
    # Remove the backing file: everything it gave is copied in.
    assert vmkit("rebase", "-b", "", t).returncode == 0
    assert qemu_img("check", t).returncode == 0
    assert qemu_img("compare", t, before).returncode == 0
    assert "backing" not in qemu_img("info", t).stdout


def test_rebase_unsafe_and_errors(tmp_path):
    b1, b2, t = rebase_setup(tmp_path)
    map_before = qemu_img("map", "--output=json", t).stdout
    (tmp_path / "a/much/longer/name/than").mkdir(parents=True)
    qemu_img("create", "-q", "-f", "qcow2", str(tmp_path / "a/much/longer/name/than/before.qcow2"), "4M",
             check=True)
    for name, fmt in (("b2.raw", "raw"), ("b1.qcow2", "qcow2"), ("a/much/longer/name/than/before.qcow2", "qcow2"),
                      ("b1.qcow2", "qcow2")):
        p = vmkit("rebase", "-u", "-b", name, "-F", fmt, t)
        assert p.returncode == 0, p.stderr
        q = qemu_img("info", "-U", "--output=json", t)
        assert f'"backing-filename": "{name}"' in q.stdout and f'"backing-filename-format": "{fmt}"' in q.stdout
        assert qemu_img("check", t).returncode == 0
    assert qemu_img("map", "--output=json", t).stdout == map_before   # -u copies nothing
    p = vmkit("rebase", t)
    assert p.returncode == 1 and "Must specify backing file (-b) or use unsafe mode (-u)" in p.stderr
    p = vmkit("rebase", "-b", "b2.raw", t)
    assert p.returncode == 1 and "backing format must be specified" in p.stderr
    p = vmkit("rebase", "-b", "nothere", "-F", "qcow2", t)
    assert p.returncode == 1 and "Could not open new backing file 'nothere'" in p.stderr
    assert qemu_img("info", t).stdout.count("backing file: b1.qcow2") == 1


@pytest.mark.parametrize("cs", ["512", "64k"])
def test_rebase_keeps_unknown_extensions(tmp_path, cs):
    """With 512-byte clusters there is no room for a second name: the one-write path."""
    b1, b2, t = rebase_setup(tmp_path, cs=cs)
    qcow2hdr.add_extension(t, 0x12345678, b"keep me!")
    assert qemu_img("check", t).returncode == 0
    pattern_raw(str(tmp_path / ("x" * 200)), 4 << 20)
    for name, fmt in (("b2.raw", "raw"), ("x" * 200, "raw"), ("b1.qcow2", "qcow2")):
        assert vmkit("rebase", "-u", "-b", name, "-F", fmt, t).returncode == 0
        assert qemu_img("check", t).returncode == 0
        assert f'"backing-filename": "{name}"' in qemu_img("info", "--output=json", t).stdout
        assert (0x12345678, b"keep me!") in qcow2hdr.extensions(t)


def test_dd_matches_qemu(tmp_path, src):
    for args in (["bs=64k", "count=3", "skip=1"], ["bs=1M"], ["bs=3000", "count=5"], ["skip=100000"],
                 ["-O", "qcow2", "bs=1M", "count=2", "skip=1"]):
        v, q = str(tmp_path / "v.img"), str(tmp_path / "q.img")
        pv = vmkit("dd", *args, f"if={src}", f"of={v}")
        pq = qemu_img("dd", *args, f"if={src}", f"of={q}")
        assert (pv.returncode, pv.stdout) == (pq.returncode, pq.stdout), args
        assert pv.stderr.replace("vmkit", "qemu-img") == pq.stderr, args
        assert qemu_img("compare", v, q).returncode == 0, args
    for bad in (["bs=0"], ["bs=1x"], ["count=-1"], ["foo=1"], []):
        pv = vmkit("dd", *bad, f"if={src}", f"of={tmp_path / 'x'}" if bad else "")
        pq = qemu_img("dd", *bad, f"if={src}", f"of={tmp_path / 'x'}" if bad else "")
        assert pv.returncode == pq.returncode == 1, bad
        assert pv.stderr.replace("vmkit", "qemu-img") == pq.stderr, bad


def bench_lines(out):
    return [line for line in out.splitlines() if not line.startswith("Run completed in ")]


def test_bench_matches_qemu(tmp_path, src):
    img = str(tmp_path / "b.qcow2")
    qemu_img("convert", "-O", "qcow2", src, img, check=True)
    for args in (["-c", "1000"], ["-c", "500", "-w", "-d", "4", "--flush-interval=10", "--pattern=7"],
                 ["-c", "300", "-s", "512", "-S", "1052672", "-o", "512", "-t", "none", "-i", "native", "-n"]):
        pv, pq = vmkit("bench", *args, img), qemu_img("bench", *args, img)
        assert pv.returncode == pq.returncode == 0, (args, pv.stderr)
        assert bench_lines(pv.stdout) == bench_lines(pq.stdout)
        assert pv.stdout.splitlines()[-1].startswith("Run completed in ")
    assert qemu_img("check", img).returncode == 0
    # The writes landed: 500 writes of 0x07 from offset 0 on.
    qemu_io(img, "read -P 7 0 2000k")
    for bad in (["--flush-interval=2"], ["-w", "--flush-interval=2"], ["--pattern=300"], ["-c", "x"],
                ["-i", "foo"], ["-t", "foo"], ["-o", "-1"], ["-c", "10", "-o", "8388000"]):
        pv, pq = vmkit("bench", *bad, img), qemu_img("bench", "-f", "qcow2", *bad, img)
        assert pv.returncode == pq.returncode == 1, bad
        assert pv.stderr.splitlines()[-1].replace("vmkit", "qemu-img") == pq.stderr.splitlines()[-1], bad
@pytest.mark.parametrize("engine,cache", [("io_uring", "none"), ("io_uring", "writeback"),
                                          ("native", "directsync"), ("threads", "writethrough"),
                                          ("io_uring", "unsafe")])
def test_bench_engines_write_what_qemu_writes(tmp_path, engine, cache):
    """Writes many in flight through each engine and cache mode (the block backend a VM's
    disk has): the image then holds what qemu-img bench's same run writes, checks clean,
    and the rewrite went on the hot path while first writes allocated through the library."""
    v, q = str(tmp_path / "v.qcow2"), str(tmp_path / "q.qcow2")
    for img in (v, q):
        qemu_img("create", "-q", "-f", "qcow2", img, "16M", check=True)
    args = ["-w", "-c", "3000", "-d", "32", "-s", "8k", "-S", "16k", "--pattern=90",
            "-t", cache, "-i", engine]
    env = dict(os.environ, VMKIT_BENCH_STATS="1")
    first = subprocess.run([VMKIT, "img", "bench", *args, v], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    qemu_img("bench", *args, q, check=True)
    assert qemu_img("compare", v, q).returncode == 0
    assert qemu_img("check", v).returncode == 0
    again = subprocess.run([VMKIT, "img", "bench", *args, "--pattern=91", v], capture_output=True,
                           text=True, env=env)
    assert again.returncode == 0, again.stderr
    hot, alloc, lib = (int(x) for x in __import__("re").search(
        r"hot path (\d+) requests in \d+ pieces, (\d+) allocating, library path (\d+)",
        again.stderr).groups())
    assert hot + alloc + lib == 3000 and hot > 2900, again.stderr
    qemu_img("bench", *args, "--pattern=91", q, check=True)
    assert qemu_img("compare", v, q).returncode == 0


@pytest.mark.parametrize("cache", ["none", "writeback", "writethrough"])
def test_bench_first_writes_allocate_on_hot_path(tmp_path, cache):
    """Whole-cluster first writes, 8 in flight: allocated without the library's one-at-a-time
    path (data written, then the L2 entries), the same bytes as qemu-img's run, no leak."""
    v, q = str(tmp_path / "v.qcow2"), str(tmp_path / "q.qcow2")
    for img in (v, q):
        qemu_img("create", "-q", "-f", "qcow2", img, "16M", check=True)
    args = ["-w", "-c", "256", "-d", "8", "-s", "64k", "--pattern=33", "-t", cache, "-i", "io_uring"]
    p = subprocess.run([VMKIT, "img", "bench", *args, v], capture_output=True, text=True,
                       env=dict(os.environ, VMKIT_BENCH_STATS="1"))
    assert p.returncode == 0, p.stderr
    alloc = int(__import__("re").search(r"(\d+) allocating", p.stderr).group(1))
    assert alloc > 200, p.stderr
    qemu_img("bench", *args, q, check=True)
    assert qemu_img("compare", v, q).returncode == 0
    chk = qemu_img("check", v)
    assert chk.returncode == 0, chk.stdout


def test_bench_native_needs_direct(tmp_path):
    img = str(tmp_path / "n.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    for args in (["-n"], ["-i", "native"], ["-i", "native", "-t", "writeback"]):
        pv, pq = vmkit("bench", "-c", "10", *args, img), qemu_img("bench", "-c", "10", *args, img)
        assert pv.returncode == pq.returncode == 1, args
        assert pv.stderr.replace("vmkit", "qemu-img") == pq.stderr, args


