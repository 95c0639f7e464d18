# SPDX-License-Identifier: GPL-2.0-or-later
"""Internal snapshots: vmkit img snapshot against Debian's qemu-img, both ways."""
import os
import shutil
import subprocess

import pytest

from imgtest import VMKIT, pattern_raw, qemu_img, qemu_io, read, vmkit


def qemu_clean(img):
    p = qemu_img("check", img)
    assert p.returncode == 0 and "No errors were found" in p.stdout, p.stdout + p.stderr


def snapshot_data(tmp_path, img, name):
    """The content of snapshot `name` as qemu-img reads it."""
    out = str(tmp_path / f"snap-{name}.raw")
    qemu_img("convert", "-l", f"snapshot.name={name}", "-f", "qcow2", "-O", "raw", img, out,
             check=True)
    return read(out)


def active_data(tmp_path, img):
    out = str(tmp_path / "active.raw")
    qemu_img("convert", "-f", "qcow2", "-O", "raw", img, out, check=True)
    return read(out)


@pytest.mark.parametrize("cs", ["512", "64k", "2M"])
@pytest.mark.parametrize("compat", ["0.10", "1.1"])
def test_vmkit_snapshots_pass_qemu(tmp_path, cs, compat):
    """Create, write, apply, delete with vmkit; qemu-img checks and reads every state."""
    size = 5 << 20
    srcs = [pattern_raw(str(tmp_path / f"s{i}.raw"), size, seed=10 + i) for i in range(3)]
    img = str(tmp_path / "a.qcow2")
    vmkit("convert", "-O", "qcow2", "-o", f"cluster_size={cs},compat={compat}", srcs[0], img,
          check=True)
    vmkit("snapshot", "-c", "first", img, check=True)
    qemu_clean(img)
    # Rewrite everything (partial clusters, zeros, holes): the snapshot keeps its data.
    vmkit("convert", "-n", "-O", "qcow2", srcs[1], img, check=True)
    qemu_clean(img)
    vmkit("snapshot", "-c", "second", img, check=True)
    vmkit("convert", "-n", "-O", "qcow2", srcs[2], img, check=True)
    qemu_clean(img)
    assert snapshot_data(tmp_path, img, "first") == read(srcs[0])
    assert snapshot_data(tmp_path, img, "second") == read(srcs[1])
    assert active_data(tmp_path, img) == read(srcs[2])
    for args in (["check"], ["check", "--output=json"], ["info", "--output=json"]):
        assert vmkit(*args, img).stdout == qemu_img(*args, img).stdout, args

    vmkit("snapshot", "-a", "first", img, check=True)
    qemu_clean(img)
    assert active_data(tmp_path, img) == read(srcs[0])
    assert vmkit("compare", "-f", "qcow2", "-F", "raw", img, srcs[0]).returncode == 0
    vmkit("snapshot", "-d", "first", img, check=True)
    qemu_clean(img)
    assert active_data(tmp_path, img) == read(srcs[0])
    vmkit("snapshot", "-a", "2", img, check=True)       # by ID
    assert active_data(tmp_path, img) == read(srcs[1])
    vmkit("snapshot", "-d", "second", img, check=True)
    qemu_clean(img)
    assert qemu_img("snapshot", "-l", img).stdout == ""
    assert active_data(tmp_path, img) == read(srcs[1])
    # With every snapshot gone, nothing is left behind: no leaks, all COPIED flags right.
    p = qemu_img("check", "--output=json", img)
    assert '"leaks"' not in p.stdout and '"corruptions"' not in p.stdout


@pytest.mark.parametrize("cs", ["4k", "64k"])
def test_qemu_snapshots_read_by_vmkit(tmp_path, cs):
    """qemu-img snapshots; vmkit lists them as qemu-img does, checks and applies them."""
    img = str(tmp_path / "q.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs}", img, "8M", check=True)
    qemu_io(img, "write -P 1 0 3M", "write -z 3M 1M")
    qemu_img("snapshot", "-c", "one", img, check=True)
    qemu_io(img, "write -P 2 64k 100k", "discard 1M 1M")
    qemu_img("snapshot", "-c", "two words", img, check=True)
    qemu_io(img, "write -P 3 0 8M")
    for args in (["snapshot", "-l"], ["info"], ["info", "--output=json"], ["check"]):
        q, v = qemu_img(*args, img), vmkit(*args, img)
        assert v.stdout == q.stdout and v.returncode == q.returncode, args
    want = {n: snapshot_data(tmp_path, img, n) for n in ("one", "two words")}
    for name in ("two words", "one"):
        vmkit("snapshot", "-a", name, img, check=True)
        qemu_clean(img)
        out = str(tmp_path / "v.raw")
        vmkit("convert", "-O", "raw", img, out, check=True)
        assert read(out) == want[name], name
    vmkit("snapshot", "-d", "one", img, check=True)
    qemu_clean(img)
    assert snapshot_data(tmp_path, img, "two words") == want["two words"]


