# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes checked against metadata, as QEMU's overlap checks (issue 11, defect 6).

A data write that would land on an L2 table or a refcount block is refused
with "Preventing invalid write on metadata", the image is marked corrupt (the
corrupt bit), and a corrupt-marked image is refused for writing until
check -r repairs it. Each case is run through qemu-img too: same outcome."""
import os
import shutil
import struct

import pytest

import qcow2hdr
from imgtest import qemu_img, qemu_io, read, vmkit

CS = 65536


def base(tmp_path):
    img = str(tmp_path / "o.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "4M", check=True)
    qemu_io(img, "write -P 7 0 64k")
    return img


def l2_points_at_itself(tmp_path):
    """L2 entry 0 (COPIED: written in place) names the L2 table's own cluster."""
    img = base(tmp_path)
    h = qcow2hdr.read_header(img)
    with open(img, "r+b") as f:
        f.seek(h["l1_table_offset"])
        (l1,) = struct.unpack(">Q", f.read(8))
        l2 = l1 & 0x00fffffffffffe00
        f.seek(l2)
        f.write(struct.pack(">Q", l2 | (1 << 63)))
    return img, "active L2 table", 0, l2


def refblock_free(tmp_path):
    """The refcount block says its own cluster is free: the allocator hands it out."""
    img = base(tmp_path)
    h = qcow2hdr.read_header(img)
    with open(img, "rb") as f:
        f.seek(h["refcount_table_offset"])
        (rb,) = struct.unpack(">Q", f.read(8))
    qcow2hdr.set_refcount(img, rb // CS, 0)
    return img, "refcount block", 2 << 20, rb


def source(tmp_path, at):
    src = str(tmp_path / "src.raw")
    with open(src, "wb") as f:
        f.truncate(4 << 20)
        f.seek(at)
        f.write(os.urandom(CS))
    return src


def corrupt_bit(img):
    return bool(qcow2hdr.read_header(img)["incompatible_features"] & 2)


@pytest.mark.parametrize("case", [l2_points_at_itself, refblock_free], ids=lambda f: f.__name__)
def test_write_on_metadata_refused(tmp_path, case):
    img, kind, at, meta = case(tmp_path)
    src = source(tmp_path, at)
    q = str(tmp_path / "q.qcow2")
    shutil.copy(img, q)
    with open(img, "rb") as f:
        f.seek(meta)
        table = f.read(CS)

    p = qemu_img("convert", "-n", "-O", "qcow2", src, q)
    assert p.returncode == 1
    assert f"Preventing invalid write on metadata (overlaps with {kind})" in p.stderr
    assert corrupt_bit(q)

    p = vmkit("convert", "-n", "-O", "qcow2", src, img)
    assert p.returncode == 1
    assert f"Preventing invalid write on metadata (overlaps with {kind})" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert corrupt_bit(img)
    with open(img, "rb") as f:
        f.seek(meta)
        assert f.read(CS) == table, "the metadata was overwritten"
    assert "corrupt: true" in qemu_img("info", img).stdout

    # Marked corrupt: no more writes, reads still work.
    p = vmkit("convert", "-n", "-O", "qcow2", src, img)
    assert p.returncode == 1
    assert "image is marked corrupt; it can only be opened read-only" in p.stderr
    assert vmkit("convert", "-O", "raw", img, str(tmp_path / "out.raw")).returncode == 0


def test_check_repair_clears_corrupt_bit(tmp_path):
    img = base(tmp_path)
    qcow2hdr.patch(img, "incompatible_features", 2)
    assert "image is marked corrupt" in vmkit("resize", img, "8M").stderr
    p = vmkit("check", "-r", "all", img)
    assert p.returncode == 0, p.stderr
    assert not corrupt_bit(img)
    assert vmkit("resize", img, "8M").returncode == 0
