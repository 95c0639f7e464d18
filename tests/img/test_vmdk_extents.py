# SPDX-License-Identifier: GPL-2.0-or-later
"""A vmdk descriptor's extents must lie in its own directory (issue 11, defect 8).

QEMU follows an extent anywhere ("/etc/shadow", "../../x"), so a descriptor
someone hands you makes convert copy any file you can read. vmkit refuses that
unless `vmkit img --vmdk-extents-anywhere` allows it."""
import os

import pytest

from imgtest import qemu_img, read, vmkit

DESC = ('# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n'
        'createType="monolithicFlat"\n\n# Extent description\n')


def make_desc(tmp_path, extent):
    """A secret file two levels up, a descriptor in tmp/a/b naming extent."""
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_bytes(b"root:$6$salt$hash:19000:0:99999:7:::\n".ljust(512 * 4, b"\0"))
    img = sub / "d.vmdk"
    img.write_text(DESC + f'RW 4 FLAT "{extent}" 0\n')
    return str(img), str(secret)


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_extent_outside_refused(tmp_path, kind):
    if kind == "absolute":
        img, secret = make_desc(tmp_path, str(tmp_path / "secret"))
    elif kind == "dotdot":
        img, secret = make_desc(tmp_path, "../../secret")
    else:
        img, secret = make_desc(tmp_path, "link-flat.vmdk")
        os.symlink(secret, str(tmp_path / "a" / "b" / "link-flat.vmdk"))
    # QEMU copies the secret.
    out = str(tmp_path / "q.raw")
    qemu_img("convert", "-O", "raw", img, out, check=True)
    assert read(out) == read(secret)
    # vmkit refuses, naming the extent and the way to allow it.
    dst = str(tmp_path / "v.raw")
    for args in (["info", img], ["convert", "-O", "raw", img, dst]):
        p = vmkit(*args)
        assert p.returncode == 1, p.stdout
        line = p.stderr.strip()
        assert len(line.splitlines()) == 1
        assert "lies outside the descriptor's directory" in line
        assert "--vmdk-extents-anywhere" in line
    assert not os.path.exists(dst)
    # Allowed explicitly, it reads like qemu-img.
    p = vmkit("--vmdk-extents-anywhere", "convert", "-O", "raw", img, dst)
    assert p.returncode == 0, p.stderr
    assert read(dst) == read(secret)


def test_extent_in_subdirectory_allowed(tmp_path):
    sub = tmp_path / "ext"
    sub.mkdir()
    (sub / "x-flat.vmdk").write_bytes(bytes(range(256)) * 8)
    img = tmp_path / "d.vmdk"
    img.write_text(DESC + 'RW 4 FLAT "ext/x-flat.vmdk" 0\n')
    dst = str(tmp_path / "v.raw")
    p = vmkit("convert", "-O", "raw", str(img), dst)
    assert p.returncode == 0, p.stderr
    assert read(dst) == bytes(range(256)) * 8
