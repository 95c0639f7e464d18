# SPDX-License-Identifier: GPL-2.0-or-later
"""check on damaged refcount structures (issue 11, defects 5 and 7).

-r all must never write refcounts through a refcount block that is really
other metadata: the structures are rebuilt elsewhere (as qemu-img check -r all
does) and the data reads back identically. check reports what qemu-img
reports: a refcount table entry with reserved bits, an L2 entry with
reserved bit 56."""
import shutil
import struct

import pytest

import qcow2hdr
from imgtest import qemu_img, qemu_io, read, vmkit


def with_data(tmp_path):
    img = str(tmp_path / "d.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "64M", check=True)
    qemu_io(img, "write -P 7 0 1M", "write -P 9 10M 3M", "write -P 3 40M 64k")
    ref = str(tmp_path / "ref.raw")
    qemu_img("convert", "-O", "raw", img, ref, check=True)
    return img, ref


def set_rt_entry(img, i, value):
    h = qcow2hdr.read_header(img)
    with open(img, "r+b") as f:
        f.seek(h["refcount_table_offset"] + 8 * i)
        f.write(struct.pack(">Q", value))


def l2_entry_or(img, bits):
    h = qcow2hdr.read_header(img)
    with open(img, "r+b") as f:
        f.seek(h["l1_table_offset"])
        (l1,) = struct.unpack(">Q", f.read(8))
        l2 = l1 & 0x00fffffffffffe00
        f.seek(l2)
        (e,) = struct.unpack(">Q", f.read(8))
        f.seek(l2)
        f.write(struct.pack(">Q", e | bits))


@pytest.mark.parametrize("target", ["l1_table_offset", "refcount_table_offset"])
def test_rebuild_not_overwrite(tmp_path, target):
    """Refcount table entry 0 pointed at the L1 table (or the refcount table itself)."""
    img, ref = with_data(tmp_path)
    h = qcow2hdr.read_header(img)
    set_rt_entry(img, 0, h[target])
    q = str(tmp_path / "q.qcow2")
    shutil.copy(img, q)

    # A plain check reports and changes nothing.
    before = read(img)
    p = vmkit("check", img)
    assert p.returncode == 2
    assert "ERROR refcount block 0 refcount=2" in p.stderr
    assert read(img) == before
    # -r leaks cannot repair this: refused, the file untouched.
    p = vmkit("check", "-r", "leaks", img)
    assert p.returncode == 1
    assert "ERROR need to rebuild refcount structures" in p.stderr
    assert read(img) == before

    # qemu-img rebuilds; so does vmkit, and both images read back as before.
    assert qemu_img("check", "-r", "all", q).returncode == 0
    assert qemu_img("compare", ref, q).returncode == 0
    p = vmkit("check", "-r", "all", img)
    assert p.returncode == 0, p.stderr + p.stdout
    assert "Rebuilding refcount structure" in p.stderr
    assert "No errors were found on the image." in p.stdout
    assert qemu_img("check", img).returncode == 0
    c = qemu_img("compare", ref, img)
    assert c.returncode == 0, c.stdout + c.stderr
    assert vmkit("compare", ref, img).returncode == 0
    # And it stays writable and consistent.
    qemu_io(img, "write -P 5 20M 128k")
    assert qemu_img("check", img).returncode == 0


def test_rt_entry_reserved_bits(tmp_path):
    img, ref = with_data(tmp_path)
    h = qcow2hdr.read_header(img)
    with open(img, "rb") as f:
        f.seek(h["refcount_table_offset"])
        (e,) = struct.unpack(">Q", f.read(8))
    set_rt_entry(img, 0, e | 0x100)
    q, v = qemu_img("check", img), vmkit("check", img)
    assert (v.returncode, v.stdout, v.stderr) == (q.returncode, q.stdout, q.stderr)
    assert "ERROR refcount table entry 0 has reserved bits set" in v.stderr
    # Repaired by a rebuild (qemu-img 7.2 itself fails here, writing over its own new block).
    p = vmkit("check", "-r", "all", img)
    assert p.returncode == 0, p.stderr
    assert qemu_img("check", img).returncode == 0
    assert qemu_img("compare", ref, img).returncode == 0


def test_l2_entry_reserved_bit_56(tmp_path):
    img, _ = with_data(tmp_path)
    l2_entry_or(img, 1 << 56)
    q, v = qemu_img("check", img), vmkit("check", img)
    assert (v.returncode, v.stdout, v.stderr) == (q.returncode, q.stdout, q.stderr)
    assert "ERROR found l2 entry with reserved bits set" in v.stderr
    # Not repairable, reported once, as qemu-img -r all.
    q2 = str(tmp_path / "q.qcow2")
    shutil.copy(img, q2)
    q, v = qemu_img("check", "-r", "all", q2), vmkit("check", "-r", "all", img)
    assert (v.returncode, v.stdout, v.stderr) == (q.returncode, q.stdout, q.stderr)
