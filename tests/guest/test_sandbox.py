# SPDX-License-Identifier: GPL-2.0-or-later
"""The monitor's sandbox (issue 16): --sandbox, --runas, --chroot.

Option errors are checked here on any host (they come before /dev/kvm is opened). The
running-VM tests need /dev/kvm (make check's kvm-smoke stage runs them on a KVM under
emulation where the host has none). `--sandbox on` is the default: the allow-lists ran
tests/guest, tests/linux, the display, management and REST API tests there, first with
VMKIT_SANDBOX_LOG=1 (refusals as audit records) and then enforced.
"""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from vmkit_harness import VMKIT, guest, require_vmkit, run_argv, run_vmkit


def run_opts(args):
    if not VMKIT.is_file():
        pytest.skip(f"{VMKIT} is not built")
    env = {k: v for k, v in os.environ.items() if k != "VMKIT_SANDBOX"}  # the default's own
    return subprocess.run([str(VMKIT), "run", "--kernel", "/etc/hostname"] + args,
                          capture_output=True, text=True, timeout=10, env=env)


def test_sandbox_env_default():
    """VMKIT_SANDBOX sets --sandbox's default; a bad value is one line, exit 2."""
    if not VMKIT.is_file():
        pytest.skip(f"{VMKIT} is not built")
    p = subprocess.run([str(VMKIT), "run", "--kernel", "/etc/hostname"], capture_output=True,
                       text=True, timeout=10, env=dict(os.environ, VMKIT_SANDBOX="maybe"))
    assert p.returncode == 2 and p.stderr.splitlines() == [
        "vmkit: VMKIT_SANDBOX=maybe: expected on or off"], p


@pytest.mark.parametrize("args,line", [
    (["--sandbox", "maybe"], "vmkit: --sandbox maybe: expected on or off"),
    (["--sandbox", "off", "--runas", "nobody"], "vmkit: --runas needs --sandbox on"),
    (["--sandbox", "off", "--chroot", "/"], "vmkit: --chroot needs --sandbox on"),
    (["--sandbox", "on", "--runas", "no-such-user-vmkit"],
     "vmkit: --runas no-such-user-vmkit: no such user"),
    (["--sandbox", "on", "--chroot", "/nonexistent-vmkit"],
     "vmkit: --chroot /nonexistent-vmkit: not a directory"),
    (["--outdir", "/tmp"], "vmkit: --outdir needs --runas (and no --chroot)"),
    (["--runas", "nobody", "--chroot", "/", "--outdir", "/tmp"],
     "vmkit: --outdir needs --runas (and no --chroot)"),
    (["--runas", "nobody", "--outdir", "/nonexistent-vmkit"],
     "vmkit: --outdir /nonexistent-vmkit: not a directory"),
])
def test_bad_sandbox_options(args, line):
    """One line, exit 2, before /dev/kvm is touched (so this runs on any host)."""
    if "--runas" in args and "on" in args and os.geteuid() != 0:
        line = "vmkit: --runas: only root can change user or root"
    p = run_opts(args)
    assert p.returncode == 2, p
    assert p.stderr.splitlines() == [line]


def test_sandbox_on_boots_and_powers_off():
    require_vmkit()
    r = run_vmkit(guest("hello"), extra_args=["--sandbox", "on"])
    assert r.returncode == 0, r.describe()
    assert "forbidden system call" not in r.stderr, r.describe()


