# SPDX-License-Identifier: GPL-2.0-or-later
"""qcow2 extended L2 entries (subclusters), read-only: images qemu-img creates with
extended_l2=on and qemu-io fills at subcluster granularity read, map and describe as
qemu-img does; writing them is refused; broken subcluster bitmaps give one line."""
import hashlib
import random
import struct

import pytest

import qcow2hdr
from imgtest import qemu_img, qemu_io, read, vmkit

CLUSTER_SIZES = [16384, 32768, 65536, 524288, 2 * 1024 * 1024]


def same_output(*args):
    a = vmkit(*args, check=True).stdout
    b = qemu_img(*args, check=True).stdout
    assert a == b, f"vmkit:\n{a}\nqemu-img:\n{b}"


def same_raw(tmp_path, img):
    ours, theirs = str(tmp_path / "ours.raw"), str(tmp_path / "theirs.raw")
    vmkit("convert", "-O", "raw", img, ours, check=True)
    qemu_img("convert", "-O", "raw", img, theirs, check=True)
    assert read(ours) == read(theirs)


def subcluster_writes(cs, size, seed):
    """qemu-io commands: data and zeros on subcluster boundaries, a few unaligned writes,
    and one compressed cluster."""
    sc = cs // 32
    rnd = random.Random(seed)
    cmds = []
    end = size - 4 * cs                         # the compressed cluster stays apart
    for i in range(24):
        off = rnd.randrange(0, end // sc - 40) * sc
        n = rnd.choice([1, 1, 2, 3, 31, 33]) * sc
        if i % 4 == 3:
            cmds.append(f"write -z {off} {n}")
        else:
            cmds.append(f"write -P {0x10 + i} {off} {n}")
    for _ in range(3):                          # inside a subcluster: qemu copies the rest
        off = rnd.randrange(0, end - 4096)
        cmds.append(f"write -P 0x7e {off} 1000")
    cmds.append(f"write -c -P 0x6c {size - 2 * cs} {cs}")
    return cmds


def make(tmp_path, cs, size=None, backing=None, seed=3, name="x.qcow2"):
    size = size or max(16 * cs, 4 * 1024 * 1024)
    img = str(tmp_path / name)
    args = ["create", "-q", "-f", "qcow2", "-o", f"extended_l2=on,cluster_size={cs}"]
    if backing:
        args += ["-b", backing, "-F", "raw"]
    qemu_img(*args, img, str(size), check=True)
    qemu_io(img, *subcluster_writes(cs, size, seed))
    return img


@pytest.mark.parametrize("cs", CLUSTER_SIZES)
def test_read_matches(tmp_path, cs):
    img = make(tmp_path, cs)
    same_raw(tmp_path, img)
    same_output("map", "--output=json", img)
    # Human map stops at the compressed cluster in both, having printed the same lines.
    a, b = vmkit("map", img), qemu_img("map", img)
    assert (a.returncode, a.stdout) == (b.returncode, b.stdout)
    for out in ("human", "json"):
        same_output("info", f"--output={out}", img)
    assert "extended l2: true" in vmkit("info", img, check=True).stdout


@pytest.mark.parametrize("cs", [16384, 65536])
def test_over_backing(tmp_path, cs):
    """Unwritten subclusters of allocated clusters read from the backing file."""
    base = str(tmp_path / "base.raw")
    with open(base, "wb") as f:
        f.write(random.Random(9).randbytes(4 * 1024 * 1024))
    img = make(tmp_path, cs, size=4 * 1024 * 1024, backing="base.raw")
    same_raw(tmp_path, img)
    same_output("map", "--output=json", img)
    same_output("info", "--backing-chain", "--output=json", img)
    p = vmkit("compare", img, str(tmp_path / "theirs.raw"))
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("cs", CLUSTER_SIZES)
def test_check_matches(tmp_path, cs):
    img = make(tmp_path, cs)
    if cs == 65536:                             # a snapshot's L1 and shared clusters too
        qemu_img("snapshot", "-c", "one", img, check=True)
        qemu_io(img, f"write -P 0x3c 0 {cs // 32}")
    for out in ("human", "json"):
        a, b = vmkit("check", f"--output={out}", img), qemu_img("check", f"--output={out}", img)
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout)


def digest(path):
    return hashlib.sha256(read(path)).hexdigest()


@pytest.mark.parametrize("cmd", [["resize", "+1M"], ["snapshot", "-c", "s"],
                                 ["check", "-r", "all"], ["amend", "-o", "lazy_refcounts=on"]])
def test_writes_refused(tmp_path, cmd):
    img = make(tmp_path, 65536)
    before = digest(img)
    args = [cmd[0]] + cmd[1:] + [img] if cmd[0] != "resize" else ["resize", img, cmd[1]]
    p = vmkit(*args)
    assert p.returncode != 0
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "extended L2" in lines[0], p.stderr
    assert digest(img) == before


def test_convert_target_refused(tmp_path):
    img = make(tmp_path, 65536)
    target = make(tmp_path, 65536, name="y.qcow2")
    p = vmkit("convert", "-n", "-O", "qcow2", img, target)
    assert p.returncode != 0 and "extended L2" in p.stderr


def l2_entry(img, index):
    """File offset of 128-bit L2 entry index of the first L2 table."""
    h = qcow2hdr.read_header(img)
    with open(img, "rb") as f:
        f.seek(h["l1_table_offset"])
        l2 = struct.unpack(">Q", f.read(8))[0] & 0x00fffffffffffe00
    assert l2
    return l2 + 16 * index


def patch_at(img, off, fmt, *vals):
    with open(img, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(fmt, *vals))


def alloc_and_zero(tmp_path):
    img = str(tmp_path / "h.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", img, "4M", check=True)
    qemu_io(img, "write -P 1 0 64k")
    patch_at(img, l2_entry(img, 0) + 8, ">Q", 0x00000001_00000001)
    return img, "invalid subcluster bitmap"


def alloc_without_cluster(tmp_path):
    img = str(tmp_path / "h.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", img, "4M", check=True)
    qemu_io(img, "write -P 1 0 64k")
    patch_at(img, l2_entry(img, 1) + 8, ">Q", 0x0000000f)
    return img, "invalid subcluster bitmap"


def small_subclusters(tmp_path):
    img = str(tmp_path / "h.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=8192", img, "4M", check=True)
    qcow2hdr.patch(img, "incompatible_features", 1 << 4)
    return img, "Unsupported subcluster size: 256"


def unaligned_cluster(tmp_path):
    img = str(tmp_path / "h.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", img, "4M", check=True)
    qemu_io(img, "write -P 1 0 64k")
    patch_at(img, l2_entry(img, 0), ">Q", (1 << 63) | 0x10200)
    return img, "data cluster offset 0x10200 not cluster aligned"


HOSTILE = [alloc_and_zero, alloc_without_cluster, small_subclusters, unaligned_cluster]


@pytest.mark.parametrize("case", HOSTILE, ids=[c.__name__ for c in HOSTILE])
@pytest.mark.parametrize("cmd", [["convert", "-O", "raw"], ["map", "--output=json"]])
def test_hostile(tmp_path, case, cmd):
    img, msg = case(tmp_path)
    args = cmd + [img]
    if cmd[0] == "convert":
        args.append(str(tmp_path / "out.raw"))
    p = vmkit(*args)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmkit: ") and msg in lines[0], p.stderr
    assert img in lines[0]
