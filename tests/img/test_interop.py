# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit img against the real qemu-img 7.2: images each writes, the other reads."""
import os

import pytest

from imgtest import pattern_raw, qemu_img, qemu_io, read, vmkit

CLUSTERS = ["512", "4k", "64k", "2M"]
COMPATS = ["0.10", "1.1"]
SIZE = 8 << 20


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return pattern_raw(str(tmp_path_factory.mktemp("src") / "src.raw"), SIZE)


@pytest.mark.parametrize("compat", COMPATS)
@pytest.mark.parametrize("cs", CLUSTERS)
def test_vmkit_convert_passes_qemu_check(tmp_path, src, compat, cs):
    dst = str(tmp_path / "v.qcow2")
    vmkit("convert", "-O", "qcow2", "-o", f"cluster_size={cs},compat={compat}", src, dst,
          check=True)
    assert qemu_img("check", dst).returncode == 0
    assert qemu_img("compare", dst, src).returncode == 0
    vmkit("convert", "-O", "raw", dst, str(tmp_path / "back.raw"), check=True)
    assert read(str(tmp_path / "back.raw")) == read(src)


@pytest.mark.parametrize("cs", ["512", "64k"])
def test_vmkit_prealloc_metadata(tmp_path, src, cs):
    dst = str(tmp_path / "p.qcow2")
    vmkit("create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs},preallocation=metadata",
          dst, str(SIZE), check=True)
    assert qemu_img("check", dst).returncode == 0
    vmkit("convert", "-n", "-O", "qcow2", src, dst, check=True)
    assert qemu_img("check", dst).returncode == 0
    assert qemu_img("compare", dst, src).returncode == 0
    assert vmkit("map", "--output=json", dst).stdout == qemu_img("map", "--output=json", dst).stdout


def test_refcount_table_grows(tmp_path):
    """512-byte clusters: 24 MiB of data needs more than one refcount table cluster."""
    src = pattern_raw(str(tmp_path / "big.raw"), 24 << 20, seed=7, holes=False)
    dst = str(tmp_path / "g.qcow2")
    vmkit("convert", "-O", "qcow2", "-o", "cluster_size=512", src, dst, check=True)
    assert qemu_img("check", dst).returncode == 0
    assert qemu_img("compare", dst, src).returncode == 0


@pytest.mark.parametrize("compat", COMPATS)
@pytest.mark.parametrize("cs", CLUSTERS)
def test_qemu_images_read_identically(tmp_path, src, compat, cs):
    q = str(tmp_path / "q.qcow2")
    qemu_img("convert", "-O", "qcow2", "-o", f"cluster_size={cs},compat={compat}", src, q,
             check=True)
    if compat == "1.1":
        qemu_io(q, "write -z 64k 128k", "write -z 1M 4k")
    ref = str(tmp_path / "ref.raw")
    qemu_img("convert", "-O", "raw", q, ref, check=True)
    assert vmkit("compare", q, ref).returncode == 0
    out = str(tmp_path / "v.raw")
    vmkit("convert", "-O", "raw", q, out, check=True)
    assert read(out) == read(ref)
    assert vmkit("check", q).returncode == 0


@pytest.mark.parametrize("ctype", ["zlib", "zstd"])
@pytest.mark.parametrize("cs", ["4k", "64k", "2M"])
def test_compressed_clusters(tmp_path, src, ctype, cs):
    q = str(tmp_path / "c.qcow2")
    qemu_img("convert", "-c", "-O", "qcow2", "-o", f"cluster_size={cs},compression_type={ctype}",
             src, q, check=True)
    out = str(tmp_path / "v.raw")
    vmkit("convert", "-O", "raw", q, out, check=True)
    assert read(out) == read(src)
    assert vmkit("compare", q, src).returncode == 0
    # Writing over compressed clusters: copy-on-write, then qemu-img must agree.
    vm = str(tmp_path / "v.qcow2")
    vmkit("convert", "-O", "qcow2", q, vm, check=True)
    assert qemu_img("check", vm).returncode == 0
    assert qemu_img("compare", vm, src).returncode == 0


def chain(tmp_path, depth, cs="64k", maker="qemu"):
    """A backing chain depth images deep, each layer writing a few ranges; returns the top."""
    prev = None
    for i in range(depth):
        name = str(tmp_path / f"l{i}.qcow2")
        args = ["create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs}"]
        if prev:
            args += ["-b", os.path.basename(prev), "-F", "qcow2", name]
        else:
            args += [name, str(SIZE)]
        (vmkit if maker == "vmkit" else qemu_img)(*args, check=True)
        qemu_io(name, f"write -P {0x11 * (i + 1)} {i * 512 + 4096} 100000",
                f"write -P {0x22 + i} {(i + 1) << 20} 65536")
        if i == 1:
            qemu_io(name, "write -z 0 8192")
        prev = name
    return prev


@pytest.mark.parametrize("maker", ["qemu", "vmkit"])
@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("cs", ["512", "64k"])
def test_backing_chain(tmp_path, depth, cs, maker):
    top = chain(tmp_path, depth, cs, maker)
    ref = str(tmp_path / "ref.raw")
    qemu_img("convert", "-O", "raw", top, ref, check=True)
    out = str(tmp_path / "v.raw")
    vmkit("convert", "-O", "raw", top, out, check=True)
    assert read(out) == read(ref)
    assert vmkit("compare", top, ref).returncode == 0
    for args in (["map", "--output=json"], ["map"], ["info", "--backing-chain"],
                 ["info", "--backing-chain", "--output=json"]):
        assert vmkit(*args, top).stdout == qemu_img(*args, top).stdout, args
    flat = str(tmp_path / "flat.qcow2")
    vmkit("convert", "-O", "qcow2", top, flat, check=True)
    assert qemu_img("check", flat).returncode == 0
    assert qemu_img("compare", flat, ref).returncode == 0


def test_backing_relative_to_overlay_dir(tmp_path):
    (tmp_path / "sub").mkdir()
    base = str(tmp_path / "base.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", base, "1M", check=True)
    qemu_io(base, "write -P 0x5a 0 64k")
    top = str(tmp_path / "sub" / "top.qcow2")
    vmkit("create", "-q", "-f", "qcow2", "-b", "../base.qcow2", "-F", "qcow2", top, check=True)
    for args in (["info"], ["info", "--output=json"]):
        assert vmkit(*args, top).stdout == qemu_img(*args, top).stdout
    assert vmkit("compare", top, base).returncode == 0
