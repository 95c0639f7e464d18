# SPDX-License-Identifier: GPL-2.0-or-later
"""vmdk read support against Debian's qemu-img: images qemu-img writes in each subformat are
converted, mapped and described by vmkit as qemu-img does; hostile vmdk files give one line."""
import json
import os
import random
import struct
import subprocess

import pytest

from imgtest import QEMU_IO, VMKIT, qemu_img, read, run, vmkit

SUBFORMATS = ["monolithicSparse", "monolithicFlat", "streamOptimized",
              "twoGbMaxExtentSparse", "twoGbMaxExtentFlat"]


def scattered_raw(path, size, seed):
    """Random data in scattered places (unaligned, some spanning grains), zeros elsewhere."""
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for _ in range(12):
            off = rnd.randrange(0, size - 1)
            n = min(size - off, rnd.choice([1, 511, 4096, 65536, 70000, 300000]))
            f.seek(off)
            f.write(rnd.randbytes(n))
        f.seek(size - 700)            # the last, partial grain
        f.write(rnd.randbytes(700))
    return path


def from_raw(tmp_path, subformat, size=10 * 1024 * 1024 + 3 * 512, seed=7, name="d.vmdk"):
    raw = scattered_raw(str(tmp_path / "src.raw"), size, seed)
    img = str(tmp_path / name)
    qemu_img("convert", "-O", "vmdk", "-o", f"subformat={subformat}", raw, img, check=True)
    return raw, img


def data_ranges(path):
    """The data (non-hole) ranges of a file, by SEEK_DATA/SEEK_HOLE."""
    out, off = [], 0
    with open(path, "rb") as f:
        fd, end = f.fileno(), os.fstat(f.fileno()).st_size
        while off < end:
            try:
                off = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            hole = os.lseek(fd, off, os.SEEK_HOLE)
            out.append((off, hole))
            off = hole
    return out


def same_file(a, b):
    """Equal content, reading only where either file has data (holes read as zeros)."""
    assert os.path.getsize(a) == os.path.getsize(b)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for start, end in data_ranges(a) + data_ranges(b):
            for off in range(start, end, 1 << 20):
                n = min(1 << 20, end - off)
                fa.seek(off)
                fb.seek(off)
                assert fa.read(n) == fb.read(n), f"{a} and {b} differ in [{off}, {off + n})"


def same_raw(tmp_path, img, fmt="vmdk"):
    """vmkit's raw conversion is byte-identical to qemu-img's."""
    ours, theirs = str(tmp_path / "ours.raw"), str(tmp_path / "theirs.raw")
    vmkit("convert", "-f", fmt, "-O", "raw", img, ours, check=True)
    qemu_img("convert", "-f", fmt, "-O", "raw", img, theirs, check=True)
    same_file(ours, theirs)


def same_output(*args, cwd=None):
    a = vmkit(*args, cwd=cwd, check=True).stdout
    b = qemu_img(*args, cwd=cwd, check=True).stdout
    assert a == b, f"vmkit:\n{a}\nqemu-img:\n{b}"
    return a


@pytest.mark.parametrize("subformat", SUBFORMATS)
def test_convert_from_qemu(tmp_path, subformat):
    raw, img = from_raw(tmp_path, subformat)
    same_raw(tmp_path, img)
    assert read(str(tmp_path / "ours.raw")) == read(raw)
    p = vmkit("compare", img, raw)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("subformat", SUBFORMATS)
def test_info_and_map_match(tmp_path, subformat):
    _, img = from_raw(tmp_path, subformat)
    for out in ("human", "json"):
        same_output("info", f"--output={out}", "d.vmdk", cwd=str(tmp_path))
        same_output("info", f"--output={out}", img)
    same_output("map", "--output=json", img)
    if subformat != "streamOptimized":      # qemu-img map refuses compressed clusters (as we do)
        same_output("map", "d.vmdk", cwd=str(tmp_path))
    info = json.loads(vmkit("info", "--output=json", img, check=True).stdout)
    assert info["format"] == "vmdk"
    assert info["format-specific"]["data"]["create-type"] == subformat


