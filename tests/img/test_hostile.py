# SPDX-License-Identifier: GPL-2.0-or-later
"""Broken and hostile images: one clear line and exit 1, never a crash."""
import os
import struct

import pytest

import qcow2hdr
from imgtest import qemu_img, qemu_io, vmkit


def base(tmp_path, name="h.qcow2"):
    img = str(tmp_path / name)
    qemu_img("create", "-q", "-f", "qcow2", img, "4M", check=True)
    qemu_io(img, "write -P 7 0 256k")
    return img


def truncated(tmp_path):
    img = base(tmp_path)
    os.truncate(img, 65536 + 100)
    return img, None


def l1_offset(tmp_path):
    img = base(tmp_path)
    qcow2hdr.patch(img, "l1_table_offset", 0x7fff0000)
    return img, "L1 table offset 0x7fff0000 beyond end of file"


def l1_size(tmp_path):
    img = base(tmp_path)
    qcow2hdr.patch(img, "l1_size", 0x7fffffff)
    return img, "L1 table"


def rt_in_header(tmp_path):
    img = base(tmp_path)
    qcow2hdr.patch(img, "refcount_table_offset", 0)
    return img, "refcount table offset 0 points into the header"


def unknown_incompat(tmp_path):
    img = base(tmp_path)
    qcow2hdr.patch(img, "incompatible_features", 1 << 20)
    return img, "Unsupported qcow2 feature(s)"


def named_incompat(tmp_path):
    """An incompatible bit vmkit does not know, named in the image's own feature table:
    the table entry of bit 2 (external data file, now supported) renamed to bit 6."""
    img = base(tmp_path)
    with open(img, "r+b") as f:
        f.seek(0x78 + 2 * 48)                   # the table starts at 0x78 (no other extension)
        assert f.read(2) == b"\x00\x02"
        f.seek(0x78 + 2 * 48 + 1)
        f.write(b"\x06")
    qcow2hdr.patch(img, "incompatible_features", 1 << 6)
    return img, "external data file"


