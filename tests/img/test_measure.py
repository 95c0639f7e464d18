# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit img measure prints qemu-img's numbers, for sizes and for input images."""
import pytest

from imgtest import pattern_raw, qemu_img, qemu_io, vmkit

SIZES = ["0", "1", "512", "65537", "1G", "100G", "3T", "1.5M"]
OPTS = ["", "cluster_size=512", "cluster_size=4k,refcount_bits=1", "cluster_size=2M",
        "refcount_bits=64", "compat=0.10", "cluster_size=16k,refcount_bits=8",
        "preallocation=full", "preallocation=metadata"]


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
    return [raw, q, z, c, top, p]


@pytest.mark.parametrize("opts", ["", "cluster_size=512", "cluster_size=2M", "compat=0.10",
                                  "cluster_size=4k,refcount_bits=2", "backing_file=x.qcow2",
                                  "preallocation=falloc"])
def test_measure_images(tmp_path, inputs, opts):
    for img in inputs:
        for out_fmt in ("qcow2", "raw"):
            for out in ("human", "json"):
                o = ["-o", opts] if opts and out_fmt == "qcow2" else []
                same("-O", out_fmt, *o, f"--output={out}", img)


def test_measure_errors(tmp_path):
    img = str(tmp_path / "e.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    for args, msg in ([["-O", "qcow2"], "Either --size N or one filename must be specified."],
                      [["--size", "1G", img], "--size N cannot be used together with a filename."],
                      [["-O", "qcow2", "--size", "abc"], "Invalid image size specified"],
                      [["-O", "qcow2", "-o", "cluster_size=3k", "--size", "1G"],
                       "Cluster size must be a power of two between 512 and 2048k"],
                      [["-O", "qcow2", "-o", "bogus=1", "--size", "1G"], "Invalid parameter 'bogus'"],
                      [["-O", "nosuch", "--size", "1G"], "nosuch"],
                      [["--output=xml", "--size", "1G"], "--output must be used with human or json"]):
        p = vmkit("measure", *args)
        assert p.returncode == 1 and msg in p.stderr, (args, p.stderr)
        # One line, or qemu-img's second line of the size hint.
        assert len(p.stderr.splitlines()) == 1 or p.stderr.splitlines()[1] == (
            "vmkit: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes."), p.stderr
        assert qemu_img("measure", *args).returncode == 1


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
