# SPDX-License-Identifier: GPL-2.0-or-later
"""The Q35 machine (issue 12): --machine pc|q35.

Option errors are checked before /dev/kvm is opened, so those tests run on
any host with the monitor built. The firmware boots on a q35 need /dev/kvm
and Debian's seabios/ovmf and skip without them; they have not yet run
under KVM. The chipset itself is tested through its registers without KVM
in tests/unit/test-q35.c; a Linux guest on it in tests/linux/test_linux_q35.py.
"""
import shutil

import pytest

from test_firmware import OVMF_CODE, OVMF_VARS, SEABIOS, assert_usage_error, run_opts
from vmkit_harness import VMKIT, kvm_usable, require_fast_firmware, require_vmkit, run_argv


@pytest.mark.parametrize("arg", ["virt", "q35,accel=kvm", "", "Q35", "pc-q35-8.1"])
def test_unknown_machine(arg):
    """An unknown machine: one line naming it and what is known, exit 2."""
    assert_usage_error(run_opts(["--kernel", "/dev/null", "--machine", arg]), "--machine",
                       "pc or q35")


def test_machine_needs_a_value():
    r = run_opts(["--kernel", "/dev/null", "--machine"])
    assert r.returncode == 2, r.describe()


@pytest.mark.parametrize("machine", ["pc", "i440fx", "q35"])
def test_good_machine_reaches_kvm(machine, tmp_path):
    """A known machine parses, with or without firmware: exit 1 at /dev/kvm, not 2."""
    if kvm_usable():
        pytest.skip("would start a VM")
    kernel = tmp_path / "k"
    kernel.write_bytes(b"\0" * 4096)
    runs = [["--kernel", str(kernel)]] + ([["--firmware", "bios"]] if SEABIOS.is_file() else [])
    for extra in runs:
        r = run_opts(extra + ["--machine", machine])
        assert r.returncode == 1, r.describe()
        assert "/dev/kvm" in r.stderr


def test_help_lists_machine():
    r = run_opts(["--help"])
    assert "--machine pc|q35" in r.stdout + r.stderr


# ---- boots: need /dev/kvm (skipped here) ----

def test_seabios_on_q35(tmp_path):
    """SeaBIOS finds the MCH and the ICH9 LPC (its debug log says so) and boots on."""
    require_vmkit()
    if not SEABIOS.is_file():
        pytest.skip("needs Debian's seabios")
    log = tmp_path / "debugcon.log"
    r = run_argv([str(VMKIT), "run", "--machine", "q35", "--firmware", "bios",
                  "--console", "none", "--debugcon", f"file:{log}", "--no-reboot"], timeout=120,
                 stop_when=lambda out: log.exists() and b"No bootable device" in log.read_bytes())
    text = log.read_bytes().decode(errors="replace")
    assert "SeaBIOS (version" in text, r.describe() + "\n" + text[-2000:]
    assert "Q35 LPC init" in text, text[-4000:]


def test_ovmf_on_q35(tmp_path):
    """OVMF on a q35 (ECAM at 0xe0000000, its PM timer at 0x608) runs to its shell or boot manager."""
    require_vmkit()
    if not (OVMF_CODE.is_file() and OVMF_VARS.is_file()):
        pytest.skip("needs Debian's ovmf")
    require_fast_firmware("OVMF")
    vars_copy = tmp_path / "vars.fd"
    shutil.copyfile(OVMF_VARS, vars_copy)
    r = run_argv([str(VMKIT), "run", "--machine", "q35", "--firmware", f"uefi,vars={vars_copy}",
                  "--memory", "512M", "--console", "stdio", "--no-reboot"], timeout=300,
                 stop_when=lambda out: "Shell>" in out or "UEFI Interactive Shell" in out
                 or "BdsDxe" in out)
    assert r.stopped, r.describe()