def test_sandbox_on_threads_are_filtered(tmp_path):
    """Every thread of a running monitor with --sandbox on shows Seccomp: 2."""
    require_vmkit()
    qmp = tmp_path / "qmp.sock"
    p = subprocess.Popen([str(VMKIT), "run", "--kernel", str(guest("spin")), "--console", "none",
                          "--sandbox", "on", "--qmp", str(qmp)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if qmp.exists():
                break
            time.sleep(0.05)
        time.sleep(0.5)
        tasks = list(Path(f"/proc/{p.pid}/task").iterdir())
        assert len(tasks) >= 3            # main, control, vCPU
        for t in tasks:
            st = (t / "status").read_text()
            assert "Seccomp:\t2" in st and "NoNewPrivs:\t1" in st, t
    finally:
        p.kill()
        p.wait()


def test_runas_and_private_root():
    require_vmkit()
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = run_vmkit(guest("hello"), extra_args=["--sandbox", "on", "--runas", "nobody"])
    assert r.returncode == 0, r.describe()


def test_runas_status_of_a_running_monitor(tmp_path):
    """What /proc shows of a running monitor with --runas: the unprivileged uid on all
    four fields, no capabilities, no new privileges, seccomp filtering, and a root that
    holds only what the VM needs (here the kernel and /dev/kvm)."""
    require_vmkit()
    if os.geteuid() != 0:
        pytest.skip("needs root")
    p = subprocess.Popen([str(VMKIT), "run", "--kernel", str(guest("spin")), "--console",
                          "stdio", "--sandbox", "on", "--runas", "nobody"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while "spin_counter" not in p.stdout.readline():
            assert p.poll() is None and time.monotonic() < deadline, p.stderr.read()
        st = Path(f"/proc/{p.pid}/status").read_text()
        field = lambda k: re.search(rf"^{k}:\s*(.*)$", st, re.M).group(1).split()
        assert field("Uid") == ["65534"] * 4, st
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(field(cap)[0], 16) == 0, (cap, st)
        assert field("NoNewPrivs") == ["1"] and field("Seccomp") == ["2"], st
        files = sorted(str(f.relative_to(f"/proc/{p.pid}/root"))
                       for f in Path(f"/proc/{p.pid}/root").rglob("*") if not f.is_dir())
        assert str(guest("spin")).lstrip("/") in files, files
        assert not any(f.startswith(("etc/", "home/", "root/", "usr/")) for f in files), files
    finally:
        p.kill()
        p.wait()


def test_runas_firmware_on_a_linked_clone(tmp_path):
    """--runas with firmware and a qcow2 disk whose base lies in another directory: the
    private root holds the BIOS image, the overlay (writable) and its backing file
    (read-only), which the VM opens again at each build. Before, a VM without --kernel
    had nothing bound at all (the list ended at the missing kernel) and a backing file
    never was. SeaBIOS must get to its boot menu's disk scan with the disk there."""
    require_vmkit()
    if os.geteuid() != 0:
        pytest.skip("needs root")
    seabios = Path("/usr/share/seabios/bios-256k.bin")
    if not seabios.is_file():
        pytest.skip("needs Debian's seabios")
    (tmp_path / "base").mkdir()
    (tmp_path / "vm").mkdir()
    base, top = tmp_path / "base" / "base.raw", tmp_path / "vm" / "top.qcow2"
    with open(base, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run([str(VMKIT), "img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F",
                    "raw", str(top)], check=True)
    os.chown(top, 65534, 65534)         # the disk is nobody's; the base only readable
    base.chmod(0o644)
    log = tmp_path / "debugcon.log"
    # The disk is blank: SeaBIOS tries it and fails, then says there is nothing to boot.
    r = run_argv([str(VMKIT), "run", "--firmware", "bios", "--console", "none", "--no-reboot",
                  "--disk", f"path={top},format=qcow2", "--debugcon", f"file:{log}",
                  "--sandbox", "on", "--runas", "nobody"], timeout=90,
                 stop_when=lambda out: log.exists() and b"No bootable device" in
                 log.read_bytes())
    text = log.read_bytes().decode(errors="replace") if log.exists() else ""
    assert "found virtio-blk" in text and "Booting from Hard Disk" in text, \
        r.describe() + "\n" + text[-2000:]
    assert "sandbox" not in r.stderr and "--disk" not in r.stderr, r.describe()
    assert log.stat().st_uid == 65534       # handed to the user the device writes it as


def test_runas_vmdk_with_an_extent_file(tmp_path):
    """A vmdk whose data is in a second file its descriptor names (monolithicFlat, as
    VMware writes them): under --runas the private root must hold the extent too, as
    the monitor opens the disk again at each build (a guest reset), and the extent
    check's realpath() must pass the filter. Before, the monitor died of SIGSYS
    (readlink) at the first open; the guest reads the extent's bytes, then resets and
    boots again with the disk there."""
    import test_virtio_blk as vb
    require_vmkit()
    if os.geteuid() != 0:
        pytest.skip("needs root")
    (tmp_path / "vm").mkdir()
    raw, desc = tmp_path / "a.raw", tmp_path / "vm" / "d.vmdk"
    data = vb.make_disk(raw, 4 << 20)
    subprocess.run(["qemu-img", "convert", "-O", "vmdk", "-o", "subformat=monolithicFlat",
                    str(raw), str(desc)], check=True)
    assert (tmp_path / "vm" / "d-flat.vmdk").is_file()
    sandbox = ["--sandbox", "on", "--runas", "nobody"]
    r = run_vmkit(guest("virtio_blk"), extra_args=[
        "--disk", f"path={desc},readonly=on,serial=vmdk", *sandbox])
    assert "VMKIT-TEST virtio_blk PASS" in r.stdout, r.describe()
    assert r.info.get("sum_0") == f"{vb.fnv1a64(data[:vb.REGION_SECTORS * vb.SECTOR]):016x}", \
        r.describe()
    r = run_argv([str(VMKIT), "run", "--kernel", str(guest("reboot")), "--console", "stdio",
                  "--disk", f"path={desc},readonly=on", *sandbox], timeout=60,
                 stop_when=lambda out: out.count("VMKIT-INFO boot") >= 2)
    assert r.stdout.count("VMKIT-INFO boot") >= 2, r.describe()
    assert "--disk" not in r.stderr and "sandbox" not in r.stderr, r.describe()


@pytest.mark.parametrize("how,seccomp", [([], "2"), (["--sandbox", "off"], "0")])
def test_sandbox_is_the_default(how, seccomp):
    """Without --sandbox (and without VMKIT_SANDBOX) a running monitor filters its
    system calls and has no new privileges; --sandbox off is the way out."""
    require_vmkit()
    env = {k: v for k, v in os.environ.items() if k != "VMKIT_SANDBOX"}
    p = subprocess.Popen([str(VMKIT), "run", "--kernel", str(guest("spin")), "--console",
                          "stdio"] + how, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while "spin_counter" not in p.stdout.readline():
            assert p.poll() is None and time.monotonic() < deadline, p.stderr.read()
        st = Path(f"/proc/{p.pid}/status").read_text()
        assert re.search(rf"^Seccomp:\s*{seccomp}$", st, re.M), st
        assert re.search(rf"^NoNewPrivs:\s*{1 if seccomp == '2' else 0}$", st, re.M), st
    finally:
        p.kill()
        p.wait()


def test_selftest_kills_the_monitor():
    require_vmkit()
    env = dict(os.environ, VMKIT_SANDBOX_SELFTEST="vcpu")
    p = subprocess.run([str(VMKIT), "run", "--kernel", str(guest("hello")), "--console", "none",
                        "--sandbox", "on"], capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == -31, p
    assert "vmkit: sandbox: vcpu: forbidden system call ptrace (101)" in p.stderr.splitlines()

