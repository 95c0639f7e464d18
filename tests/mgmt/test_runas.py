# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 16: `vmkit start` runs each monitor as the unprivileged `vmkit` user
(made when missing), with no capabilities, no new privileges, and every
thread in a private root holding only the VM's own files. The disks it
writes are the user's while it runs and their owner's again after; what
the monitor writes on request (screenshots, saved states) and a CD-ROM
changed while it runs cross into that root the management layer's way."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest

import vmkit_harness as h

pytestmark = pytest.mark.usefixtures("kvm")


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def files_in_root(pid: int) -> set[str]:
    """Every file the monitor's root holds (its bound files, as paths)."""
    root = Path(f"/proc/{pid}/root")
    seen = set()
    for dirpath, _, files in os.walk(root):
        for f in files:
            seen.add("/" + os.path.relpath(os.path.join(dirpath, f), root))
    return seen


def make_iso(path: Path, text: str) -> Path:
    d = path.with_suffix(".d")
    d.mkdir()
    (d / "hello.txt").write_text(text)
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(path), str(d)],
                   check=True, capture_output=True)
    path.chmod(0o644)
    return path


def owner(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_uid, st.st_gid


def test_vm_runs_unprivileged_in_its_own_root_and_disks_go_back(vk, tmp_path):
    n = vk.name()
    vk("create", "--name", n, "--kernel", str(h.guest("spin")), "--memory", "64",
       "--disk", "size=16M,format=qcow2")
    disk = vk.home / "images" / f"{n}-disk0.qcow2"
    os.chown(disk, 4321, 4321)      # someone's: it must come back to them
    vk("start", n, timeout=30)
    pid = vk.pid(n)
    vm_user = pwd.getpwnam("vmkit")
    st = proc_status(pid)
    assert st["Uid"].split() == [str(vm_user.pw_uid)] * 4, st["Uid"]
    assert st["CapEff"] == st["CapPrm"] == st["CapBnd"] == "0000000000000000"
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"
    # Every thread in the private mount namespace (the QMP thread once was not).
    ours = os.readlink("/proc/self/ns/mnt")
    threads = list(Path(f"/proc/{pid}/task").iterdir())
    assert len(threads) >= 3
    for t in threads:
        assert os.readlink(t / "ns/mnt") != ours, f"thread {t.name} sees the host's tree"
    files = files_in_root(pid)
    assert str(disk) in files and str(h.guest("spin")) in files
    assert "/dev/kvm" in files
    assert Path(f"/proc/{pid}/root{vk.home}/vms/{n}/run/out").is_dir()
    assert not any(f.startswith(("/etc", "/usr", "/root/")) for f in files), files
    assert not Path(f"/proc/{pid}/root{vk.home}/vms/{n}/run/owners").exists()
    # The disk is the VM user's while it runs; its owners are kept outside its reach.
    assert owner(disk) == (vm_user.pw_uid, vm_user.pw_gid)
    run = vk.home / "vms" / n / "run"
    assert owner(run) == (0, 0) and (run.stat().st_mode & 0o777) == 0o700
    assert owner(run / "owners") == (0, 0)
    # The sockets it serves are its user's, mode 0600 (root still connects).
    for sock in ("qmp.sock", "console.sock"):
        assert owner(run / sock) == (vm_user.pw_uid, vm_user.pw_gid), sock
        assert (run / sock).stat().st_mode & 0o777 == 0o600, sock
    vk("destroy", n)
    assert owner(disk) == (4321, 4321)

    # Monitor and supervisor killed: the next start gives the disk back before
    # taking it again, and the stop after gives it back.
    vk("start", n, timeout=30)
    mon, _, sup, _ = (run / "pid").read_text().split()
    os.kill(int(sup), signal.SIGKILL)
    os.kill(int(mon), signal.SIGKILL)
    stat = Path(f"/proc/{mon}/stat")
    for _ in range(200):
        if not stat.exists() or stat.read_text().split(") ")[1][0] == "Z":
            break
        time.sleep(0.05)
    assert vk.state(n) == "crashed"
    assert owner(disk) == (vm_user.pw_uid, vm_user.pw_gid)
    vk("start", n, timeout=30)
    vk("destroy", n)
    assert owner(disk) == (4321, 4321)


def test_screenshot_save_and_live_cdrom_cross_into_the_root(vk, tmp_path):
    n = vk.name()
    iso1 = make_iso(tmp_path / "one.iso", "one")
    vk("create", "--name", n, "--kernel", str(h.guest("spin")), "--memory", "64",
       "--cdrom", str(iso1))
    vk("set", n, "vga=std")
    vk("start", n, timeout=30)
    pid = vk.pid(n)
    assert str(iso1) in files_in_root(pid)
    vnc = vk.home / "vms" / n / "run" / "vnc.sock"
    assert owner(vnc)[0] == pwd.getpwnam("vmkit").pw_uid and vnc.stat().st_mode & 0o777 == 0o600

    shot = tmp_path / "shot.png"
    vk("screenshot", n, str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and owner(shot) == (0, 0)
    r = vk("screenshot", n, str(tmp_path / "no-such-dir" / "x.png"), check=False)
    assert r.returncode != 0 and "no-such-dir" in r.stderr, r.stderr

    # A CD-ROM changed while the VM runs is put into its root, read-only.
    iso2 = make_iso(tmp_path / "two.iso", "two")
    vk("cdrom", n, str(iso2))
    assert str(iso2) in files_in_root(pid)
    q = subprocess.run(["grep", str(iso2), f"/proc/{pid}/mountinfo"], capture_output=True,
                       text=True).stdout
    assert " ro," in q, q
    # One the VM's user cannot read: refused before the definition changes.
    iso3 = make_iso(tmp_path / "three.iso", "three")
    iso3.chmod(0o600)
    r = vk("cdrom", n, str(iso3), check=False)
    assert r.returncode != 0 and "not readable by user vmkit" in r.stderr, r.stderr
    assert str(iso2) in vk.config(n) and str(iso3) not in vk.config(n)

    saved = tmp_path / "saved.vm"
    vk("save", n, str(saved), timeout=60)
    assert saved.stat().st_size > 0 and owner(saved) == (0, 0)
    assert saved.stat().st_mode & 0o777 == 0o600   # guest RAM
    assert vk.state(n) != "running"
    vk("restore", str(saved), timeout=60)
    assert vk.state(n) == "running"
    assert proc_status(vk.pid(n))["Uid"].split()[0] == str(pwd.getpwnam("vmkit").pw_uid)


def test_runas_root_and_a_missing_user(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", str(h.guest("spin")), "--memory", "64")
    env = dict(vk.env, VMKIT_RUNAS="no-such-user-here")
    r = vk("start", n, check=False, env=env)
    assert r.returncode != 0 and "VMKIT_RUNAS=no-such-user-here: no such user" in r.stderr
    assert vk.state(n) != "running"
    vk("start", n, env=dict(vk.env, VMKIT_RUNAS="root"), timeout=30)
    assert proc_status(vk.pid(n))["Uid"].split()[0] == "0"


def test_unreadable_backing_file_refused_by_name(vk, tmp_path):
    """A linked clone's base the VM's user cannot read: the start says which
    file (the monitor would only fail later, after the drop)."""
    base = tmp_path / "base.qcow2"
    subprocess.run([str(h.VMKIT), "img", "create", "-q", "-f", "qcow2", str(base), "16M"],
                   check=True)
    top = tmp_path / "top.qcow2"
    subprocess.run([str(h.VMKIT), "img", "create", "-q", "-f", "qcow2", "-b", str(base),
                    "-F", "qcow2", str(top)], check=True)
    base.chmod(0o600)
    n = vk.name()
    vk("create", "--name", n, "--kernel", str(h.guest("spin")), "--memory", "64",
       "--disk", f"{top},format=qcow2")
    r = vk("start", n, check=False)
    assert r.returncode != 0, r
    assert f"{base}: not readable by user vmkit" in r.stderr, r.stderr
    assert owner(top) == (0, 0)     # what was handed over is given back
    base.chmod(0o644)
    vk("start", n, timeout=30)
    assert vk.state(n) == "running"
