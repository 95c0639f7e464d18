# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-blk on qcow2 images through the block library: a linked clone (a qcow2
overlay on a shared raw base, seed 003) reads the base, takes the guest's writes,
and leaves the base untouched; qemu-img checks the overlay and reads back the data."""
import json
import subprocess
from pathlib import Path

import pytest

import test_virtio_blk as vb
import vmkit_harness as h

MiB = 1 << 20


def needs_vmkit() -> None:
    if vb.USE_QEMU:
        pytest.skip("vmkit's format= option")
    h.require_vmkit()


def qemu_img(*args):
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True)


@pytest.mark.parametrize("fmt", ["qcow2", "auto"])
def test_linked_clone(tmp_path: Path, fmt: str) -> None:
    needs_vmkit()
    base, overlay = tmp_path / "base.raw", tmp_path / "clone.qcow2"
    size = 8 * MiB
    before = vb.make_disk(base, size)
    p = qemu_img("create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(overlay))
    assert p.returncode == 0, p.stderr
    d = vb.Disk(overlay, serial="clone-1", opts=f"format={fmt}")
    r = vb.run_guest("virtio_blk", [d], "no-any-layout")
    h.assert_test_passed(r, "virtio_blk")
    (_, info), = vb.by_serial(r, [d]).values()
    vb.check_common(r, info, size, d.serial)
    vb.check_reads(r, info, before)               # through the overlay: the base's data
    assert base.read_bytes() == before, "the base image must not change"
    p = qemu_img("check", str(overlay))
    assert p.returncode == 0, p.stdout + p.stderr
    flat = tmp_path / "flat.raw"
    p = qemu_img("convert", "-O", "raw", str(overlay), str(flat))
    assert p.returncode == 0, p.stderr
    vb.check_writes(r, info, flat.read_bytes(), 0)


def test_qcow2_readonly_and_bad_format(tmp_path: Path) -> None:
    needs_vmkit()
    img = tmp_path / "d.qcow2"
    assert qemu_img("create", "-q", "-f", "qcow2", str(img), "4M").returncode == 0
    orig = img.read_bytes()
    d = vb.Disk(img, readonly=True, serial="ro", opts="format=qcow2")
    r = vb.run_guest("virtio_blk", [d])
    h.assert_test_passed(r, "virtio_blk")
    assert img.read_bytes() == orig, "a read-only qcow2 disk must not change"
    # A raw file given as qcow2 is refused before the guest starts.
    raw = tmp_path / "r.raw"
    raw.write_bytes(bytes(MiB))
    r = h.run_vmkit(h.guest("hello"), extra_args=["--disk", f"path={raw},format=qcow2"])
    assert r.returncode == 2 and "r.raw" in r.stderr, r.describe()
    assert "VMKIT-TEST" not in r.stdout


@pytest.mark.parametrize("damage,words", [
    ("l1", "L1 table offset"),          # L1 table offset far past the end of the file
    ("junk", "Image is not in qcow2 format"),  # not a qcow2 header at all (qemu-img's words)
    ("missing", "No such file"),
])
def test_hostile_qcow2_disk(tmp_path: Path, damage: str, words: str) -> None:
    """A corrupt or missing image: one line naming it, exit 2, the guest never starts."""
    needs_vmkit()
    img = tmp_path / "bad.qcow2"
    if damage == "l1":
        assert qemu_img("create", "-q", "-f", "qcow2", str(img), "64M").returncode == 0
        with open(img, "r+b") as f:
            f.seek(40)                   # l1_table_offset, big-endian
            f.write((0x7FFF0000).to_bytes(8, "big"))
    elif damage == "junk":
        img.write_bytes(bytes(range(256)) * 4)
    r = h.run_vmkit(h.guest("hello"), extra_args=["--disk", f"path={img},format=qcow2"])
    assert r.returncode == 2, r.describe()
    errs = [l for l in r.stderr.splitlines() if not l.startswith("vmkit: host KVM is PVM")]
    assert len(errs) == 1 and "bad.qcow2" in errs[0] and words in errs[0], r.describe()
    assert "VMKIT-TEST" not in r.stdout


def test_guest_discard_frees_qcow2_clusters(tmp_path: Path) -> None:
    """The guest's DISCARD gives whole clusters back: qemu-img map shows them unallocated,
    the rest keeps its data, and qemu-img check is clean."""
    needs_vmkit()
    img = tmp_path / "thin.qcow2"
    size = 8 * MiB
    p = qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", str(img), str(size))
    assert p.returncode == 0, p.stderr
    p = subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a 0 {size}", str(img)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    d = vb.Disk(img, serial="thin", opts="format=qcow2")
    r = vb.run_guest("virtio_blk", [d], "no-any-layout")
    h.assert_test_passed(r, "virtio_blk")
    (_, info), = vb.by_serial(r, [d]).values()
    rng = vb.sector_range(info, "discard")
    assert rng is not None, r.describe()
    lo, hi = rng.start * 512, rng.stop * 512
    assert (hi - lo) >= 4096, r.describe()
    p = qemu_img("check", str(img))
    assert p.returncode == 0, p.stdout + p.stderr
    m = json.loads(qemu_img("map", "--output=json", str(img)).stdout)
    freed = [e for e in m if not e["data"]]
    first_cluster, last_cluster = -(-lo // 4096) * 4096, hi // 4096 * 4096
    assert any(e["start"] <= first_cluster and e["start"] + e["length"] >= last_cluster
               for e in freed), f"discarded [{lo}, {hi}) still allocated: {m}"
    # Outside the discarded clusters (and the guest's own regions) the data is intact.
    flat = tmp_path / "flat.raw"
    assert qemu_img("convert", "-O", "raw", str(img), str(flat)).returncode == 0
    data = flat.read_bytes()
    assert data[first_cluster:last_cluster] == bytes(last_cluster - first_cluster)
    touched = [range(s, s + vb.REGION_SECTORS) for s in vb.regions(info)]
    touched += [x for x in (rng, vb.sector_range(info, "write_zeroes")) if x is not None]
    untouched = [b for b in range(0, size, 4096)
                 if not any(b // 512 < t.stop and (b + 4096) // 512 > t.start for t in touched)]
    assert untouched and all(data[b:b + 4096] == b"\x5a" * 4096 for b in untouched[:64])


@pytest.mark.parametrize("fmt", ["vmdk", "vpc", "vdi", "vhdx"])
def test_foreign_format_disk(tmp_path: Path, fmt: str) -> None:
    """An image from another hypervisor (made by Debian's qemu-img) is served read-only by
    its own driver, named (format=vmdk) or probed: the guest reads the bytes the raw file had.
    Asked to write it, vmkit refuses before the guest starts, naming the file (it reads these
    formats, it does not write them); an unknown format name is one line too."""
    needs_vmkit()
    raw, img = tmp_path / "a.raw", tmp_path / f"a.{fmt}"
    before = vb.make_disk(raw, 8 * MiB)
    p = qemu_img("convert", "-O", fmt, str(raw), str(img))
    assert p.returncode == 0, p.stderr
    orig = img.read_bytes()
    for opts in (f"format={fmt}", "format=auto"):
        d = vb.Disk(img, readonly=True, serial=fmt, opts=opts)
        r = vb.run_guest("virtio_blk", [d])
        h.assert_test_passed(r, "virtio_blk")
        (_, info), = vb.by_serial(r, [d]).values()
        # vpc rounds the size up to a CHS geometry: the disk is what qemu-img says it is.
        vsize = json.loads(qemu_img("info", "--output=json", str(img)).stdout)["virtual-size"]
        vb.check_common(r, info, vsize, fmt)
        want = vb.fnv1a64(before[:vb.REGION_SECTORS * vb.SECTOR])
        assert int(info["sum_0"], 16) == want, f"{opts}: guest read other bytes{r.describe()}"
    for opts in (f"format={fmt}", ""):
        r = h.run_vmkit(h.guest("hello"), extra_args=["--disk", f"path={img}" + (f",{opts}" if opts else "")])
        errs = [l for l in r.stderr.splitlines() if not l.startswith("vmkit: host KVM is PVM")]
        assert r.returncode == 2 and len(errs) == 1 and str(img) in errs[0], r.describe()
        assert "read-only" in errs[0] or "readonly=on" in errs[0], r.describe()
        assert "VMKIT-TEST" not in r.stdout
    assert img.read_bytes() == orig, f"the {fmt} image must not change"
    # A format vmkit has no driver for is refused by name, as a usage error.
    r = h.run_vmkit(h.guest("hello"), extra_args=["--disk", f"path={img},format=qed"])
    assert r.returncode != 0 and "format=qed: unknown format" in r.stderr, r.describe()
    assert "VMKIT-TEST" not in r.stdout
