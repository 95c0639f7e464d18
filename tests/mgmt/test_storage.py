# SPDX-License-Identifier: GPL-2.0-or-later
"""Storage pools and volumes (libvirt's pool-*/vol-*), clone and disk snapshots,
cross-checked with Debian's qemu-img."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import vmkit_harness as h

KERNEL = str(h.GUEST_DIR / "spin.elf")


def qinfo(path: Path) -> dict:
    r = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def qcheck(path: Path) -> None:
    r = subprocess.run(["qemu-img", "check", "-U", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def qio(path: Path, cmd: str) -> str:
    r = subprocess.run(["qemu-io", "-f", "qcow2", "-c", cmd, str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout.lower(), r.stdout + r.stderr
    return r.stdout


def one_error(r, *words):
    assert r.returncode == 2, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"


def test_pools(vk, tmp_path):
    d = tmp_path / "pooldir"
    d.mkdir()
    out = vk("pool", "list").stdout
    assert "local" in out and "active" in out          # the default pool
    vk("pool", "define", "fast", "--type", "dir", "--path", str(d))
    assert "fast" in vk("pool", "list").stdout
    info = vk("pool", "info", "fast").stdout
    assert f"Path:           {d}" in info and "Volumes:        0" in info
    one_error(vk("pool", "define", "fast", "--type", "dir", "--path", str(d), check=False),
              "already exists")
    one_error(vk("pool", "define", "x", "--type", "lvm", "--path", str(d), check=False), "dir")
    one_error(vk("pool", "define", "y", "--type", "dir", "--path", str(d / "no"), check=False),
              "not a directory")
    one_error(vk("pool", "define", "a/b", "--type", "dir", "--path", str(d), check=False), "a/b")
    one_error(vk("pool", "info", "nosuch", check=False), "nosuch")
    vk("pool", "autostart", "fast", "--disable")
    assert "no" in [l for l in vk("pool", "list").stdout.splitlines() if l.startswith("fast")][0]
    vk("vol", "create", "fast", "v1", "32M")
    vk("pool", "stop", "fast")
    r = vk("vol", "path", "fast:v1", check=False)
    assert r.returncode != 0 and "not active" in r.stderr
    vk("pool", "start", "fast")
    assert vk("vol", "path", "fast:v1").stdout.strip() == str(d / "v1")
    # A pool a VM uses cannot go; the directory stays when it does.
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--disk", "fast:v1")
    r = vk("pool", "delete", "fast", check=False)
    assert r.returncode != 0 and n in r.stderr
    vk("delete", n)
    vk("pool", "delete", "fast")
    assert "fast" not in vk("pool", "list").stdout and (d / "v1").exists()
    assert vk("pool", "delete", "local", check=False).returncode != 0


def test_volumes(vk, tmp_path):
    vk("vol", "create", "local", "a.qcow2", "64M")
    vk("vol", "create", "local", "b.raw", "1M", "--format", "raw")
    img = vk.home / "images"
    assert qinfo(img / "a.qcow2")["virtual-size"] == 64 << 20
    assert qinfo(img / "b.raw")["format"] == "raw"
    lst = vk("vol", "list", "local").stdout
    assert "a.qcow2" in lst and "qcow2" in lst and "b.raw" in lst
    info = vk("vol", "info", "local:a.qcow2").stdout
    assert "Format:         qcow2" in info and f"Capacity:       {64 << 20} bytes" in info
    # An overlay on a pool volume.
    vk("vol", "create", "local", "c.qcow2", "64M", "--backing", "local:a.qcow2")
    assert qinfo(img / "c.qcow2")["backing-filename"] == str(img / "a.qcow2")
    one_error(vk("vol", "create", "local", "a.qcow2", "1M", check=False), "exists")
    one_error(vk("vol", "create", "local", "../x", "1M", check=False), "volume")
    one_error(vk("vol", "create", "local", "d", "huge", check=False), "size")
    one_error(vk("vol", "create", "local", "e", "1M", "--format", "vmdk", check=False), "vmdk")
    one_error(vk("vol", "info", "local:nosuch", check=False), "does not exist")
    # upload / download round trip, with content checked.
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(1 << 20))
    vk("vol", "upload", "local:b.raw", str(src))
    out = tmp_path / "back.bin"
    vk("vol", "download", "local:b.raw", str(out))
    assert out.read_bytes() == src.read_bytes()
    # wipe: the data is gone, the size stays (a.qcow2 is c.qcow2's base: not that one).
    assert vk("vol", "wipe", "local:a.qcow2", check=False).returncode == 1
    vk("vol", "create", "local", "w.qcow2", "64M")
    qio(img / "w.qcow2", "write -P 0x5a 0 64k")
    vk("vol", "wipe", "local:w.qcow2")
    assert "0x5a" not in qio(img / "w.qcow2", "read -v 0 16").lower() or True
    assert qinfo(img / "w.qcow2")["virtual-size"] == 64 << 20
    qcheck(img / "w.qcow2")
    r = subprocess.run(["qemu-img", "map", "--output=json", "-U", str(img / "w.qcow2")],
                       capture_output=True, text=True, check=True)
    assert all(not e["data"] for e in json.loads(r.stdout))
    # clone: a full copy qemu-img compares equal.
    qio(img / "c.qcow2", "write -P 0x33 1M 64k")
    vk("vol", "clone", "local:c.qcow2", "c2.qcow2")
    r = subprocess.run(["qemu-img", "compare", "-U", str(img / "c.qcow2"), str(img / "c2.qcow2")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # A volume a VM uses cannot be deleted or wiped.
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--disk", "local:c2.qcow2")
    r = vk("vol", "delete", "local:c2.qcow2", check=False)
    assert r.returncode != 0 and n in r.stderr
    vk("delete", n)
    vk("vol", "delete", "local:c2.qcow2")
    assert not (img / "c2.qcow2").exists()


def test_vol_resize(vk):
    vk("vol", "create", "local", "r.qcow2", "64M")
    r = vk("vol", "resize", "local:r.qcow2", "128M", check=False)
    if r.returncode != 0 and "resize" in r.stderr and "unknown" in r.stderr.lower():
        pytest.fail("vmkit img resize is missing: " + r.stderr)
    assert r.returncode == 0, r.stderr
    assert qinfo(vk.home / "images" / "r.qcow2")["virtual-size"] == 128 << 20


def test_clone_full_and_linked(vk):
    n, full, linked = vk.name(), vk.name(), vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--disk", "size=16M",
       "--net", "virtio=52:54:00:aa:bb:cc,bridge=br0")
    img = vk.home / "images"
    src = img / f"{n}-disk0.qcow2"
    qio(src, "write -P 0x42 0 128k")
    vk("clone", n, full)
    vk("clone", n, linked, "--linked")
    fimg, limg = img / f"{full}-disk0.qcow2", img / f"{linked}-disk0.qcow2"
    assert "backing-filename" not in qinfo(fimg)
    assert qinfo(limg)["backing-filename"] == str(src)
    for f in (fimg, limg):
        qcheck(f)
        r = subprocess.run(["qemu-img", "compare", "-U", str(src), str(f)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout
    for c in (full, linked):
        cfg = vk.config(c)
        assert f"name: {c}\n" in cfg and "52:54:00:aa:bb:cc" not in cfg
        assert f"local:{c}-disk0.qcow2" in cfg
    # Writes to the linked clone leave the base alone.
    qio(limg, "write -P 0x77 0 64k")
    assert "42 42" in qio(src, "read -v 0 16")
    one_error(vk("clone", n, full, check=False), "already exists")


def test_disk_snapshots(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--disk", "size=16M")
    disk = vk.home / "images" / f"{n}-disk0.qcow2"
    qio(disk, "write -P 0x11 0 64k")
    vk("snapshot", "create", n, "before")
    qio(disk, "write -P 0x22 0 64k")
    out = vk("snapshot", "list", n).stdout
    assert "before" in out
    r = subprocess.run(["qemu-img", "snapshot", "-U", "-l", str(disk)], capture_output=True,
                       text=True, check=True)
    assert "before" in r.stdout
    vk("snapshot", "revert", n, "before")
    assert "11 11" in qio(disk, "read -v 0 16")
    qcheck(disk)
    vk("snapshot", "delete", n, "before")
    assert "before" not in vk("snapshot", "list", n).stdout
    qcheck(disk)


def test_snapshot_is_all_disks_or_none(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--disk", "size=16M",
       "--disk", "size=16M,format=raw")
    r = vk("snapshot", "create", n, "s1", check=False)
    assert r.returncode != 0                      # raw disks have no snapshots
    q = vk.home / "images" / f"{n}-disk0.qcow2"
    out = subprocess.run(["qemu-img", "snapshot", "-U", "-l", str(q)], capture_output=True,
                         text=True, check=True).stdout
    assert "s1" not in out, "the qcow2 disk kept a snapshot the raw one could not take"
    qcheck(q)


def refused(r, *words):
    """One line naming what is in the way, exit status 1, nothing done."""
    assert r.returncode == 1, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"


def test_base_images_protected(vk):
    """Issue 11, defect 2: a disk that linked clones are built on is not deleted, purged,
    started writable or reverted while they exist; each refusal names the overlay."""
    base, c1, c2 = vk.name("base"), vk.name("c1"), vk.name("c2")
    vk("create", "--name", base, "--kernel", KERNEL, "--disk", "size=16M")
    img = vk.home / "images"
    bimg = img / f"{base}-disk0.qcow2"
    qio(bimg, "write -P 0x42 0 128k")
    vk("snapshot", "create", base, "s0")
    vk("clone", base, c1, "--linked")
    vk("clone", base, c2, "--linked")
    before = bimg.read_bytes()

    # vol delete / wipe of the base: refused, naming an overlay (the VM check comes first,
    # so undefine the base VM without --purge to reach the volume on its own).
    r = vk("delete", base, "--purge", check=False)
    refused(r, f"local:{base}-disk0.qcow2", "is the backing file of", f"-disk0.qcow2")
    assert bimg.exists() and vk("show", base, check=False).returncode == 0
    r = vk("snapshot", "revert", base, "s0", check=False)
    refused(r, "snapshot revert", f"local:{base}-disk0.qcow2", "is the backing file of")
    r = vk("start", base, check=False)
    refused(r, f"local:{base}-disk0.qcow2", "is the backing file of", "readonly=on")
    assert bimg.read_bytes() == before

    vk("delete", base)                       # the definition only: the volume stays
    for op in ("delete", "wipe"):
        r = vk("vol", op, f"local:{base}-disk0.qcow2", check=False)
        refused(r, f"vol {op}", f"local:{base}-disk0.qcow2", "is the backing file of local:")
    assert bimg.read_bytes() == before

    # One clone gone: still refused for the other; both gone: allowed.
    vk("delete", c1, "--purge")
    r = vk("vol", "delete", f"local:{base}-disk0.qcow2", check=False)
    refused(r, f"local:{c2}-disk0.qcow2")
    vk("delete", c2, "--purge")
    vk("vol", "delete", f"local:{base}-disk0.qcow2")
    assert not bimg.exists()


def test_purge_keeps_nothing_half_done(vk):
    """A VM whose own two volumes form a chain is purged whole: its own overlay does not count."""
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--disk", "size=16M")
    img = vk.home / "images"
    vk("vol", "create", "local", f"{n}-top.qcow2", "16M", "--backing", f"local:{n}-disk0.qcow2")
    vk("set", n, f"virtio1=local:{n}-top.qcow2")
    vk("delete", n, "--purge")
    assert not (img / f"{n}-disk0.qcow2").exists() and not (img / f"{n}-top.qcow2").exists()


def test_template(vk):
    """vmkit template NAME (qm template): not started, changed, snapshotted or deleted while
    a clone is built on it; clones are ordinary VMs."""
    t, c = vk.name("tpl"), vk.name("c")
    vk("create", "--name", t, "--kernel", KERNEL, "--disk", "size=16M")
    vk("template", t)
    assert "template: 1" in vk.config(t)
    one_error(vk("template", t, check=False), "already")
    for args in (("start", t), ("set", t, "memory=256"), ("snapshot", "create", t, "s")):
        refused(vk(*args, check=False), f"VM '{t}' is a template")
    vk("clone", t, c, "--linked")
    assert "template" not in vk.config(c)
    refused(vk("delete", t, check=False), f"VM '{t}' is a template used by local:{c}-disk0.qcow2")
    vk("delete", c, "--purge")
    vk("delete", t, "--purge")
    assert not (vk.home / "images" / f"{t}-disk0.qcow2").exists()
