# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit img measure prints qemu-img's numbers, for sizes and for input images."""
import os

import pytest

from imgtest import pattern_raw, qemu_img, qemu_io, vmkit
from sametest import Pair

SIZES = ["0", "1", "512", "65537", "1G", "100G", "3T", "1.5M"]
OPTS = ["", "cluster_size=512", "cluster_size=4k,refcount_bits=1", "cluster_size=2M",
        "refcount_bits=64", "compat=0.10", "cluster_size=16k,refcount_bits=8",
        "preallocation=full", "preallocation=metadata", "preallocation=falloc",
        "backing_file=x.qcow2", "backing_file=x.qcow2,preallocation=full", "compat=1.1"]


def same(*args, cwd=None):
    q, v = qemu_img("measure", *args, cwd=cwd), vmkit("measure", *args, cwd=cwd)
    assert (v.returncode, v.stdout) == (q.returncode, q.stdout), (args, q.stdout, v.stdout, v.stderr)
    return v


@pytest.mark.parametrize("opts", OPTS)
def test_measure_size(opts):
    for size in SIZES:
        for out in ("human", "json"):
            o = ["-o", opts] if opts else []
            same("--size", size, "-O", "qcow2", *o, f"--output={out}")
    same("--size", "1G")
    same("--size", "1000001", "-O", "raw", "--output=json")


@pytest.fixture
def inputs(tmp_path):
    raw = pattern_raw(str(tmp_path / "in.raw"), 7 << 20, seed=41)
    q = str(tmp_path / "in.qcow2")
    qemu_img("convert", "-f", "raw", "-O", "qcow2", raw, q, check=True)
    z = str(tmp_path / "z.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", z, "5M", check=True)
    qemu_io(z, "write -P 1 3k 2k", "write -z 1M 1M", "write -P 2 2M 100k")
    c = str(tmp_path / "c.qcow2")
    qemu_img("convert", "-c", "-f", "raw", "-O", "qcow2", raw, c, check=True)
    top = str(tmp_path / "top.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-b", "in.qcow2", "-F", "qcow2", top, check=True)
    qemu_io(top, "write -P 3 5M 70k")
    p = str(tmp_path / "p.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", p, "3M", check=True)
    # Persistent bitmaps over data: "bitmaps size" is shown for a v3 output only.
    b = str(tmp_path / "b.qcow2")
    qemu_img("convert", "-f", "raw", "-O", "qcow2", raw, b, check=True)
    qemu_img("bitmap", "--add", "-g", "4k", b, "bm0", check=True)
    return [raw, q, z, c, top, p, b]


@pytest.mark.parametrize("opts", ["", "cluster_size=512", "cluster_size=2M", "compat=0.10",
                                  "cluster_size=4k,refcount_bits=2", "backing_file=x.qcow2",
                                  "preallocation=falloc", "preallocation=full",
                                  "backing_file=x.qcow2,cluster_size=4k,compat=0.10"])
def test_measure_images(tmp_path, inputs, opts):
    for img in inputs:
        for out_fmt in ("qcow2", "raw"):
            for out in ("human", "json"):
                o = ["-o", opts] if opts and out_fmt == "qcow2" else []
                same("-O", out_fmt, *o, f"--output={out}", img)


def error_inputs(d):
    qemu_img("create", "-q", "-f", "qcow2", os.path.join(d, "e.qcow2"), "1M", check=True)
    qemu_img("create", "-q", "-f", "qcow2", os.path.join(d, "big.qcow2"), "200G", check=True)


# What each output format does with -o, stdout and stderr byte for byte as qemu-img 7.2: the
# qcow2 driver's checks in its order and words (measure's own: compat takes no v2 or v3, a bad
# preallocation is "invalid parameter value"), syntax errors followed by "Invalid options for
# file format", option lists qemu-img refuses before anything else.
QCOW2_OPTS = [
    "cluster_size=3k", "cluster_size=256", "cluster_size=4M", "cluster_size=0", "cluster_size=8G",
    "cluster_size=abc", "cluster_size=", "refcount_bits=3", "refcount_bits=128", "refcount_bits=0",
    "refcount_bits=-1", "refcount_bits=abc", "compat=0.11", "compat=v2", "compat=v3", "compat=",
    "compat=1.1", "compat=0.10,refcount_bits=8", "compat=0.10,lazy_refcounts=on",
    "preallocation=bogus", "preallocation=", "lazy_refcounts=maybe", "lazy_refcounts=on",
    "data_file_raw=maybe", "size=abc", "size=5G", "extent_size_hint=abc", "extent_size_hint=1M",
    "compression_type=bogus", "backing_fmt=bogus", "backing_file=x.qcow2", "bogus=1", "help",
    "?", "=4k", "cluster_size=4k,bogus=1", "refcount_bits=3,cluster_size=3k",
    "compat=bogus,cluster_size=3k", "refcount_bits=3,compat=bogus", "preallocation=x,compat=y",
    "", "cluster_size=4k,", ",cluster_size=4k", "backing_file=a,,b",
]
RAW_OPTS = ["cluster_size=4k", "bogus=1", "preallocation=bogus", "preallocation=metadata",
            "preallocation=full", "help", "extent_size_hint=abc", "backing_file=x", "size=abc"]
