# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit img resize against Debian's qemu-img: same sizes, same data, clean images."""
import shutil

import pytest

import qcow2hdr
from imgtest import pattern_raw, qemu_img, qemu_io, read, vmkit

STEPS = ["+3M", "--shrink 1536K", "--shrink -- -512", "300M", "--shrink 2M", "+1000K"]


def clean(img):
    p = qemu_img("check", img)
    assert p.returncode == 0 and "No errors were found" in p.stdout, p.stdout + p.stderr
    assert "leaked" not in p.stdout


@pytest.mark.parametrize("fmt,opts", [("raw", ""), ("qcow2", "cluster_size=512"),
                                      ("qcow2", "cluster_size=64k"),
                                      ("qcow2", "cluster_size=2M,compat=0.10")])
def test_resize_steps_match_qemu(tmp_path, fmt, opts):
    src = pattern_raw(str(tmp_path / "src.raw"), 5 << 20, seed=31)
    ours, theirs = str(tmp_path / f"v.{fmt}"), str(tmp_path / f"q.{fmt}")
    qemu_img("convert", "-f", "raw", "-O", fmt, *(["-o", opts] if opts else []), src, ours,
             check=True)
    shutil.copy(ours, theirs)
    for step in STEPS:
        args = step.split()
        vmkit("resize", "-f", fmt, *args[:-1], ours, args[-1], check=True)
        qemu_img("resize", "-f", fmt, *args[:-1], theirs, args[-1], check=True)
        vs = vmkit("info", "--output=json", "-f", fmt, ours).stdout
        qs = qemu_img("info", "--output=json", "-f", fmt, theirs).stdout
        assert [ln for ln in vs.splitlines() if "virtual-size" in ln] == \
               [ln for ln in qs.splitlines() if "virtual-size" in ln], step
        p = qemu_img("compare", "-f", fmt, "-F", fmt, ours, theirs)
        assert p.returncode == 0, (step, p.stdout)
        if fmt == "qcow2":
            clean(ours)
    if fmt == "qcow2" and "512" in opts:
        # 300M with 512-byte clusters needs a bigger L1 table: it moved, the old one is free.
        assert qcow2hdr.read_header(ours)["l1_size"] >= (300 << 20) // (512 * 64)


@pytest.mark.parametrize("mode", ["metadata", "falloc", "full"])
def test_resize_preallocation(tmp_path, mode):
    img = str(tmp_path / "p.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    qemu_io(img, "write -P 3 0 1M")
    vmkit("resize", f"--preallocation={mode}", img, "+4M", check=True)
    clean(img)
    qemu_io(img, "read -P 3 0 1M", "read -P 0 1M 4M")
    p = qemu_img("check", img)
    assert "80/80 = 100.00% allocated" in p.stdout, p.stdout
    raw = str(tmp_path / "p.raw")
    qemu_img("create", "-q", "-f", "raw", raw, "1M", check=True)
    if mode == "metadata":
        assert vmkit("resize", "-f", "raw", f"--preallocation={mode}", raw, "+4M").returncode == 1
    else:
        vmkit("resize", "-f", "raw", f"--preallocation={mode}", raw, "+4M", check=True)
        assert len(read(raw)) == 5 << 20


def test_resize_with_snapshots(tmp_path):
    img = str(tmp_path / "s.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "4M", check=True)
    qemu_io(img, "write -P 1 0 4M")
    vmkit("snapshot", "-c", "full", img, check=True)
    vmkit("resize", "--shrink", img, "1M", check=True)
    clean(img)
    vmkit("resize", img, "8M", check=True)
    clean(img)
    qemu_io(img, "read -P 1 0 1M", "read -P 0 1M 7M")
    out = str(tmp_path / "full.raw")
    qemu_img("convert", "-l", "snapshot.name=full", "-O", "raw", img, out, check=True)
    # qemu-img reads a snapshot at the image's current size.
    assert read(out) == b"\x01" * (4 << 20) + bytes(4 << 20)
    vmkit("snapshot", "-a", "full", img, check=True)
    qemu_io(img, "read -P 1 0 4M")
    v2 = str(tmp_path / "v2.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "1M", check=True)
    vmkit("snapshot", "-c", "s", v2, check=True)
    p = vmkit("resize", v2, "2M")
    assert p.returncode == 1 and p.stderr == "vmkit: Can't resize a v2 image which has snapshots\n"


def test_grown_overlay_hides_backing(tmp_path):
    base, top = str(tmp_path / "base.qcow2"), str(tmp_path / "top.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", base, "2M", check=True)
    qemu_io(base, "write -P 7 0 2M")
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top, "1M",
             check=True)
    vmkit("resize", top, "2M", check=True)
    clean(top)
    qemu_io(top, "read -P 7 0 1M", "read -P 0 1M 1M")


def test_resize_errors(tmp_path):
    img = str(tmp_path / "e.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    for args, msg in ([[img, "512K"], "Use the --shrink option to perform a shrink operation."],
                      [[img, "--", "-2M"], "New image size must be positive"],
                      [[img, "abc"], "Parameter 'size' expects a non-negative number below 2^64"],
                      [[img], "Not enough arguments"],
                      [["--preallocation=bogus", img, "+1M"], "Invalid preallocation mode 'bogus'"],
                      [[img, "1000001"], "Use the --shrink option"],
                      [[img, "+1001"], "The new size must be a multiple of 512"],
                      [[img, "100P"], "Failed to grow the L1 table: File too large"]):
        p = vmkit("resize", *args)
        assert p.returncode == 1 and p.stderr.startswith("vmkit: ") and msg in p.stderr, (args, p.stderr)
        # One line, or qemu-img's second: the shrink warning, its --help or size-suffix hint.
        assert len(p.stderr.splitlines()) == 1 or p.stderr.splitlines()[1].startswith(
            ("vmkit: warning: Shrinking", "Try 'vmkit img --help'", "Optional suffix")), p.stderr
    clean(img)