def backing_loop(tmp_path):
    a, b = str(tmp_path / "a.qcow2"), str(tmp_path / "b.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", a, "1M", check=True)
    qemu_img("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b, check=True)
    # Point a at b by hand: a -> b -> a.
    qemu_img("rebase", "-u", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", a, check=True)
    return b, "loop"


def cluster_bits_8(tmp_path):
    img = base(tmp_path)
    qcow2hdr.patch(img, "cluster_bits", 8)
    return img, "cluster_bits 8"


def cluster_bits_22(tmp_path):
    img = base(tmp_path)
    qcow2hdr.patch(img, "cluster_bits", 22)
    return img, "cluster_bits 22"


def l2_into_header(tmp_path):
    img = base(tmp_path)
    h = qcow2hdr.read_header(img)
    with open(img, "r+b") as f:
        f.seek(h["l1_table_offset"])
        (l2,) = struct.unpack(">Q", f.read(8))
        f.seek((l2 & 0x00fffffffffffe00))
        f.write(struct.pack(">Q", (1 << 63) | 0x200))   # data inside the header cluster
    return img, None


def snapped(tmp_path):
    """A base image with one internal snapshot; returns it and its snapshot table offset."""
    img = base(tmp_path)
    qemu_img("snapshot", "-c", "s", img, check=True)
    return img, qcow2hdr.read_header(img)["snapshots_offset"]


def patch_at(img, off, fmt, *values):
    with open(img, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(fmt, *values))


def sn_table_past_eof(tmp_path):
    img, _ = snapped(tmp_path)
    qcow2hdr.patch(img, "snapshots_offset", 0x7fff0000)
    return img, "snapshot table offset 0x7fff0000 beyond end of file"


def sn_count_absurd(tmp_path):
    img, _ = snapped(tmp_path)
    qcow2hdr.patch(img, "nb_snapshots", 0xffffffff)
    return img, "Snapshot table too large"


def sn_count_past_eof(tmp_path):
    img, _ = snapped(tmp_path)
    qcow2hdr.patch(img, "nb_snapshots", 60000)
    return img, "beyond end of file"


def sn_l1_size_absurd(tmp_path):
    img, off = snapped(tmp_path)
    patch_at(img, off + 8, ">I", 0x7fffffff)
    return img, "L1 size 2147483647 too large"


def sn_l1_past_eof(tmp_path):
    img, off = snapped(tmp_path)
    patch_at(img, off, ">Q", 0x7fff0000)
    return img, "snapshot L1 table offset 0x7fff0000 beyond end of file"


def sn_l1_on_refcount_table(tmp_path):
    img, off = snapped(tmp_path)
    patch_at(img, off, ">Q", qcow2hdr.read_header(img)["refcount_table_offset"])
    return img, "L1 table overlaps other metadata"


def sn_table_on_l1(tmp_path):
    img, _ = snapped(tmp_path)
    qcow2hdr.patch(img, "snapshots_offset", qcow2hdr.read_header(img)["l1_table_offset"])
    return img, "snapshot"


def sn_extra_absurd(tmp_path):
    img, off = snapped(tmp_path)
    patch_at(img, off + 36, ">I", 0xfffffff0)
    return img, "extra data of 4294967280 bytes is too large"


def sn_names_past_eof(tmp_path):
    img, off = snapped(tmp_path)
    patch_at(img, off + 12, ">HH", 0xffff, 0xffff)
    os.truncate(img, off + 64)
    return img, "snapshot table runs past the end of the file"


SNAPSHOT_CASES = [sn_table_past_eof, sn_count_absurd, sn_count_past_eof, sn_l1_size_absurd,
                  sn_l1_past_eof, sn_l1_on_refcount_table, sn_table_on_l1, sn_extra_absurd,
                  sn_names_past_eof]

CASES = [truncated, l1_offset, l1_size, rt_in_header, unknown_incompat, named_incompat,
         backing_loop, cluster_bits_8, cluster_bits_22, l2_into_header] + SNAPSHOT_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
@pytest.mark.parametrize("cmd", [["info", "--backing-chain"], ["convert", "-O", "raw"], ["check"], ["map"],
                                 ["convert", "-c", "-O", "qcow2"], ["bench", "-c", "2000", "-S", "64k"],
                                 ["commit"], ["rebase", "-b", "", "-f", "qcow2"]])
def test_hostile(tmp_path, case, cmd):
    if (cmd[0], case) in (("info", l2_into_header), ("check", backing_loop)):
        pytest.skip("info reads no L2 table; check does not open the backing chain")
    if cmd[0] == "bench" and case in (l2_into_header,):
        pytest.skip("bench reads only what -S steps on, and may miss the bad entry")
    img, msg = case(tmp_path)
    args = cmd + [img]
    out = str(tmp_path / "out.img")
    if cmd[0] == "convert":
        args.append(out)
    p = vmkit(*args)
    assert p.returncode in (1, 2), (p.returncode, p.stdout, p.stderr)
    assert not os.path.exists(out), "a failed convert left its target behind"
    if p.returncode == 1:
        lines = p.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("vmkit: "), p.stderr
        if msg and cmd[0] != "check":
            assert msg in lines[0], lines[0]


@pytest.mark.parametrize("case", SNAPSHOT_CASES, ids=[c.__name__ for c in SNAPSHOT_CASES])
@pytest.mark.parametrize("cmd", [["snapshot", "-l"], ["snapshot", "-a", "s"],
                                 ["snapshot", "-c", "new"], ["snapshot", "-d", "s"]])
def test_hostile_snapshots(tmp_path, case, cmd):
    img, msg = case(tmp_path)
    p = vmkit(*cmd, img)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmkit: ") and msg in lines[0], p.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
@pytest.mark.parametrize("cmd", [["resize", "+1M"], ["amend", "-o", "compat=0.10"],
                                 ["measure", "-O", "qcow2"]])
def test_hostile_resize_amend_measure(tmp_path, case, cmd):
    img, msg = case(tmp_path)
    if case is l2_into_header and cmd[0] != "measure":
        pytest.skip("resize and amend read no data cluster")
    args = [cmd[0], img, cmd[1]] if cmd[0] == "resize" else cmd + [img]
    before = open(img, "rb").read()
    p = vmkit(*args)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmkit: "), p.stderr
    if msg:
        assert msg in lines[0], lines[0]
    assert open(img, "rb").read() == before     # refused before anything was written


def bitmapped(tmp_path):
    img = base(tmp_path)
    qemu_img("bitmap", "--add", img, "bm", check=True)
    with open(img, "rb") as f:
        head = f.read(65536)
    return img, head.index(struct.pack(">I", 0x23852875))


def bm_dir_past_eof(tmp_path):
    img, ext = bitmapped(tmp_path)
    patch_at(img, ext + 24, ">Q", 0x7fff0000)
    return img, "bitmap directory offset 0x7fff0000 beyond end of file"


def bm_dir_absurd(tmp_path):
    img, ext = bitmapped(tmp_path)
    patch_at(img, ext + 16, ">Q", 1 << 40)
    return img, "bitmap directory too large"


def bm_count_past_dir(tmp_path):
    img, ext = bitmapped(tmp_path)
    patch_at(img, ext + 8, ">I", 5000)
    return img, "bitmap directory is truncated"


BITMAP_CASES = [bm_dir_past_eof, bm_dir_absurd, bm_count_past_dir]


@pytest.mark.parametrize("case", BITMAP_CASES, ids=[c.__name__ for c in BITMAP_CASES])
@pytest.mark.parametrize("cmd", [["check"], ["measure", "-O", "qcow2"]])
def test_hostile_bitmaps(tmp_path, case, cmd):
    img, msg = case(tmp_path)
    p = vmkit(*cmd, img)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmkit: ") and msg in lines[0], p.stderr