@pytest.mark.parametrize("subformat", ["monolithicSparse", "streamOptimized"])
def test_convert_to_qcow2(tmp_path, subformat):
    raw, img = from_raw(tmp_path, subformat)
    out = str(tmp_path / "out.qcow2")
    vmkit("convert", "-O", "qcow2", img, out, check=True)
    qemu_img("check", out, check=True)
    assert qemu_img("compare", "-f", "qcow2", "-F", "raw", out, raw).returncode == 0


@pytest.mark.parametrize("subformat", SUBFORMATS)
def test_created_empty(tmp_path, subformat):
    img = str(tmp_path / "e.vmdk")
    qemu_img("create", "-q", "-f", "vmdk", "-o", f"subformat={subformat}", img, "5G", check=True)
    same_output("info", "--output=json", img)
    same_output("map", "--output=json", img)


def qemu_io(img, *cmds):
    args = [QEMU_IO, "-f", "vmdk"]
    for c in cmds:
        args += ["-c", c]
    run(args + [img], check=True)


@pytest.mark.parametrize("subformat", ["twoGbMaxExtentSparse", "twoGbMaxExtentFlat"])
def test_extents_across_2g(tmp_path, subformat):
    """Several extent files: data on each side of the 2 GiB boundaries."""
    img = str(tmp_path / "m.vmdk")
    qemu_img("create", "-q", "-f", "vmdk", "-o", f"subformat={subformat}", img, "5G", check=True)
    g = 1 << 30
    qemu_io(img, "write -P 0x11 0 64k", f"write -P 0x22 {2 * g - 4096} 8192",
            f"write -P 0x33 {4 * g - 512} 1024", f"write -P 0x44 {5 * g - 65536} 65536")
    same_output("info", "--output=json", img)
    same_output("map", "--output=json", img)
    # Converting 5 GiB of mostly holes is cheap both ways (both skip what is unallocated).
    same_raw(tmp_path, img)


def test_zeroed_grains(tmp_path):
    img = str(tmp_path / "z.vmdk")
    qemu_img("create", "-q", "-f", "vmdk", "-o", "zeroed_grain=on", img, "4M", check=True)
    qemu_io(img, "write -P 0x5a 0 1M", "write -z 256k 128k", "write -z 2M 64k")
    same_output("map", "--output=json", img)
    same_raw(tmp_path, img)


