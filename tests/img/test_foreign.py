# SPDX-License-Identifier: GPL-2.0-or-later
"""Formats vmkit cannot read are refused by name, never taken for raw (issue 11, defects 3 and 7).
vpc, vdi and vhdx are read now: tests/img/test_foreign_formats.py."""
import os

import pytest

import qcow2hdr
from imgtest import qemu_img, qemu_io, read, vmkit

# format, qemu-img create options
FOREIGN = [
    ("qed", []),
    ("parallels", []),
    ("luks", ["--object", "secret,id=s0,data=pw", "-o", "key-secret=s0"]),
]


@pytest.mark.parametrize("fmt,opts", FOREIGN, ids=lambda v: v if isinstance(v, str) else "-".join(v)[:20])
def test_foreign_refused_by_name(tmp_path, fmt, opts):
    src = str(tmp_path / f"x.{fmt}")
    r = qemu_img("create", "-q", "-f", fmt, *opts, src, "1M")
    if r.returncode and fmt == "luks" and "Unable to get accurate CPU usage" in r.stderr:
        # qemu-img times its PBKDF on the CPU and gives up on a busy or odd
        # host; the header's magic and version are what is recognised.
        with open(src, "wb") as f:
            f.write(b"LUKS\xba\xbe\x00\x01" + b"aes".ljust(32, b"\0"))
            f.truncate(1 << 20)
    else:
        assert r.returncode == 0, r.stderr
    p = vmkit("info", src)
    assert p.returncode == 1
    assert p.stderr.strip() == f"vmkit: Could not open '{src}': image format '{fmt}' " + p.stderr.split(f"'{fmt}' ", 1)[1].strip()
    assert "is not supported" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    dst = str(tmp_path / "y.qcow2")
    p = vmkit("convert", "-O", "qcow2", src, dst)
    assert p.returncode == 1 and f"image format '{fmt}'" in p.stderr
    assert not os.path.exists(dst)
    # Named explicitly as raw, the bytes are the user's to have.
    assert vmkit("info", "-f", "raw", src).returncode == 0


@pytest.mark.parametrize("version", [1, 4])
def test_qcow2_magic_other_version(tmp_path, version):
    img = str(tmp_path / "v.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
    qcow2hdr.patch(img, "version", version)
    q = qemu_img("info", "-f", "qcow2", img)
    p = vmkit("info", "-f", "qcow2", img)
    assert q.returncode == p.returncode == 1
    assert f"Unsupported qcow2 version {version}" in q.stderr
    assert p.stderr.strip() == f"vmkit: Could not open '{img}': Unsupported qcow2 version {version}"
    assert p.stderr.replace("vmkit: ", "qemu-img: ", 1) == q.stderr
    p = vmkit("info", img)       # probed: never raw
    assert p.returncode == 1 and "raw" not in p.stdout
    if version == 4:
        assert p.stderr.strip() == f"vmkit: Could not open '{img}': Unsupported qcow2 version 4"
    else:
        assert "'qcow'" in p.stderr