MEASURE_ARGS = [
    ["-O", "qcow2"], ["--size", "1G", "e.qcow2"], ["-O", "qcow2", "--size", "abc"],
    ["--output=xml", "--size", "1G"], ["-O", "nosuch", "--size", "1G"],
    ["-O", "nosuch", "missing.qcow2"], ["-O", "qcow2", "-o", "bogus=1", "missing.qcow2"],
    # The size given is checked for the L1 table's limit, not the input's (qemu-img's order).
    ["-O", "qcow2", "-o", "cluster_size=512", "--size", "200G"],
    ["-O", "qcow2", "-o", "cluster_size=512", "big.qcow2"],
    ["-O", "qcow2", "-o", "cluster_size=512,size=200G", "e.qcow2"],
    ["-O", "qcow2", "-o", "size=18446744073709551615", "e.qcow2"],
    ["-O", "qcow2", "-o", "cluster_size=4k", "-o", "refcount_bits=3", "--size", "1G"],
    ["-O", "qcow2", "-o", "cluster_size=4k", "-o", "cluster_size=8k", "--size", "1G"],
    # Formats vmkit reads but cannot create: qemu-img 7.2 cannot measure them either.
    *[["-O", f, *a] for f in ("vmdk", "vpc", "vdi", "vhdx") for a in (["--size", "1G"], ["e.qcow2"])],
    *[["-O", "qcow2", "-o", o, "--size", "1G"] for o in QCOW2_OPTS],
    *[["-O", "qcow2", "-o", o, "e.qcow2"] for o in ("preallocation=bogus", "size=abc", "compat=v3")],
    *[["-O", "raw", "-o", o, a] for o in RAW_OPTS for a in ("--size=1G", "e.qcow2")],
]


@pytest.mark.parametrize("args", MEASURE_ARGS, ids=" ".join)
def test_measure_options(tmp_path, args):
    Pair(tmp_path, error_inputs).same_here("measure", *args)


@pytest.mark.parametrize("opts", ["", "cluster_size=512", "cluster_size=2M", "compat=0.10"])
def test_measure_bitmaps(tmp_path, opts):
    """Persistent dirty bitmaps (made by qemu-img bitmap) count as qemu-img counts them."""
    img = str(tmp_path / "b.qcow2")
    v2 = str(tmp_path / "v2.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "3G", check=True)
    qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "1M", check=True)
    qemu_img("bitmap", "--add", img, "bm0", check=True)
    qemu_img("bitmap", "--add", "-g", "512", img, "a-much-longer-bitmap-name", check=True)
    qemu_img("bitmap", "--add", "-g", "2M", img, "x", check=True)
    o = ["-o", opts] if opts else []
    for out in ("human", "json"):
        for f in (img, v2):
            v = same("-O", "qcow2", *o, f"--output={out}", f)
            assert ("bitmaps" in v.stdout) == (f == img and "0.10" not in opts)


def test_check_counts_bitmap_clusters(tmp_path):
    """check counts the clusters of valid persistent bitmaps (no leaks); info lists them."""
    img = str(tmp_path / "b.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "64M", check=True)
    qemu_img("bitmap", "--add", img, "bm0", check=True)
    qemu_img("bitmap", "--add", "-g", "512", img, "fine", check=True)
    qemu_io(img, "write -P 1 0 1M", "write -P 2 8M 8M")
    qemu_img("bitmap", "--add", "--disable", img, 'off "quoted"', check=True)
    for args in (["check"], ["check", "--output=json"], ["info"], ["info", "--output=json"]):
        q, v = qemu_img(*args, img), vmkit(*args, img)
        assert (v.returncode, v.stdout) == (q.returncode, q.stdout) and q.returncode == 0, args
    # Writing (here: repairing) keeps the bitmaps: vmkit writes them back as qemu-img does.
    before = qemu_img("info", img).stdout
    vmkit("check", "-r", "leaks", img, check=True)
    assert qemu_img("check", img).returncode == 0
    assert qemu_img("info", img).stdout.split("bitmaps:")[1] == before.split("bitmaps:")[1]
