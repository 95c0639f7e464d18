# SPDX-License-Identifier: GPL-2.0-or-later
"""Output and exit codes of each vmkit img command, compared with qemu-img's."""
import os
import subprocess

import pytest

import qcow2hdr
from imgtest import QEMU_IO, VMKIT, pattern_raw, qemu_img, qemu_io, read, vmkit

CREATE_CASES = [
    ["-f", "qcow2"],
    ["-f", "qcow2", "-o", "compat=0.10"],
    ["-f", "qcow2", "-o", "compat=1.1,lazy_refcounts=on"],
    ["-f", "qcow2", "-o", "cluster_size=4k,preallocation=metadata"],
    ["-f", "qcow2", "-o", "cluster_size=2M"],
    ["-f", "raw"],
]


@pytest.mark.parametrize("opts", CREATE_CASES)
def test_create_matches(tmp_path, opts):
    v, q = str(tmp_path / "v.img"), str(tmp_path / "q.img")
    out_v = vmkit("create", *opts, v, "5M", check=True).stdout
    out_q = qemu_img("create", *opts, q, "5M", check=True).stdout
    assert out_v.replace("v.img", "q.img") == out_q
    if "preallocation=metadata" in opts[-1]:
        # QEMU rewrites the header after preallocating and leaves out the feature table.
        assert read(v)[4096:] == read(q)[4096:]
    else:
        assert read(v) == read(q)            # the very same bytes
    assert qemu_img("check", v).returncode in (0, 63)
    # Each tool describes the same file alike. ("disk size" counts the file's blocks,
    # which for two files of the same bytes can differ by ext4's extent blocks, so
    # the tools are compared on one file at a time, after writeback.)
    os.sync()
    for f in (v, q):
        for args in (["info"], ["info", "--output=json"], ["map", "--output=json"]):
            assert vmkit(*args, f).stdout == qemu_img(*args, f).stdout, (f, args)


def test_create_sizes_and_errors(tmp_path):
    img = str(tmp_path / "a.qcow2")
    assert "size=1572864" in vmkit("create", "-f", "qcow2", img, "1.5M", check=True).stdout
    assert vmkit("create", "-q", "-f", "qcow2", img, "1G", check=True).stdout == ""
    top = str(tmp_path / "b.qcow2")
    p = vmkit("create", "-f", "qcow2", "-b", "a.qcow2", top)
    assert p.returncode == 1 and "without backing format" in p.stderr
    p = vmkit("create", "-f", "qcow2", "-o", "cluster_size=1M,compat=0.10,lazy_refcounts=on", img, "1M")
    assert p.returncode == 1 and p.stderr.count("\n") == 1


def test_info_matches_on_qemu_images(tmp_path):
    src = pattern_raw(str(tmp_path / "s.raw"), 4 << 20)
    for i, opts in enumerate(["compat=0.10", "compat=1.1,lazy_refcounts=on", "cluster_size=512",
                              "compression_type=zstd"]):
        img = str(tmp_path / f"i{i}.qcow2")
        qemu_img("convert", "-O", "qcow2", "-o", opts, src, img, check=True)
        for args in (["info"], ["info", "--output=json"], ["check"], ["check", "--output=json"],
                     ["map"], ["map", "--output=json"]):
            v, q = vmkit(*args, img), qemu_img(*args, img)
            assert (v.stdout, v.returncode) == (q.stdout, q.returncode), args
    for args in (["info"], ["info", "--output=json"], ["map"], ["map", "--output=json"]):
        assert vmkit(*args, src).stdout == qemu_img(*args, src).stdout, args
    p = vmkit("check", src)
    assert p.returncode == 63 and "does not support checks" in p.stderr


