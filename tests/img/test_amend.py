# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit img amend against Debian's qemu-img: compat up and down, lazy refcounts, size."""
import shutil

import pytest

import qcow2hdr
from imgtest import qemu_img, qemu_io, read, vmkit


def clean(img):
    p = qemu_img("check", img)
    assert p.returncode == 0 and "No errors were found" in p.stdout, p.stdout + p.stderr


def content(tmp_path, img, snapshot=None):
    out = str(tmp_path / "content.raw")
    extra = ["-l", f"snapshot.name={snapshot}"] if snapshot else []
    qemu_img("convert", *extra, "-O", "raw", img, out, check=True, cwd=tmp_path)
    return read(out)


def info(img, tmp_path):
    lines = qemu_img("info", "--output=json", img, cwd=tmp_path).stdout.splitlines()
    return [ln for ln in lines if "actual-size" not in ln and "filename" not in ln]


def make(tmp_path, cs, backing):
    if backing:
        base = str(tmp_path / "base.qcow2")
        qemu_img("create", "-q", "-f", "qcow2", base, "4M", check=True)
        qemu_io(base, "write -P 9 0 4M")
    img = str(tmp_path / "a.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs}",
             *(["-b", "base.qcow2", "-F", "qcow2"] if backing else []), img, "4M", check=True,
             cwd=tmp_path)
    qemu_io(img, "write -P 1 0 1M", "write -z 1M 1M", "write -z -u 2M 64k", "write -P 3 3M 64k")
    qemu_img("snapshot", "-c", "s", img, check=True)
    qemu_io(img, "write -z 3M 64k", "write -P 4 192k 4k")
    return img


@pytest.mark.parametrize("cs", ["512", "64k"])
@pytest.mark.parametrize("backing", [False, True])
def test_amend_compat_round_trip(tmp_path, cs, backing):
    img = make(tmp_path, cs, backing)
    theirs = str(tmp_path / "q.qcow2")
    shutil.copy(img, theirs)
    active, snap = content(tmp_path, img), content(tmp_path, img, "s")
    for opts in ("compat=0.10", "compat=1.1", "lazy_refcounts=on", "lazy_refcounts=off",
                 "compat=1.1,lazy_refcounts=on", "compat=0.10,lazy_refcounts=off"):
        vmkit("amend", "-o", opts, img, check=True, cwd=tmp_path)
        qemu_img("amend", "-o", opts, theirs, check=True, cwd=tmp_path)
        clean(img)
        assert info(img, tmp_path) == info(theirs, tmp_path), opts
        assert content(tmp_path, img) == active, opts
        assert content(tmp_path, img, "s") == snap, opts
        assert vmkit("check", img).returncode == 0
    assert qcow2hdr.read_header(img)["version"] == 2


def test_amend_size(tmp_path):
    img = str(tmp_path / "v2.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", img, "1M", check=True)
    qemu_io(img, "write -P 5 0 1M")
    vmkit("snapshot", "-c", "s", img, check=True)
    p = vmkit("amend", "-o", "size=2M", img)
    assert p.returncode == 1 and "Can't resize a v2 image which has snapshots" in p.stderr
    # Upgraded first, then resized (qemu-img's order).
    vmkit("amend", "-o", "size=3M,compat=1.1", img, check=True)
    clean(img)
    assert "(3145728 bytes)" in vmkit("info", img).stdout
    qemu_io(img, "read -P 5 0 1M", "read -P 0 1M 2M")
    vmkit("amend", "-o", "size=512k", img, check=True)
    clean(img)
    assert "(524288 bytes)" in qemu_img("info", img).stdout


def test_amend_errors(tmp_path):
    img = str(tmp_path / "e.qcow2")
    raw = str(tmp_path / "e.raw")
    v2 = str(tmp_path / "v2.qcow2")
    r8 = str(tmp_path / "r8.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    qemu_img("create", "-q", "-f", "raw", raw, "1M", check=True)
    qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "1M", check=True)
    qemu_img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=8", r8, "1M", check=True)
    before = read(img)
    for args, msg in ([[img], "Must specify options (-o)"],
                      [["-o", "compat=0.9", img], "Unknown compatibility level 0.9"],
                      [["-o", "bogus=1", img], "Invalid parameter 'bogus'"],
                      [["-o", "cluster_size=4k", img], "Invalid parameter 'cluster_size'"],
                      [["-o", "preallocation=metadata", img], "Invalid parameter 'preallocation'"],
                      [["-o", "backing_file=x", img], "Cannot amend the backing file"],
                      [["-o", "lazy_refcounts=maybe", img], "Parameter 'lazy_refcounts' expects 'on' or 'off'"],
                      [["-o", "compat=0.10,lazy_refcounts=on", img], "Lazy refcounts only supported with compatibility level 1.1"],
                      [["-o", "lazy_refcounts=on", v2], "Lazy refcounts only supported with compatibility level 1.1"],
                      [["-o", "compat=0.10", r8], "compat=0.10 requires refcount_bits=16"],
                      [["-f", "raw", "-o", "compat=1.1", raw], "Format driver 'raw' does not support option amendment"]):
        p = vmkit("amend", *args)
        assert p.returncode == 1, (args, p.stderr)
        lines = [ln for ln in p.stderr.splitlines() if ln != "Try 'vmkit img --help' for more information"]
        assert len(lines) == 1 and p.stderr.startswith("vmkit: ") and msg in p.stderr, (args, p.stderr)
        copy = str(tmp_path / "copy")
        shutil.copy(args[-1], copy)
        assert qemu_img("amend", *args[:-1], copy).returncode == 1, args
    assert read(img) == before
    assert vmkit("amend", "-o", "help", img).stdout.startswith("Amend options for 'qcow2':")
    vmkit("amend", "-o", "refcount_bits=16", img, check=True)
    clean(img)


@pytest.mark.parametrize("cs", ["512", "64k"])
def test_amend_refcount_bits(tmp_path, cs):
    """Every width, with a snapshot sharing clusters: refcounts move to new blocks intact."""
    img = make(tmp_path, cs, False)
    theirs = str(tmp_path / "q.qcow2")
    shutil.copy(img, theirs)
    active, snap = content(tmp_path, img), content(tmp_path, img, "s")
    size = len(read(img))
    p = vmkit("amend", "-o", "refcount_bits=1", img)
    assert p.returncode == 1 and "Cannot decrease refcount entry width to 1 bits" in p.stderr
    assert len(p.stderr.splitlines()) == 1 and len(read(img)) == size
    for bits in (2, 4, 8, 32, 64, 16):
        vmkit("amend", "-o", f"refcount_bits={bits}", img, check=True)
        qemu_img("amend", "-o", f"refcount_bits={bits}", theirs, check=True)
        clean(img)
        assert info(img, tmp_path) == info(theirs, tmp_path), bits
        assert content(tmp_path, img) == active and content(tmp_path, img, "s") == snap, bits
        assert vmkit("check", img).stdout == qemu_img("check", img).stdout
    # Writes after the change allocate through the new blocks.
    qemu_io(img, "write -P 7 0 2M")
    vmkit("snapshot", "-c", "t", img, check=True)
    vmkit("amend", "-o", "refcount_bits=4", img, check=True)
    clean(img)
