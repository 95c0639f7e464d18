# SPDX-License-Identifier: GPL-2.0-or-later
"""Sizes that are no multiple of 512: whole sectors, as qemu-img counts them."""
import pytest

import qcow2hdr
from sametest import Pair

ODD = ["1", "511", "512", "513", "1234", "1535", "65537", "1.5k", "0"]


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@pytest.mark.parametrize("size", ODD)
def test_create_rounds_up_to_sectors(tmp_path, fmt, size):
    """'create -f raw x 1234' makes 1536 bytes; qcow2's virtual size is 1536 too."""
    p = Pair(tmp_path)
    p.same("create", "-f", fmt, "x", size, files=["x"])
    p.same_here("info", "x")
    p.same_here("info", "--output=json", "x")


def test_create_prealloc_rounds_up(tmp_path):
    p = Pair(tmp_path)
    p.same("create", "-f", "qcow2", "-o", "preallocation=metadata", "y", "1234")
    p.same_here("info", "y")


def odd_raw(d):
    with open(f"{d}/odd.raw", "wb") as f:
        f.write(bytes(range(256)) * 4 + b"\x55" * 210)    # 1234 bytes


def test_odd_raw_file_is_whole_sectors(tmp_path):
    """A 1234-byte raw file is a 1536-byte image (its tail reads as zeros), converted so."""
    p = Pair(tmp_path, odd_raw)
    p.same_here("info", "odd.raw")
    p.same_here("map", "--output=json", "odd.raw")
    p.same("convert", "-O", "raw", "odd.raw", "out.raw", files=["out.raw"])
    p.same("convert", "-O", "qcow2", "odd.raw", "out.qcow2")
    p.same_here("info", "out.qcow2")
    p.same_here("compare", "odd.raw", "out.qcow2")


def test_resize_raw_to_odd_size(tmp_path):
    p = Pair(tmp_path, odd_raw)
    p.same("resize", "-f", "raw", "odd.raw", "1300")        # below 1536: a shrink
    p.same("resize", "-f", "raw", "odd.raw", "1234567", files=["odd.raw"])
    p.same_here("info", "odd.raw")
    p.same("create", "-q", "-f", "qcow2", "x.qcow2", "1M", files=["x.qcow2"])
    p.same("resize", "-f", "qcow2", "x.qcow2", "1234567", files=["x.qcow2"])


def test_qcow2_odd_header_size(tmp_path):
    """A header size of 1234 bytes reads as 1024: QEMU cuts it to whole sectors."""
    p = Pair(tmp_path)
    p.same("create", "-q", "-f", "qcow2", "h.qcow2", "1M", files=["h.qcow2"])
    qcow2hdr.patch(f"{p.q}/h.qcow2", "size", 1234)
    p.same_here("info", "h.qcow2")
    p.same_here("check", "h.qcow2")
    p.copy_to_v("h.qcow2")
    p.same("convert", "-O", "raw", "h.qcow2", "h.raw", files=["h.raw"])