def test_backing_chain(tmp_path):
    base = str(tmp_path / "base.vmdk")
    top = str(tmp_path / "top.vmdk")
    qemu_img("create", "-q", "-f", "vmdk", base, "4M", check=True)
    qemu_io(base, "write -P 1 0 2M")
    qemu_img("create", "-q", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", top, check=True)
    qemu_io(top, "write -P 2 1M 64k")
    same_output("info", "--backing-chain", "--output=json", top)
    same_output("map", "--output=json", top)
    same_raw(tmp_path, top)


def footer_at_end(tmp_path):
    """A streamOptimized file whose header defers to a footer (GD_AT_END), as VMware writes."""
    _, img = from_raw(tmp_path, "streamOptimized")
    with open(img, "r+b") as f:
        hdr = bytearray(f.read(512))
        f.seek(0, os.SEEK_END)
        end = f.tell()
        # The file ends with an end-of-stream marker; the footer goes before it.
        f.seek(end - 512)
        eos = f.read(512)
        assert eos == bytes(512), "qemu-img's streamOptimized ends with an EOS marker"
        f.seek(end - 512)
        f.write(struct.pack("<QII", 0, 0, 3).ljust(512, b"\0"))     # footer marker
        f.write(bytes(hdr))                                           # the real header
        f.write(bytes(512))                                           # end of stream
        struct.pack_into("<Q", hdr, 56, 0xffffffffffffffff)
        f.seek(0)
        f.write(hdr)
    return img


def test_gd_at_end(tmp_path):
    img = footer_at_end(tmp_path)
    same_raw(tmp_path, img)
    same_output("map", "--output=json", img)


def test_hand_written_descriptor(tmp_path):
    """Offsets into flat files, extent files shorter than their extents (zeros past the end),
    VMFS extents; RDONLY and ZERO lines are skipped, as QEMU skips them. (No blank line
    before an extent line: QEMU's sscanf reads across it and counts that extent twice.)"""
    rnd = random.Random(4)
    with open(str(tmp_path / "x-flat.vmdk"), "wb") as f:
        f.write(rnd.randbytes(10000))
    with open(str(tmp_path / "y-flat.vmdk"), "wb") as f:
        f.write(rnd.randbytes(300000))
    img = desc(tmp_path, DESC.replace("monolithicFlat", "twoGbMaxExtentFlat") +
               'RW 2048 FLAT "x-flat.vmdk" 4\nRDONLY 16 FLAT "x-flat.vmdk" 0\n'
               'RW 100 FLAT "y-flat.vmdk" 7\nRW 8 ZERO "y-flat.vmdk"\nRW 64 VMFS "y-flat.vmdk"\n')
    same_raw(tmp_path, img)
    same_output("info", "--output=json", img)
    same_output("map", "--output=json", img)
    same_output("map", img)


def test_read_only(tmp_path):
    _, img = from_raw(tmp_path, "monolithicSparse")
    p = vmkit("resize", img, "+1M")
    assert p.returncode == 1 and "read-only" in p.stderr and len(p.stderr.splitlines()) == 1
    p = vmkit("convert", "-O", "vmdk", img, str(tmp_path / "new.vmdk"))
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "vmdk" in p.stderr
    assert not os.path.exists(str(tmp_path / "new.vmdk"))


# Hostile files: each gives one line naming the file and the problem, exit 1, no crash.

def sparse(tmp_path):
    _, img = from_raw(tmp_path, "monolithicSparse", size=4 * 1024 * 1024, name="h.vmdk")
    return img


def patch(img, off, fmt, *vals):
    with open(img, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(fmt, *vals))


def header(img):
    with open(img, "rb") as f:
        b = f.read(512)
    return dict(zip(["version", "flags", "capacity", "grain", "desc_off", "desc_size", "gtes",
                     "rgd", "gd", "overhead"], struct.unpack_from("<IIQQQQIQQQ", b, 4)))


def truncated_header(tmp_path):
    img = sparse(tmp_path)
    os.truncate(img, 300)
    return img, "file too short for a vmdk sparse header"


def truncated_overhead(tmp_path):
    img = sparse(tmp_path)
    os.truncate(img, 4096)
    return img, "File truncated, expecting at least 65536 bytes"


def bad_magic(tmp_path):
    img = sparse(tmp_path)
    patch(img, 0, "4s", b"KDMX")
    return img, "not a vmdk image (bad magic"


def bad_version(tmp_path):
    img = sparse(tmp_path)
    patch(img, 4, "<I", 9)
    return img, "unsupported VMDK version 9"


def gt_past_eof(tmp_path):
    img = sparse(tmp_path)
    patch(img, header(img)["gd"] * 512, "<I", 0x7fffff00)
    return img, "grain table 0 at sector 2147483392 past end of file"


def grain_past_eof(tmp_path):
    img = sparse(tmp_path)
    with open(img, "rb") as f:
        f.seek(header(img)["gd"] * 512)
        gt = struct.unpack("<I", f.read(4))[0]
    patch(img, gt * 512, "<I", 0x40000000)
    return img, "grain 0 at sector 1073741824 past end of file"


def huge_capacity(tmp_path):
    img = sparse(tmp_path)
    patch(img, 12, "<Q", 1 << 60)
    return img, "capacity of 1152921504606846976 sectors too large"


def huge_gd(tmp_path):
    img = sparse(tmp_path)
    patch(img, 12, "<Q", 1 << 40)       # 16 Mi grain tables: the directory is past the end
    return img, "grain directory at sector"


def zero_grain_size(tmp_path):
    img = sparse(tmp_path)
    patch(img, 20, "<Q", 0)
    return img, "grain size of 0 sectors unsupported"


def huge_grain(tmp_path):
    img = sparse(tmp_path)
    patch(img, 20, "<Q", 1 << 40)
    return img, "grain size of 1099511627776 sectors unsupported"


def many_gtes(tmp_path):
    img = sparse(tmp_path)
    patch(img, 44, "<I", 0xffffffff)
    return img, "entries per grain table unsupported"


def bad_compression(tmp_path):
    img = sparse(tmp_path)
    patch(img, 77, "<H", 7)
    return img, "unsupported compression algorithm 7"


def no_cid(tmp_path):
    img = sparse(tmp_path)
    h = header(img)
    patch(img, h["desc_off"] * 512, "512s", b"# Disk DescriptorFile\nversion=1\n")
    return img, "descriptor has no CID"


def first_grain(img):
    """The sector of the first allocated grain (through grain table 0)."""
    with open(img, "rb") as f:
        f.seek(header(img)["gd"] * 512)
        gt = struct.unpack("<I", f.read(4))[0]
        f.seek(gt * 512)
        return next(g for g in struct.unpack("<512I", f.read(2048)) if g)


def corrupt_grain(tmp_path):
    _, img = from_raw(tmp_path, "streamOptimized", size=4 * 1024 * 1024, name="h.vmdk")
    patch(img, first_grain(img) * 512 + 12, "8s", b"garbage!")
    return img, "is corrupt"


def grain_size_field(tmp_path):
    _, img = from_raw(tmp_path, "streamOptimized", size=4 * 1024 * 1024, name="h.vmdk")
    patch(img, first_grain(img) * 512 + 8, "<I", 0xfffffff0)
    return img, "has invalid size 4294967280"


def bad_footer(tmp_path):
    img = footer_at_end(tmp_path)
    patch(img, os.path.getsize(img) - 1536 + 12, "<I", 2)
    return img, "invalid footer"


def desc(tmp_path, text):
    img = str(tmp_path / "h.vmdk")
    with open(img, "w") as f:
        f.write(text)
    return img


DESC = ('# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n'
        'createType="monolithicFlat"\n\n# Extent description\n')


def missing_extent(tmp_path):
    return desc(tmp_path, DESC + 'RW 2048 FLAT "nothere-flat.vmdk" 0\n'), \
        "could not open extent '" + str(tmp_path / "nothere-flat.vmdk") + "': No such file"


def escaping_extent(tmp_path):
    return desc(tmp_path, DESC + 'RW 2048 FLAT "../../../../nonexistent/x-flat.vmdk" 0\n'), \
        "could not open extent"


def long_line(tmp_path):
    return desc(tmp_path, DESC + 'RW 2048 FLAT "' + "a" * 5000 + '" 0\n'), \
        "descriptor line 8 too long"


def bad_extent_line(tmp_path):
    return desc(tmp_path, DESC + 'RW 2048 FLAT "x-flat.vmdk"\n'), "Invalid extent line"


def no_extents(tmp_path):
    return desc(tmp_path, DESC), "descriptor names no extents"


def bad_create_type(tmp_path):
    return desc(tmp_path, DESC.replace("monolithicFlat", "fancyNew")), \
        "Unsupported image type 'fancyNew'"


def sparse_extent_not_kdmv(tmp_path):
    with open(str(tmp_path / "x.vmdk"), "wb") as f:
        f.write(b"\0" * 4096)
    return desc(tmp_path, DESC.replace("monolithicFlat", "twoGbMaxExtentSparse") +
                'RW 8 SPARSE "x.vmdk"\n'), "x.vmdk: not a vmdk sparse extent (bad magic)"


def flat_file(tmp_path):
    with open(str(tmp_path / "x-flat.vmdk"), "wb") as f:
        f.write(b"\1" * 4096)


def too_many_extents(tmp_path):
    flat_file(tmp_path)
    return desc(tmp_path, DESC + 'RW 8 FLAT "x-flat.vmdk" 0\n' * 600), "more than 512 extents"


def huge_descriptor(tmp_path):
    return desc(tmp_path, DESC + "#" * (2 << 20) + "\n"), "descriptor file larger than"


def huge_extent(tmp_path):
    flat_file(tmp_path)
    return desc(tmp_path, DESC + 'RW 1152921504606846976 FLAT "x-flat.vmdk" 0\n'), \
        "extent too large"


def overflowing_extent(tmp_path):
    flat_file(tmp_path)
    return desc(tmp_path, DESC + 'RW 99999999999999999999999 FLAT "x-flat.vmdk" 0\n'), \
        "Invalid extent line"


def disk_too_large(tmp_path):
    flat_file(tmp_path)
    line = 'RW 4503599627370496 FLAT "x-flat.vmdk" 0\n'     # 2^61 bytes each
    return desc(tmp_path, DESC + line * 3), "virtual size too large"


HOSTILE = [too_many_extents, huge_descriptor, huge_extent, overflowing_extent, disk_too_large,
           truncated_header, truncated_overhead, bad_magic, bad_version, gt_past_eof,
           grain_past_eof, huge_capacity, huge_gd, zero_grain_size, huge_grain, many_gtes,
           bad_compression, no_cid, corrupt_grain, grain_size_field, bad_footer, missing_extent,
           escaping_extent, long_line, bad_extent_line, no_extents, bad_create_type,
           sparse_extent_not_kdmv]


@pytest.mark.parametrize("case", HOSTILE, ids=[c.__name__ for c in HOSTILE])
@pytest.mark.parametrize("cmd", [["info"], ["convert", "-O", "raw"], ["map", "--output=json"]])
def test_hostile(tmp_path, case, cmd):
    img, msg = case(tmp_path)
    args = [cmd[0], "-f", "vmdk"] + cmd[1:] + [img]
    if cmd[0] == "convert":
        args.append(str(tmp_path / "out.raw"))
    p = vmkit(*args)
    data_case = case in (gt_past_eof, grain_past_eof, corrupt_grain, grain_size_field)
    if cmd[0] == "info" and data_case:
        assert p.returncode == 0, p.stderr     # info reads no grain
        return
    if cmd[0] == "map" and case in (corrupt_grain, grain_size_field):
        assert p.returncode == 0, p.stderr     # map does not decompress
        return
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmkit: ") and msg in lines[0], p.stderr
    assert img in lines[0] or str(tmp_path) in lines[0], lines[0]
    if cmd[0] == "convert":                     # no half-written target left behind
        assert not os.path.exists(str(tmp_path / "out.raw"))


@pytest.mark.parametrize("subformat", ["monolithicSparse", "streamOptimized", "monolithicFlat"])
def test_mutations_never_crash(tmp_path, subformat):
    """Random bytes in the header, descriptor, grain directory and tables (seeded): every
    run ends with exit 0 or one error line, never a signal."""
    _, img = from_raw(tmp_path, subformat, size=4 * 1024 * 1024, name="m.vmdk")
    pristine = read(img)
    meta = min(len(pristine), 64 * 1024)    # header, descriptor, GD and GTs live up front
    rnd = random.Random(subformat)
    for i in range(60):
        b = bytearray(pristine)
        for _ in range(rnd.choice([1, 2, 4, 16])):
            b[rnd.randrange(meta)] = rnd.randrange(256)
        with open(img, "wb") as f:
            f.write(b)
        out = str(tmp_path / "out.raw")
        for args in (["info", "-f", "vmdk", img], ["map", "-f", "vmdk", "--output=json", img],
                     ["convert", "-f", "vmdk", "-O", "raw", img, out]):
            p = subprocess.run([VMKIT, "img", *args], capture_output=True, timeout=60)
            err = p.stderr.decode(errors="replace")
            assert p.returncode in (0, 1), (i, args, p.returncode, err)
            if p.returncode:
                assert len(err.splitlines()) == 1 and err.startswith("vmkit: "), (i, args, err)
        if os.path.exists(out):
            os.unlink(out)


@pytest.mark.parametrize("subformat", SUBFORMATS)
def test_check(tmp_path, subformat):
    _, img = from_raw(tmp_path, subformat)
    for out in ("human", "json"):
        a, b = vmkit("check", f"--output={out}", img), qemu_img("check", f"--output={out}", img)
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout) == (0, a.stdout)


def test_check_grain_past_eof(tmp_path):
    img, _ = grain_past_eof(tmp_path)
    a, b = vmkit("check", img), qemu_img("check", img)
    assert a.returncode == b.returncode == 1
    assert a.stderr.replace("vmkit:", "qemu-img:") == b.stderr