def test_resized_snapshot_apply_restores_size(tmp_path):
    img = str(tmp_path / "r.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    qemu_io(img, "write -P 5 0 1M")
    vmkit("snapshot", "-c", "small", img, check=True)
    qemu_img("resize", img, "300M", check=True)        # the L1 table grows
    qemu_io(img, "write -P 6 200M 1M")
    vmkit("snapshot", "-c", "big", img, check=True)
    vmkit("snapshot", "-a", "small", img, check=True)
    assert "virtual size: 1 MiB" in vmkit("info", img).stdout
    qemu_clean(img)
    vmkit("snapshot", "-a", "big", img, check=True)
    assert "(314572800 bytes)" in vmkit("info", img).stdout
    qemu_clean(img)
    qemu_io(img, "read -P 6 200M 1M", "read -P 5 0 1M")


def test_many_snapshots_and_table_moves(tmp_path):
    img = str(tmp_path / "m.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", img, "1M", check=True)
    for i in range(40):
        qemu_io(img, f"write -P {i + 1} {i * 4096} 4k")
        vmkit("snapshot", "-c", f"snapshot-with-a-long-name-{i:03d}", img, check=True)
    qemu_clean(img)
    assert vmkit("snapshot", "-l", img).stdout == qemu_img("snapshot", "-l", img).stdout
    for i in range(0, 40, 3):
        vmkit("snapshot", "-d", f"snapshot-with-a-long-name-{i:03d}", img, check=True)
    qemu_clean(img)
    vmkit("snapshot", "-a", "snapshot-with-a-long-name-010", img, check=True)
    qemu_io(img, "read -P 11 40k 4k", "read -P 0 44k 4k")
    qemu_clean(img)


def test_snapshot_cli(tmp_path):
    img = str(tmp_path / "c.qcow2")
    raw = str(tmp_path / "c.raw")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    qemu_img("create", "-q", "-f", "raw", raw, "1M", check=True)
    p = vmkit("snapshot", "-a", "nosuch", img)
    assert p.returncode == 1
    assert p.stderr == "vmkit: Could not apply snapshot 'nosuch': Failed to load snapshot: No such file or directory\n"
    p = vmkit("snapshot", "-d", "nosuch", img)
    assert p.returncode == 1
    assert p.stderr == "vmkit: Could not delete snapshot 'nosuch': snapshot not found\n"
    p = vmkit("snapshot", "-l", "-c", "x", img)
    assert p.returncode == 1 and "Cannot mix" in p.stderr
    p = vmkit("snapshot", "-f", "raw", "-c", "x", raw)
    assert p.returncode == 1
    assert p.stderr == "vmkit: Could not create snapshot 'x': -95 (Operation not supported)\n"
    assert vmkit("snapshot", "-f", "raw", "-l", raw).stdout == ""
    # IDs and duplicate names as qemu-img: the name is not unique, the ID is.
    for _ in range(2):
        vmkit("snapshot", "-c", "dup", img, check=True)
    vmkit("snapshot", "-d", "dup", img, check=True)
    vmkit("snapshot", "-c", "dup", img, check=True)
    lines = vmkit("snapshot", "-l", img).stdout.splitlines()
    assert [ln.split()[0] for ln in lines[2:]] == ["2", "3"]
    assert vmkit("snapshot", "-l", img).stdout == qemu_img("snapshot", "-l", img).stdout
    # A read-only share (-U) cannot change snapshots.
    p = vmkit("snapshot", "-U", "-c", "y", img)
    assert p.returncode == 1


def test_backing_chain_info_with_snapshots(tmp_path):
    base = str(tmp_path / "base.qcow2")
    top = str(tmp_path / "top.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", base, "2M", check=True)
    qemu_img("snapshot", "-c", "b", base, check=True)
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top, check=True)
    vmkit("snapshot", "-c", "t", top, check=True)
    for args in (["info", "--backing-chain"], ["info", "--backing-chain", "--output=json"]):
        assert vmkit(*args, top, cwd=tmp_path).stdout == qemu_img(*args, top, cwd=tmp_path).stdout


@pytest.mark.parametrize("compressed", [False, True])
def test_writes_after_qemu_snapshot(tmp_path, compressed):
    """qemu-img snapshots, vmkit writes (sub-cluster pieces): the snapshot keeps its data."""
    img = str(tmp_path / "w.qcow2")
    src = pattern_raw(str(tmp_path / "src.raw"), 3 << 20, seed=21)
    first = pattern_raw(str(tmp_path / "first.raw"), 3 << 20, seed=22)
    qemu_img("convert", "-f", "raw", "-O", "qcow2", *(["-c"] if compressed else []), first, img,
             check=True)
    qemu_io(img, "write -P 9 1M 1M")
    qemu_img("snapshot", "-c", "s", img, check=True)
    before = snapshot_data(tmp_path, img, "s")
    vmkit("convert", "-n", "-O", "qcow2", src, img, check=True)
    qemu_clean(img)
    assert snapshot_data(tmp_path, img, "s") == before
    assert active_data(tmp_path, img) == read(src)
    qemu_img("snapshot", "-a", "s", img, check=True)
    assert active_data(tmp_path, img) == before
    shutil.copy(img, str(tmp_path / "copy.qcow2"))
    assert os.path.getsize(img) > 0


def test_snapshot_names_in_json_as_qemu(tmp_path):
    """Names with quotes, controls, non-ASCII and broken UTF-8 print as qemu-img prints them."""
    img = str(tmp_path / "fïle \"x\".qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    names = ['snäp "q" \\x', "tab\there", "bell\x07", "😀 emoji", b"bad\xff\xfeutf",
             "del\x7f", b"trunc\xe2\x82", "/slash"]
    for n in names:
        arg = n if isinstance(n, bytes) else n.encode()
        p = subprocess.run([b"/usr/bin/qemu-img", b"snapshot", b"-c", arg, img.encode()])
        assert p.returncode == 0
    for args in (["info", "--output=json"], ["snapshot", "-l"], ["check", "--output=json"]):
        q = subprocess.run(["/usr/bin/qemu-img", *args, img], capture_output=True)
        v = subprocess.run([VMKIT, "img", *args, img], capture_output=True)
        assert v.stdout == q.stdout and v.returncode == q.returncode, args
