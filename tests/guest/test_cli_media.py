# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad disk-controller and CD-ROM options to `vmkit run` (issue 12): one line
naming the option and the problem, exit 2, before any VM is made. These are
checked while the options are parsed, so they run without /dev/kvm."""
import shutil
import subprocess
from pathlib import Path

import pytest

from vmkit_harness import VMKIT


def vmkit_run(*args, timeout=10):
    if not VMKIT.is_file():
        pytest.skip(f"{VMKIT} does not exist: build it first (make build)")
    return subprocess.run([str(VMKIT), "run", "--kernel", "/nonexistent-kernel", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def assert_usage_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if not l.startswith("vmkit: host KVM is PVM")]
    assert len(lines) == 1 and lines[0].startswith("vmkit: "), r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture
def not_iso(tmp_path):
    p = tmp_path / "disk.img"
    p.write_bytes(bytes(64 * 1024))
    return p


@pytest.fixture
def iso(tmp_path):
    if not shutil.which("xorriso"):
        pytest.skip("needs xorriso (scripts/deps.sh check)")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "hello.txt").write_text("hello\n")
    out = tmp_path / "cd.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(out), str(tree)],
                   check=True, capture_output=True)
    return out


def test_unknown_bus(not_iso):
    assert_usage_error(vmkit_run("--disk", f"path={not_iso},bus=ide"),
                       "bus=ide", "expected virtio, scsi or sata")


def test_unknown_media(not_iso):
    assert_usage_error(vmkit_run("--disk", f"path={not_iso},media=tape"),
                       "media=tape", "expected disk or cdrom")


def test_cdrom_that_is_not_an_iso(not_iso):
    assert_usage_error(vmkit_run("--disk", f"path={not_iso},media=cdrom"),
                       str(not_iso), "not an ISO 9660 image")
    assert_usage_error(vmkit_run("--cdrom", not_iso), "--cdrom", "not an ISO 9660 image")


def test_cdrom_marked_writable(iso):
    assert_usage_error(vmkit_run("--disk", f"path={iso},media=cdrom,readonly=off"),
                       "read-only", "readonly=off")


def test_cdrom_missing_file(tmp_path):
    assert_usage_error(vmkit_run("--cdrom", tmp_path / "nope.iso"), "nope.iso",
                       "No such file")


def test_empty_cdrom_needs_a_removable_bus():
    assert_usage_error(vmkit_run("--disk", "media=cdrom,bus=virtio"),
                       "empty CD-ROM drive", "bus=scsi or bus=sata")


def test_disk_without_path():
    assert_usage_error(vmkit_run("--disk", "bus=scsi"), "no path= given")


def test_bad_scsihw():
    assert_usage_error(vmkit_run("--scsihw", "lsi53c895a"),
                       "--scsihw", "expected virtio-scsi-pci or virtio-scsi-single")


def test_good_media_options_pass_parsing(iso, not_iso):
    """Accepted: the run then fails on the missing kernel, not on the disks."""
    r = vmkit_run("--disk", f"path={not_iso},bus=scsi,cache=writeback,discard=unmap",
                  "--disk", f"path={not_iso},bus=sata,format=raw",
                  "--disk", f"path={iso},media=cdrom,bus=scsi",
                  "--disk", "media=cdrom", "--cdrom", iso,
                  "--scsihw", "virtio-scsi-single")
    assert "nonexistent-kernel" in r.stderr, r.stderr
