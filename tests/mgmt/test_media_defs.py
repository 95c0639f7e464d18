# SPDX-License-Identifier: GPL-2.0-or-later
"""Disk controllers and CD-ROMs in VM definitions (issue 12): Proxmox's keys
(scsiN, sataN, ide2 with media=cdrom, scsihw), `vmkit create --cdrom` as
virt-install, and `vmkit cdrom NAME FILE|eject` on a VM that is shut off.
Nothing here starts a VM."""
import shutil
import subprocess

import pytest


@pytest.fixture
def iso(tmp_path):
    if not shutil.which("xorriso"):
        pytest.skip("needs xorriso (scripts/deps.sh check)")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a\n")
    out = tmp_path / "install.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(out), str(tree)],
                   check=True, capture_output=True)
    return out


@pytest.fixture
def kernel(tmp_path):
    k = tmp_path / "kernel"
    k.write_bytes(b"not started by this test")
    return k


def one_error(r, *words):
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_create_with_cdrom_and_change_it(vk, iso, kernel, tmp_path):
    name = vk.name("inst")
    vk("create", "--name", name, "--kernel", str(kernel), "--memory", "64", "--cdrom", str(iso))
    assert f"ide2: {iso},media=cdrom" in vk.config(name)
    r = vk("cdrom", name, "eject")
    assert "ejected" in r.stdout
    assert "ide2: none,media=cdrom" in vk.config(name)
    vk("cdrom", name, str(iso))
    assert f"ide2: {iso},media=cdrom" in vk.config(name)
    one_error(vk("cdrom", name, str(tmp_path / "missing.iso"), check=False), "missing.iso")


def test_controller_keys(vk, iso, kernel, tmp_path):
    name = vk.name("ctl")
    disk = tmp_path / "d.img"
    disk.write_bytes(bytes(1 << 20))
    vk("create", "--name", name, "--kernel", str(kernel), "--memory", "64")
    vk("set", name, f"scsi0={disk},cache=writeback,discard=on", "scsihw=virtio-scsi-single",
       f"sata1={iso},media=cdrom", "sata2=none,media=cdrom")
    cfg = vk.config(name)
    assert "scsihw: virtio-scsi-single" in cfg and f"scsi0: {disk}" in cfg


@pytest.mark.parametrize("key,val,words", [
    ("ide0", "/x.img", ["ide0", "vmkit has no IDE"]),
    ("sata0", "/x.iso,media=cdrom,readonly=0", ["sata0", "read-only"]),
    ("scsihw", "megasas", ["scsihw", "virtio-scsi-pci or virtio-scsi-single"]),
    ("scsi0", "none", ["scsi0", "empty CD-ROM drive"]),
    ("sata6", "/x.img", ["unknown key 'sata6'"]),
    ("scsi31", "/x.img", ["unknown key 'scsi31'"]),
    ("sata0", "/x.img,media=floppy", ["media=floppy"]),
])
def test_bad_keys(vk, kernel, key, val, words):
    name = vk.name("bad")
    vk("create", "--name", name, "--kernel", str(kernel), "--memory", "64")
    one_error(vk("set", name, f"{key}={val}", check=False), *words)


def test_cdrom_command_needs_a_drive(vk, kernel, iso):
    name = vk.name("nodrive")
    vk("create", "--name", name, "--kernel", str(kernel), "--memory", "64")
    one_error(vk("cdrom", name, str(iso), check=False), "no CD-ROM drive", "ide2=none,media=cdrom")
    r = vk("cdrom", name, check=False)
    assert r.returncode == 2, r.stderr


def test_install_walkthrough(vk, iso, tmp_path):
    """The README's installation steps, as far as they go without a VM: the ISO uploaded
    into the pool (named as its file), a firmware VM with it on ide2 booted first, a screen
    given, the medium ejected and the disk made the boot device; a file that is not an ISO
    refused by --cdrom at once."""
    vk("vol", "upload", "local", str(iso))
    assert "install.iso" in vk("vol", "list", "local").stdout
    name = vk.name()
    vk("create", "--name", name, "--firmware", "uefi", "--cdrom", "local:install.iso",
       "--disk", "size=16M", "--boot", "order=ide2;virtio0")
    conf = vk("dumpconfig", name).stdout
    for line in ("bios: ovmf", "vga: std", "ide2: local:install.iso,media=cdrom",
                 "boot: order=ide2;virtio0"):
        assert line in conf, conf
    vk("cdrom", name, "eject")
    vk("set", name, "boot=order=virtio0")
    conf = vk("dumpconfig", name).stdout
    assert "ide2: none,media=cdrom" in conf and "boot: order=virtio0" in conf, conf
    vk("delete", name, "--purge")
    assert "install.iso" in vk("vol", "list", "local").stdout, "purge leaves the ISO"
    notiso = tmp_path / "notes.txt"
    notiso.write_text("not an image\n")
    one_error(vk("create", "--name", vk.name(), "--firmware", "bios", "--cdrom", str(notiso),
                 check=False), "--cdrom", "not an ISO 9660 image")