def test_check_leaks(tmp_path):
    img = str(tmp_path / "l.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "64M", check=True)
    qemu_io(img, "write -P 3 0 200k")
    qcow2hdr.add_leak(img, 2)
    for args in (["check"], ["check", "--output=json"]):
        v, q = vmkit(*args, img), qemu_img(*args, img)
        assert (v.returncode, v.stdout, v.stderr.replace("vmkit", "qemu-img")) == \
            (3, q.stdout, q.stderr)
    v = vmkit("check", "-r", "leaks", img)
    assert v.returncode == 0, v.stderr
    assert "2 leaked clusters\n" in v.stdout
    assert qemu_img("check", img).returncode == 0


def test_check_corruption(tmp_path):
    img = str(tmp_path / "c.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "64M", check=True)
    qemu_io(img, "write -P 3 0 200k")
    qcow2hdr.set_refcount(img, 5, 0)
    v, q = vmkit("check", img), qemu_img("check", img)
    assert v.returncode == q.returncode == 2
    assert v.stdout == q.stdout
    assert vmkit("check", "-r", "all", img).returncode == 0
    assert qemu_img("check", img).returncode == 0


def test_compare_codes(tmp_path):
    a, b = str(tmp_path / "a.raw"), str(tmp_path / "b.qcow2")
    pattern_raw(a, 2 << 20)
    qemu_img("convert", "-O", "qcow2", a, b, check=True)
    v = vmkit("compare", a, b)
    assert (v.returncode, v.stdout) == (0, "Images are identical.\n")
    qemu_io(b, "write -P 1 4096 512")
    v, q = vmkit("compare", a, b), qemu_img("compare", a, b)
    assert (v.returncode, v.stdout) == (q.returncode, q.stdout) == (1, q.stdout)
    big = str(tmp_path / "big.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", big, "4M", check=True)
    v, q = vmkit("compare", "-s", a, big), qemu_img("compare", "-s", a, big)
    assert (v.returncode, v.stdout) == (q.returncode, q.stdout)
    assert vmkit("compare", a, str(tmp_path / "missing")).returncode == 2


def test_convert_progress_and_sparse(tmp_path):
    src = pattern_raw(str(tmp_path / "s.raw"), 4 << 20)
    dst = str(tmp_path / "d.raw")
    p = subprocess.run([VMKIT, "img", "convert", "-p", "-O", "raw", src, dst], capture_output=True)
    assert p.returncode == 0
    assert p.stdout.startswith(b"    (0.00/100%)\r") and p.stdout.endswith(b"    (100.00/100%)\r\n")
    assert read(dst) == read(src)
    vmkit("convert", "-S", "0", "-O", "qcow2", src, str(tmp_path / "full.qcow2"), check=True)
    assert qemu_img("compare", str(tmp_path / "full.qcow2"), src).returncode == 0


@pytest.mark.parametrize("threads", ["1", "8"])
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_convert_target_full(tmp_path, fmt, threads):
    """A target file system that fills up mid-copy (on the writer thread with -m 8):
    one line naming the cause, exit 1, no partial target left behind."""
    if os.geteuid():
        pytest.skip("mounting a small tmpfs needs root")
    src = pattern_raw(str(tmp_path / "s.raw"), 16 << 20)
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        dst = str(mnt / f"d.{fmt}")
        p = vmkit("convert", "-m", threads, "-O", fmt, src, dst)
        assert p.returncode == 1, p
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0], p.stderr
        assert not os.path.exists(dst)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_locking_against_qemu(tmp_path):
    img = str(tmp_path / "lock.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    holder = subprocess.Popen([QEMU_IO, "-f", "qcow2", img], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # qemu-io holds the image for writing once it shows its prompt.
        holder.stdout.read(1)
        p = vmkit("info", img)
        assert p.returncode == 1 and "lock" in p.stderr
        assert vmkit("info", "-U", img).returncode == 0
    finally:
        holder.communicate(b"quit\n", timeout=10)
    assert vmkit("info", img).returncode == 0


@pytest.mark.parametrize("backing", ["a.qcow2", "missing.qcow2"])
def test_backing_without_format_says_what_qemu_img_says(tmp_path, backing):
    """Seed 003's `create -b base -f qcow2 top` without -F: qemu-img 7.2 refuses it and
    says what the backing file was probed as (or why it does not open)."""
    vmkit("create", "-q", "-f", "qcow2", str(tmp_path / "a.qcow2"), "1M", check=True)
    v = vmkit("create", "-f", "qcow2", "-b", backing, "top.qcow2", cwd=tmp_path)
    q = qemu_img("create", "-f", "qcow2", "-b", backing, "top.qcow2", cwd=tmp_path)
    assert v.returncode == q.returncode == 1
    assert v.stderr.replace("vmkit: ", "qemu-img: ", 1) == q.stderr
    assert not (tmp_path / "top.qcow2").exists()
